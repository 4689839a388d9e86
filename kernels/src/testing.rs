//! Test and benchmark support (not a stable API): one path's kernels for
//! every implemented type, flattened into named function pointers so the
//! cross-path test suites can compare any path with the scalar reference
//! field by field. Built from [`QuantType::kernels`]; multi-row kernels a
//! path lacks are the fallbacks derived from its single dot.

use crate::blocks::*;
use crate::quant::{Numerics, QuantType};
use crate::{Kernels, Rows2Fn, Tile8Fn};
use half::f16;

/// [`crate::RowKernels::dot4`] of `T` on the scalar reference, as a `fn`
/// (for paths whose table has no fused 4-row kernel).
fn reference_dot4<T: QuantType>(w: &[T], x: &[T::Act], out: &mut [f32; 4]) {
    T::reference(Numerics::LlamaCpp).dot4(w, x, out)
}

/// Every kernel of one path, by name.
#[derive(Clone, Copy, Debug)]
#[allow(missing_docs)]
pub struct FlatTable {
    pub name: &'static str,
    pub quantize_q8_0: fn(&[f32], &mut [BlockQ8_0]),
    pub quantize_q8_1: fn(&[f32], &mut [BlockQ8_1]),
    pub quantize_q8_k: fn(&[f32], &mut [BlockQ8K]),
    pub dot_q4_0_q8_0: fn(&[BlockQ4_0], &[BlockQ8_0]) -> f32,
    pub dot_q4_1_q8_1: fn(&[BlockQ4_1], &[BlockQ8_1]) -> f32,
    pub dot_q8_0_q8_0: fn(&[BlockQ8_0], &[BlockQ8_0]) -> f32,
    pub dot_q6k_q8k: fn(&[BlockQ6K], &[BlockQ8K]) -> f32,
    pub dot_f16_f32: fn(&[f16], &[f32]) -> f32,
    pub dot_f32_f32: fn(&[f32], &[f32]) -> f32,
    pub dot4_q4_0_q8_0: fn(&[BlockQ4_0], &[BlockQ8_0], &mut [f32; 4]),
    pub dot4_q4_1_q8_1: fn(&[BlockQ4_1], &[BlockQ8_1], &mut [f32; 4]),
    pub dot4_q8_0_q8_0: fn(&[BlockQ8_0], &[BlockQ8_0], &mut [f32; 4]),
    pub dot4_q6k_q8k: fn(&[BlockQ6K], &[BlockQ8K], &mut [f32; 4]),
    pub dot2_q4_0_q8_0: Option<Rows2Fn<BlockQ4_0, BlockQ8_0>>,
    pub dot8x1_q4_0_q8_0: Option<Tile8Fn<BlockQ4_0, BlockQ8_0, 1>>,
    pub dot8x4_q4_0_q8_0: Option<Tile8Fn<BlockQ4_0, BlockQ8_0, 4>>,
    pub float_ops: crate::FloatOps,
}

impl FlatTable {
    /// The kernels of `k`'s path in `k.numerics`.
    pub fn new(k: &Kernels) -> FlatTable {
        let q4_0 = k.quant::<BlockQ4_0>();
        let q4_1 = k.quant::<BlockQ4_1>();
        let q8_0 = k.quant::<BlockQ8_0>();
        let q6k = k.quant::<BlockQ6K>();
        FlatTable {
            name: k.name,
            quantize_q8_0: q8_0.quantize_act,
            quantize_q8_1: q4_1.quantize_act,
            quantize_q8_k: q6k.quantize_act,
            dot_q4_0_q8_0: q4_0.dot,
            dot_q4_1_q8_1: q4_1.dot,
            dot_q8_0_q8_0: q8_0.dot,
            dot_q6k_q8k: q6k.dot,
            dot_f16_f32: k.dot_f16_f32,
            dot_f32_f32: k.dot_f32_f32,
            dot4_q4_0_q8_0: q4_0.dot4.unwrap_or(reference_dot4::<BlockQ4_0>),
            dot4_q4_1_q8_1: q4_1.dot4.unwrap_or(reference_dot4::<BlockQ4_1>),
            dot4_q8_0_q8_0: q8_0.dot4.unwrap_or(reference_dot4::<BlockQ8_0>),
            dot4_q6k_q8k: q6k.dot4.unwrap_or(reference_dot4::<BlockQ6K>),
            dot2_q4_0_q8_0: q4_0.rows2,
            dot8x1_q4_0_q8_0: q4_0.tile8x1,
            dot8x4_q4_0_q8_0: q4_0.tile8x4,
            float_ops: k.float_ops,
        }
    }
}

/// The Q4_1 kernels of `k`'s path in `order`: `Default` = the block order
/// ([`crate::scalar::dot_q4_1_q8_1_blocks`]) whether or not the default
/// numerics use it ([`crate::quant::Q4_1_DEFAULT_IN_BLOCK_ORDER`]),
/// `LlamaCpp` = llama.cpp's order.
pub fn q4_1_kernels_in_order(
    k: &Kernels,
    order: Numerics,
) -> crate::RowKernels<BlockQ4_1, BlockQ8_1> {
    crate::quant::q4_1_kernels_in_order(k.cpu, order)
}
