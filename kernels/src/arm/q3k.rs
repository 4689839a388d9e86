//! Q3_K × Q8_K on aarch64 (NEON, NEON + dotprod), default numerics: the
//! exact integer sum of each super-block with vector instructions, then the
//! scalar reference's float sequence ([`super::kq::k_dots!`]), so every
//! result has the bits of [`crate::quants::q3_k::dot_q3k_q8k`]. Each
//! constructor takes the detection token of its instruction set.

use super::kq::{self, bit_as, unpack_2bit, Prep};
use super::neon;
use crate::blocks::{BlockQ8K, QK_K};
use crate::cpu::{Dotprod, Neon};
use crate::quant::RowKernels;
use crate::quants::q3_k::BlockQ3K;
use core::arch::aarch64::*;

/// The plain NEON kernels (default numerics).
pub(crate) fn neon(_proof: Neon) -> RowKernels<BlockQ3K, BlockQ8K> {
    RowKernels {
        dot4: Some(dot4_neon),
        ..RowKernels::from_dot(neon::quantize_q8_k, dot_neon)
    }
}

/// The NEON + dotprod kernels (default numerics; `sdot` quad sums).
pub(crate) fn dotprod(_proof: Dotprod) -> RowKernels<BlockQ3K, BlockQ8K> {
    RowKernels {
        dot4: Some(dot4_sdot),
        ..RowKernels::from_dot(neon::quantize_q8_k, dot_sdot)
    }
}

/// Unpacks a Q3_K super-block: level = low bits − 4, plus 4 where bit
/// 4h + j of `hmask[16t..+16]` is set (group k = 8h + 2j + t); group k is
/// sub-block k with its signed 6-bit scale; no minimums.
///
/// # Safety
/// NEON must be available.
#[inline(always)]
unsafe fn prep_q3k(wb: &BlockQ3K) -> Prep {
    // SAFETY: the caller upholds this function's `# Safety` contract (NEON
    // is present); `hmask` holds 32 bytes, the loads read 0..16 and 16..32.
    unsafe {
        let hm = [
            vld1q_u8(wb.hmask.as_ptr()),
            vld1q_u8(wb.hmask.as_ptr().add(16)),
        ];
        let four = vdupq_n_s8(4);
        let q = unpack_2bit(&wb.qs, |k, t, low| {
            let (h, j) = (k / 8, (k % 8) / 2);
            let level = vorrq_u8(low, bit_as(hm[t], 4 * h + j, 4));
            vsubq_s8(vreinterpretq_s8_u8(level), four)
        });
        Prep {
            q,
            sc: std::array::from_fn(|s| i16::from(wb.scale(s))),
            mins: [0; QK_K / 16],
        }
    }
}

kq::k_dots!(
    /// Σ w·x over a Q3_K row and a Q8_K row (plain NEON), bit-identical to
    /// [`crate::quants::q3_k::dot_q3k_q8k`].
    dot_neon, dot4_neon, "neon", BlockQ3K, prep_q3k, kq::isum_neon
);
kq::k_dots!(
    /// Σ w·x over a Q3_K row and a Q8_K row (`sdot`), bit-identical to
    /// [`crate::quants::q3_k::dot_q3k_q8k`].
    dot_sdot, dot4_sdot, "neon,dotprod", BlockQ3K, prep_q3k, kq::isum_sdot
);
