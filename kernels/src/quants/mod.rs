//! Block formats added for the K-quant mixes (Q2_K, Q3_K, Q4_K, Q5_K) and
//! the types llama.cpp falls back to inside them (Q5_0, Q5_1, IQ4_NL), one
//! file per type. Each file holds the `#[repr(C)]` block, the reference
//! quantizer that llama.cpp's `llama-quantize` runs without an importance
//! matrix (so files we write are byte for byte its files), the scalar
//! dequantizer and the scalar fused dot with llama.cpp's activation partner
//! (Q8_K for the K types, Q8_0 for Q5_0 and IQ4_NL, Q8_1 for Q5_1).
//!
//! Dot products, default order: for the 256-element K types each block's
//! products are summed exactly in integers (every SIMD path can reproduce an
//! exact integer) and the float work is a short, fixed sequence per block;
//! for the 32-element types, eight integer lanes of four consecutive
//! products, one fused multiply-add per lane and block, and one fixed
//! horizontal sum per row. Every path that follows these definitions gives
//! the same bits. The `*_llamacpp` dots follow llama.cpp's x86 kernels
//! (AVX-512 build) instead.
//!

pub mod iq4_nl;
pub mod q2_k;
pub mod q3_k;
pub mod q4_k;
pub mod q5_0;
pub mod q5_1;
pub mod q5_k;

mod search;

pub use iq4_nl::BlockIq4Nl;
pub use q2_k::BlockQ2K;
pub use q3_k::BlockQ3K;
pub use q4_k::BlockQ4K;
pub use q5_0::BlockQ5_0;
pub use q5_1::BlockQ5_1;
pub use q5_k::BlockQ5K;

/// Panics unless an f32 row of `elems` values matches `blocks` blocks of
/// `per_block` (a programming error, like a slice index out of range).
#[inline]
pub(crate) fn check_len(elems: usize, blocks: usize, per_block: usize) {
    assert_eq!(
        elems,
        blocks * per_block,
        "row length {elems} does not match {blocks} blocks of {per_block}"
    );
}

/// The 6-bit scale and 6-bit minimum of sub-block `j` (0..8) of a Q4_K or
/// Q5_K block, from its 12 packed bytes (ggml's `get_scale_min_k4`): for
/// j < 4 the low six bits of bytes j and j + 4; for j ≥ 4 the nibbles of byte
/// j + 4 topped by the two high bits of bytes j − 4 and j.
#[inline]
pub fn scale_min_k4(j: usize, q: &[u8; 12]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// Packs eight 6-bit scales and eight 6-bit minimums (each ≤ 63) into the
/// 12 bytes [`scale_min_k4`] reads.
pub(crate) fn pack_scale_min_k4(ls: &[u8; 8], lm: &[u8; 8]) -> [u8; 12] {
    let mut s = [0u8; 12];
    for j in 0..8 {
        if j < 4 {
            s[j] = ls[j];
            s[j + 4] = lm[j];
        } else {
            s[j + 4] = (ls[j] & 0xF) | ((lm[j] & 0xF) << 4);
            s[j - 4] |= (ls[j] >> 4) << 6;
            s[j] |= (lm[j] >> 4) << 6;
        }
    }
    s
}

/// Sum of the 32 products of one 32-element group of weight levels `w` and
/// activations `x` (exact).
#[inline]
pub(crate) fn group_dot(w: &[i8], x: &[i8]) -> i32 {
    w.iter()
        .zip(x)
        .map(|(&a, &b)| i32::from(a) * i32::from(b))
        .sum()
}

/// The eight i32 lanes llama.cpp's x86 kernels form for a block of `w` and
/// `x` (equal lengths, a multiple of 32): lane L collects every element e
/// with (e mod 32)/4 = L, each product weighted by `scale(e)`. Exact.
#[inline]
pub(crate) fn lanes8(w: &[i8], x: &[i8], scale: impl Fn(usize) -> i32) -> [i32; 8] {
    let mut lanes = [0i32; 8];
    for (e, (&a, &b)) in w.iter().zip(x).enumerate() {
        lanes[(e % 32) / 4] += scale(e) * i32::from(a) * i32::from(b);
    }
    lanes
}

/// `acc[L] = fma(d, f32(lanes[L]), acc[L])` for the eight lanes.
#[inline]
pub(crate) fn fma_lanes(acc: &mut [f32; 8], d: f32, lanes: [i32; 8]) {
    for (a, l) in acc.iter_mut().zip(lanes) {
        *a = d.mul_add(l as f32, *a);
    }
}

/// One super-block of llama.cpp's tiled K-quant kernel for types with
/// minimums (Q2_K, Q4_K, Q5_K; its AVX-512 VNNI microtile): with the exact
/// integer sums `sumi` (Σ scale·Σ q·x) and `summ` (Σ min·Σ x) of the
/// block, r = f32(sumi)·d_w, then r = r − dmin_w·f32(summ) in one fused
/// step, then acc = fma(r, d_x, acc) (its `buf + r·d_x`, contracted by
/// the compiler).
#[inline]
pub(crate) fn tiled_min_step(acc: f32, sumi: i32, summ: i32, dw: f32, dmin: f32, dx: f32) -> f32 {
    let r = sumi as f32 * dw;
    let r = (-dmin).mul_add(summ as f32, r);
    r.mul_add(dx, acc)
}

/// One super-block of llama.cpp's tiled K-quant kernel for types without
/// minimums (Q3_K, Q6_K): acc = fma(f32(sumi)·d_w, d_x, acc), `sumi` the
/// block's exact integer sum.
#[inline]
pub(crate) fn tiled_step(acc: f32, sumi: i32, dw: f32, dx: f32) -> f32 {
    (sumi as f32 * dw).mul_add(dx, acc)
}

/// One step of llama.cpp's repacked 8-row K-quant kernels (`gemv`/`gemm`
/// of Q4_K and Q2_K): acc = fma(f32(sumi), d_w·d_x, acc) and
/// acc_m = fma(f32(summ), dmin_w·d_x, acc_m) for the exact integer sums of
/// one part of a super-block (the whole block in the gemv kernels, 64 or
/// 128 elements in the gemm ones); the product is acc − acc_m at the end.
#[inline]
pub(crate) fn repack_step(acc: &mut (f32, f32), sumi: i32, summ: i32, dw: f32, dmin: f32, dx: f32) {
    acc.0 = (sumi as f32).mul_add(dw * dx, acc.0);
    acc.1 = (summ as f32).mul_add(dmin * dx, acc.1);
}
