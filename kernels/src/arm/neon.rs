//! Plain NEON kernels (ARMv8.0 Advanced SIMD, no dotprod): widening
//! multiplies (`smull`/`smull2`) and pairwise adds (`addp`/`saddlp`).
//!
//! The quantized dots follow llama.cpp's x86 order exactly as
//! [`crate::scalar`] defines it. Q8_0·Q8_0 and Q4_1·Q8_1: per block eight
//! exact partial integer sums, one fused multiply-add per lane into eight
//! f32 lanes kept as two `float32x4_t`, and [`crate::scalar::hsum8`] at the
//! end. Q4_0·Q8_0 and Q6_K·Q8_K (weights llama.cpp repacks on x86): per
//! block the exact integer sum, then one scalar fused multiply-add chain
//! in block order ([`crate::scalar::dot_q4_0_q8_0`],
//! [`crate::scalar::dot_q6k_q8k`]). The activation quantizers round like
//! llama.cpp's x86 ones (ties to even). Quantized dots and quantizers are
//! therefore bit-identical to [`crate::scalar`]. The f16/f32 dots use four
//! vector accumulators (a different summation order).
//!
//! The public-in-crate functions are safe wrappers around
//! `#[target_feature(enable = "neon")]` bodies; they are only handed out by
//! [`table`] (and by the dotprod table, whose CPUs are a superset) after NEON
//! was detected at run time.

use crate::blocks::*;
use crate::cpu::{Cpu, Neon};
use crate::Kernels;
use core::arch::aarch64::*;
use core::arch::asm;
use half::f16;

/// The NEON path-wide table (quantized types: `arm::<type>`); the dotprod
/// path shares it. `name` is "neon" or "dotprod".
pub(crate) fn table(_proof: Neon, cpu: Cpu, name: &'static str) -> Kernels {
    Kernels {
        name,
        cpu,
        quantize_q8_0,
        dot_f16_f32,
        dot_f32_f32,
        float_ops: crate::float_ops::PLAIN,
        numerics: crate::quant::Numerics::Default,
    }
}

// ---------------------------------------------------------------------------
// Small helpers, inlined into the `target_feature` bodies that call them.

/// Exact f16 → f32 conversion of one value with `fcvt` (base ARMv8 FP, no
/// FEAT_FP16 needed). Same result as `half::f16::to_f32`.
#[inline(always)]
pub(super) fn f16_to_f32(h: f16) -> f32 {
    let out: f32;
    // SAFETY: `fcvt s, h` is part of the base AArch64 FP instruction set,
    // which every aarch64 Linux target has; it reads and writes only the two
    // named registers (no memory or stack). It may set FPSR.IOC (a
    // signalling-NaN input), so the block does not claim `preserves_flags`.
    unsafe {
        asm!(
            "fcvt {o:s}, {i:h}",
            i = in(vreg) h.to_bits() as i16,
            o = lateout(vreg) out,
            options(pure, nomem, nostack)
        );
    }
    out
}

/// Exact f16 → f32 conversion of eight values with `fcvtl`/`fcvtl2`
/// (stable Rust has no `vcvt_f32_f16`: the f16 vector type is unstable).
#[inline(always)]
unsafe fn cvt8_f16(h: uint16x8_t) -> (float32x4_t, float32x4_t) {
    // SAFETY: the caller upholds this function's `# Safety` contract (the
    // CPU features it names are present; pointers valid for the reads).
    unsafe {
        let lo: float32x4_t;
        let hi: float32x4_t;
        // `fcvtl`/`fcvtl2` (half → single) are base ARMv8 Advanced SIMD
        // instructions; they read `h` and write the outputs only, but may set
        // FPSR.IOC (a signalling-NaN input): no `preserves_flags`.
        asm!(
            "fcvtl {lo:v}.4s, {h:v}.4h",
            "fcvtl2 {hi:v}.4s, {h:v}.8h",
            h = in(vreg) h,
            lo = out(vreg) lo,
            hi = out(vreg) hi,
            options(pure, nomem, nostack)
        );
        (lo, hi)
    }
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
    // SAFETY: the caller upholds this function's `# Safety` contract (the
    // CPU features it names are present; pointers valid for the reads).
    unsafe {
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
}

/// Splits a Q4 block's 16 packed bytes into its 32 nibbles: (elements 0..16
/// = low nibbles, elements 16..32 = high nibbles), as unsigned values 0..15.
#[inline(always)]
pub(super) unsafe fn nibbles(qs: *const u8) -> (int8x16_t, int8x16_t) {
    // SAFETY: the caller upholds this function's `# Safety` contract (the
    // CPU features it names are present; pointers valid for the reads).
    unsafe {
        let q = vld1q_u8(qs);
        (
            vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0F))),
            vreinterpretq_s8_u8(vshrq_n_u8::<4>(q)),
        )
    }
}

/// Saturating narrow of four i32x4 vectors (16 values) to one i8x16.
#[inline(always)]
unsafe fn narrow16(a: int32x4_t, b: int32x4_t, c: int32x4_t, d: int32x4_t) -> int8x16_t {
    // SAFETY: the caller upholds this function's `# Safety` contract (the
    // CPU features it names are present; pointers valid for the reads).
    unsafe {
        let ab = vcombine_s16(vqmovn_s32(a), vqmovn_s32(b));
        let cd = vcombine_s16(vqmovn_s32(c), vqmovn_s32(d));
        vcombine_s8(vqmovn_s16(ab), vqmovn_s16(cd))
    }
}

/// Largest |x| over `n` floats (n a multiple of 4), ignoring NaN like
/// `f32::max`.
#[inline(always)]
unsafe fn amax(p: *const f32, n: usize) -> f32 {
    // SAFETY: the caller upholds this function's `# Safety` contract (the
    // CPU features it names are present; pointers valid for the reads).
    unsafe {
        let mut m = vdupq_n_f32(0.0);
        let mut i = 0;
        while i < n {
            m = vmaxnmq_f32(m, vabsq_f32(vld1q_f32(p.add(i))));
            i += 4;
        }
        vmaxnmvq_f32(m)
    }
}

// ---------------------------------------------------------------------------
// Quantizers.

/// Quantizes activations `x` (length 32 × `y.len()`) to Q8_0, bit-identical
/// to [`crate::scalar::quantize_act_q8_0`].
pub(super) fn quantize_q8_0(x: &[f32], y: &mut [BlockQ8_0]) {
    assert_eq!(x.len(), y.len() * QK, "row length must be 32 × blocks");
    // SAFETY: this function is only reachable through a kernel table built
    // after NEON was detected; lengths were checked above.
    unsafe { quantize_q8_0_neon(x, y) }
}

#[target_feature(enable = "neon")]
unsafe fn quantize_q8_0_neon(x: &[f32], y: &mut [BlockQ8_0]) {
    // SAFETY: the caller upholds this function's `# Safety` contract (the
    // CPU features it names are present; pointers valid for the reads).
    unsafe {
        for (xb, yb) in x.chunks_exact(QK).zip(y.iter_mut()) {
            // `xb` holds 32 floats and `yb.qs` 32 bytes: every access below is
            // in bounds.
            let ((q0, q1), d) = quantize_block32(xb.as_ptr());
            yb.d = f16::from_f32(d);
            vst1q_s8(yb.qs.as_mut_ptr(), q0);
            vst1q_s8(yb.qs.as_mut_ptr().add(16), q1);
        }
    }
}

/// Quantizes the 32 floats at `p` like [`crate::scalar::quantize_act_q8_0`]
/// (llama.cpp's x86 activation quantizer): d = amax/127,
/// q = x·(127/amax) rounded to nearest with ties to even (`fcvtns`), 0 for
/// an all-zero block. Returns the two halves of q and the f32 scale d.
///
/// # Safety
/// `p` must be valid for 32 f32 reads; NEON must be available.
#[inline(always)]
unsafe fn quantize_block32(p: *const f32) -> ((int8x16_t, int8x16_t), f32) {
    // SAFETY: the caller upholds this function's `# Safety` contract (the
    // CPU features it names are present; pointers valid for the reads).
    unsafe {
        let amax = amax(p, QK);
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        let mut v = [vdupq_n_s32(0); 8];
        for (k, out) in v.iter_mut().enumerate() {
            // Round to nearest, ties to even (saturating, NaN → 0, like the
            // scalar `round_ties_even() as i8` after the saturating narrow).
            *out = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(p.add(4 * k)), id));
        }
        (
            (
                narrow16(v[0], v[1], v[2], v[3]),
                narrow16(v[4], v[5], v[6], v[7]),
            ),
            d,
        )
    }
}

/// Quantizes activations `x` (length 32 × `y.len()`) to Q8_1, bit-identical
/// to [`crate::scalar::quantize_act_q8_1`].
pub(super) fn quantize_q8_1(x: &[f32], y: &mut [BlockQ8_1]) {
    assert_eq!(x.len(), y.len() * QK, "row length must be 32 × blocks");
    // SAFETY: only reachable after NEON was detected; lengths checked above.
    unsafe { quantize_q8_1_neon(x, y) }
}

#[target_feature(enable = "neon")]
unsafe fn quantize_q8_1_neon(x: &[f32], y: &mut [BlockQ8_1]) {
    // SAFETY: the caller upholds this function's `# Safety` contract (the
    // CPU features it names are present; pointers valid for the reads).
    unsafe {
        for (xb, yb) in x.chunks_exact(QK).zip(y.iter_mut()) {
            // 32 floats in, 32 bytes out: every access below is in bounds.
            let ((q0, q1), d) = quantize_block32(xb.as_ptr());
            yb.d = f16::from_f32(d);
            vst1q_s8(yb.qs.as_mut_ptr(), q0);
            vst1q_s8(yb.qs.as_mut_ptr().add(16), q1);
            // Σq fits easily (|Σ| ≤ 32·127); integer sums are order-free.
            let sum = i32::from(vaddlvq_s8(q0)) + i32::from(vaddlvq_s8(q1));
            yb.s = f16::from_f32(d * sum as f32);
        }
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
    // SAFETY: the caller upholds this function's `# Safety` contract (the
    // CPU features it names are present; pointers valid for the reads).
    unsafe {
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
}

// ---------------------------------------------------------------------------
// Quantized dot products.

/// The eight f32 lane accumulators of a Q4/Q8 block dot, as two vectors
/// (lanes 0-3, lanes 4-7).
pub(super) type Acc8 = (float32x4_t, float32x4_t);

/// Eight zero lanes.
///
/// # Safety
/// NEON must be available (inlined into `target_feature` bodies).
#[inline(always)]
pub(super) unsafe fn acc8_zero() -> Acc8 {
    // SAFETY: the caller upholds this function's `# Safety` contract (the
    // CPU features it names are present; pointers valid for the reads).
    unsafe { (vdupq_n_f32(0.0), vdupq_n_f32(0.0)) }
}

/// `acc[j] = fma(d, lane[j], acc[j])` for the eight lanes (the lanes are
/// converted to f32 rounding to nearest even, as the scalar `as f32`; exact
/// for the Q4/Q8 lanes, |lane| ≤ 4·2^14).
///
/// # Safety
/// NEON must be available.
#[inline(always)]
pub(super) unsafe fn fma8(acc: &mut Acc8, d: f32, lanes: (int32x4_t, int32x4_t)) {
    // SAFETY: the caller upholds this function's `# Safety` contract (the
    // CPU features it names are present; pointers valid for the reads).
    unsafe {
        let dv = vdupq_n_f32(d);
        acc.0 = vfmaq_f32(acc.0, dv, vcvtq_f32_s32(lanes.0));
        acc.1 = vfmaq_f32(acc.1, dv, vcvtq_f32_s32(lanes.1));
    }
}

/// [`crate::scalar::hsum8`]: t_j = l[j+4] + l[j], then (t0+t2) + (t1+t3).
///
/// # Safety
/// NEON must be available.
#[inline(always)]
pub(super) unsafe fn hsum8(acc: Acc8) -> f32 {
    // SAFETY: the caller upholds this function's `# Safety` contract (the
    // CPU features it names are present; pointers valid for the reads).
    unsafe {
        let t = vaddq_f32(acc.1, acc.0);
        // [t0 + t2, t1 + t3], then one pairwise add.
        let u = vadd_f32(vget_low_f32(t), vget_high_f32(t));
        vaddv_f32(u)
    }
}

/// A Q4 block's 32 weights as two vectors of 16 (elements 0..16 = low
/// nibbles, 16..32 = high nibbles), minus 8 (Q4_0: −8..7).
///
/// # Safety
/// NEON must be available.
#[inline(always)]
pub(super) unsafe fn prep_q4_0(wb: &BlockQ4_0) -> (int8x16_t, int8x16_t) {
    // SAFETY: the caller upholds this function's `# Safety` contract (the
    // CPU features it names are present; pointers valid for the reads).
    unsafe {
        let eight = vdupq_n_s8(8);
        // `qs` is 16 bytes: the load in `nibbles` is in bounds.
        let (lo, hi) = nibbles(wb.qs.as_ptr());
        (vsubq_s8(lo, eight), vsubq_s8(hi, eight))
    }
}

/// A Q4_1 block's 32 weights as two vectors of 16 unsigned nibbles (0..15).
///
/// # Safety
/// NEON must be available.
#[inline(always)]
pub(super) unsafe fn prep_q4_1(wb: &BlockQ4_1) -> (int8x16_t, int8x16_t) {
    // SAFETY: the caller upholds this function's `# Safety` contract (the
    // CPU features it names are present; pointers valid for the reads).
    unsafe {
        // `qs` is 16 bytes: the load in `nibbles` is in bounds.
        nibbles(wb.qs.as_ptr())
    }
}

/// A Q8_0 block's 32 weights as two vectors of 16.
///
/// # Safety
/// NEON must be available.
#[inline(always)]
pub(super) unsafe fn prep_q8_0(wb: &BlockQ8_0) -> (int8x16_t, int8x16_t) {
    // SAFETY: the caller upholds this function's `# Safety` contract (the
    // CPU features it names are present; pointers valid for the reads).
    unsafe {
        // `qs` is 32 bytes: both loads are in bounds.
        (vld1q_s8(wb.qs.as_ptr()), vld1q_s8(wb.qs.as_ptr().add(16)))
    }
}

/// The 32 activations of a Q8 block (`qs` of 32 bytes) as two vectors.
///
/// # Safety
/// `qs` must be valid for 32 byte reads; NEON must be available.
#[inline(always)]
pub(super) unsafe fn load_q8(qs: *const i8) -> (int8x16_t, int8x16_t) {
    // SAFETY: the caller upholds this function's `# Safety` contract (the
    // CPU features it names are present; pointers valid for the reads).
    unsafe { (vld1q_s8(qs), vld1q_s8(qs.add(16))) }
}

/// lane k = Σ_{j<4} a[4k+j]·b[4k+j], exact for any i8 inputs: products are
/// widened to i16 and every addition happens in i32.
#[inline(always)]
unsafe fn sum4_wide(a: int8x16_t, b: int8x16_t) -> int32x4_t {
    // SAFETY: the caller upholds this function's `# Safety` contract (the
    // CPU features it names are present; pointers valid for the reads).
    unsafe {
        let lo = vpaddlq_s16(vmull_s8(vget_low_s8(a), vget_low_s8(b)));
        let hi = vpaddlq_s16(vmull_high_s8(a, b));
        vpaddq_s32(lo, hi)
    }
}

/// lane k = Σ_{j<4} a[4k+j]·b[4k+j] when every pair of products fits an
/// i16: |a| ≤ 127 (Q4 weights, Q5 levels, IQ4_NL table values; not −128)
/// with any i8 b gives |pair| ≤ 2·127·128 = 32512, so the first pairwise add
/// stays in i16. Exact.
#[inline(always)]
unsafe fn sum4_small(a: int8x16_t, b: int8x16_t) -> int32x4_t {
    // SAFETY: the caller upholds this function's `# Safety` contract (the
    // CPU features it names are present; pointers valid for the reads).
    unsafe {
        let lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
        let hi = vmull_high_s8(a, b);
        vpaddlq_s16(vpaddq_s16(lo, hi))
    }
}

/// The eight partial sums of a Q4 block (prepared by [`prep_q4_0`] or
/// [`prep_q4_1`]; also Q5_0, Q5_1 and IQ4_NL levels, see [`sum4_small`])
/// with a Q8 block's values at `qs`.
#[inline(always)]
pub(super) unsafe fn lanes_q4(p: (int8x16_t, int8x16_t), qs: *const i8) -> (int32x4_t, int32x4_t) {
    // SAFETY: the caller upholds this function's `# Safety` contract (the
    // CPU features it names are present; pointers valid for the reads).
    unsafe {
        let (y0, y1) = load_q8(qs);
        (sum4_small(p.0, y0), sum4_small(p.1, y1))
    }
}

/// The eight partial sums of two Q8_0 blocks (weights prepared by
/// [`prep_q8_0`]).
#[inline(always)]
unsafe fn lanes_q8(p: (int8x16_t, int8x16_t), qs: *const i8) -> (int32x4_t, int32x4_t) {
    // SAFETY: the caller upholds this function's `# Safety` contract (the
    // CPU features it names are present; pointers valid for the reads).
    unsafe {
        let (y0, y1) = load_q8(qs);
        (sum4_wide(p.0, y0), sum4_wide(p.1, y1))
    }
}

/// Generates a single-row quantized dot `$name(w, x)` and its 4-row
/// companion `$name4(w, x, out)` over 32-element blocks, in the eight-lane
/// order of [`crate::scalar::dot_q8_0_q8_0`] and
/// [`crate::scalar::dot_q4_1_q8_1`]: per block, eight exact partial integer
/// sums (`$lanes(prepared weight, activation qs)`: lane j = elements
/// 4j..4j+3) converted to f32 and added into eight f32 lanes by one fused
/// multiply-add with d = f32(d_w)·f32(d_x); the optional `$m`, `$s` fields
/// accumulate Σ m_w·s_x (Q4_1) in a scalar FMA chain added after [`hsum8`].
/// The 4-row version keeps separate accumulators per activation row and
/// performs exactly the same operations, so it is bit-identical to the
/// single-row one. Both bodies are compiled with `$feat` enabled; the
/// generated functions are safe wrappers that may only be handed out by a
/// table built after `$feat` was detected.
macro_rules! dot_blocks8 {
    ($(#[$doc:meta])* $name:ident, $name4:ident, $feat:literal, $wt:ty, $xt:ty,
     $prep:path, $lanes:path $(, $m:ident, $s:ident)?) => {
        $(#[$doc])*
        pub(super) fn $name(w: &[$wt], x: &[$xt]) -> f32 {
            assert_eq!(w.len(), x.len(), "block counts differ");
            #[target_feature(enable = $feat)]
            unsafe fn imp(w: &[$wt], x: &[$xt]) -> f32 {
                // SAFETY: the caller upholds this function's `# Safety` contract (the
                // CPU features it names are present; pointers valid for the reads).
                unsafe {
                #[allow(unused_imports)]
                use $crate::arm::neon::{acc8_zero, f16_to_f32, fma8, hsum8};
                let mut acc = acc8_zero();
                // Used by Q4_1 (`$m`, `$s` given) only.
                #[allow(unused_mut, unused_variables)]
                let mut summs = 0.0f32;
                for (wb, xb) in w.iter().zip(x) {
                    $( summs = f16_to_f32(wb.$m).mul_add(f16_to_f32(xb.$s), summs); )?
                    let d = f16_to_f32(wb.d) * f16_to_f32(xb.d);
                    // `xb.qs` is 32 bytes: the loads in `$lanes` are in bounds.
                    fma8(&mut acc, d, $lanes($prep(wb), xb.qs.as_ptr()));
                }
                #[allow(unused_mut)]
                let mut r = hsum8(acc);
                // Q4_1 only (`stringify!` just ties this to the `$m` group).
                $( r += { let _ = stringify!($m); summs }; )?
                r
                            }
            }
            // SAFETY: only reachable through a kernel table built after the
            // CPU features in `$feat` were detected at run time; the block
            // counts were checked above.
            unsafe { imp(w, x) }
        }

        #[doc = concat!("Four [`", stringify!($name), "`] dots of one weight row with the 4 \
            activation rows stored back to back in `x`, bit-identical to the single-row \
            kernel (each row keeps its own accumulators).\n\n# Panics\n\
            When `x.len() != 4 * w.len()`.")]
        pub(super) fn $name4(w: &[$wt], x: &[$xt], out: &mut [f32; 4]) {
            let n = w.len();
            assert_eq!(
                x.len(),
                4 * n,
                "dot4: activation is not 4 rows of the weight's length"
            );
            #[target_feature(enable = $feat)]
            unsafe fn imp(w: &[$wt], x: &[$xt], out: &mut [f32; 4]) {
                // SAFETY: the caller upholds this function's `# Safety` contract (the
                // CPU features it names are present; pointers valid for the reads).
                unsafe {
                #[allow(unused_imports)]
                use $crate::arm::neon::{acc8_zero, f16_to_f32, fma8, hsum8};
                let n = w.len();
                let xs: [&[$xt]; 4] = [&x[..n], &x[n..2 * n], &x[2 * n..3 * n], &x[3 * n..4 * n]];
                let mut acc = [acc8_zero(); 4];
                // Used by Q4_1 (`$m`, `$s` given) only.
                #[allow(unused_mut, unused_variables)]
                let mut summs = [0.0f32; 4];
                for (i, wb) in w.iter().enumerate() {
                    let p = $prep(wb);
                    for v in 0..4 {
                        let xb = &xs[v][i];
                        $( summs[v] = f16_to_f32(wb.$m).mul_add(f16_to_f32(xb.$s), summs[v]); )?
                        let d = f16_to_f32(wb.d) * f16_to_f32(xb.d);
                        // `xb.qs` is 32 bytes: the loads in `$lanes` are in bounds.
                        fma8(&mut acc[v], d, $lanes(p, xb.qs.as_ptr()));
                    }
                }
                for v in 0..4 {
                    #[allow(unused_mut)]
                    let mut r = hsum8(acc[v]);
                    // Q4_1 only, as in the single-row kernel.
                    $( r += { let _ = stringify!($m); summs[v] }; )?
                    out[v] = r;
                }
                            }
            }
            // SAFETY: only reachable through a kernel table built after the
            // CPU features in `$feat` were detected at run time; `x` holds
            // 4·n blocks (checked above).
            unsafe { imp(w, x, out) }
        }
    };
}
pub(super) use dot_blocks8;

/// The exact integer sum Σ w·x of a Q4 block (prepared by [`prep_q4_0`]
/// or [`prep_q4_1`]: levels in −8..15) with a Q8 block's values at `qs`
/// (|sum| ≤ 32·15·128, no overflow).
///
/// # Safety
/// `qs` must be valid for 32 byte reads; NEON must be available.
#[inline(always)]
pub(super) unsafe fn isum_q4(p: (int8x16_t, int8x16_t), qs: *const i8) -> i32 {
    // SAFETY: the caller upholds this function's `# Safety` contract (the
    // CPU features it names are present; pointers valid for the reads).
    unsafe {
        let (lo, hi) = lanes_q4(p, qs);
        vaddvq_s32(vaddq_s32(lo, hi))
    }
}

/// Generates a single-row quantized dot `$name(w, x)` and its 4-row
/// companion `$name4(w, x, out)` over 32-element blocks, in the order of
/// [`crate::scalar::dot_q4_0_q8_0`] (llama.cpp's repacked Q4_0 kernels on
/// x86): per block the exact integer sum sumi (`$isum(prepared weight,
/// activation qs)`, any exact method) is converted to f32 and added with
/// one fused multiply-add, acc = fma(f32(sumi), f32(d_w)·f32(d_x), acc),
/// in block order (one scalar chain, no lanes); with the optional `$m`,
/// `$s` fields (Q4_1) each block then adds acc = fma(f32(m_w), f32(s_x),
/// acc) ([`crate::scalar::dot_q4_1_q8_1_blocks`]). The 4-row version keeps
/// one independent chain per activation row and performs exactly the same
/// operations, so it is bit-identical to the single-row one. Both bodies
/// are compiled with `$feat` enabled; the generated functions are safe
/// wrappers that may only be handed out by a table built after `$feat` was
/// detected.
macro_rules! dot_blocks_chain {
    ($(#[$doc:meta])* $name:ident, $name4:ident, $feat:literal, $wt:ty, $xt:ty,
     $prep:path, $isum:path $(, $m:ident, $s:ident)?) => {
        $(#[$doc])*
        pub(super) fn $name(w: &[$wt], x: &[$xt]) -> f32 {
            assert_eq!(w.len(), x.len(), "block counts differ");
            #[target_feature(enable = $feat)]
            unsafe fn imp(w: &[$wt], x: &[$xt]) -> f32 {
                // SAFETY: the caller upholds this function's `# Safety` contract (the
                // CPU features it names are present; pointers valid for the reads).
                unsafe {
                use $crate::arm::neon::f16_to_f32;
                let mut acc = 0.0f32;
                for (wb, xb) in w.iter().zip(x) {
                    let d = f16_to_f32(wb.d) * f16_to_f32(xb.d);
                    // `xb.qs` is 32 bytes: the loads in `$isum` are in bounds.
                    let sumi = $isum($prep(wb), xb.qs.as_ptr());
                    acc = (sumi as f32).mul_add(d, acc);
                    $( acc = f16_to_f32(wb.$m).mul_add(f16_to_f32(xb.$s), acc); )?
                }
                acc
                            }
            }
            // SAFETY: only reachable through a kernel table built after the
            // CPU features in `$feat` were detected at run time; the block
            // counts were checked above.
            unsafe { imp(w, x) }
        }

        #[doc = concat!("Four [`", stringify!($name), "`] dots of one weight row with the 4 \
            activation rows stored back to back in `x`, bit-identical to the single-row \
            kernel (each row keeps its own scalar chain).\n\n# Panics\n\
            When `x.len() != 4 * w.len()`.")]
        pub(super) fn $name4(w: &[$wt], x: &[$xt], out: &mut [f32; 4]) {
            let n = w.len();
            assert_eq!(
                x.len(),
                4 * n,
                "dot4: activation is not 4 rows of the weight's length"
            );
            #[target_feature(enable = $feat)]
            unsafe fn imp(w: &[$wt], x: &[$xt], out: &mut [f32; 4]) {
                // SAFETY: the caller upholds this function's `# Safety` contract (the
                // CPU features it names are present; pointers valid for the reads).
                unsafe {
                use $crate::arm::neon::f16_to_f32;
                let n = w.len();
                let xs: [&[$xt]; 4] = [&x[..n], &x[n..2 * n], &x[2 * n..3 * n], &x[3 * n..4 * n]];
                let mut acc = [0.0f32; 4];
                for (i, wb) in w.iter().enumerate() {
                    let p = $prep(wb);
                    let dw = f16_to_f32(wb.d);
                    $( let mw = f16_to_f32(wb.$m); )?
                    for v in 0..4 {
                        let xb = &xs[v][i];
                        let d = dw * f16_to_f32(xb.d);
                        // `xb.qs` is 32 bytes: the loads in `$isum` are in bounds.
                        let sumi = $isum(p, xb.qs.as_ptr());
                        acc[v] = (sumi as f32).mul_add(d, acc[v]);
                        $( acc[v] = mw.mul_add(f16_to_f32(xb.$s), acc[v]); )?
                    }
                }
                *out = acc;
                            }
            }
            // SAFETY: only reachable through a kernel table built after the
            // CPU features in `$feat` were detected at run time; `x` holds
            // 4·n blocks (checked above).
            unsafe { imp(w, x, out) }
        }
    };
}
pub(super) use dot_blocks_chain;

dot_blocks_chain!(
    /// Σ w·x over a Q4_0 row and a Q8_0 row (equal block counts),
    /// bit-identical to [`crate::scalar::dot_q4_0_q8_0`].
    dot_q4_0_q8_0, dot4_q4_0_q8_0, "neon", BlockQ4_0, BlockQ8_0, prep_q4_0, isum_q4
);
dot_blocks8!(
    /// Σ w·x over a Q4_1 row and a Q8_1 row (equal block counts),
    /// bit-identical to [`crate::scalar::dot_q4_1_q8_1`].
    dot_q4_1_q8_1, dot4_q4_1_q8_1, "neon", BlockQ4_1, BlockQ8_1, prep_q4_1, lanes_q4, m, s
);
dot_blocks8!(
    /// Σ w·x over two Q8_0 rows (equal block counts), bit-identical to
    /// [`crate::scalar::dot_q8_0_q8_0`]. Exact for any i8 values, −128
    /// included.
    dot_q8_0_q8_0, dot4_q8_0_q8_0, "neon", BlockQ8_0, BlockQ8_0, prep_q8_0, lanes_q8
);

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
    // SAFETY: the caller upholds this function's `# Safety` contract (the
    // CPU features it names are present; pointers valid for the reads).
    unsafe {
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
    // SAFETY: the caller upholds this function's `# Safety` contract (the
    // CPU features it names are present; pointers valid for the reads).
    unsafe {
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
}
