//! x86_64 kernel paths: AVX2 (+FMA, F16C) and AVX-512 (F + BW, with VNNI
//! `vpdpbusd` when present).
//!
//! Quantizers are bit-identical to [`crate::scalar`]. The quantized dot
//! products compute each block's integer sum exactly with SIMD, then
//! accumulate `(d_w·d_x)·sum` across blocks in f32 vector registers with
//! FMA, as llama.cpp does: they agree with the scalar reference within f32
//! rounding of a reordered sum, not bit for bit. The f16/f32 dots likewise
//! use several vector accumulators and FMA.

pub(crate) mod avx2;
pub(crate) mod avx512;
