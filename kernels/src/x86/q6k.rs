//! Q6_K kernels on x86_64: the AVX2 code (also used by the AVX-512
//! build without VNNI). Each
//! constructor takes the detection token of its instruction set, so these
//! kernels can only be handed out on a CPU that runs them.

use super::{avx2, gemv_q6k, q6k_vnni};
use crate::blocks::{BlockQ6K, BlockQ8K};
use crate::cpu::{Avx2, Avx512, Avx512Vnni};
use crate::quant::RowKernels;

/// The AVX2 kernels.
pub(crate) fn avx2(_proof: Avx2) -> RowKernels<BlockQ6K, BlockQ8K> {
    RowKernels {
        quantize_act: avx2::quantize_q8_k,
        dot: avx2::dot_q6k_q8k,
        dot4: Some(avx2::dot4_q6k_q8k),
        rows2: None,
        tile8x1: None,
        tile8x4: None,
    }
}

/// The AVX-512 F + BW kernels (the AVX2 code: same bits, same speed).
pub(crate) fn avx512(proof: Avx512) -> RowKernels<BlockQ6K, BlockQ8K> {
    avx2(proof.avx2())
}

/// The AVX-512 VL + VNNI kernels: one row and 4 activation rows of
/// [`q6k_vnni`], the 8-row single-token product of [`gemv_q6k`] (no
/// `rows2`: single tokens run eight rows at a time through it); the scalar
/// bits (the one Q6_K order).
pub(crate) fn avx512_vnni(proof: Avx512Vnni) -> RowKernels<BlockQ6K, BlockQ8K> {
    RowKernels {
        quantize_act: avx512(proof.avx512()).quantize_act,
        dot: q6k_vnni::vnni_dot,
        dot4: Some(q6k_vnni::vnni_dot4),
        rows2: None,
        tile8x1: Some(gemv_q6k::vnni_gemv8),
        tile8x4: None,
    }
}
