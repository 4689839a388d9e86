//! x86_64 kernel paths: AVX2 (+FMA, F16C) and AVX-512 (F + BW, with VNNI
//! `vpdpbusd` when present).
//!
//! Every quantizer and quantized dot gives the scalar reference's bits: the
//! reference follows llama.cpp's x86 kernels operation by operation (block
//! lane sums, one FMA per block, the same horizontal sum), and these paths
//! compute the same operations with vector instructions. Only the f16·f32
//! and f32·f32 dots (used for f32 weights and caches) take their own order
//! and agree with the reference within rounding.

pub(crate) mod avx2;
pub(crate) mod avx512;
mod block_macros;
mod float512;
mod gemv8;
pub(crate) mod gemv_q4_0;
pub(crate) mod gemv_q4_1;
mod gemv_q4k;
mod gemv_q6k;
pub(crate) mod gemv_q8_0;
pub(crate) mod iq4_nl;
mod kq_rows;
#[cfg(test)]
mod kq_tests;
pub(crate) mod panel;
pub(crate) mod panel_kq;
pub(crate) mod panel_q6k;
pub(crate) mod q2k;
pub(crate) mod q3k;
pub(crate) mod q4_0;
pub(crate) mod q4_1;
pub(crate) mod q4k;
mod q4k_tile;
mod q4k_vnni;
pub(crate) mod q5_0;
pub(crate) mod q5_1;
pub(crate) mod q5k;
pub(crate) mod q6k;
mod q6k_vnni;
pub(crate) mod q8_0;
mod transpose;

use crate::cpu::{Avx2, Avx512Vnni, Isa};
use crate::quant::RowKernels;

/// The kernels of a type with AVX2 and AVX-512 VNNI constructors on the x86
/// SIMD path of `isa`: the AVX2 ones on `avx2` and on AVX-512 without VNNI,
/// the VNNI ones on `avx512`; `None` on the scalar path.
pub(crate) fn avx2_or_vnni<W, X>(
    isa: Isa,
    avx2: fn(Avx2) -> RowKernels<W, X>,
    vnni: fn(Avx512Vnni) -> RowKernels<W, X>,
) -> Option<RowKernels<W, X>> {
    match isa {
        Isa::Avx2(t) => Some(avx2(t)),
        Isa::Avx512(t) => Some(avx2(t.avx2())),
        Isa::Avx512Vnni(t) => Some(vnni(t)),
        Isa::Scalar => None,
    }
}
