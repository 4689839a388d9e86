//! x86_64 kernel paths: AVX2 (+FMA, F16C) and AVX-512 (F + BW, with VNNI
//! `vpdpbusd` when present).
//!
//! Quantizers are bit-identical to [`crate::scalar`]. The quantized dot
//! products compute each block's integer sum exactly with SIMD and then
//! combine the blocks in f32 with the same expressions and in the same order
//! as the scalar reference, so they are bit-identical too. Only the f16/f32
//! dots accumulate in a different order (several vector accumulators, FMA).

pub(crate) mod avx2;
pub(crate) mod avx512;
