//! Q6_K kernels on aarch64 (NEON, NEON + dotprod). Each constructor
//! takes the detection token of its instruction set, so these kernels can
//! only be handed out on a CPU that runs them.

use super::neon;
use crate::blocks::{BlockQ6K, BlockQ8K};
use crate::cpu::{Dotprod, Neon};
use crate::quant::RowKernels;

/// The plain NEON kernels.
pub(crate) fn neon(_proof: Neon) -> RowKernels<BlockQ6K, BlockQ8K> {
    RowKernels {
        quantize_act: neon::quantize_q8_k,
        dot: neon::dot_q6k_q8k,
        dot4: Some(neon::dot4_q6k_q8k),
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
