//! Numeric kernels for edge-llama: quantized block formats and the fused
//! dot products between quantized weights and quantized activations.
//!
//! [`scalar`] is the reference that defines every operation; the SIMD paths
//! (`x86`, `arm`) are checked against it. CPU features are detected once and
//! the chosen functions are kept in a [`Kernels`] table of function pointers;
//! callers fetch the table once per matrix product with [`kernels()`].
//!
//! ```
//! use edge_llama_kernels::{kernels, BlockQ8_0, QK};
//! let x: Vec<f32> = (0..64).map(|i| i as f32 / 8.0).collect();
//! let mut q = vec![BlockQ8_0 { d: half::f16::ZERO, qs: [0; QK] }; 2];
//! let k = kernels();
//! (k.quantize_q8_0)(&x, &mut q);
//! let dot = (k.dot_q8_0_q8_0)(&q, &q);
//! let exact: f32 = x.iter().map(|v| v * v).sum();
//! assert!((dot - exact).abs() / exact < 0.01);
//! ```

#![warn(missing_docs)]

#[cfg(target_arch = "aarch64")]
mod arm;
pub mod blocks;
mod dispatch;
pub mod float_ops;
pub mod quants;
pub mod scalar;
pub mod types;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use blocks::*;
pub use dispatch::{
    active, available, kernels, kernels_for, try_kernels, KernelError, Kernels, Rows2Q4_0,
    Tile8Q4_0, ENV_VAR, SCALAR,
};
pub use float_ops::FloatOps;
pub use quants::{BlockIq4Nl, BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ5_0, BlockQ5_1};
pub use types::GgmlType;
