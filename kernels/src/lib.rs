//! Numeric kernels for edge-llama: quantized block formats and the fused
//! dot products between quantized weights and quantized activations.
//!
//! [`scalar`] is the reference that defines every operation; the SIMD paths
//! (`x86`, `arm`) are checked against it. CPU features are detected once and
//! a path is a [`Cpu`] (a [`KernelPath`] plus the proof that this CPU runs
//! it). Each quantized weight type implements [`QuantType`], which hands
//! out its row kernels for a path; [`Kernels`] holds the path-wide float
//! operations. Callers fetch the table once per matrix product with
//! [`kernels()`].
//!
//! ```
//! use edge_llama_kernels::{kernels, BlockQ8_0, Block, Numerics, QK};
//! let x: Vec<f32> = (0..64).map(|i| i as f32 / 8.0).collect();
//! let mut q = vec![BlockQ8_0::zeroed(); 2];
//! let rk = kernels().with_numerics(Numerics::Default).quant::<BlockQ8_0>();
//! (rk.quantize_act)(&x, &mut q);
//! let dot = (rk.dot)(&q, &q);
//! let exact: f32 = x.iter().map(|v| v * v).sum();
//! assert!((dot - exact).abs() / exact < 0.01);
//! ```

#![warn(missing_docs)]

#[cfg(target_arch = "aarch64")]
mod arm;
pub mod blocks;
pub mod cpu;
mod dispatch;
pub mod float_ops;
pub mod quant;
pub mod quants;
pub mod scalar;
#[doc(hidden)]
pub mod testing;
pub mod types;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use blocks::*;
pub use cpu::{Cpu, KernelPath};
pub use dispatch::{
    active, available, kernels, kernels_for, table_for, try_kernels, KernelError, Kernels, ENV_VAR,
    SCALAR,
};
pub use float_ops::FloatOps;
pub use quant::{
    with_quant_type, Dot4Fn, DotFn, LlamaCppKernel, Numerics, QuantType, QuantVisitor, QuantizeFn,
    RowKernels, Rows2Fn, Tile8Fn, QUANT_TYPES,
};
pub use quants::{BlockIq4Nl, BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ5_0, BlockQ5_1};
pub use types::GgmlType;
