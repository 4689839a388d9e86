//! Q4_0 kernels on aarch64 (NEON, NEON + dotprod), in both numerics. Each
//! constructor takes the detection token of its instruction set, so these
//! kernels can only be handed out on a CPU that runs them.

use super::{dotprod, neon};
use crate::blocks::{BlockQ4_0, BlockQ8_0};
use crate::cpu::{Dotprod, Neon};
use crate::quant::{Numerics, RowKernels};

/// The plain NEON kernels.
pub(crate) fn neon(_proof: Neon, numerics: Numerics) -> RowKernels<BlockQ4_0, BlockQ8_0> {
    let (dot, dot4): (crate::DotFn<_, _>, crate::Dot4Fn<_, _>) = match numerics {
        Numerics::Default | Numerics::LlamaCpp => (neon::dot_q4_0_q8_0, neon::dot4_q4_0_q8_0),
    };
    RowKernels {
        dot4: Some(dot4),
        ..RowKernels::from_dot(neon::quantize_q8_0, dot)
    }
}

/// The NEON + dotprod kernels (`sdot` integer block sums).
pub(crate) fn dotprod(proof: Dotprod, numerics: Numerics) -> RowKernels<BlockQ4_0, BlockQ8_0> {
    let _ = proof;
    let (dot, dot4): (crate::DotFn<_, _>, crate::Dot4Fn<_, _>) = match numerics {
        Numerics::Default | Numerics::LlamaCpp => (dotprod::dot_q4_0_q8_0, dotprod::dot4_q4_0_q8_0),
    };
    RowKernels {
        dot4: Some(dot4),
        ..RowKernels::from_dot(neon::quantize_q8_0, dot)
    }
}
