//! The scalar reference: plain Rust, the definition of "correct" for every
//! SIMD path. Arithmetic follows llama.cpp's reference (ggml-quants.c) so
//! results agree with it.

use crate::blocks::*;
use half::{bf16, f16};

/// Quantizes activations to Q8_0: d = amax/127, q = round(x/d).
pub fn quantize_row_q8_0(x: &[f32], y: &mut [BlockQ8_0]) {
    todo!()
}
/// Quantizes activations to Q8_1 (Q8_0 plus s = d·Σq).
pub fn quantize_row_q8_1(x: &[f32], y: &mut [BlockQ8_1]) {
    todo!()
}
/// Quantizes activations to Q8_K.
pub fn quantize_row_q8_k(x: &[f32], y: &mut [BlockQ8K]) {
    todo!()
}
/// Reference Q4_0 weight quantization (d = max/−8).
pub fn quantize_row_q4_0(x: &[f32], y: &mut [BlockQ4_0]) {
    todo!()
}
/// Reference Q4_1 weight quantization.
pub fn quantize_row_q4_1(x: &[f32], y: &mut [BlockQ4_1]) {
    todo!()
}
/// Reference Q6_K weight quantization.
pub fn quantize_row_q6k(x: &[f32], y: &mut [BlockQ6K]) {
    todo!()
}
/// Dequantizes a Q4_0 row.
pub fn dequantize_row_q4_0(x: &[BlockQ4_0], y: &mut [f32]) {
    todo!()
}
/// Dequantizes a Q4_1 row.
pub fn dequantize_row_q4_1(x: &[BlockQ4_1], y: &mut [f32]) {
    todo!()
}
/// Dequantizes a Q8_0 row.
pub fn dequantize_row_q8_0(x: &[BlockQ8_0], y: &mut [f32]) {
    todo!()
}
/// Dequantizes a Q6_K row.
pub fn dequantize_row_q6k(x: &[BlockQ6K], y: &mut [f32]) {
    todo!()
}
/// Converts an f16 row to f32.
pub fn dequantize_row_f16(x: &[f16], y: &mut [f32]) {
    todo!()
}
/// Converts a bf16 row to f32.
pub fn dequantize_row_bf16(x: &[bf16], y: &mut [f32]) {
    todo!()
}
/// Σ w·x, Q4_0 × Q8_0.
pub fn dot_q4_0_q8_0(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 {
    todo!()
}
/// Σ w·x, Q4_1 × Q8_1.
pub fn dot_q4_1_q8_1(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f32 {
    todo!()
}
/// Σ w·x, Q8_0 × Q8_0.
pub fn dot_q8_0_q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 {
    todo!()
}
/// Σ w·x, Q6_K × Q8_K.
pub fn dot_q6k_q8k(w: &[BlockQ6K], x: &[BlockQ8K]) -> f32 {
    todo!()
}
/// Σ w·x, f16 × f32, accumulated in f32.
pub fn dot_f16_f32(w: &[f16], x: &[f32]) -> f32 {
    todo!()
}
/// Σ w·x, f32 × f32.
pub fn dot_f32_f32(w: &[f32], x: &[f32]) -> f32 {
    todo!()
}
