//! Q4_1 kernels on aarch64 (NEON, NEON + dotprod), in both numerics. Each
//! constructor takes the detection token of its instruction set, so these
//! kernels can only be handed out on a CPU that runs them.
//!
//! Default numerics: exact block sums in block order, then m_w·s_x
//! ([`crate::scalar::dot_q4_1_q8_1_blocks`]); llama.cpp numerics: its
//! eight-lane order ([`crate::scalar::dot_q4_1_q8_1`]).

use super::{dotprod, neon};
use crate::blocks::{BlockQ4_1, BlockQ8_1};
use crate::cpu::{Dotprod, Neon};
use crate::quant::{Numerics, RowKernels};

/// The plain NEON kernels.
pub(crate) fn neon(_proof: Neon, numerics: Numerics) -> RowKernels<BlockQ4_1, BlockQ8_1> {
    let (dot, dot4): (crate::DotFn<_, _>, crate::Dot4Fn<_, _>) = match numerics {
        Numerics::Default => (dot_blocks_neon, dot4_blocks_neon),
        Numerics::LlamaCpp => (neon::dot_q4_1_q8_1, neon::dot4_q4_1_q8_1),
    };
    RowKernels {
        dot4: Some(dot4),
        ..RowKernels::from_dot(neon::quantize_q8_1, dot)
    }
}

/// The NEON + dotprod kernels (`sdot` integer block sums).
pub(crate) fn dotprod(proof: Dotprod, numerics: Numerics) -> RowKernels<BlockQ4_1, BlockQ8_1> {
    let _ = proof;
    let (dot, dot4): (crate::DotFn<_, _>, crate::Dot4Fn<_, _>) = match numerics {
        Numerics::Default => (dot_blocks_sdot, dot4_blocks_sdot),
        Numerics::LlamaCpp => (dotprod::dot_q4_1_q8_1, dotprod::dot4_q4_1_q8_1),
    };
    RowKernels {
        dot4: Some(dot4),
        ..RowKernels::from_dot(neon::quantize_q8_1, dot)
    }
}

neon::dot_blocks_chain!(
    /// Σ w·x over a Q4_1 row and a Q8_1 row in block order, bit-identical
    /// to [`crate::scalar::dot_q4_1_q8_1_blocks`].
    dot_blocks_neon, dot4_blocks_neon, "neon", BlockQ4_1, BlockQ8_1,
    neon::prep_q4_1, neon::isum_q4, m, s
);
neon::dot_blocks_chain!(
    /// Σ w·x over a Q4_1 row and a Q8_1 row in block order with `sdot`,
    /// bit-identical to [`crate::scalar::dot_q4_1_q8_1_blocks`].
    dot_blocks_sdot, dot4_blocks_sdot, "neon,dotprod", BlockQ4_1, BlockQ8_1,
    neon::prep_q4_1, dotprod::isum_sdot, m, s
);
