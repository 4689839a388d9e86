//! Q8_0 kernels on aarch64 (NEON, NEON + dotprod), in both numerics. Each
//! constructor takes the detection token of its instruction set, so these
//! kernels can only be handed out on a CPU that runs them.
//!
//! Default numerics: exact block sums in block order
//! ([`crate::scalar::dot_q8_0_q8_0_blocks`]); llama.cpp numerics: its
//! eight-lane order ([`crate::scalar::dot_q8_0_q8_0`]).

use super::{dotprod, neon};
use crate::blocks::BlockQ8_0;
use crate::cpu::{Dotprod, Neon};
use crate::quant::{Numerics, RowKernels};
use core::arch::aarch64::*;

/// The plain NEON kernels.
pub(crate) fn neon(_proof: Neon, numerics: Numerics) -> RowKernels<BlockQ8_0, BlockQ8_0> {
    let (dot, dot4): (crate::DotFn<_, _>, crate::Dot4Fn<_, _>) = match numerics {
        Numerics::Default => (dot_blocks_neon, dot4_blocks_neon),
        Numerics::LlamaCpp => (neon::dot_q8_0_q8_0, neon::dot4_q8_0_q8_0),
    };
    RowKernels {
        dot4: Some(dot4),
        ..RowKernels::from_dot(neon::quantize_q8_0, dot)
    }
}

/// The NEON + dotprod kernels (`sdot` integer block sums).
pub(crate) fn dotprod(proof: Dotprod, numerics: Numerics) -> RowKernels<BlockQ8_0, BlockQ8_0> {
    let _ = proof;
    let (dot, dot4): (crate::DotFn<_, _>, crate::Dot4Fn<_, _>) = match numerics {
        Numerics::Default => (dot_blocks_sdot, dot4_blocks_sdot),
        Numerics::LlamaCpp => (dotprod::dot_q8_0_q8_0, dotprod::dot4_q8_0_q8_0),
    };
    RowKernels {
        dot4: Some(dot4),
        ..RowKernels::from_dot(neon::quantize_q8_0, dot)
    }
}

/// Σ w·x over one block pair, exact for any i8 values: products widened to
/// i16, every addition in i32.
///
/// # Safety
/// `qs` must be valid for 32 byte reads; NEON must be available.
#[inline(always)]
unsafe fn isum_wide(p: (int8x16_t, int8x16_t), qs: *const i8) -> i32 {
    // SAFETY: the caller upholds this function's `# Safety` contract.
    unsafe {
        let (y0, y1) = neon::load_q8(qs);
        let a = vaddq_s32(
            vpaddlq_s16(vmull_s8(vget_low_s8(p.0), vget_low_s8(y0))),
            vpaddlq_s16(vmull_high_s8(p.0, y0)),
        );
        let b = vaddq_s32(
            vpaddlq_s16(vmull_s8(vget_low_s8(p.1), vget_low_s8(y1))),
            vpaddlq_s16(vmull_high_s8(p.1, y1)),
        );
        vaddvq_s32(vaddq_s32(a, b))
    }
}

neon::dot_blocks_chain!(
    /// Σ w·x over two Q8_0 rows in block order, bit-identical to
    /// [`crate::scalar::dot_q8_0_q8_0_blocks`].
    dot_blocks_neon, dot4_blocks_neon, "neon", BlockQ8_0, BlockQ8_0,
    neon::prep_q8_0, isum_wide
);
neon::dot_blocks_chain!(
    /// Σ w·x over two Q8_0 rows in block order with `sdot`, bit-identical
    /// to [`crate::scalar::dot_q8_0_q8_0_blocks`].
    dot_blocks_sdot, dot4_blocks_sdot, "neon,dotprod", BlockQ8_0, BlockQ8_0,
    neon::prep_q8_0, dotprod::isum_sdot
);
