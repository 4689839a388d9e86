//! Q8_0: 8-bit weights with one scale per 32, against Q8_0 activations.

use crate::blocks::BlockQ8_0;
use crate::cpu::{Cpu, Isa};
use crate::quant::{Numerics, QuantType, RowKernels};
use crate::scalar;
use crate::types::GgmlType;

impl QuantType for BlockQ8_0 {
    const TYPE: GgmlType = GgmlType::Q8_0;
    const ACT_TYPE: GgmlType = GgmlType::Q8_0;
    type Act = BlockQ8_0;

    fn quantize(x: &[f32], y: &mut [Self]) {
        scalar::quantize_row_q8_0(x, y)
    }
    fn dequantize(x: &[Self], y: &mut [f32]) {
        scalar::dequantize_row_q8_0(x, y)
    }
    fn quantize_act(x: &[f32], y: &mut [BlockQ8_0]) {
        scalar::quantize_act_q8_0(x, y)
    }
    fn dot(numerics: Numerics, w: &[Self], x: &[BlockQ8_0]) -> f32 {
        match numerics {
            Numerics::Default | Numerics::LlamaCpp => scalar::dot_q8_0_q8_0(w, x),
        }
    }

    fn kernels(cpu: Cpu, numerics: Numerics) -> RowKernels<Self, BlockQ8_0> {
        match (cpu.isa(), numerics) {
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx2(t), _) => crate::x86::q8_0::avx2(t),
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx512(t), _) => crate::x86::q8_0::avx512(t),
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx512Vnni(t), _) => crate::x86::q8_0::avx512_vnni(t),
            #[cfg(target_arch = "aarch64")]
            (Isa::Neon(t), _) => crate::arm::q8_0::neon(t),
            #[cfg(target_arch = "aarch64")]
            (Isa::Dotprod(t), _) => crate::arm::q8_0::dotprod(t),
            (Isa::Scalar, n) => Self::reference(n),
        }
    }
}
