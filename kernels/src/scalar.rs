//! The scalar reference: plain Rust, the definition of "correct" for every
//! SIMD path, which must give its bits. Weight quantizers follow llama.cpp's
//! reference quantizers (ggml-quants.c), so files we write are byte for byte
//! llama-quantize's. Activation quantizers and dot products follow what
//! llama.cpp's CPU backend runs on x86 (AVX2/AVX-512 build): its activation
//! rounding, the lane structure of its dot kernels and, for Q4_0 and Q6_K,
//! the order of its repacked kernels — operation for operation, so results
//! equal llama.cpp's bit for bit. f16 conversion rounds to nearest even.
//!
//! Every function takes a row as a pair of slices; the element counts must
//! agree (`f32` length = blocks × block size). A mismatch is a programming
//! error and panics.

use crate::blocks::*;
use half::{bf16, f16};

/// Groups whose largest magnitude is below this are treated as all-zero
/// (ggml's `GROUP_MAX_EPS`).
const GROUP_MAX_EPS: f32 = 1e-15;

/// ggml's `nearest_int`: rounds to nearest, ties to even, via the
/// 1.5·2^23 trick, which is exact for |x| ≤ 4194303. Larger magnitudes
/// (±inf included) are clamped to ±4194303 first, so they saturate at the
/// callers' caps instead of wrapping (ggml asserts there); such inputs come
/// from blocks of values so small that the inverse scale overflows (found by
/// the `quantize_roundtrip` fuzz target), whose scale rounds to 0 anyway.
#[inline]
pub(crate) fn nearest_int(x: f32) -> i32 {
    let x = x.clamp(-4_194_303.0, 4_194_303.0);
    let v = x + 12_582_912.0;
    (v.to_bits() & 0x007f_ffff) as i32 - 0x0040_0000
}

#[inline]
fn check_len(elems: usize, blocks: usize, per_block: usize) {
    assert_eq!(
        elems,
        blocks * per_block,
        "row length {elems} does not match {blocks} blocks of {per_block}"
    );
}

/// Reference Q8_0 quantization as ggml's `quantize_row_q8_0_ref` (used for
/// weights written to files): d = amax/127, q = round(x·(1/d)) with ties
/// away from zero, d stored as f16 (round to nearest even).
pub fn quantize_row_q8_0(x: &[f32], y: &mut [BlockQ8_0]) {
    check_len(x.len(), y.len(), QK);
    for (xb, yb) in x.chunks_exact(QK).zip(y.iter_mut()) {
        let amax = xb.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        yb.d = f16::from_f32(d);
        for (q, &v) in yb.qs.iter_mut().zip(xb) {
            *q = (v * id).round() as i8;
        }
    }
}

/// One activation block as llama.cpp's x86 CPU backend quantizes it
/// before a matrix product: d = amax/127, q = x·(127/amax) rounded to
/// nearest with ties to even. Returns (d, Σq).
#[inline]
fn quantize_act_block(xb: &[f32], qs: &mut [i8; QK]) -> (f32, i32) {
    let amax = xb.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
    let mut sum = 0i32;
    for (q, &v) in qs.iter_mut().zip(xb) {
        *q = (v * id).round_ties_even() as i8;
        sum += i32::from(*q);
    }
    (d, sum)
}

/// Quantizes activations to Q8_0 the way llama.cpp's x86 CPU backend does
/// before a Q4_0/Q8_0 product (`quantize_row_q8_0` of ggml-cpu):
/// d = amax/127 stored as f16, q = x·(127/amax) rounded to nearest, ties
/// to even. Differs from [`quantize_row_q8_0`] (the file quantizer) in the
/// last bit of the scale product and in ties.
pub fn quantize_act_q8_0(x: &[f32], y: &mut [BlockQ8_0]) {
    check_len(x.len(), y.len(), QK);
    for (xb, yb) in x.chunks_exact(QK).zip(y.iter_mut()) {
        let (d, _) = quantize_act_block(xb, &mut yb.qs);
        yb.d = f16::from_f32(d);
    }
}

/// Quantizes activations to Q8_1 as [`quantize_act_q8_0`], plus
/// s = d·Σq stored as f16 (as llama.cpp). s is finite only while
/// |d·Σq| ≤ 65504, i.e. the block's values sum to at most about ±65504; a
/// larger sum gives s = ±inf (found by the `quantize_roundtrip` fuzz target).
pub fn quantize_act_q8_1(x: &[f32], y: &mut [BlockQ8_1]) {
    check_len(x.len(), y.len(), QK);
    for (xb, yb) in x.chunks_exact(QK).zip(y.iter_mut()) {
        let (d, sum) = quantize_act_block(xb, &mut yb.qs);
        yb.d = f16::from_f32(d);
        yb.s = f16::from_f32(d * sum as f32);
    }
}

/// Quantizes activations to Q8_K as ggml's `quantize_row_q8_K_ref`: the
/// signed value of largest magnitude `max` maps to −127
/// (iscale = −127/max), q = nearest_int(iscale·x) (ties to even) capped at
/// 127, d = 1/iscale (f32), bsums = sums of 16 consecutive q. An all-zero
/// block gives d = 0, q = 0, bsums = 0.
pub fn quantize_row_q8_k(x: &[f32], y: &mut [BlockQ8K]) {
    check_len(x.len(), y.len(), QK_K);
    for (xb, yb) in x.chunks_exact(QK_K).zip(y.iter_mut()) {
        let mut max = 0.0f32;
        let mut amax = 0.0f32;
        for &v in xb {
            let ax = v.abs();
            if ax > amax {
                amax = ax;
                max = v;
            }
        }
        if amax == 0.0 {
            yb.d = 0.0;
            yb.qs = [0; QK_K];
            yb.bsums = [0; QK_K / 16];
            continue;
        }
        let iscale = -127.0f32 / max;
        for (q, &v) in yb.qs.iter_mut().zip(xb) {
            *q = nearest_int(iscale * v).min(127) as i8;
        }
        for (s, g) in yb.bsums.iter_mut().zip(yb.qs.chunks_exact(16)) {
            *s = g.iter().map(|&q| i16::from(q)).sum();
        }
        yb.d = 1.0 / iscale;
    }
}

/// Reference Q4_0 weight quantization (ggml `quantize_row_q4_0_ref`):
/// d = max/−8 with `max` the signed value of largest magnitude,
/// q = min(15, trunc(x/d + 8.5)).
pub fn quantize_row_q4_0(x: &[f32], y: &mut [BlockQ4_0]) {
    check_len(x.len(), y.len(), QK);
    for (xb, yb) in x.chunks_exact(QK).zip(y.iter_mut()) {
        let mut amax = 0.0f32;
        let mut max = 0.0f32;
        for &v in xb {
            if amax < v.abs() {
                amax = v.abs();
                max = v;
            }
        }
        let d = max / -8.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        yb.d = f16::from_f32(d);
        for j in 0..QK / 2 {
            let x0 = xb[j] * id;
            let x1 = xb[j + QK / 2] * id;
            let q0 = ((x0 + 8.5) as i8).min(15) as u8;
            let q1 = ((x1 + 8.5) as i8).min(15) as u8;
            yb.qs[j] = q0 | (q1 << 4);
        }
    }
}

/// Reference Q4_1 weight quantization (ggml `quantize_row_q4_1_ref`):
/// d = (max − min)/15, m = min, q = min(15, trunc((x − min)/d + 0.5)).
pub fn quantize_row_q4_1(x: &[f32], y: &mut [BlockQ4_1]) {
    check_len(x.len(), y.len(), QK);
    for (xb, yb) in x.chunks_exact(QK).zip(y.iter_mut()) {
        let mut min = f32::MAX;
        let mut max = -f32::MAX;
        for &v in xb {
            if v < min {
                min = v;
            }
            if v > max {
                max = v;
            }
        }
        let d = (max - min) / 15.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        yb.d = f16::from_f32(d);
        yb.m = f16::from_f32(min);
        for j in 0..QK / 2 {
            let x0 = (xb[j] - min) * id;
            let x1 = (xb[j + QK / 2] - min) * id;
            let q0 = ((x0 + 0.5) as i8).min(15) as u8;
            let q1 = ((x1 + 0.5) as i8).min(15) as u8;
            yb.qs[j] = q0 | (q1 << 4);
        }
    }
}

/// ggml's `make_qx_quants` (no importance weights): quantizes `x` to levels
/// in [−nmax, nmax−1] stored as `l + nmax` in `l_out`, searching 19 candidate
/// scales for the one that minimizes the weighted error (weight chosen by
/// `rmse_type`: 1 → x², 2 → 1, 3 → |x|, otherwise √|x|). Returns the scale.
fn make_qx_quants(nmax: i32, x: &[f32], l_out: &mut [i8], rmse_type: i32) -> f32 {
    let mut max = 0.0f32;
    let mut amax = 0.0f32;
    for &v in x {
        let ax = v.abs();
        if ax > amax {
            amax = ax;
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        l_out.fill(0);
        return 0.0;
    }
    let nmaxf = nmax as f32;
    let mut iscale = -nmaxf / max;
    if rmse_type == 0 {
        for (l, &v) in l_out.iter_mut().zip(x) {
            let q = nearest_int(iscale * v).clamp(-nmax, nmax - 1);
            *l = (nmax + q) as i8;
        }
        return 1.0 / iscale;
    }
    let (rmse_type, return_early) = if rmse_type < 0 {
        (-rmse_type, true)
    } else {
        (rmse_type, false)
    };
    let weight = |v: f32| -> f32 {
        match rmse_type {
            1 => v * v,
            2 => 1.0,
            3 => v.abs(),
            _ => v.abs().sqrt(),
        }
    };
    let mut sumlx = 0.0f32;
    let mut suml2 = 0.0f32;
    for (l, &v) in l_out.iter_mut().zip(x) {
        let q = nearest_int(iscale * v).clamp(-nmax, nmax - 1);
        *l = (q + nmax) as i8;
        let w = weight(v);
        let qf = q as f32;
        sumlx += w * v * qf;
        suml2 += w * qf * qf;
    }
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    if return_early {
        return if suml2 > 0.0 {
            0.5 * (scale + 1.0 / iscale)
        } else {
            1.0 / iscale
        };
    }
    let mut best = scale * sumlx;
    for is in -9i32..=9 {
        if is == 0 {
            continue;
        }
        iscale = -(nmaxf + 0.1 * is as f32) / max;
        sumlx = 0.0;
        suml2 = 0.0;
        for &v in x {
            let q = nearest_int(iscale * v).clamp(-nmax, nmax - 1);
            let w = weight(v);
            let qf = q as f32;
            sumlx += w * v * qf;
            suml2 += w * qf * qf;
        }
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            for (l, &v) in l_out.iter_mut().zip(x) {
                let q = nearest_int(iscale * v).clamp(-nmax, nmax - 1);
                *l = (nmax + q) as i8;
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

/// Reference Q6_K weight quantization (ggml `quantize_row_q6_K_ref`, no
/// importance matrix): per 16-element sub-block `make_qx_quants(…, 32, rmse
/// 1)`, sub-block scales quantized to i8 against the largest one
/// (iscale = −128/max_scale), then levels requantized with the final scales.
pub fn quantize_row_q6k(x: &[f32], y: &mut [BlockQ6K]) {
    check_len(x.len(), y.len(), QK_K);
    let mut l = [0i8; QK_K];
    let mut scales = [0f32; QK_K / 16];
    for (xb, yb) in x.chunks_exact(QK_K).zip(y.iter_mut()) {
        let mut max_scale = 0.0f32;
        let mut max_abs_scale = 0.0f32;
        for (ib, sc) in scales.iter_mut().enumerate() {
            let r = 16 * ib..16 * ib + 16;
            let scale = make_qx_quants(32, &xb[r.clone()], &mut l[r], 1);
            *sc = scale;
            let abs_scale = scale.abs();
            if abs_scale > max_abs_scale {
                max_abs_scale = abs_scale;
                max_scale = scale;
            }
        }
        if max_abs_scale < GROUP_MAX_EPS {
            yb.ql = [0; QK_K / 2];
            yb.qh = [0; QK_K / 4];
            yb.scales = [0; QK_K / 16];
            yb.d = f16::ZERO;
            continue;
        }
        let iscale = -128.0f32 / max_scale;
        yb.d = f16::from_f32(1.0 / iscale);
        for (s, &sc) in yb.scales.iter_mut().zip(&scales) {
            *s = nearest_int(iscale * sc).min(127) as i8;
        }
        let dd = yb.d.to_f32();
        for j in 0..QK_K / 16 {
            let d = dd * f32::from(yb.scales[j]);
            if d == 0.0 {
                continue;
            }
            for ii in 0..16 {
                let q = nearest_int(xb[16 * j + ii] / d).clamp(-32, 31);
                l[16 * j + ii] = (q + 32) as i8;
            }
        }
        for (h, jbase) in (0..QK_K).step_by(128).enumerate() {
            let ql = &mut yb.ql[64 * h..64 * h + 64];
            let qh = &mut yb.qh[32 * h..32 * h + 32];
            for i in 0..32 {
                let lv = |k: usize| l[jbase + i + k] as u8;
                ql[i] = (lv(0) & 0xF) | ((lv(64) & 0xF) << 4);
                ql[i + 32] = (lv(32) & 0xF) | ((lv(96) & 0xF) << 4);
                qh[i] = (lv(0) >> 4)
                    | ((lv(32) >> 4) << 2)
                    | ((lv(64) >> 4) << 4)
                    | ((lv(96) >> 4) << 6);
            }
        }
    }
}

/// Dequantizes a Q4_0 row: y = (nibble − 8)·d.
pub fn dequantize_row_q4_0(x: &[BlockQ4_0], y: &mut [f32]) {
    check_len(y.len(), x.len(), QK);
    for (xb, yb) in x.iter().zip(y.chunks_exact_mut(QK)) {
        let d = xb.d.to_f32();
        for j in 0..QK / 2 {
            yb[j] = (i32::from(xb.qs[j] & 0xF) - 8) as f32 * d;
            yb[j + QK / 2] = (i32::from(xb.qs[j] >> 4) - 8) as f32 * d;
        }
    }
}

/// Dequantizes a Q4_1 row: y = nibble·d + m.
pub fn dequantize_row_q4_1(x: &[BlockQ4_1], y: &mut [f32]) {
    check_len(y.len(), x.len(), QK);
    for (xb, yb) in x.iter().zip(y.chunks_exact_mut(QK)) {
        let d = xb.d.to_f32();
        let m = xb.m.to_f32();
        for j in 0..QK / 2 {
            yb[j] = f32::from(xb.qs[j] & 0xF) * d + m;
            yb[j + QK / 2] = f32::from(xb.qs[j] >> 4) * d + m;
        }
    }
}

/// Dequantizes a Q8_0 row: y = q·d.
pub fn dequantize_row_q8_0(x: &[BlockQ8_0], y: &mut [f32]) {
    check_len(y.len(), x.len(), QK);
    for (xb, yb) in x.iter().zip(y.chunks_exact_mut(QK)) {
        let d = xb.d.to_f32();
        for (o, &q) in yb.iter_mut().zip(&xb.qs) {
            *o = f32::from(q) * d;
        }
    }
}

/// Unpacks the 256 six-bit levels of a Q6_K block, minus 32 (range −32..31),
/// in element order.
#[inline]
pub(crate) fn unpack_q6k(b: &BlockQ6K) -> [i8; QK_K] {
    let mut a = [0i8; QK_K];
    for h in 0..2 {
        let ql = &b.ql[64 * h..64 * h + 64];
        let qh = &b.qh[32 * h..32 * h + 32];
        let out = &mut a[128 * h..128 * h + 128];
        for l in 0..32 {
            out[l] = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) as i8 - 32;
            out[l + 32] = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) as i8 - 32;
            out[l + 64] = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i8 - 32;
            out[l + 96] = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i8 - 32;
        }
    }
    a
}

/// Dequantizes a Q6_K row: y = (d·scale(sub))·(q − 32), evaluated as in
/// ggml (`d * sc * q` left to right).
pub fn dequantize_row_q6k(x: &[BlockQ6K], y: &mut [f32]) {
    check_len(y.len(), x.len(), QK_K);
    for (xb, yb) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        let d = xb.d.to_f32();
        let a = unpack_q6k(xb);
        for (i, (o, &q)) in yb.iter_mut().zip(&a).enumerate() {
            *o = d * f32::from(xb.scales[i / 16]) * f32::from(q);
        }
    }
}

/// Converts an f16 row to f32 (exact).
pub fn dequantize_row_f16(x: &[f16], y: &mut [f32]) {
    assert_eq!(x.len(), y.len());
    for (o, &v) in y.iter_mut().zip(x) {
        *o = v.to_f32();
    }
}

/// Converts a bf16 row to f32 (exact).
pub fn dequantize_row_bf16(x: &[bf16], y: &mut [f32]) {
    assert_eq!(x.len(), y.len());
    for (o, &v) in y.iter_mut().zip(x) {
        *o = v.to_f32();
    }
}

/// The 32 weights of a Q4 block in element order (element e < 16 is the
/// low nibble of byte e, element e ≥ 16 the high nibble of byte e − 16).
#[inline]
fn nibbles(qs: &[u8; QK / 2]) -> [u8; QK] {
    std::array::from_fn(|e| {
        if e < QK / 2 {
            qs[e] & 0xF
        } else {
            qs[e - QK / 2] >> 4
        }
    })
}

/// Eight partial integer sums of one block pair: lane j = Σ w[e]·x[e] over
/// the four elements e = 4j..4j+3 (exact).
#[inline]
fn lanes8(w: impl Fn(usize) -> i32, x: &[i8; QK]) -> [i32; 8] {
    std::array::from_fn(|j| (4 * j..4 * j + 4).map(|e| w(e) * i32::from(x[e])).sum())
}

/// `acc[j] = fma(d, lane[j], acc[j])` for the eight lanes.
#[inline]
fn fma_lanes(acc: &mut [f32; 8], d: f32, lanes: [i32; 8]) {
    for (a, l) in acc.iter_mut().zip(lanes) {
        *a = d.mul_add(l as f32, *a);
    }
}

/// Sum of eight lanes in the order of an x86 horizontal add:
/// ((l0+l4) + (l2+l6)) + ((l1+l5) + (l3+l7)).
#[inline]
pub fn hsum8(l: &[f32; 8]) -> f32 {
    let t: [f32; 4] = std::array::from_fn(|j| l[j + 4] + l[j]);
    (t[0] + t[2]) + (t[1] + t[3])
}

/// Σ w·x, Q4_0 × Q8_0, in the order llama.cpp uses for Q4_0 weights on
/// x86: it repacks them (eight rows interleaved, `q4_0_8x8`) and its
/// kernels then take each block's exact integer sum and add it with one
/// fused multiply-add: acc = fma(f32(sumi), d_w·d_x, acc), in block order.
pub fn dot_q4_0_q8_0(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 {
    assert_eq!(w.len(), x.len());
    let mut acc = 0f32;
    for (wb, xb) in w.iter().zip(x) {
        let n = nibbles(&wb.qs);
        let sumi: i32 = (0..QK)
            .map(|e| (i32::from(n[e]) - 8) * i32::from(xb.qs[e]))
            .sum();
        acc = (sumi as f32).mul_add(wb.d.to_f32() * xb.d.to_f32(), acc);
    }
    acc
}

/// Σ w·x, Q4_1 × Q8_1, in the order of llama.cpp's x86 kernel: the lanes
/// as [`dot_q4_0_q8_0`] (nibbles unsigned), and Σ m_w·s_x accumulated
/// separately with fused multiply-adds and added after [`hsum8`].
pub fn dot_q4_1_q8_1(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f32 {
    assert_eq!(w.len(), x.len());
    let mut acc = [0f32; 8];
    let mut summs = 0f32;
    for (wb, xb) in w.iter().zip(x) {
        let n = nibbles(&wb.qs);
        summs = wb.m.to_f32().mul_add(xb.s.to_f32(), summs);
        let d = wb.d.to_f32() * xb.d.to_f32();
        fma_lanes(&mut acc, d, lanes8(|e| i32::from(n[e]), &xb.qs));
    }
    hsum8(&acc) + summs
}

/// Σ w·x, Q4_1 × Q8_1, in the default order ([`crate::Numerics::Default`]):
/// per block the exact integer sum sumi = Σ nibble·q, then
/// acc = fma(f32(sumi), f32(d_w)·f32(d_x), acc) and
/// acc = fma(f32(m_w), f32(s_x), acc), in block order — the order of
/// [`dot_q4_0_q8_0`] plus one FMA for the minimum, which lets the 8-row and
/// panel kernels keep one chain per (row, vector) in a vector lane.
pub fn dot_q4_1_q8_1_blocks(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f32 {
    assert_eq!(w.len(), x.len());
    let mut acc = 0f32;
    for (wb, xb) in w.iter().zip(x) {
        let n = nibbles(&wb.qs);
        let sumi: i32 = (0..QK).map(|e| i32::from(n[e]) * i32::from(xb.qs[e])).sum();
        acc = (sumi as f32).mul_add(wb.d.to_f32() * xb.d.to_f32(), acc);
        acc = wb.m.to_f32().mul_add(xb.s.to_f32(), acc);
    }
    acc
}

/// Σ w·x, Q8_0 × Q8_0, in the lane order of [`dot_q4_0_q8_0`].
pub fn dot_q8_0_q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 {
    assert_eq!(w.len(), x.len());
    let mut acc = [0f32; 8];
    for (wb, xb) in w.iter().zip(x) {
        let d = wb.d.to_f32() * xb.d.to_f32();
        fma_lanes(&mut acc, d, lanes8(|e| i32::from(wb.qs[e]), &xb.qs));
    }
    hsum8(&acc)
}

/// Σ w·x, Q8_0 × Q8_0, in the default order ([`crate::Numerics::Default`]):
/// per block the exact integer sum, converted to f32 and added with one
/// fused multiply-add, acc = fma(f32(sumi), f32(d_w)·f32(d_x), acc), in
/// block order — the order of [`dot_q4_0_q8_0`], which lets prompt
/// products keep one chain per (row, vector) in a vector lane.
pub fn dot_q8_0_q8_0_blocks(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 {
    assert_eq!(w.len(), x.len());
    let mut acc = 0f32;
    for (wb, xb) in w.iter().zip(x) {
        let sumi: i32 = wb
            .qs
            .iter()
            .zip(&xb.qs)
            .map(|(&a, &b)| i32::from(a) * i32::from(b))
            .sum();
        acc = (sumi as f32).mul_add(wb.d.to_f32() * xb.d.to_f32(), acc);
    }
    acc
}

/// The eight i32 lanes of one Q6_K·Q8_K super-block as llama.cpp's AVX2
/// kernel (`ggml_vec_dot_q6_K_q8_K`, x86) forms them.
///
/// The block is read as eight 32-element groups g = 0..8 (elements
/// 32g..32g+31; the AVX2 code handles them as vectors q4_0..q4_3 of each
/// 128-element half). Within a group, lane L (0..8) takes the four
/// consecutive elements 32g + 4L .. 32g + 4L + 3, weighted by their
/// sub-block scale: lanes 0..3 lie in sub-block 2g (`scales[2g]`), lanes
/// 4..7 in sub-block 2g + 1 (`scales[2g + 1]`). So
///
/// lane[L] = Σ_g scale[(32g + 4L)/16] · Σ_{e = 32g+4L}^{32g+4L+3} (q6[e] − 32)·q8[e]
///
/// i.e. lane L collects every element e with (e mod 32) / 4 = L. llama.cpp
/// builds it as `maddubs(q6, q8) − maddubs(32, q8)` per pair, `madd` with
/// the scale, and i32 adds over the groups; every step is exact (pair sums
/// stay within i16: |q6·q8| ≤ 63·128), so only these integer values
/// matter, not the order of the additions.
#[inline]
pub(crate) fn block_lanes_q6k(w: &BlockQ6K, x: &BlockQ8K) -> [i32; 8] {
    let a = unpack_q6k(w);
    let mut lanes = [0i32; 8];
    for (g, (ag, qg)) in a.chunks_exact(32).zip(x.qs.chunks_exact(32)).enumerate() {
        for (l, lane) in lanes.iter_mut().enumerate() {
            let quad: i32 = (4 * l..4 * l + 4)
                .map(|e| i32::from(ag[e]) * i32::from(qg[e]))
                .sum();
            *lane += i32::from(w.scales[2 * g + l / 4]) * quad;
        }
    }
    lanes
}

/// Σ w·x, Q6_K × Q8_K, in the order of llama.cpp's tiled K-quant kernel
/// (x86, its AVX-512 VNNI microtile; batches of 8 rows or more), which is
/// also the default order: per super-block the exact integer sum of
/// [`block_lanes_q6k`] is converted to f32 (round to nearest even),
/// multiplied by f32(d_w), and added with one fused multiply-add by d_x:
/// acc = fma(f32(sumi)·d_w, d_x, acc), in super-block order.
pub fn dot_q6k_q8k(w: &[BlockQ6K], x: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), x.len());
    let mut acc = 0f32;
    for (wb, xb) in w.iter().zip(x) {
        let sumi: i32 = block_lanes_q6k(wb, xb).iter().sum();
        acc = (sumi as f32 * wb.d.to_f32()).mul_add(xb.d, acc);
    }
    acc
}

/// Σ w·x, Q6_K × Q8_K, in the order of llama.cpp's
/// `ggml_vec_dot_q6_K_q8_K` (x86, AVX2 code; the products of batches of
/// fewer than 8 rows, e.g. one token). Its eight i32 lanes are those of
/// [`block_lanes_q6k`] with the −32 offset moved: lane L sums the unsigned
/// levels (0..63) of the elements e with (e mod 32)/4 = L, times their
/// scale, and subtracts 32·(scale·Σx of sub-block 2L + scale·Σx of
/// sub-block 2L + 1), from the activation block sums. Per super-block
/// acc[L] = fma(d_x·d_w, f32(lane), acc[L]); result [`hsum8`].
pub fn dot_q6k_q8k_vecdot(w: &[BlockQ6K], x: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), x.len());
    let mut acc = [0f32; 8];
    for (wb, xb) in w.iter().zip(x) {
        let sc = |s: usize| i32::from(wb.scales[s]);
        // Σ scale·x over the elements of each element lane (the part the
        // signed lanes of `block_lanes_q6k` subtract)…
        let mut sx = [0i32; 8];
        for (e, &q) in xb.qs.iter().enumerate() {
            sx[(e % 32) / 4] += sc(e / 16) * i32::from(q);
        }
        let signed = block_lanes_q6k(wb, xb);
        let lanes: [i32; 8] = std::array::from_fn(|l| {
            // …and the part llama.cpp subtracts in lane l instead.
            let sub = sc(2 * l) * i32::from(xb.bsums[2 * l])
                + sc(2 * l + 1) * i32::from(xb.bsums[2 * l + 1]);
            signed[l] + 32 * sx[l] - 32 * sub
        });
        fma_lanes(&mut acc, xb.d * wb.d.to_f32(), lanes);
    }
    hsum8(&acc)
}

/// Σ w·x, f16 × f32, each w converted exactly to f32, accumulated
/// sequentially in f32.
pub fn dot_f16_f32(w: &[f16], x: &[f32]) -> f32 {
    assert_eq!(w.len(), x.len());
    let mut sum = 0.0f32;
    for (&a, &b) in w.iter().zip(x) {
        sum += a.to_f32() * b;
    }
    sum
}

/// Σ w·x, f32 × f32, accumulated sequentially in f32.
pub fn dot_f32_f32(w: &[f32], x: &[f32]) -> f32 {
    assert_eq!(w.len(), x.len());
    let mut sum = 0.0f32;
    for (&a, &b) in w.iter().zip(x) {
        sum += a * b;
    }
    sum
}
