//! Q4_0 kernels on x86_64: the AVX2 code (also used by the AVX-512 build
//! without VNNI) and the 256-bit VNNI code, in both numerics. Each
//! constructor takes the detection token of its instruction set, so these
//! kernels can only be handed out on a CPU that runs them. Both numerics
//! use llama.cpp's order (one FMA chain per row, overlapped by the two-row
//! and 8-row tile kernels).

use super::{avx2, avx512};
use crate::blocks::{BlockQ4_0, BlockQ8_0};
use crate::cpu::{Avx2, Avx512, Avx512Vnni};
use crate::quant::{Numerics, RowKernels};

/// The AVX2 kernels.
pub(crate) fn avx2(_proof: Avx2, numerics: Numerics) -> RowKernels<BlockQ4_0, BlockQ8_0> {
    match numerics {
        Numerics::Default | Numerics::LlamaCpp => RowKernels {
            quantize_act: avx2::quantize_q8_0,
            dot: avx2::dot_q4_0_q8_0,
            dot4: Some(avx2::dot4_q4_0_q8_0),
            rows2: Some(avx2::dot2_q4_0_q8_0),
            tile8x1: Some(avx2::dot8x1_q4_0_q8_0),
            tile8x4: Some(avx2::dot8x4_q4_0_q8_0),
        },
    }
}

/// The AVX-512 F + BW kernels (the AVX2 code: same bits, same speed).
pub(crate) fn avx512(proof: Avx512, numerics: Numerics) -> RowKernels<BlockQ4_0, BlockQ8_0> {
    avx2(proof.avx2(), numerics)
}

/// The AVX-512 VL + VNNI kernels.
pub(crate) fn avx512_vnni(
    proof: Avx512Vnni,
    numerics: Numerics,
) -> RowKernels<BlockQ4_0, BlockQ8_0> {
    let _ = proof;
    match numerics {
        Numerics::Default | Numerics::LlamaCpp => RowKernels {
            quantize_act: avx2::quantize_q8_0,
            dot: avx512::vnni_dot_q4_0_q8_0,
            dot4: Some(avx512::vnni_dot4_q4_0_q8_0),
            // Single tokens go eight rows at a time (`tile8x1`): faster.
            rows2: None,
            tile8x1: Some(avx512::vnni_dot8x1_q4_0_q8_0),
            tile8x4: Some(avx512::vnni_dot8x4_q4_0_q8_0),
        },
    }
}
