//! Q8_0 kernels on aarch64 (NEON, NEON + dotprod). Each constructor
//! takes the detection token of its instruction set, so these kernels can
//! only be handed out on a CPU that runs them.

use super::{dotprod, neon};
use crate::blocks::BlockQ8_0;
use crate::cpu::{Dotprod, Neon};
use crate::quant::RowKernels;

/// The plain NEON kernels.
pub(crate) fn neon(_proof: Neon) -> RowKernels<BlockQ8_0, BlockQ8_0> {
    RowKernels {
        quantize_act: neon::quantize_q8_0,
        dot: neon::dot_q8_0_q8_0,
        dot4: Some(neon::dot4_q8_0_q8_0),
        rows2: None,
        tile8x1: None,
        tile8x4: None,
    }
}

/// The NEON + dotprod kernels (`sdot` integer block sums).
pub(crate) fn dotprod(proof: Dotprod) -> RowKernels<BlockQ8_0, BlockQ8_0> {
    let _ = proof;
    RowKernels {
        quantize_act: neon::quantize_q8_0,
        dot: dotprod::dot_q8_0_q8_0,
        dot4: Some(dotprod::dot4_q8_0_q8_0),
        rows2: None,
        tile8x1: None,
        tile8x4: None,
    }
}
