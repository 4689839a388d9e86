//! Plain NEON kernels (ARMv8.0 Advanced SIMD, no dotprod): widening
//! multiplies (`smull`/`smull2`) and pairwise widening adds (`sadalp`).
//!
//! Every integer block sum is exact, and the f32 combination per block
//! repeats the scalar reference's expression and order, so the quantized dots
//! and the quantizers are bit-identical to [`crate::scalar`]. The f16/f32
//! dots use four vector accumulators (a different summation order).
//!
//! The public-in-crate functions are safe wrappers around
//! `#[target_feature(enable = "neon")]` bodies; they are only handed out by
//! [`table`] (and by the dotprod table, whose CPUs are a superset) after NEON
//! was detected at run time.

use crate::blocks::*;
use crate::Kernels;
use core::arch::aarch64::*;
use core::arch::asm;
use half::f16;

/// The NEON kernel table, or `None` when the CPU lacks NEON.
pub(crate) fn table() -> Option<Kernels> {
    if !std::arch::is_aarch64_feature_detected!("neon") {
        return None;
    }
    Some(Kernels {
        name: "neon",
        quantize_q8_0,
        quantize_q8_1,
        quantize_q8_k,
        dot_q4_0_q8_0,
        dot_q4_1_q8_1,
        dot_q8_0_q8_0,
        dot_q6k_q8k,
        dot_f16_f32,
        dot_f32_f32,
        dot4_q4_0_q8_0,
        dot4_q4_1_q8_1,
        dot4_q8_0_q8_0,
        dot4_q6k_q8k,
    })
}

// ---------------------------------------------------------------------------
// Small helpers, inlined into the `target_feature` bodies that call them.

/// Exact f16 → f32 conversion of one value with `fcvt` (base ARMv8 FP, no
/// FEAT_FP16 needed). Same result as `half::f16::to_f32`.
#[inline(always)]
pub(super) fn f16_to_f32(h: f16) -> f32 {
    let out: f32;
    // SAFETY: `fcvt s, h` is part of the base AArch64 FP instruction set,
    // which every aarch64 Linux target has; it touches only the two named
    // registers (no memory, stack or flags).
    unsafe {
        asm!(
            "fcvt {o:s}, {i:h}",
            i = in(vreg) h.to_bits() as i16,
            o = lateout(vreg) out,
            options(pure, nomem, nostack, preserves_flags)
        );
    }
    out
}

/// Exact f16 → f32 conversion of eight values with `fcvtl`/`fcvtl2`
/// (stable Rust has no `vcvt_f32_f16`: the f16 vector type is unstable).
#[inline(always)]
unsafe fn cvt8_f16(h: uint16x8_t) -> (float32x4_t, float32x4_t) {
    let lo: float32x4_t;
    let hi: float32x4_t;
    // SAFETY: `fcvtl`/`fcvtl2` (half → single) are base ARMv8 Advanced SIMD
    // instructions; they read `h` and write the outputs only.
    asm!(
        "fcvtl {lo:v}.4s, {h:v}.4h",
        "fcvtl2 {hi:v}.4s, {h:v}.8h",
        h = in(vreg) h,
        lo = out(vreg) lo,
        hi = out(vreg) hi,
        options(pure, nomem, nostack, preserves_flags)
    );
    (lo, hi)
}

/// Unpacks one 128-element half of a Q6_K block (`ql` 64 bytes, `qh` 32
/// bytes) into eight vectors of 16 signed levels in −32..31, in element
/// order (vector k holds elements 16k..16k+16 of the half, i.e. sub-block
/// 8·half + k).
///
/// # Safety
/// `ql` must be valid for 64 byte reads and `qh` for 32; NEON must be
/// available.
#[inline(always)]
pub(super) unsafe fn unpack_q6k_half(ql: *const u8, qh: *const u8) -> [int8x16_t; 8] {
    let m4 = vdupq_n_u8(0x0F);
    let m3 = vdupq_n_u8(0x03);
    let off = vdupq_n_s8(32);
    let l0 = vld1q_u8(ql);
    let l1 = vld1q_u8(ql.add(16));
    let l2 = vld1q_u8(ql.add(32));
    let l3 = vld1q_u8(ql.add(48));
    let h0 = vld1q_u8(qh);
    let h1 = vld1q_u8(qh.add(16));
    // Element l (0..32):    low nibble of ql[l]    | bits 0-1 of qh[l] << 4
    // Element l+32:         low nibble of ql[l+32] | bits 2-3 of qh[l] << 4
    // Element l+64:         high nibble of ql[l]   | bits 4-5 of qh[l] << 4
    // Element l+96:         high nibble of ql[l+32]| bits 6-7 of qh[l] << 4
    let lvl = |l: uint8x16_t, lo_nibble: bool, h: uint8x16_t, shift: i32| -> int8x16_t {
        let low = if lo_nibble {
            vandq_u8(l, m4)
        } else {
            vshrq_n_u8::<4>(l)
        };
        let hb = match shift {
            0 => vshlq_n_u8::<4>(vandq_u8(h, m3)),
            2 => vshlq_n_u8::<2>(vandq_u8(h, vdupq_n_u8(0x0C))),
            4 => vandq_u8(h, vdupq_n_u8(0x30)),
            _ => vshrq_n_u8::<2>(vandq_u8(h, vdupq_n_u8(0xC0))),
        };
        vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(low, hb)), off)
    };
    [
        lvl(l0, true, h0, 0),
        lvl(l1, true, h1, 0),
        lvl(l2, true, h0, 2),
        lvl(l3, true, h1, 2),
        lvl(l0, false, h0, 4),
        lvl(l1, false, h1, 4),
        lvl(l2, false, h0, 6),
        lvl(l3, false, h1, 6),
    ]
}

/// Splits a Q4 block's 16 packed bytes into its 32 nibbles: (elements 0..16
/// = low nibbles, elements 16..32 = high nibbles), as unsigned values 0..15.
#[inline(always)]
pub(super) unsafe fn nibbles(qs: *const u8) -> (int8x16_t, int8x16_t) {
    let q = vld1q_u8(qs);
    (
        vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0F))),
        vreinterpretq_s8_u8(vshrq_n_u8::<4>(q)),
    )
}

/// Σ a·b over 16 lanes of i8 into four i32 lanes, exact: products (≤ 2^14
/// in magnitude) are widened to i16 and pairwise added into i32.
#[inline(always)]
unsafe fn dot16(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    let lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    let hi = vmull_high_s8(a, b);
    vpadalq_s16(vpadalq_s16(acc, lo), hi)
}

/// Saturating narrow of four i32x4 vectors (16 values) to one i8x16.
#[inline(always)]
unsafe fn narrow16(a: int32x4_t, b: int32x4_t, c: int32x4_t, d: int32x4_t) -> int8x16_t {
    let ab = vcombine_s16(vqmovn_s32(a), vqmovn_s32(b));
    let cd = vcombine_s16(vqmovn_s32(c), vqmovn_s32(d));
    vcombine_s8(vqmovn_s16(ab), vqmovn_s16(cd))
}

/// Largest |x| over `n` floats (n a multiple of 4), ignoring NaN like
/// `f32::max`.
#[inline(always)]
unsafe fn amax(p: *const f32, n: usize) -> f32 {
    let mut m = vdupq_n_f32(0.0);
    let mut i = 0;
    while i < n {
        m = vmaxnmq_f32(m, vabsq_f32(vld1q_f32(p.add(i))));
        i += 4;
    }
    vmaxnmvq_f32(m)
}

// ---------------------------------------------------------------------------
// Quantizers.

/// Quantizes `x` (length 32 × `y.len()`) to Q8_0, bit-identical to
/// [`crate::scalar::quantize_row_q8_0`].
pub(super) fn quantize_q8_0(x: &[f32], y: &mut [BlockQ8_0]) {
    assert_eq!(x.len(), y.len() * QK, "row length must be 32 × blocks");
    // SAFETY: this function is only reachable through a kernel table built
    // after NEON was detected; lengths were checked above.
    unsafe { quantize_q8_0_neon(x, y) }
}

#[target_feature(enable = "neon")]
unsafe fn quantize_q8_0_neon(x: &[f32], y: &mut [BlockQ8_0]) {
    for (xb, yb) in x.chunks_exact(QK).zip(y.iter_mut()) {
        let (q, d) = quantize_block32(xb.as_ptr());
        yb.d = f16::from_f32(d);
        // SAFETY (within this unsafe fn): `yb.qs` is 32 bytes.
        vst1q_s8(yb.qs.as_mut_ptr(), q.0);
        vst1q_s8(yb.qs.as_mut_ptr().add(16), q.1);
    }
}

/// Quantizes 32 floats at `p` like the scalar Q8_0 quantizer; returns the two
/// halves of q and the f32 scale d = amax/127.
#[inline(always)]
unsafe fn quantize_block32(p: *const f32) -> ((int8x16_t, int8x16_t), f32) {
    let amax = amax(p, QK);
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let mut v = [vdupq_n_s32(0); 8];
    for (k, out) in v.iter_mut().enumerate() {
        // round(x·id) half away from zero: `fcvtas`.
        *out = vcvtaq_s32_f32(vmulq_n_f32(vld1q_f32(p.add(4 * k)), id));
    }
    (
        (
            narrow16(v[0], v[1], v[2], v[3]),
            narrow16(v[4], v[5], v[6], v[7]),
        ),
        d,
    )
}

/// Quantizes `x` (length 32 × `y.len()`) to Q8_1, bit-identical to
/// [`crate::scalar::quantize_row_q8_1`].
pub(super) fn quantize_q8_1(x: &[f32], y: &mut [BlockQ8_1]) {
    assert_eq!(x.len(), y.len() * QK, "row length must be 32 × blocks");
    // SAFETY: only reachable after NEON was detected; lengths checked above.
    unsafe { quantize_q8_1_neon(x, y) }
}

#[target_feature(enable = "neon")]
unsafe fn quantize_q8_1_neon(x: &[f32], y: &mut [BlockQ8_1]) {
    for (xb, yb) in x.chunks_exact(QK).zip(y.iter_mut()) {
        let ((q0, q1), d) = quantize_block32(xb.as_ptr());
        yb.d = f16::from_f32(d);
        vst1q_s8(yb.qs.as_mut_ptr(), q0);
        vst1q_s8(yb.qs.as_mut_ptr().add(16), q1);
        // Σq fits easily (|Σ| ≤ 32·127); integer sums are order-free.
        let sum = i32::from(vaddlvq_s8(q0)) + i32::from(vaddlvq_s8(q1));
        yb.s = f16::from_f32(sum as f32 * d);
    }
}

/// Quantizes `x` (length 256 × `y.len()`) to Q8_K, bit-identical to
/// [`crate::scalar::quantize_row_q8_k`].
pub(super) fn quantize_q8_k(x: &[f32], y: &mut [BlockQ8K]) {
    assert_eq!(x.len(), y.len() * QK_K, "row length must be 256 × blocks");
    // SAFETY: only reachable after NEON was detected; lengths checked above.
    unsafe { quantize_q8_k_neon(x, y) }
}

#[target_feature(enable = "neon")]
unsafe fn quantize_q8_k_neon(x: &[f32], y: &mut [BlockQ8K]) {
    for (xb, yb) in x.chunks_exact(QK_K).zip(y.iter_mut()) {
        let p = xb.as_ptr();
        let amax = amax(p, QK_K);
        if amax == 0.0 {
            yb.d = 0.0;
            yb.qs = [0; QK_K];
            yb.bsums = [0; QK_K / 16];
            continue;
        }
        // The scalar keeps the sign of the *first* element of largest
        // magnitude (strict `>`), so find that element.
        let max = xb.iter().copied().find(|v| v.abs() == amax).unwrap_or(amax);
        let iscale = -127.0f32 / max;
        let cap = vdupq_n_s32(127);
        for g in 0..QK_K / 16 {
            let mut v = [vdupq_n_s32(0); 4];
            for (k, out) in v.iter_mut().enumerate() {
                let f = vmulq_n_f32(vld1q_f32(p.add(16 * g + 4 * k)), iscale);
                // nearest_int: round to nearest, ties to even = `fcvtns`.
                *out = vminq_s32(vcvtnq_s32_f32(f), cap);
            }
            let q = narrow16(v[0], v[1], v[2], v[3]);
            vst1q_s8(yb.qs.as_mut_ptr().add(16 * g), q);
            yb.bsums[g] = vaddlvq_s8(q);
        }
        yb.d = 1.0 / iscale;
    }
}

// ---------------------------------------------------------------------------
// Quantized dot products.

crate::dispatch::dot4_fallbacks! {
    dot4_q4_0_q8_0: dot_q4_0_q8_0, BlockQ4_0, BlockQ8_0;
    dot4_q4_1_q8_1: dot_q4_1_q8_1, BlockQ4_1, BlockQ8_1;
    dot4_q8_0_q8_0: dot_q8_0_q8_0, BlockQ8_0, BlockQ8_0;
    dot4_q6k_q8k: dot_q6k_q8k, BlockQ6K, BlockQ8K;
}

/// Σ w·x over a Q4_0 row and a Q8_0 row (equal block counts).
pub(super) fn dot_q4_0_q8_0(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 {
    assert_eq!(w.len(), x.len(), "block counts differ");
    // SAFETY: only reachable after NEON was detected; lengths checked above.
    unsafe { dot_q4_0_q8_0_neon(w, x) }
}

#[target_feature(enable = "neon")]
unsafe fn dot_q4_0_q8_0_neon(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 {
    let eight = vdupq_n_s8(8);
    let mut sumf = 0.0f32;
    for (wb, xb) in w.iter().zip(x) {
        let (lo, hi) = nibbles(wb.qs.as_ptr());
        let (lo, hi) = (vsubq_s8(lo, eight), vsubq_s8(hi, eight));
        let y0 = vld1q_s8(xb.qs.as_ptr());
        let y1 = vld1q_s8(xb.qs.as_ptr().add(16));
        let acc = dot16(dot16(vdupq_n_s32(0), lo, y0), hi, y1);
        let sumi = vaddvq_s32(acc);
        sumf += sumi as f32 * f16_to_f32(wb.d) * f16_to_f32(xb.d);
    }
    sumf
}

/// Σ w·x over a Q4_1 row and a Q8_1 row (equal block counts).
pub(super) fn dot_q4_1_q8_1(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f32 {
    assert_eq!(w.len(), x.len(), "block counts differ");
    // SAFETY: only reachable after NEON was detected; lengths checked above.
    unsafe { dot_q4_1_q8_1_neon(w, x) }
}

#[target_feature(enable = "neon")]
unsafe fn dot_q4_1_q8_1_neon(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f32 {
    let mut sumf = 0.0f32;
    for (wb, xb) in w.iter().zip(x) {
        let (lo, hi) = nibbles(wb.qs.as_ptr());
        let y0 = vld1q_s8(xb.qs.as_ptr());
        let y1 = vld1q_s8(xb.qs.as_ptr().add(16));
        let acc = dot16(dot16(vdupq_n_s32(0), lo, y0), hi, y1);
        let sumi = vaddvq_s32(acc);
        sumf += (f16_to_f32(wb.d) * f16_to_f32(xb.d)) * sumi as f32
            + f16_to_f32(wb.m) * f16_to_f32(xb.s);
    }
    sumf
}

/// Σ w·x over two Q8_0 rows (equal block counts).
pub(super) fn dot_q8_0_q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 {
    assert_eq!(w.len(), x.len(), "block counts differ");
    // SAFETY: only reachable after NEON was detected; lengths checked above.
    unsafe { dot_q8_0_q8_0_neon(w, x) }
}

#[target_feature(enable = "neon")]
unsafe fn dot_q8_0_q8_0_neon(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 {
    let mut sumf = 0.0f32;
    for (wb, xb) in w.iter().zip(x) {
        let a0 = vld1q_s8(wb.qs.as_ptr());
        let a1 = vld1q_s8(wb.qs.as_ptr().add(16));
        let b0 = vld1q_s8(xb.qs.as_ptr());
        let b1 = vld1q_s8(xb.qs.as_ptr().add(16));
        // dot16 never adds two i16 products (−128·−128 = 2^14 each), so
        // any i8 input is exact.
        let acc = dot16(dot16(vdupq_n_s32(0), a0, b0), a1, b1);
        let sumi = vaddvq_s32(acc);
        sumf += sumi as f32 * (f16_to_f32(wb.d) * f16_to_f32(xb.d));
    }
    sumf
}

/// Σ w·x over a Q6_K row and a Q8_K row (equal block counts).
///
/// The scalar reference (ggml's generic code) keeps eight i32 sums, lane l
/// collecting elements i ≡ l (mod 8), and eight f32 sums across blocks; this
/// kernel keeps exactly those lanes (smull of 8 bytes puts element i in lane
/// i mod 8), so the result is bit-identical. `sdot` groups 4 consecutive
/// bytes and cannot keep that split, so the dotprod table shares this kernel.
pub(super) fn dot_q6k_q8k(w: &[BlockQ6K], x: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), x.len(), "block counts differ");
    // SAFETY: only reachable after NEON was detected; lengths checked above.
    unsafe { dot_q6k_q8k_neon(w, x) }
}

#[target_feature(enable = "neon")]
unsafe fn dot_q6k_q8k_neon(w: &[BlockQ6K], x: &[BlockQ8K]) -> f32 {
    let mut sums_lo = vdupq_n_f32(0.0);
    let mut sums_hi = vdupq_n_f32(0.0);
    for (wb, xb) in w.iter().zip(x) {
        let mut lo = vdupq_n_s32(0); // aux32[0..4]
        let mut hi = vdupq_n_s32(0); // aux32[4..8]
        for h in 0..2 {
            let a = unpack_q6k_half(wb.ql.as_ptr().add(64 * h), wb.qh.as_ptr().add(32 * h));
            for (k, &ak) in a.iter().enumerate() {
                let sub = 8 * h + k;
                let q = vld1q_s8(xb.qs.as_ptr().add(16 * sub));
                // |a·q| ≤ 32·128, so the sum of two products fits an i16.
                let p = vaddq_s16(
                    vmull_s8(vget_low_s8(ak), vget_low_s8(q)),
                    vmull_high_s8(ak, q),
                );
                let sc = i16::from(wb.scales[sub]);
                lo = vmlal_n_s16(lo, vget_low_s16(p), sc);
                hi = vmlal_high_n_s16(hi, p, sc);
            }
        }
        let d = f16_to_f32(wb.d) * xb.d;
        // sums[l] += d·aux32[l]: separate multiply and add, as the scalar.
        sums_lo = vaddq_f32(sums_lo, vmulq_n_f32(vcvtq_f32_s32(lo), d));
        sums_hi = vaddq_f32(sums_hi, vmulq_n_f32(vcvtq_f32_s32(hi), d));
    }
    let mut lanes = [0f32; 8];
    vst1q_f32(lanes.as_mut_ptr(), sums_lo);
    vst1q_f32(lanes.as_mut_ptr().add(4), sums_hi);
    let mut sumf = 0.0f32;
    for s in lanes {
        sumf += s;
    }
    sumf
}

// ---------------------------------------------------------------------------
// Float dot products.

/// Σ w·x over an f16 row and an f32 row of equal length, accumulated in f32
/// (four vector accumulators with fused multiply-add).
pub(super) fn dot_f16_f32(w: &[f16], x: &[f32]) -> f32 {
    assert_eq!(w.len(), x.len(), "lengths differ");
    // SAFETY: only reachable after NEON was detected; lengths checked above.
    unsafe { dot_f16_f32_neon(w, x) }
}

#[target_feature(enable = "neon")]
unsafe fn dot_f16_f32_neon(w: &[f16], x: &[f32]) -> f32 {
    let n = w.len();
    // f16 is a transparent u16: reading its bits as u16 is sound.
    let wp = w.as_ptr().cast::<u16>();
    let xp = x.as_ptr();
    let mut acc = [vdupq_n_f32(0.0); 4];
    let mut i = 0;
    while i + 16 <= n {
        let (a0, a1) = cvt8_f16(vld1q_u16(wp.add(i)));
        let (a2, a3) = cvt8_f16(vld1q_u16(wp.add(i + 8)));
        acc[0] = vfmaq_f32(acc[0], a0, vld1q_f32(xp.add(i)));
        acc[1] = vfmaq_f32(acc[1], a1, vld1q_f32(xp.add(i + 4)));
        acc[2] = vfmaq_f32(acc[2], a2, vld1q_f32(xp.add(i + 8)));
        acc[3] = vfmaq_f32(acc[3], a3, vld1q_f32(xp.add(i + 12)));
        i += 16;
    }
    if i + 8 <= n {
        let (a0, a1) = cvt8_f16(vld1q_u16(wp.add(i)));
        acc[0] = vfmaq_f32(acc[0], a0, vld1q_f32(xp.add(i)));
        acc[1] = vfmaq_f32(acc[1], a1, vld1q_f32(xp.add(i + 4)));
        i += 8;
    }
    let mut sum = vaddvq_f32(vaddq_f32(
        vaddq_f32(acc[0], acc[1]),
        vaddq_f32(acc[2], acc[3]),
    ));
    for j in i..n {
        sum += f16_to_f32(w[j]) * x[j];
    }
    sum
}

/// Σ w·x over two f32 rows of equal length (four vector accumulators with
/// fused multiply-add).
pub(super) fn dot_f32_f32(w: &[f32], x: &[f32]) -> f32 {
    assert_eq!(w.len(), x.len(), "lengths differ");
    // SAFETY: only reachable after NEON was detected; lengths checked above.
    unsafe { dot_f32_f32_neon(w, x) }
}

#[target_feature(enable = "neon")]
unsafe fn dot_f32_f32_neon(w: &[f32], x: &[f32]) -> f32 {
    let n = w.len();
    let (wp, xp) = (w.as_ptr(), x.as_ptr());
    let mut acc = [vdupq_n_f32(0.0); 4];
    let mut i = 0;
    while i + 16 <= n {
        for (k, a) in acc.iter_mut().enumerate() {
            *a = vfmaq_f32(
                *a,
                vld1q_f32(wp.add(i + 4 * k)),
                vld1q_f32(xp.add(i + 4 * k)),
            );
        }
        i += 16;
    }
    while i + 4 <= n {
        acc[0] = vfmaq_f32(acc[0], vld1q_f32(wp.add(i)), vld1q_f32(xp.add(i)));
        i += 4;
    }
    let mut sum = vaddvq_f32(vaddq_f32(
        vaddq_f32(acc[0], acc[1]),
        vaddq_f32(acc[2], acc[3]),
    ));
    for j in i..n {
        sum += w[j] * x[j];
    }
    sum
}
