//! The table of kernel function pointers, chosen once per process.

use crate::blocks::*;
use crate::scalar;
use half::f16;
use std::sync::OnceLock;

/// One implementation of every hot operation. Slices passed together must
/// describe the same number of elements (block counts equal); a mismatch is a
/// programming error and panics.
#[derive(Clone, Copy, Debug)]
pub struct Kernels {
    /// Name of the path: "scalar", "avx2", "avx512", "neon" or "dotprod".
    pub name: &'static str,
    /// Quantizes an f32 row (length = 32 × blocks) to Q8_0.
    pub quantize_q8_0: fn(&[f32], &mut [BlockQ8_0]),
    /// Quantizes an f32 row (length = 32 × blocks) to Q8_1.
    pub quantize_q8_1: fn(&[f32], &mut [BlockQ8_1]),
    /// Quantizes an f32 row (length = 256 × blocks) to Q8_K.
    pub quantize_q8_k: fn(&[f32], &mut [BlockQ8K]),
    /// Σ w·x over a Q4_0 row and a Q8_0 row.
    pub dot_q4_0_q8_0: fn(&[BlockQ4_0], &[BlockQ8_0]) -> f32,
    /// Σ w·x over a Q4_1 row and a Q8_1 row.
    pub dot_q4_1_q8_1: fn(&[BlockQ4_1], &[BlockQ8_1]) -> f32,
    /// Σ w·x over two Q8_0 rows.
    pub dot_q8_0_q8_0: fn(&[BlockQ8_0], &[BlockQ8_0]) -> f32,
    /// Σ w·x over a Q6_K row and a Q8_K row.
    pub dot_q6k_q8k: fn(&[BlockQ6K], &[BlockQ8K]) -> f32,
    /// Σ w·x over an f16 row and an f32 row, accumulated in f32.
    pub dot_f16_f32: fn(&[f16], &[f32]) -> f32,
    /// Σ w·x over two f32 rows.
    pub dot_f32_f32: fn(&[f32], &[f32]) -> f32,
}

/// The scalar reference table.
pub const SCALAR: Kernels = Kernels {
    name: "scalar",
    quantize_q8_0: scalar::quantize_row_q8_0,
    quantize_q8_1: scalar::quantize_row_q8_1,
    quantize_q8_k: scalar::quantize_row_q8_k,
    dot_q4_0_q8_0: scalar::dot_q4_0_q8_0,
    dot_q4_1_q8_1: scalar::dot_q4_1_q8_1,
    dot_q8_0_q8_0: scalar::dot_q8_0_q8_0,
    dot_q6k_q8k: scalar::dot_q6k_q8k,
    dot_f16_f32: scalar::dot_f16_f32,
    dot_f32_f32: scalar::dot_f32_f32,
};

static TABLE: OnceLock<Kernels> = OnceLock::new();

/// The kernel table for this CPU, detected on first call.
pub fn kernels() -> &'static Kernels {
    TABLE.get_or_init(|| SCALAR)
}

/// Name of the path in use ("scalar", "avx2", …).
pub fn active() -> &'static str {
    kernels().name
}
