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
//! Results are bit-identical to [`crate::scalar`]: `sdot` on a 16-byte half
//! yields exactly the reference's partial sums of 4 consecutive elements
//! (and any exact integer sum is the same), and the f32 combination is
//! shared with the NEON path: Q8_0 and Q4_1 add the eight lanes with one
//! FMA per lane and block, then [`crate::scalar::hsum8`]
//! (`neon::dot_blocks8!`); Q4_0 adds each block's exact integer sum with
//! one FMA in a single scalar chain (`neon::dot_blocks_chain!`).

use super::neon;
use crate::blocks::*;
use core::arch::aarch64::*;
use core::arch::asm;

/// `acc + sdot(a, b)`: lane k of the result adds Σ_{j<4} a[4k+j]·b[4k+j].
/// Only usable inside a `#[target_feature(enable = "dotprod")]` function
/// (or an `#[inline(always)]` helper inlined into one).
macro_rules! sdot {
    ($acc:expr, $a:expr, $b:expr) => {{
        let mut acc: int32x4_t = $acc;
        let a: int8x16_t = $a;
        let b: int8x16_t = $b;
        // `sdot` is an integer instruction: it writes only `acc` and sets
        // neither NZCV nor FPSR, so `preserves_flags` holds.
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
pub(super) use sdot;

/// The eight partial sums of a prepared weight block (two vectors of 16
/// i8, elements 0..16 and 16..32) with the 32 activations at `qs`: lane j
/// = Σ of elements 4j..4j+3, exactly what `sdot` computes per 32-bit lane
/// (|lane| ≤ 4·2^14, no overflow for any i8 input).
///
/// # Safety
/// `qs` must be valid for 32 byte reads; the caller must be compiled with
/// NEON and dotprod enabled (this is inlined into it).
#[inline(always)]
pub(super) unsafe fn lanes_sdot(
    p: (int8x16_t, int8x16_t),
    qs: *const i8,
) -> (int32x4_t, int32x4_t) {
    // SAFETY: the caller upholds this function's `# Safety` contract (the
    // CPU features it names are present; pointers valid for the reads).
    unsafe {
        let (y0, y1) = neon::load_q8(qs);
        (
            sdot!(vdupq_n_s32(0), p.0, y0),
            sdot!(vdupq_n_s32(0), p.1, y1),
        )
    }
}

/// The exact integer sum Σ w·x of a prepared weight block (two vectors of
/// 16 i8) with the 32 activations at `qs`: two `sdot`s into one i32x4
/// accumulator, then an across-lanes add (|sum| ≤ 32·2^14, no overflow).
///
/// # Safety
/// `qs` must be valid for 32 byte reads; the caller must be compiled with
/// NEON and dotprod enabled (this is inlined into it).
#[inline(always)]
pub(super) unsafe fn isum_sdot(p: (int8x16_t, int8x16_t), qs: *const i8) -> i32 {
    // SAFETY: the caller upholds this function's `# Safety` contract (the
    // CPU features it names are present; pointers valid for the reads).
    unsafe {
        let (y0, y1) = neon::load_q8(qs);
        vaddvq_s32(sdot!(sdot!(vdupq_n_s32(0), p.0, y0), p.1, y1))
    }
}

neon::dot_blocks_chain!(
    /// Σ w·x over a Q4_0 row and a Q8_0 row (equal block counts),
    /// bit-identical to [`crate::scalar::dot_q4_0_q8_0`].
    dot_q4_0_q8_0, dot4_q4_0_q8_0, "neon,dotprod", BlockQ4_0, BlockQ8_0,
    neon::prep_q4_0, isum_sdot
);
neon::dot_blocks8!(
    /// Σ w·x over a Q4_1 row and a Q8_1 row (equal block counts),
    /// bit-identical to [`crate::scalar::dot_q4_1_q8_1`].
    dot_q4_1_q8_1, dot4_q4_1_q8_1, "neon,dotprod", BlockQ4_1, BlockQ8_1,
    neon::prep_q4_1, lanes_sdot, m, s
);
neon::dot_blocks8!(
    /// Σ w·x over two Q8_0 rows (equal block counts), bit-identical to
    /// [`crate::scalar::dot_q8_0_q8_0`].
    dot_q8_0_q8_0, dot4_q8_0_q8_0, "neon,dotprod", BlockQ8_0, BlockQ8_0,
    neon::prep_q8_0, lanes_sdot
);
