//! NEON + dotprod kernels (ARMv8.2 FEAT_DotProd, e.g. Cortex-A76/A55): the
//! integer block dots use `sdot`, which multiplies 16 pairs of i8 and adds
//! each group of four products into one i32 lane in a single instruction.
//!
//! Stable Rust has no `vdotq_s32` intrinsic, so `sdot` is emitted with
//! `asm!` inside `#[target_feature(enable = "dotprod")]` functions (the
//! target feature also lets the assembler accept the instruction). The
//! quantizers, the f16/f32 dots and Q6_K·Q8_K are shared with the plain NEON
//! path (see [`super::neon::dot_q6k_q8k`] for why Q6_K keeps `smull`).
//!
//! Results are bit-identical to [`crate::scalar`]: integer block sums are
//! exact and the per-block f32 combination repeats the scalar expression.

use super::neon;
use crate::blocks::*;
use crate::Kernels;
use core::arch::aarch64::*;
use core::arch::asm;

/// The dotprod kernel table, or `None` when the CPU lacks NEON or dotprod.
pub(crate) fn table() -> Option<Kernels> {
    if !(std::arch::is_aarch64_feature_detected!("neon")
        && std::arch::is_aarch64_feature_detected!("dotprod"))
    {
        return None;
    }
    Some(Kernels {
        name: "dotprod",
        quantize_q8_0: neon::quantize_q8_0,
        quantize_q8_1: neon::quantize_q8_1,
        quantize_q8_k: neon::quantize_q8_k,
        dot_q4_0_q8_0,
        dot_q4_1_q8_1,
        dot_q8_0_q8_0,
        dot_q6k_q8k: neon::dot_q6k_q8k,
        dot_f16_f32: neon::dot_f16_f32,
        dot_f32_f32: neon::dot_f32_f32,
        dot4_q4_0_q8_0,
        dot4_q4_1_q8_1,
        dot4_q8_0_q8_0,
        dot4_q6k_q8k: neon::dot4_q6k_q8k,
    })
}

crate::dispatch::dot4_fallbacks! {
    dot4_q4_0_q8_0: dot_q4_0_q8_0, BlockQ4_0, BlockQ8_0;
    dot4_q4_1_q8_1: dot_q4_1_q8_1, BlockQ4_1, BlockQ8_1;
    dot4_q8_0_q8_0: dot_q8_0_q8_0, BlockQ8_0, BlockQ8_0;
}

/// `acc + sdot(a, b)`: lane k of the result adds Σ_{j<4} a[4k+j]·b[4k+j].
/// Only usable inside a `#[target_feature(enable = "dotprod")]` function.
macro_rules! sdot {
    ($acc:expr, $a:expr, $b:expr) => {{
        let mut acc: int32x4_t = $acc;
        let a: int8x16_t = $a;
        let b: int8x16_t = $b;
        asm!(
            "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
            acc = inout(vreg) acc,
            a = in(vreg) a,
            b = in(vreg) b,
            options(pure, nomem, nostack, preserves_flags)
        );
        acc
    }};
}

/// Σ w·x over a Q4_0 row and a Q8_0 row (equal block counts).
fn dot_q4_0_q8_0(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 {
    assert_eq!(w.len(), x.len(), "block counts differ");
    // SAFETY: only reachable through the table built after NEON and dotprod
    // were detected at run time; lengths were checked above.
    unsafe { dot_q4_0_q8_0_sdot(w, x) }
}

#[target_feature(enable = "neon,dotprod")]
unsafe fn dot_q4_0_q8_0_sdot(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 {
    let eight = vdupq_n_s8(8);
    let mut sumf = 0.0f32;
    for (wb, xb) in w.iter().zip(x) {
        // `qs` arrays are 16 and 32 bytes: every load below is in bounds.
        let (lo, hi) = neon::nibbles(wb.qs.as_ptr());
        let y0 = vld1q_s8(xb.qs.as_ptr());
        let y1 = vld1q_s8(xb.qs.as_ptr().add(16));
        let acc = sdot!(vdupq_n_s32(0), vsubq_s8(lo, eight), y0);
        let acc = sdot!(acc, vsubq_s8(hi, eight), y1);
        let sumi = vaddvq_s32(acc);
        sumf += sumi as f32 * neon::f16_to_f32(wb.d) * neon::f16_to_f32(xb.d);
    }
    sumf
}

/// Σ w·x over a Q4_1 row and a Q8_1 row (equal block counts).
fn dot_q4_1_q8_1(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f32 {
    assert_eq!(w.len(), x.len(), "block counts differ");
    // SAFETY: only reachable after NEON and dotprod were detected; lengths
    // checked above.
    unsafe { dot_q4_1_q8_1_sdot(w, x) }
}

#[target_feature(enable = "neon,dotprod")]
unsafe fn dot_q4_1_q8_1_sdot(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f32 {
    let mut sumf = 0.0f32;
    for (wb, xb) in w.iter().zip(x) {
        let (lo, hi) = neon::nibbles(wb.qs.as_ptr());
        let y0 = vld1q_s8(xb.qs.as_ptr());
        let y1 = vld1q_s8(xb.qs.as_ptr().add(16));
        let acc = sdot!(vdupq_n_s32(0), lo, y0);
        let acc = sdot!(acc, hi, y1);
        let sumi = vaddvq_s32(acc);
        sumf += (neon::f16_to_f32(wb.d) * neon::f16_to_f32(xb.d)) * sumi as f32
            + neon::f16_to_f32(wb.m) * neon::f16_to_f32(xb.s);
    }
    sumf
}

/// Σ w·x over two Q8_0 rows (equal block counts).
fn dot_q8_0_q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 {
    assert_eq!(w.len(), x.len(), "block counts differ");
    // SAFETY: only reachable after NEON and dotprod were detected; lengths
    // checked above.
    unsafe { dot_q8_0_q8_0_sdot(w, x) }
}

#[target_feature(enable = "neon,dotprod")]
unsafe fn dot_q8_0_q8_0_sdot(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 {
    let mut sumf = 0.0f32;
    for (wb, xb) in w.iter().zip(x) {
        let a0 = vld1q_s8(wb.qs.as_ptr());
        let a1 = vld1q_s8(wb.qs.as_ptr().add(16));
        let b0 = vld1q_s8(xb.qs.as_ptr());
        let b1 = vld1q_s8(xb.qs.as_ptr().add(16));
        // Each lane sums 8 products of magnitude ≤ 2^14: no overflow.
        let acc = sdot!(sdot!(vdupq_n_s32(0), a0, b0), a1, b1);
        let sumi = vaddvq_s32(acc);
        sumf += sumi as f32 * (neon::f16_to_f32(wb.d) * neon::f16_to_f32(xb.d));
    }
    sumf
}
