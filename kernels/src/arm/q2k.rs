//! Q2_K × Q8_K on aarch64 (NEON, NEON + dotprod), default numerics: the
//! exact integer sums of each super-block with vector instructions, then
//! the scalar reference's float sequence ([`super::kq::k_dots!`]), so every
//! result has the bits of [`crate::quants::q2_k::dot_q2k_q8k`]. Each
//! constructor takes the detection token of its instruction set.

use super::kq::{self, unpack_2bit, Prep};
use super::neon;
use crate::blocks::BlockQ8K;
use crate::cpu::{Dotprod, Neon};
use crate::quant::RowKernels;
use crate::quants::q2_k::BlockQ2K;
use core::arch::aarch64::*;

/// The plain NEON kernels (default numerics).
pub(crate) fn neon(_proof: Neon) -> RowKernels<BlockQ2K, BlockQ8K> {
    RowKernels {
        dot4: Some(dot4_neon),
        ..RowKernels::from_dot(neon::quantize_q8_k, dot_neon)
    }
}

/// The NEON + dotprod kernels (default numerics; `sdot` quad sums).
pub(crate) fn dotprod(_proof: Dotprod) -> RowKernels<BlockQ2K, BlockQ8K> {
    RowKernels {
        dot4: Some(dot4_sdot),
        ..RowKernels::from_dot(neon::quantize_q8_k, dot_sdot)
    }
}

/// Unpacks a Q2_K super-block: levels 0..=3, group k = sub-block k with
/// scale `scales[k] & 0xF` and minimum `scales[k] >> 4`.
///
/// # Safety
/// NEON must be available.
#[inline(always)]
unsafe fn prep_q2k(wb: &BlockQ2K) -> Prep {
    // SAFETY: the caller upholds this function's `# Safety` contract (NEON
    // is present).
    unsafe {
        let q = unpack_2bit(&wb.qs, |_, _, low| vreinterpretq_s8_u8(low));
        Prep {
            q,
            sc: wb.scales.map(|s| i16::from(s & 0xF)),
            mins: wb.scales.map(|s| i16::from(s >> 4)),
        }
    }
}

kq::k_dots!(
    /// Σ w·x over a Q2_K row and a Q8_K row (plain NEON), bit-identical to
    /// [`crate::quants::q2_k::dot_q2k_q8k`].
    dot_neon, dot4_neon, "neon", BlockQ2K, prep_q2k, kq::isum_neon, dmin
);
kq::k_dots!(
    /// Σ w·x over a Q2_K row and a Q8_K row (`sdot`), bit-identical to
    /// [`crate::quants::q2_k::dot_q2k_q8k`].
    dot_sdot, dot4_sdot, "neon,dotprod", BlockQ2K, prep_q2k, kq::isum_sdot, dmin
);
