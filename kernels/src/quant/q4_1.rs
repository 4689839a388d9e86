//! Q4_1: 4-bit weights with scale and minimum, against Q8_1 activations.
//!
//! Two orders exist on every path: llama.cpp's eight-lane order
//! ([`scalar::dot_q4_1_q8_1`]) and the block order
//! ([`scalar::dot_q4_1_q8_1_blocks`]: exact block sums, one FMA each, then
//! one FMA for m_w·s_x), which the 8-row single-token kernels need.
//! [`DEFAULT_IN_BLOCK_ORDER`] says which one the default numerics use.

use crate::blocks::{BlockQ4_1, BlockQ8_1};
use crate::cpu::{Cpu, Isa};
use crate::quant::{Numerics, QuantType, RowKernels};
use crate::scalar;
use crate::types::GgmlType;

/// Whether [`Numerics::Default`] takes the block order for Q4_1 (else
/// llama.cpp's order, as [`Numerics::LlamaCpp`]).
///
/// Off: on SmolLM2 over `tests/data/quant_text.txt` the block order gives a
/// mean KLD of 2.91e-3 against llama.cpp's order (tests/smollm2.rs allows
/// 1e-3). The block order is the more accurate one: Q4_1's two terms
/// (d·Σ nibble·q and m·s) cancel, and llama.cpp's order, which sums them in
/// separate accumulators, loses the most there; Q4_1 products summed in
/// f64 and rounded once give the same KLD (2.97e-3). Speed (SmolLM2,
/// 1 thread, Zen 4, medians of 3): the 8-row block-order gemv gives tg128
/// 228 tokens/s against 223 for llama.cpp's order with the 2-row kernel
/// (176 with single rows); prompts are the same (no Q4_1 panel kernel yet).
pub const DEFAULT_IN_BLOCK_ORDER: bool = false;

/// The order [`Numerics`] selects for Q4_1: `Default` means the block order
/// below, `LlamaCpp` llama.cpp's.
fn order(numerics: Numerics) -> Numerics {
    match numerics {
        Numerics::Default if DEFAULT_IN_BLOCK_ORDER => Numerics::Default,
        _ => Numerics::LlamaCpp,
    }
}

/// The Q4_1 kernels of `cpu` in `order` (`Default`: the block order,
/// whatever [`DEFAULT_IN_BLOCK_ORDER`] says; `LlamaCpp`: llama.cpp's).
pub(crate) fn kernels_in_order(cpu: Cpu, order: Numerics) -> RowKernels<BlockQ4_1, BlockQ8_1> {
    match (cpu.isa(), order) {
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
        (Isa::Scalar, Numerics::Default) => {
            RowKernels::from_dot(scalar::quantize_act_q8_1, scalar::dot_q4_1_q8_1_blocks)
        }
        (Isa::Scalar, Numerics::LlamaCpp) => {
            RowKernels::from_dot(scalar::quantize_act_q8_1, scalar::dot_q4_1_q8_1)
        }
    }
}

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
        match order(numerics) {
            Numerics::Default => scalar::dot_q4_1_q8_1_blocks(w, x),
            Numerics::LlamaCpp => scalar::dot_q4_1_q8_1(w, x),
        }
    }

    fn kernels(cpu: Cpu, numerics: Numerics) -> RowKernels<Self, BlockQ8_1> {
        match cpu.isa() {
            Isa::Scalar => Self::reference(numerics),
            _ => kernels_in_order(cpu, order(numerics)),
        }
    }
}
