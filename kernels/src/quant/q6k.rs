//! Q6_K: 6-bit K-quant weights (256 per super-block), against Q8_K activations.

use crate::blocks::{BlockQ6K, BlockQ8K};
use crate::cpu::{Cpu, Isa};
use crate::quant::panel::PanelKernels;
use crate::quant::{DotFn, LlamaCppKernel, Numerics, QuantType, RowKernels};
use crate::scalar;
use crate::types::GgmlType;

impl QuantType for BlockQ6K {
    const TYPE: GgmlType = GgmlType::Q6K;
    const ACT_TYPE: GgmlType = GgmlType::Q8K;
    type Act = BlockQ8K;

    fn quantize(x: &[f32], y: &mut [Self]) {
        scalar::quantize_row_q6k(x, y)
    }
    fn dequantize(x: &[Self], y: &mut [f32]) {
        scalar::dequantize_row_q6k(x, y)
    }
    fn quantize_act(x: &[f32], y: &mut [BlockQ8K]) {
        scalar::quantize_row_q8_k(x, y)
    }
    fn dot(numerics: Numerics, w: &[Self], x: &[BlockQ8K]) -> f32 {
        match numerics {
            Numerics::Default | Numerics::LlamaCpp => scalar::dot_q6k_q8k(w, x),
        }
    }

    /// `dot` under llama.cpp numerics is its tiled order (batches of 8 or
    /// more); smaller batches go through its `vec_dot`.
    fn llamacpp_dot(kernel: LlamaCppKernel) -> Option<DotFn<Self, BlockQ8K>> {
        match kernel {
            LlamaCppKernel::VecDot => Some(scalar::dot_q6k_q8k_vecdot),
            _ => None,
        }
    }

    fn kernels(cpu: Cpu, numerics: Numerics) -> RowKernels<Self, BlockQ8K> {
        match (cpu.isa(), numerics) {
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx2(t), _) => crate::x86::q6k::avx2(t),
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx512(t), _) => crate::x86::q6k::avx512(t),
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx512Vnni(t), _) => crate::x86::q6k::avx512_vnni(t),
            #[cfg(target_arch = "aarch64")]
            (Isa::Neon(t), _) => crate::arm::q6k::neon(t),
            #[cfg(target_arch = "aarch64")]
            (Isa::Dotprod(t), _) => crate::arm::q6k::dotprod(t),
            (Isa::Scalar, n) => Self::reference(n),
        }
    }

    /// AVX-512 VNNI: `x86::panel_q6k` (the one Q6_K order; under llama.cpp
    /// numerics the driver still picks llama.cpp's kernel per batch).
    fn panel(cpu: Cpu, numerics: Numerics) -> Option<PanelKernels<Self, BlockQ8K>> {
        let _ = numerics;
        match cpu.isa() {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni(t) => Some(crate::x86::panel_q6k::q6k(t)),
            _ => None,
        }
    }
}
