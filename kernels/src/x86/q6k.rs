//! Q6_K kernels on x86_64: the AVX2 code (also used by the AVX-512
//! build without VNNI). Each
//! constructor takes the detection token of its instruction set, so these
//! kernels can only be handed out on a CPU that runs them.

use super::{avx2, q6k_vnni};
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

/// The AVX-512 VL + VNNI kernels of [`q6k_vnni`]: one row, two rows
/// (prefetched) and 4 activation rows, the scalar bits (the one Q6_K order).
pub(crate) fn avx512_vnni(proof: Avx512Vnni) -> RowKernels<BlockQ6K, BlockQ8K> {
    RowKernels {
        quantize_act: avx512(proof.avx512()).quantize_act,
        dot: q6k_vnni::vnni_dot,
        dot4: Some(q6k_vnni::vnni_dot4),
        rows2: Some(q6k_vnni::vnni_dot2),
        tile8x1: None,
        tile8x4: None,
    }
}
