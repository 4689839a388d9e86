//! Q4_1: 4-bit weights with scale and minimum, against Q8_1 activations.

use crate::blocks::{BlockQ4_1, BlockQ8_1};
use crate::cpu::{Cpu, Isa};
use crate::quant::{Numerics, QuantType, RowKernels};
use crate::scalar;
use crate::types::GgmlType;

impl QuantType for BlockQ4_1 {
    const TYPE: GgmlType = GgmlType::Q4_1;
    const ACT_TYPE: GgmlType = GgmlType::Q8_1;
    type Act = BlockQ8_1;

    fn quantize(x: &[f32], y: &mut [Self]) {
        scalar::quantize_row_q4_1(x, y)
    }
    fn dequantize(x: &[Self], y: &mut [f32]) {
        scalar::dequantize_row_q4_1(x, y)
    }
    fn quantize_act(x: &[f32], y: &mut [BlockQ8_1]) {
        scalar::quantize_act_q8_1(x, y)
    }
    fn dot(numerics: Numerics, w: &[Self], x: &[BlockQ8_1]) -> f32 {
        match numerics {
            Numerics::Default => scalar::dot_q4_1_q8_1_blocks(w, x),
            Numerics::LlamaCpp => scalar::dot_q4_1_q8_1(w, x),
        }
    }

    fn kernels(cpu: Cpu, numerics: Numerics) -> RowKernels<Self, BlockQ8_1> {
        match (cpu.isa(), numerics) {
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx2(t), n) => crate::x86::q4_1::avx2(t, n),
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx512(t), n) => crate::x86::q4_1::avx512(t, n),
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx512Vnni(t), n) => crate::x86::q4_1::avx512_vnni(t, n),
            #[cfg(target_arch = "aarch64")]
            (Isa::Neon(t), n) => crate::arm::q4_1::neon(t, n),
            #[cfg(target_arch = "aarch64")]
            (Isa::Dotprod(t), n) => crate::arm::q4_1::dotprod(t, n),
            (Isa::Scalar, n) => Self::reference(n),
        }
    }
}
