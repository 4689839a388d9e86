//! Q4_1 kernels on aarch64 (NEON, NEON + dotprod). Each constructor
//! takes the detection token of its instruction set, so these kernels can
//! only be handed out on a CPU that runs them.

use super::{dotprod, neon};
use crate::blocks::{BlockQ4_1, BlockQ8_1};
use crate::cpu::{Dotprod, Neon};
use crate::quant::RowKernels;

/// The plain NEON kernels.
pub(crate) fn neon(_proof: Neon) -> RowKernels<BlockQ4_1, BlockQ8_1> {
    RowKernels {
        quantize_act: neon::quantize_q8_1,
        dot: neon::dot_q4_1_q8_1,
        dot4: Some(neon::dot4_q4_1_q8_1),
        rows2: None,
        tile8x1: None,
        tile8x4: None,
    }
}

/// The NEON + dotprod kernels (`sdot` integer block sums).
pub(crate) fn dotprod(proof: Dotprod) -> RowKernels<BlockQ4_1, BlockQ8_1> {
    let _ = proof;
    RowKernels {
        quantize_act: neon::quantize_q8_1,
        dot: dotprod::dot_q4_1_q8_1,
        dot4: Some(dotprod::dot4_q4_1_q8_1),
        rows2: None,
        tile8x1: None,
        tile8x4: None,
    }
}
