//! Q5_K × Q8_K on aarch64 (NEON, NEON + dotprod), default numerics: as
//! Q4_K (`super::q4k`) with the fifth bits of `qh`, so every result has the
//! bits of [`crate::quants::q5_k::dot_q5k_q8k`]. Each constructor takes the
//! detection token of its instruction set.

use super::kq::{self, bit_as, Prep};
use super::neon;
use super::q4k::scales_mins_k4;
use crate::blocks::BlockQ8K;
use crate::cpu::{Dotprod, Neon};
use crate::quant::RowKernels;
use crate::quants::q5_k::BlockQ5K;
use core::arch::aarch64::*;

/// The plain NEON kernels (default numerics).
pub(crate) fn neon(_proof: Neon) -> RowKernels<BlockQ5K, BlockQ8K> {
    RowKernels {
        dot4: Some(dot4_neon),
        ..RowKernels::from_dot(neon::quantize_q8_k, dot_neon)
    }
}

/// The NEON + dotprod kernels (default numerics; `sdot` quad sums).
pub(crate) fn dotprod(_proof: Dotprod) -> RowKernels<BlockQ5K, BlockQ8K> {
    RowKernels {
        dot4: Some(dot4_sdot),
        ..RowKernels::from_dot(neon::quantize_q8_k, dot_sdot)
    }
}

/// Unpacks a Q5_K super-block: the Q4_K nibbles (group k of chunk c = k/4,
/// part t = k mod 4: low nibbles of `qs[32c + 16(t mod 2)..]` for t < 2,
/// high nibbles for t ≥ 2) plus 16 where bit 2c + t/2 of
/// `qh[16(t mod 2)..]` is set.
///
/// # Safety
/// NEON must be available.
#[inline(always)]
unsafe fn prep_q5k(wb: &BlockQ5K) -> Prep {
    // SAFETY: the caller upholds this function's `# Safety` contract (NEON
    // is present); `qs` holds 128 bytes (loads at 32c, 32c + 16 < 128) and
    // `qh` 32 (loads at 0 and 16).
    unsafe {
        let m4 = vdupq_n_u8(0x0F);
        let h = [vld1q_u8(wb.qh.as_ptr()), vld1q_u8(wb.qh.as_ptr().add(16))];
        let mut q = [vdupq_n_s8(0); 16];
        for c in 0..4 {
            let r = [
                vld1q_u8(wb.qs.as_ptr().add(32 * c)),
                vld1q_u8(wb.qs.as_ptr().add(32 * c + 16)),
            ];
            for t in 0..4 {
                let low = if t < 2 {
                    vandq_u8(r[t % 2], m4)
                } else {
                    vshrq_n_u8::<4>(r[t % 2])
                };
                let high = bit_as(h[t % 2], 2 * c + t / 2, 16);
                q[4 * c + t] = vreinterpretq_s8_u8(vorrq_u8(low, high));
            }
        }
        let (sc, mins) = scales_mins_k4(&wb.scales);
        Prep { q, sc, mins }
    }
}

kq::k_dots!(
    /// Σ w·x over a Q5_K row and a Q8_K row (plain NEON), bit-identical to
    /// [`crate::quants::q5_k::dot_q5k_q8k`].
    dot_neon, dot4_neon, "neon", BlockQ5K, prep_q5k, kq::isum32_neon, dmin
);
kq::k_dots!(
    /// Σ w·x over a Q5_K row and a Q8_K row (`sdot`), bit-identical to
    /// [`crate::quants::q5_k::dot_q5k_q8k`].
    dot_sdot, dot4_sdot, "neon,dotprod", BlockQ5K, prep_q5k, kq::isum32_sdot, dmin
);
