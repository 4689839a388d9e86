//! Q4_1 kernels on x86_64: the AVX2 code (also used by the AVX-512
//! build without VNNI) and the 256-bit VNNI code. Each
//! constructor takes the detection token of its instruction set, so these
//! kernels can only be handed out on a CPU that runs them.

use super::{avx2, avx512};
use crate::blocks::{BlockQ4_1, BlockQ8_1};
use crate::cpu::{Avx2, Avx512, Avx512Vnni};
use crate::quant::RowKernels;

/// The AVX2 kernels.
pub(crate) fn avx2(_proof: Avx2) -> RowKernels<BlockQ4_1, BlockQ8_1> {
    RowKernels {
        quantize_act: avx2::quantize_q8_1,
        dot: avx2::dot_q4_1_q8_1,
        dot4: Some(avx2::dot4_q4_1_q8_1),
        rows2: None,
        tile8x1: None,
        tile8x4: None,
    }
}

/// The AVX-512 F + BW kernels (the AVX2 code: same bits, same speed).
pub(crate) fn avx512(proof: Avx512) -> RowKernels<BlockQ4_1, BlockQ8_1> {
    avx2(proof.avx2())
}

/// The AVX-512 VL + VNNI kernels.
pub(crate) fn avx512_vnni(proof: Avx512Vnni) -> RowKernels<BlockQ4_1, BlockQ8_1> {
    let _ = proof;
    RowKernels {
        quantize_act: avx2::quantize_q8_1,
        dot: avx512::vnni_dot_q4_1_q8_1,
        dot4: Some(avx512::vnni_dot4_q4_1_q8_1),
        rows2: None,
        tile8x1: None,
        tile8x4: None,
    }
}
