//! Q8_0: 8-bit weights with one scale per 32, against Q8_0 activations.
//! Default numerics sum exact block sums in block order
//! ([`scalar::dot_q8_0_q8_0_blocks`]); llama.cpp numerics in its x86 lane
//! order ([`scalar::dot_q8_0_q8_0`]).

use crate::blocks::BlockQ8_0;
use crate::cpu::{Cpu, Isa};
use crate::quant::panel::PanelKernels;
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
            Numerics::Default => scalar::dot_q8_0_q8_0_blocks(w, x),
            Numerics::LlamaCpp => scalar::dot_q8_0_q8_0(w, x),
        }
    }

    fn kernels(cpu: Cpu, numerics: Numerics) -> RowKernels<Self, BlockQ8_0> {
        match (cpu.isa(), numerics) {
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx2(t), n) => crate::x86::q8_0::avx2(t, n),
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx512(t), n) => crate::x86::q8_0::avx512(t, n),
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx512Vnni(t), n) => crate::x86::q8_0::avx512_vnni(t, n),
            #[cfg(target_arch = "aarch64")]
            (Isa::Neon(t), n) => crate::arm::q8_0::neon(t, n),
            #[cfg(target_arch = "aarch64")]
            (Isa::Dotprod(t), n) => crate::arm::q8_0::dotprod(t, n),
            (Isa::Scalar, n) => Self::reference(n),
        }
    }

    fn panel(cpu: Cpu, numerics: Numerics) -> Option<PanelKernels<Self, BlockQ8_0>> {
        match (cpu.isa(), numerics) {
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx512Vnni(t), Numerics::Default) => Some(crate::x86::panel::q8_0(t)),
            _ => None,
        }
    }
}
