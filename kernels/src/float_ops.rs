//! Float operations of the decoder in the exact order of llama.cpp's x86
//! CPU backend (an AVX-512 build): the exponential of its SiLU and softmax,
//! the lane order of its f16 dot products, and the horizontal sums behind
//! them. Matching the order, not just the formula, is what makes our logits
//! equal llama.cpp's bit for bit: one different rounding changes a cached
//! key or an activation's quantization, and the difference grows from
//! there.
//!
//! Every function here uses only IEEE operations with one rounding each
//! (`+`, `*`, `/`, fused multiply-add, f32↔f64 conversion), so a build with
//! hardware FMA and one without give the same bits; the x86 tables compile
//! the same bodies with FMA enabled for speed (see `x86::avx2`).

use half::f16;
use half::slice::HalfFloatSliceExt;

/// llama.cpp's vector `expf` for AVX-512 (`ggml_v_expf`, adapted from Arm's
/// optimized routines): e^x = 2^n · p(b) with n = round(x·log2 e) and
/// b = x − n·ln 2 in two steps; p a degree-5 polynomial. Maximum error
/// 1.45 ulp + 0.5; flushes to +∞ when |n| > 192 with n > 0 and to 0 when
/// n < −192. Not libm's `expf`: the bits differ for some inputs.
#[inline(always)]
pub fn exp_approx(x: f32) -> f32 {
    let c = f32::from_bits;
    let r = c(0x4b40_0000); // 1.5·2^23: adding it rounds to an integer
    let z = x.mul_add(c(0x3fb8_aa3b), r); // log2(e)
    let n = z - r;
    let b = (-n).mul_add(c(0x35bf_be8e), (-n).mul_add(c(0x3f31_7200), x)); // ln 2 split
    let u = b * b;
    let j = c(0x3c07_2010)
        .mul_add(b, c(0x3d2b_9f17))
        .mul_add(u, c(0x3e2a_af33).mul_add(b, c(0x3eff_fedb)))
        .mul_add(u, c(0x3f7f_fff6).mul_add(b, 1.0));
    if n.abs() > 192.0 {
        return if n > 0.0 { f32::INFINITY } else { 0.0 };
    }
    scale_pow2(j, n as i32)
}

/// `v · 2^k` rounded once, as the AVX-512 `scalef` instruction computes it
/// (|k| ≤ 192). Each factor below is an exact power of two, so only the
/// last product can round (into the subnormal range).
#[inline(always)]
fn scale_pow2(v: f32, k: i32) -> f32 {
    let pow2 = |e: i32| f32::from_bits(((e + 127) as u32) << 23);
    if k > 127 {
        v * pow2(127) * pow2(k - 127)
    } else if k < -126 {
        // v·2^(k+100) is normal and exact (k ≥ −192, so 2^(k+100) is a
        // normal power of two); the final ·2^−100 rounds once. (With 64 in
        // place of 100, k = −192 made 2^(k+64) a bit pattern of −∞.)
        v * pow2(k + 100) * pow2(-100)
    } else {
        v * pow2(k)
    }
}

/// Sum of 16 lanes in the order of `_mm512_reduce_add_ps`: halves added
/// lane-wise (j + j+8, then j + j+4, then j + j+2), then lane 0 + lane 1.
#[inline(always)]
pub fn reduce16(l: &[f32; 16]) -> f32 {
    let t8: [f32; 8] = std::array::from_fn(|j| l[j + 8] + l[j]);
    let t4: [f32; 4] = std::array::from_fn(|j| t8[j + 4] + t8[j]);
    (t4[0] + t4[2]) + (t4[1] + t4[3])
}

/// `gate[i] = silu(gate[i]) · up[i]` as llama.cpp's fused SwiGLU: in
/// chunks of 16, silu(x) = x / (1 + exp_approx(−x)); the last `len % 16`
/// elements use libm's `expf` (its scalar tail).
///
/// # Panics
/// When the lengths differ.
#[inline(always)]
pub fn silu_mul(gate: &mut [f32], up: &[f32]) {
    assert_eq!(gate.len(), up.len(), "silu_mul: lengths differ");
    let full = gate.len() / 16 * 16;
    for (g, &u) in gate[..full].iter_mut().zip(&up[..full]) {
        *g = *g / (1.0 + exp_approx(0.0 - *g)) * u;
    }
    for (g, &u) in gate[full..].iter_mut().zip(&up[full..]) {
        *g = *g / (1.0 + (-*g).exp()) * u;
    }
}

/// In-place softmax of attention scores as llama.cpp computes it over its
/// key/value window (padded with masked entries to a multiple of 16):
/// e_i = exp_approx(x_i − max); each chunk of 16 summed by [`reduce16`]
/// (masked entries add exact zeros) and the chunk sums added in f64;
/// every e_i multiplied by (1/sum) rounded to f32.
#[inline(always)]
pub fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f64;
    for chunk in x.chunks_mut(16) {
        let mut lanes = [0f32; 16];
        for (v, l) in chunk.iter_mut().zip(lanes.iter_mut()) {
            *v = exp_approx(*v - max);
            *l = *v;
        }
        sum += f64::from(reduce16(&lanes));
    }
    let inv = (1.0 / sum) as f32;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

/// Σ a·b in the order of llama.cpp's batched f16 product (llamafile's
/// tinyBLAS with 16-lane registers): element i goes to lane i mod 16, each
/// lane a chain of fused multiply-adds in index order, lanes summed by
/// [`reduce16`]. For a length that is not a multiple of 16 llama.cpp takes
/// the other path, so this falls back to [`dot_vec64`].
///
/// # Panics
/// When the lengths differ.
#[inline(always)]
pub fn dot_lanes16(a: &[f32], b: &[f32]) -> f32 {
    lanes16(a, b, |v| v)
}

/// [`dot_lanes16`] on `a` mapped through `widen` (which must be exact for
/// the f16 variants to give the same bits as widening first).
#[inline(always)]
fn lanes16<T: Copy>(a: &[T], b: &[f32], widen: impl Fn(T) -> f32) -> f32 {
    assert_eq!(a.len(), b.len(), "dot_lanes16: lengths differ");
    if !a.len().is_multiple_of(16) {
        return vec64(a, b, widen);
    }
    let mut acc = [0f32; 16];
    for (ca, cb) in a.chunks_exact(16).zip(b.chunks_exact(16)) {
        for ((s, &x), &y) in acc.iter_mut().zip(ca).zip(cb) {
            *s = widen(x).mul_add(y, *s);
        }
    }
    reduce16(&acc)
}

/// Σ a·b in the order of llama.cpp's single-token f16 dot
/// (`ggml_vec_dot_f16`, AVX-512): the first ⌊len/64⌋·64 elements in 64
/// lanes (element i in lane i mod 64, fused multiply-adds in index order),
/// lanes 32..64 added onto 0..32, then 16..32 onto 0..16, [`reduce16`],
/// widened to f64; the remaining elements' f32 products added one by one
/// in f64; the total rounded to f32.
///
/// # Panics
/// When the lengths differ.
#[inline(always)]
pub fn dot_vec64(a: &[f32], b: &[f32]) -> f32 {
    vec64(a, b, |v| v)
}

/// [`dot_vec64`] on `a` mapped through `widen` (see [`lanes16`]).
#[inline(always)]
fn vec64<T: Copy>(a: &[T], b: &[f32], widen: impl Fn(T) -> f32) -> f32 {
    assert_eq!(a.len(), b.len(), "dot_vec64: lengths differ");
    let np = a.len() / 64 * 64;
    let mut acc = [0f32; 64];
    for (ca, cb) in a[..np].chunks_exact(64).zip(b[..np].chunks_exact(64)) {
        for ((s, &x), &y) in acc.iter_mut().zip(ca).zip(cb) {
            *s = widen(x).mul_add(y, *s);
        }
    }
    let mut sum = f64::from(reduce16(&fold64(&acc)));
    for (&x, &y) in a[np..].iter().zip(&b[np..]) {
        sum += f64::from(widen(x) * y);
    }
    sum as f32
}

/// [`dot_lanes16`] of the f16 weights `w` widened to f32 (exact, so the
/// bits equal `dot_lanes16(widen(w), x)`) with `x`: llama.cpp's batched
/// f16 product without a widened copy of the row.
///
/// # Panics
/// When the lengths differ.
#[inline(always)]
pub fn dot_f16_lanes16(w: &[f16], x: &[f32]) -> f32 {
    lanes16(w, x, f16::to_f32)
}

/// [`dot_vec64`] of the f16 weights `w` widened to f32 (exact, so the bits
/// equal `dot_vec64(widen(w), x)`) with `x`: llama.cpp's single-token f16
/// dot without a widened copy of the row.
///
/// # Panics
/// When the lengths differ.
#[inline(always)]
pub fn dot_f16_vec64(w: &[f16], x: &[f32]) -> f32 {
    vec64(w, x, f16::to_f32)
}

/// One f16 weight row times 4 activation vectors stored back to back in
/// `x` (`x.len() == 4 · w.len()`): `out[v]` is bit for bit
/// [`dot_f16_lanes16`]`(w, x_v)`. The SIMD tables convert each weight
/// once for the 4 vectors and run their 4 independent FMA chains together.
///
/// # Panics
/// When `x.len() != 4 · w.len()`.
#[inline(always)]
pub fn dot4_f16_lanes16(w: &[f16], x: &[f32], out: &mut [f32; 4]) {
    let n = w.len();
    assert_eq!(
        x.len(),
        4 * n,
        "dot4_f16_lanes16: activation is not 4 rows of the weight's length"
    );
    for (v, o) in out.iter_mut().enumerate() {
        *o = dot_f16_lanes16(w, &x[v * n..(v + 1) * n]);
    }
}

/// The first reduction steps of `ggml_vec_dot_f16` on its four 16-lane
/// accumulators (lanes 0..16, 16..32, 32..48, 48..64): acc0 += acc2,
/// acc1 += acc3, acc0 += acc1.
#[inline(always)]
pub fn fold64(acc: &[f32; 64]) -> [f32; 16] {
    std::array::from_fn(|l| (acc[l] + acc[l + 32]) + (acc[l + 16] + acc[l + 48]))
}

/// `acc[i] = fma(w, v[i], acc[i])` for every i: one step of a lane-ordered
/// weighted sum of rows (the attention's value accumulation).
///
/// # Panics
/// When the lengths differ.
#[inline(always)]
pub fn fma_acc(acc: &mut [f32], w: f32, v: &[f32]) {
    assert_eq!(acc.len(), v.len(), "fma_acc: lengths differ");
    for (a, &x) in acc.iter_mut().zip(v) {
        *a = w.mul_add(x, *a);
    }
}

/// Keys per tile of [`scores16`].
pub const KEY_TILE: usize = 16;

/// Scaled [`dot_lanes16`] scores of query rows against a tile of 16 keys
/// stored transposed: `kt` holds `hd` rows of 16 values (`kt[16·d + k]` is
/// element d of key k; `hd` a multiple of 16), `q` holds the query rows
/// (`hd` values each), and `out[stride·r + k]` receives
/// `dot_lanes16(key k, query r) · scale`, bit for bit. With the keys along
/// the vector lanes, lane l of every dot is one FMA chain over the
/// elements d ≡ l (mod 16) and the 16-lane reduction is element-wise adds
/// in [`reduce16`]'s order, so no dot needs a horizontal sum.
///
/// # Panics
/// When `kt.len()` is not a multiple of 256, `q.len()` not a multiple of
/// `hd`, or `out` is shorter than `stride·(rows − 1) + 16`.
#[inline(always)]
pub fn scores16(kt: &[f32], q: &[f32], scale: f32, out: &mut [f32], stride: usize) {
    assert!(
        kt.len().is_multiple_of(16 * KEY_TILE) && !kt.is_empty(),
        "scores16: key tile is not 16 keys of a multiple of 16 elements"
    );
    let hd = kt.len() / KEY_TILE;
    assert!(
        q.len().is_multiple_of(hd),
        "scores16: queries are not whole rows"
    );
    let rows = q.len() / hd;
    if rows == 0 {
        return;
    }
    assert!(
        out.len() >= stride * (rows - 1) + KEY_TILE,
        "scores16: output too short"
    );
    for (r, qr) in q.chunks_exact(hd).enumerate() {
        // t8[j] = lane j+8 + lane j of each key's dot, as in `reduce16`.
        let mut t8 = [[0f32; KEY_TILE]; 8];
        for (j, t) in t8.iter_mut().enumerate() {
            let mut lo = [0f32; KEY_TILE];
            let mut hi = [0f32; KEY_TILE];
            for (c, qc) in qr.chunks_exact(16).enumerate() {
                let kl = &kt[(16 * c + j) * KEY_TILE..][..KEY_TILE];
                let kh = &kt[(16 * c + j + 8) * KEY_TILE..][..KEY_TILE];
                for k in 0..KEY_TILE {
                    lo[k] = kl[k].mul_add(qc[j], lo[k]);
                    hi[k] = kh[k].mul_add(qc[j + 8], hi[k]);
                }
            }
            for k in 0..KEY_TILE {
                t[k] = hi[k] + lo[k];
            }
        }
        let o = &mut out[r * stride..][..KEY_TILE];
        for k in 0..KEY_TILE {
            let t4: [f32; 4] = std::array::from_fn(|j| t8[j + 4][k] + t8[j][k]);
            o[k] = ((t4[0] + t4[2]) + (t4[1] + t4[3])) * scale;
        }
    }
}

/// The attention's lane-ordered weighted sums of f16 rows, reduced, for
/// `rows` weight rows over the same `n` value rows: `out` holds `rows`
/// rows of `hd = out.len() / rows`; element d of output row r is
/// [`reduce16`] of 16 lanes, lane l the chain of fused multiply-adds
/// `fma(w_r[i], v_i[d], ·)` over i ≡ l (mod 16), i < n, in index order
/// from +0, where `w_r` is `w[r·wstride..][..n]` and value row i is
/// `v[i·vstride..][..hd]` widened to f32 (exactly). The same bits as
/// [`fma_acc`] into 16 zeroed lane rows (row i into lane i mod 16, rows
/// widened first), then `reduce16` element by element; without a widened
/// copy or lanes in memory, each value read once for all the rows.
///
/// # Panics
/// When `out.len()` is not `rows` rows, or `w` or `v` is too short.
#[inline(always)]
pub fn value_sum16_f16(
    out: &mut [f32],
    rows: usize,
    w: &[f32],
    wstride: usize,
    n: usize,
    v: &[f16],
    vstride: usize,
) {
    if rows == 0 {
        return;
    }
    let hd = out.len() / rows;
    check_value_sum(out.len(), rows, w.len(), wstride, n, v.len(), vstride);
    // Up to 8 rows and 16 elements at a time: each 16-value piece of a
    // value row widened once (through `half`'s slice conversion) for all
    // the rows, their 16 lanes on the stack.
    for r0 in (0..rows).step_by(8) {
        let rb = 8.min(rows - r0);
        for c0 in (0..hd).step_by(16) {
            let wd = 16.min(hd - c0);
            let mut lanes = [[[0f32; 16]; 16]; 8];
            let mut x = [0f32; 16];
            for i in 0..n {
                v[i * vstride + c0..][..wd].convert_to_f32_slice(&mut x[..wd]);
                for (rr, lanes) in lanes.iter_mut().enumerate().take(rb) {
                    let wi = w[(r0 + rr) * wstride + i];
                    let l = &mut lanes[i % 16];
                    for k in 0..16 {
                        l[k] = wi.mul_add(x[k], l[k]);
                    }
                }
            }
            for (rr, lanes) in lanes.iter().enumerate().take(rb) {
                let o = &mut out[(r0 + rr) * hd + c0..][..wd];
                for (k, o) in o.iter_mut().enumerate() {
                    *o = reduce16(&std::array::from_fn(|l| lanes[l][k]));
                }
            }
        }
    }
}

/// The length checks of [`value_sum16_f16`] (`rows` ≥ 1).
///
/// # Panics
/// When they fail.
#[inline(always)]
pub fn check_value_sum(
    out: usize,
    rows: usize,
    w: usize,
    wstride: usize,
    n: usize,
    v: usize,
    vstride: usize,
) {
    let hd = out / rows;
    assert!(
        hd * rows == out
            && (n == 0 || w >= wstride * (rows - 1) + n)
            && (n == 0 || v >= vstride * (n - 1) + hd),
        "value_sum16_f16: lengths differ"
    );
}

/// Writes `from` (`[rows][batch]`) to `to` as `[batch][rows]` (the
/// prompt products' outputs into the decoder's layout), eight rows at a
/// time: each step reads eight rows of `batch` values and writes eight
/// consecutive values of each output row. Moves values only, so every
/// table gives the same bits.
///
/// # Panics
/// When `batch` is 0 or the lengths differ or are not whole rows.
#[inline(always)]
pub fn transpose(from: &[f32], to: &mut [f32], batch: usize) {
    assert!(
        batch > 0 && from.len() == to.len() && from.len().is_multiple_of(batch),
        "transpose: lengths differ"
    );
    let rows = from.len() / batch;
    for (block, vals) in from.chunks(8 * batch).enumerate() {
        let r0 = 8 * block;
        let n = vals.len() / batch;
        for (b, dst) in to.chunks_exact_mut(rows).enumerate() {
            for (i, d) in dst[r0..r0 + n].iter_mut().enumerate() {
                *d = vals[i * batch + b];
            }
        }
    }
}

/// `x[i]` rounded to f16 (to nearest, ties to even; overflow to ±∞) and
/// back: the attention's queries and weights as llama.cpp stores them.
/// Through `half`'s slice conversions (vector instructions where the CPU
/// has them) and a buffer on the stack.
#[inline(always)]
pub fn round_f16(x: &mut [f32]) {
    let mut buf = [f16::ZERO; 64];
    for c in x.chunks_mut(64) {
        let b = &mut buf[..c.len()];
        b.convert_from_f32_slice(c);
        b.convert_to_f32_slice(c);
    }
}

/// The type of [`value_sum16_f16`]: (out, rows, weights, weight stride,
/// positions, values, value stride).
pub type ValueSumFn = fn(&mut [f32], usize, &[f32], usize, usize, &[f16], usize);

/// The float operations of one kernel path, as function pointers. Every
/// table computes the same bits (the bodies above); they differ only in
/// whether the compiler may use hardware FMA and vector registers.
#[derive(Clone, Copy, Debug)]
pub struct FloatOps {
    /// [`silu_mul`].
    pub silu_mul: fn(&mut [f32], &[f32]),
    /// [`softmax`].
    pub softmax: fn(&mut [f32]),
    /// [`dot_lanes16`].
    pub dot_lanes16: fn(&[f32], &[f32]) -> f32,
    /// [`dot_vec64`].
    pub dot_vec64: fn(&[f32], &[f32]) -> f32,
    /// [`fma_acc`].
    pub fma_acc: fn(&mut [f32], f32, &[f32]),
    /// [`dot_f16_lanes16`].
    pub dot_f16_lanes16: fn(&[f16], &[f32]) -> f32,
    /// [`dot_f16_vec64`].
    pub dot_f16_vec64: fn(&[f16], &[f32]) -> f32,
    /// [`dot4_f16_lanes16`].
    pub dot4_f16_lanes16: fn(&[f16], &[f32], &mut [f32; 4]),
    /// [`scores16`].
    pub scores16: fn(&[f32], &[f32], f32, &mut [f32], usize),
    /// [`value_sum16_f16`].
    pub value_sum16_f16: ValueSumFn,
    /// [`transpose`].
    pub transpose: fn(&[f32], &mut [f32], usize),
    /// [`round_f16`].
    pub round_f16: fn(&mut [f32]),
}

/// Out-of-line copies of the bodies, compiled for the baseline target.
mod plain {
    use half::f16;
    pub(super) fn silu_mul(g: &mut [f32], u: &[f32]) {
        super::silu_mul(g, u)
    }
    pub(super) fn softmax(x: &mut [f32]) {
        super::softmax(x)
    }
    pub(super) fn dot_lanes16(a: &[f32], b: &[f32]) -> f32 {
        super::dot_lanes16(a, b)
    }
    pub(super) fn dot_vec64(a: &[f32], b: &[f32]) -> f32 {
        super::dot_vec64(a, b)
    }
    pub(super) fn fma_acc(acc: &mut [f32], w: f32, v: &[f32]) {
        super::fma_acc(acc, w, v)
    }
    pub(super) fn dot_f16_lanes16(w: &[f16], x: &[f32]) -> f32 {
        super::dot_f16_lanes16(w, x)
    }
    pub(super) fn dot_f16_vec64(w: &[f16], x: &[f32]) -> f32 {
        super::dot_f16_vec64(w, x)
    }
    pub(super) fn dot4_f16_lanes16(w: &[f16], x: &[f32], out: &mut [f32; 4]) {
        super::dot4_f16_lanes16(w, x, out)
    }
    pub(super) fn scores16(kt: &[f32], q: &[f32], scale: f32, out: &mut [f32], stride: usize) {
        super::scores16(kt, q, scale, out, stride)
    }
    pub(super) fn value_sum16_f16(
        out: &mut [f32],
        rows: usize,
        w: &[f32],
        ws: usize,
        n: usize,
        v: &[f16],
        vs: usize,
    ) {
        super::value_sum16_f16(out, rows, w, ws, n, v, vs)
    }
    pub(super) fn transpose(from: &[f32], to: &mut [f32], batch: usize) {
        super::transpose(from, to, batch)
    }
    pub(super) fn round_f16(x: &mut [f32]) {
        super::round_f16(x)
    }
}

/// The baseline table (the reference; on x86_64 without FMA hardware it is
/// slow, since every fused multiply-add is a libm call).
pub const PLAIN: FloatOps = FloatOps {
    silu_mul: plain::silu_mul,
    softmax: plain::softmax,
    dot_lanes16: plain::dot_lanes16,
    dot_vec64: plain::dot_vec64,
    fma_acc: plain::fma_acc,
    dot_f16_lanes16: plain::dot_f16_lanes16,
    dot_f16_vec64: plain::dot_f16_vec64,
    dot4_f16_lanes16: plain::dot4_f16_lanes16,
    scores16: plain::scores16,
    value_sum16_f16: plain::value_sum16_f16,
    transpose: plain::transpose,
    round_f16: plain::round_f16,
};
