//! Q4_K × Q8_K on aarch64 (NEON, NEON + dotprod), default numerics: the
//! exact integer sums of each super-block with vector instructions, then
//! the scalar reference's float sequence ([`super::kq::k_dots!`]), so every
//! result has the bits of [`crate::quants::q4_k::dot_q4k_q8k`]. Each
//! constructor takes the detection token of its instruction set.

use super::kq::{self, Prep};
use super::neon;
use crate::blocks::{BlockQ8K, QK_K};
use crate::cpu::{Dotprod, Neon};
use crate::quant::RowKernels;
use crate::quants::q4_k::BlockQ4K;
use crate::quants::scale_min_k4;
use core::arch::aarch64::*;

/// The plain NEON kernels (default numerics).
pub(crate) fn neon(_proof: Neon) -> RowKernels<BlockQ4K, BlockQ8K> {
    RowKernels {
        dot4: Some(dot4_neon),
        ..RowKernels::from_dot(neon::quantize_q8_k, dot_neon)
    }
}

/// The NEON + dotprod kernels (default numerics; `sdot` quad sums).
pub(crate) fn dotprod(_proof: Dotprod) -> RowKernels<BlockQ4K, BlockQ8K> {
    RowKernels {
        dot4: Some(dot4_sdot),
        ..RowKernels::from_dot(neon::quantize_q8_k, dot_sdot)
    }
}

/// Unpacks a Q4_K super-block: group k (elements 16k..16k + 16) of chunk
/// c = k/4 is the low nibbles of `qs[32c..32c + 16]`, of `qs[32c + 16..]`,
/// then the high nibbles of the same two; both groups of sub-block j carry
/// its 6-bit scale and minimum.
///
/// # Safety
/// NEON must be available.
#[inline(always)]
pub(super) unsafe fn prep_q4k(wb: &BlockQ4K) -> Prep {
    // SAFETY: the caller upholds this function's `# Safety` contract (NEON
    // is present); `qs` holds 128 bytes, the loads read 32c..32c + 32.
    unsafe {
        let m4 = vdupq_n_u8(0x0F);
        let mut q = [vdupq_n_s8(0); 16];
        for c in 0..4 {
            let r0 = vld1q_u8(wb.qs.as_ptr().add(32 * c));
            let r1 = vld1q_u8(wb.qs.as_ptr().add(32 * c + 16));
            q[4 * c] = vreinterpretq_s8_u8(vandq_u8(r0, m4));
            q[4 * c + 1] = vreinterpretq_s8_u8(vandq_u8(r1, m4));
            q[4 * c + 2] = vreinterpretq_s8_u8(vshrq_n_u8::<4>(r0));
            q[4 * c + 3] = vreinterpretq_s8_u8(vshrq_n_u8::<4>(r1));
        }
        let (sc, mins) = scales_mins_k4(&wb.scales);
        Prep { q, sc, mins }
    }
}

/// The 6-bit scales and minimums of the eight 32-element sub-blocks of a
/// Q4_K / Q5_K block, each repeated for its two 16-element groups.
#[inline(always)]
pub(super) fn scales_mins_k4(scales: &[u8; 12]) -> ([i16; QK_K / 16], [i16; QK_K / 16]) {
    let mut sc = [0i16; QK_K / 16];
    let mut mins = [0i16; QK_K / 16];
    for j in 0..8 {
        let (s, m) = scale_min_k4(j, scales);
        sc[2 * j] = i16::from(s);
        sc[2 * j + 1] = i16::from(s);
        mins[2 * j] = i16::from(m);
        mins[2 * j + 1] = i16::from(m);
    }
    (sc, mins)
}

kq::k_dots!(
    /// Σ w·x over a Q4_K row and a Q8_K row (plain NEON), bit-identical to
    /// [`crate::quants::q4_k::dot_q4k_q8k`].
    dot_neon, dot4_neon, "neon", BlockQ4K, prep_q4k, kq::isum32_neon, dmin
);
kq::k_dots!(
    /// Σ w·x over a Q4_K row and a Q8_K row (`sdot`), bit-identical to
    /// [`crate::quants::q4_k::dot_q4k_q8k`].
    dot_sdot, dot4_sdot, "neon,dotprod", BlockQ4K, prep_q4k, kq::isum32_sdot, dmin
);
