//! Q6_K kernels on aarch64 (NEON, NEON + dotprod): the bodies and their
//! constructors. Each constructor takes the detection token of its
//! instruction set, so these kernels can only be handed out on a CPU that
//! runs them.

use super::neon;
use super::neon::{f16_to_f32, unpack_q6k_half};
use crate::blocks::{BlockQ6K, BlockQ8K, QK_K};
use crate::cpu::{Dotprod, Neon};
use crate::quant::RowKernels;
use core::arch::aarch64::*;

/// The plain NEON kernels.
pub(crate) fn neon(_proof: Neon) -> RowKernels<BlockQ6K, BlockQ8K> {
    RowKernels {
        quantize_act: neon::quantize_q8_k,
        dot: dot_q6k_q8k,
        dot4: Some(dot4_q6k_q8k),
        rows2: None,
        tile8x1: None,
        tile8x4: None,
    }
}

/// The NEON + dotprod kernels (the NEON code; see `arm::neon` for why
/// Q6_K keeps `smull`).
pub(crate) fn dotprod(proof: Dotprod) -> RowKernels<BlockQ6K, BlockQ8K> {
    neon(proof.neon())
}

/// The eight i32 lanes of one Q6_K·Q8_K super-block, exactly
/// [`crate::scalar::block_lanes_q6k`] (the dots use only their exact sum,
/// [`isum_q6k`]): for each 32-element group g, lanes 0..3 take the four
/// quad sums (4 consecutive products) of sub-block 2g times `scales[2g]`,
/// lanes 4..7 those of sub-block 2g + 1 times `scales[2g + 1]`. `a` holds
/// the block's levels minus 32 as [`unpack_q6k_half`] returns them for the
/// two halves.
///
/// Exact for any i8 activations: a product is at most 32·128 in
/// magnitude, so the pair sums (`addp` of the `smull` results) and quad
/// sums (a second `addp`) stay within i16 (≤ 16384), and the scaled
/// accumulation is done in i32 by `smlal`.
///
/// # Safety
/// `q8` must be valid for 256 byte reads; NEON must be available.
#[inline(always)]
unsafe fn lanes_q6k(
    a: &[[int8x16_t; 8]; 2],
    scales: &[i8; QK_K / 16],
    q8: *const i8,
) -> (int32x4_t, int32x4_t) {
    // SAFETY: the caller upholds this function's `# Safety` contract (the
    // CPU features it names are present; pointers valid for the reads).
    unsafe {
        let mut lo = vdupq_n_s32(0);
        let mut hi = vdupq_n_s32(0);
        // Pair sums of one 16-element sub-block s: [e0+e1, e2+e3, .., e14+e15].
        let pairs = |s: usize| -> int16x8_t {
            let w = a[s / 8][s % 8];
            let q = vld1q_s8(q8.add(16 * s));
            vpaddq_s16(
                vmull_s8(vget_low_s8(w), vget_low_s8(q)),
                vmull_high_s8(w, q),
            )
        };
        for g in 0..QK_K / 32 {
            // Quad sums: sub-block 2g in i16 lanes 0..3, 2g + 1 in lanes 4..7.
            let quads = vpaddq_s16(pairs(2 * g), pairs(2 * g + 1));
            lo = vmlal_n_s16(lo, vget_low_s16(quads), i16::from(scales[2 * g]));
            hi = vmlal_high_n_s16(hi, quads, i16::from(scales[2 * g + 1]));
        }
        (lo, hi)
    }
}

/// A Q6_K block's 256 levels minus 32, both halves unpacked.
///
/// # Safety
/// NEON must be available.
#[inline(always)]
unsafe fn prep_q6k(wb: &BlockQ6K) -> [[int8x16_t; 8]; 2] {
    // SAFETY: the caller upholds this function's `# Safety` contract (the
    // CPU features it names are present; pointers valid for the reads).
    unsafe {
        // `ql` has 128 bytes and `qh` 64: both halves' reads are in bounds.
        [
            unpack_q6k_half(wb.ql.as_ptr(), wb.qh.as_ptr()),
            unpack_q6k_half(wb.ql.as_ptr().add(64), wb.qh.as_ptr().add(32)),
        ]
    }
}

/// The exact integer sum of one Q6_K·Q8_K super-block: the sum of the
/// eight lanes of [`lanes_q6k`], i.e. Σ scale·Σ w·x over the 16
/// sub-blocks (|sum| ≤ 256·32·128·128 < 2^31, no overflow).
///
/// # Safety
/// `q8` must be valid for 256 byte reads; NEON must be available.
#[inline(always)]
unsafe fn isum_q6k(a: &[[int8x16_t; 8]; 2], scales: &[i8; QK_K / 16], q8: *const i8) -> i32 {
    // SAFETY: the caller upholds this function's `# Safety` contract (the
    // CPU features it names are present; pointers valid for the reads).
    unsafe {
        let (lo, hi) = lanes_q6k(a, scales, q8);
        vaddvq_s32(vaddq_s32(lo, hi))
    }
}

/// Σ w·x over a Q6_K row and a Q8_K row (equal block counts), bit-identical
/// to [`crate::scalar::dot_q6k_q8k`] (llama.cpp's repacked Q6_K order on
/// x86): per super-block the exact integer sum sumi of [`isum_q6k`] is
/// converted to f32 (round to nearest even), multiplied by f32(d_w) and
/// added with one fused multiply-add by d_x: acc = fma(f32(sumi)·d_w, d_x,
/// acc), one scalar chain in super-block order. (The lanes are sums of 4
/// consecutive products, so `sdot` could form them too; the dotprod table
/// shares this kernel.)
fn dot_q6k_q8k(w: &[BlockQ6K], x: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), x.len(), "block counts differ");
    // SAFETY: only reachable after NEON was detected; lengths checked above.
    unsafe { dot_q6k_q8k_neon(w, x) }
}

#[target_feature(enable = "neon")]
unsafe fn dot_q6k_q8k_neon(w: &[BlockQ6K], x: &[BlockQ8K]) -> f32 {
    // SAFETY: the caller upholds this function's `# Safety` contract (the
    // CPU features it names are present; pointers valid for the reads).
    unsafe {
        let mut acc = 0.0f32;
        for (wb, xb) in w.iter().zip(x) {
            let a = prep_q6k(wb);
            // `xb.qs` is 256 bytes.
            let sumi = isum_q6k(&a, &wb.scales, xb.qs.as_ptr());
            acc = (sumi as f32 * f16_to_f32(wb.d)).mul_add(xb.d, acc);
        }
        acc
    }
}

/// Four [`dot_q6k_q8k`] dots of one weight row with the 4 activation rows
/// stored back to back in `x`, bit-identical to the single-row kernel
/// (each weight block is unpacked once; each row keeps its own scalar
/// chain).
///
/// # Panics
/// When `x.len() != 4 * w.len()`.
fn dot4_q6k_q8k(w: &[BlockQ6K], x: &[BlockQ8K], out: &mut [f32; 4]) {
    assert_eq!(
        x.len(),
        4 * w.len(),
        "dot4: activation is not 4 rows of the weight's length"
    );
    // SAFETY: only reachable after NEON was detected; `x` holds 4·n blocks
    // (checked above).
    unsafe { dot4_q6k_q8k_neon(w, x, out) }
}

#[target_feature(enable = "neon")]
unsafe fn dot4_q6k_q8k_neon(w: &[BlockQ6K], x: &[BlockQ8K], out: &mut [f32; 4]) {
    // SAFETY: the caller upholds this function's `# Safety` contract (the
    // CPU features it names are present; pointers valid for the reads).
    unsafe {
        let n = w.len();
        let xs: [&[BlockQ8K]; 4] = [&x[..n], &x[n..2 * n], &x[2 * n..3 * n], &x[3 * n..4 * n]];
        let mut acc = [0.0f32; 4];
        for (i, wb) in w.iter().enumerate() {
            let a = prep_q6k(wb);
            let dw = f16_to_f32(wb.d);
            for v in 0..4 {
                let xb = &xs[v][i];
                // `xb.qs` is 256 bytes.
                let sumi = isum_q6k(&a, &wb.scales, xb.qs.as_ptr());
                acc[v] = (sumi as f32 * dw).mul_add(xb.d, acc[v]);
            }
        }
        *out = acc;
    }
}
