//! One definition per quantized weight type: the [`QuantType`] trait.
//!
//! A weight type is its block struct (in [`crate::blocks`]), the block type
//! its activations are quantized to, the scalar reference (weight quantizer,
//! dequantizer, activation quantizer and dot product, all in
//! [`crate::scalar`]) and, optionally, SIMD kernels per architecture
//! (`x86/<type>.rs`, `arm/<type>.rs`) returned by [`QuantType::kernels`].
//! Everything else — multi-row products, tiles, the matrix-vector driver,
//! dequantization, the list of supported types — is derived from it.
//!
//! Adding a type: the block struct, its scalar reference, one
//! `impl QuantType`, one line in [`with_quant_type`] and [`QUANT_TYPES`]
//! (the SIMD files are optional; without them every path runs the
//! reference, which is then trivially bit-identical).

pub mod panel;
mod q4_0;
mod q4_1;
pub(crate) use q4_1::kernels_in_order as q4_1_kernels_in_order;
pub use q4_1::DEFAULT_IN_BLOCK_ORDER as Q4_1_DEFAULT_IN_BLOCK_ORDER;
mod q6k;
mod q8_0;

use crate::blocks::Block;
use crate::cpu::Cpu;
use crate::types::GgmlType;
use panel::PanelKernels;

/// Which summation order the kernels follow.
///
/// Both orders give the same bits on every kernel path and every thread
/// count; they differ from each other in the last bits of some products.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Numerics {
    /// The fastest order this crate implements: the same bits on every
    /// path, every thread count and every batch size. For the quantized
    /// types implemented so far it is llama.cpp's order (their fastest
    /// kernels follow it); F16 and F32 weights take the 16-lane order at
    /// every batch size.
    #[default]
    Default,
    /// llama.cpp's order for its x86 CPU backend (AVX2/AVX-512 build), so
    /// logits equal llama.cpp's bit for bit on the reference fixtures.
    LlamaCpp,
}

impl Numerics {
    /// Name of the environment variable that selects the numerics
    /// (`default` or `llamacpp`).
    pub const ENV_VAR: &'static str = "EDGE_LLAMA_NUMERICS";

    /// The numerics called `name` (`"default"` or `"llamacpp"`).
    pub fn from_name(name: &str) -> Option<Numerics> {
        match name {
            "default" => Some(Numerics::Default),
            "llamacpp" => Some(Numerics::LlamaCpp),
            _ => None,
        }
    }

    /// The name `from_name` accepts.
    pub fn name(self) -> &'static str {
        match self {
            Numerics::Default => "default",
            Numerics::LlamaCpp => "llamacpp",
        }
    }
}

/// Σ w·x of one weight row and one activation row (equal block counts).
pub type DotFn<W, X> = fn(&[W], &[X]) -> f32;
/// One weight row times 4 activation rows stored back to back in `x`:
/// `out[v]` = Σ w·x_v.
pub type Dot4Fn<W, X> = fn(&[W], &[X], &mut [f32; 4]);
/// Two weight rows back to back in `w` times one activation row.
pub type Rows2Fn<W, X> = fn(&[W], &[X], &mut [f32; 2]);
/// Eight weight rows back to back in `w` times `V` activation rows back to
/// back in `x`: `out[v][r]` = Σ w_r·x_v.
pub type Tile8Fn<W, X, const V: usize> = fn(&[W], &[X], &mut [[f32; 8]; V]);
/// Quantizes an f32 row into activation blocks.
pub type QuantizeFn<X> = fn(&[f32], &mut [X]);

/// The row kernels of one weight type on one path, for one [`Numerics`].
///
/// Contract: every kernel here gives, for each (weight row, activation row)
/// pair, exactly the bits of `dot` on that pair, and `dot` gives the bits of
/// the scalar reference of the same numerics. The optional multi-row
/// kernels are speed-ups; [`RowKernels::dot4`] and [`RowKernels::tile8`]
/// fall back on `dot`.
pub struct RowKernels<W, X> {
    /// The activation quantizer.
    pub quantize_act: QuantizeFn<X>,
    /// Single dot.
    pub dot: DotFn<W, X>,
    /// One weight row × 4 activation rows, if the path has a fused kernel.
    pub dot4: Option<Dot4Fn<W, X>>,
    /// Two weight rows × one activation row (single-token products). A
    /// path with `tile8x1` and no `rows2` runs single tokens eight rows at
    /// a time through `tile8x1` (its fastest single-token kernel).
    pub rows2: Option<Rows2Fn<W, X>>,
    /// Eight weight rows × one activation row.
    pub tile8x1: Option<Tile8Fn<W, X, 1>>,
    /// Eight weight rows × four activation rows.
    pub tile8x4: Option<Tile8Fn<W, X, 4>>,
}

impl<W, X> Clone for RowKernels<W, X> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<W, X> Copy for RowKernels<W, X> {}

impl<W, X> RowKernels<W, X> {
    /// Kernels made of a quantizer and a single dot only (all multi-row
    /// products derived from `dot`).
    pub const fn from_dot(quantize_act: QuantizeFn<X>, dot: DotFn<W, X>) -> Self {
        RowKernels {
            quantize_act,
            dot,
            dot4: None,
            rows2: None,
            tile8x1: None,
            tile8x4: None,
        }
    }

    /// `out[v]` = Σ w·x_v for the 4 activation rows back to back in `x`.
    ///
    /// # Panics
    /// When `x.len() != 4 * w.len()`.
    #[inline]
    pub fn dot4(&self, w: &[W], x: &[X], out: &mut [f32; 4]) {
        let n = w.len();
        assert_eq!(x.len(), 4 * n, "dot4: activation is not 4 rows");
        match self.dot4 {
            Some(f) => f(w, x, out),
            None => {
                for (v, o) in out.iter_mut().enumerate() {
                    *o = (self.dot)(w, &x[v * n..(v + 1) * n]);
                }
            }
        }
    }

    /// `out[v][r]` = Σ w_r·x_v for 8 weight rows back to back in `w` and
    /// `V` activation rows back to back in `x`, by the fused tile when the
    /// path has one for this `V` (1 or 4), else by [`Self::dot4`] / `dot`.
    ///
    /// # Panics
    /// When `w.len() != 8 * n` or `x.len() != V * n` for some `n`.
    #[inline]
    pub fn tile8<const V: usize>(&self, w: &[W], x: &[X], out: &mut [[f32; 8]; V]) {
        let n = w.len() / 8;
        assert!(w.len() == 8 * n && x.len() == V * n, "tile8: bad shapes");
        if let (1, Some(f)) = (V, self.tile8x1) {
            let o: &mut [[f32; 8]; 1] = out
                .as_mut_slice()
                .try_into()
                .unwrap_or_else(|_| unreachable!());
            return f(w, x, o);
        }
        if let (4, Some(f)) = (V, self.tile8x4) {
            let o: &mut [[f32; 8]; 4] = out
                .as_mut_slice()
                .try_into()
                .unwrap_or_else(|_| unreachable!());
            return f(w, x, o);
        }
        for r in 0..8 {
            let row = &w[r * n..(r + 1) * n];
            let mut v = 0;
            while v + 4 <= V {
                let mut o4 = [0f32; 4];
                self.dot4(row, &x[v * n..(v + 4) * n], &mut o4);
                for (j, o) in o4.into_iter().enumerate() {
                    out[v + j][r] = o;
                }
                v += 4;
            }
            for v in v..V {
                out[v][r] = (self.dot)(row, &x[v * n..(v + 1) * n]);
            }
        }
    }

    /// True when the path has fused 8-row tiles (worth grouping rows by 8).
    pub fn has_tiles(&self) -> bool {
        self.tile8x1.is_some() && self.tile8x4.is_some()
    }
}

/// A quantized weight type, implemented on its block struct (as candle's
/// `GgmlType` and llama.cpp's `type_traits_cpu`).
pub trait QuantType: Block + Sync + Send {
    /// The type's id in GGUF files.
    const TYPE: GgmlType;
    /// The GGUF type of [`Self::Act`]. Weight types with the same
    /// `ACT_TYPE` must quantize activations identically (the activation is
    /// then prepared once for all of them).
    const ACT_TYPE: GgmlType;
    /// The block activations are quantized to before a product with it.
    type Act: Block + Sync + Send;

    /// Reference weight quantizer (the bytes llama-quantize writes).
    /// `x.len()` = `y.len()` × elements per block.
    fn quantize(x: &[f32], y: &mut [Self]);
    /// Reference dequantizer. `y.len()` = `x.len()` × elements per block.
    fn dequantize(x: &[Self], y: &mut [f32]);
    /// Reference activation quantizer (the order of `numerics`).
    fn quantize_act(x: &[f32], y: &mut [Self::Act]);
    /// Reference dot product in the order of `numerics`.
    fn dot(numerics: Numerics, w: &[Self], x: &[Self::Act]) -> f32;

    /// Under [`Numerics::LlamaCpp`]: the scalar dot in the order of
    /// llama.cpp's `kernel`, when that order differs from the one of
    /// [`QuantType::dot`] (which is the order of the kernel llama.cpp runs
    /// for the type's usual shapes). `None` (the default): `kernel` sums as
    /// `dot` does. The matrix products ask this for every activation row
    /// ([`LlamaCppKernel::choose`]) and run the returned function on every
    /// kernel path, so SIMD paths need no variant of it.
    fn llamacpp_dot(kernel: LlamaCppKernel) -> Option<DotFn<Self, Self::Act>> {
        let _ = kernel;
        None
    }

    /// The scalar reference kernels for `numerics` (provided).
    fn reference(numerics: Numerics) -> RowKernels<Self, Self::Act> {
        match numerics {
            Numerics::Default => {
                RowKernels::from_dot(Self::quantize_act, reference_dot_default::<Self>)
            }
            Numerics::LlamaCpp => {
                RowKernels::from_dot(Self::quantize_act, reference_dot_llamacpp::<Self>)
            }
        }
    }

    /// The row kernels for `cpu` and `numerics`. Default: the reference.
    /// A type with SIMD kernels matches on `cpu.isa()` and calls its
    /// per-arch constructors with the detection token.
    fn kernels(cpu: Cpu, numerics: Numerics) -> RowKernels<Self, Self::Act> {
        let _ = cpu;
        Self::reference(numerics)
    }

    /// The panel kernels (matrix-matrix products for prompts, see
    /// [`panel`]) for `cpu` and `numerics`, when the path has them.
    /// Default: none.
    fn panel(cpu: Cpu, numerics: Numerics) -> Option<PanelKernels<Self, Self::Act>> {
        let _ = (cpu, numerics);
        None
    }
}

/// Which of llama.cpp's CPU matrix-product kernels computes a product, on
/// the x86 AVX-512 build [`Numerics::LlamaCpp`] follows (llama-cpp-python
/// 0.3.36). Some of them sum in different orders, so under llama.cpp
/// numerics the bits of one (weight row, activation row) product depend on
/// the shape of the whole product: see [`LlamaCppKernel::choose`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LlamaCppKernel {
    /// `ggml_vec_dot_<type>` (`ggml-cpu/arch/x86/quants.c`), one row at a
    /// time: small batches of weights llama.cpp does not repack.
    VecDot,
    /// The repacked 8-row kernel for a single activation row
    /// (`ggml_gemv_<type>_8x8`, `ggml-cpu/arch/x86/repack.cpp`): the rows
    /// of a batch past its last multiple of 4.
    RepackGemv,
    /// The repacked kernel for four activation rows at a time
    /// (`ggml_gemm_<type>_8x8`).
    RepackGemm,
    /// The tiled K-quant kernel (`ggml-cpu/tiled/`, its AVX-512 VNNI
    /// microtile): batches of 8 rows or more of K-quant weights that are
    /// not repacked.
    Tiled,
}

impl LlamaCppKernel {
    /// True when llama.cpp (x86, AVX-512 build) repacks weights of type `t`
    /// with `rows` rows (`ggml_repack_get_optimal_repack_type`): Q4_0,
    /// Q4_K, Q2_K and IQ4_NL, when the row count is a multiple of 8.
    pub fn repacked(t: GgmlType, rows: usize) -> bool {
        matches!(
            t,
            GgmlType::Q4_0 | GgmlType::Q4K | GgmlType::Q2K | GgmlType::IQ4NL
        ) && rows.is_multiple_of(8)
    }

    /// The kernel llama.cpp runs for activation row `b` of a batch of
    /// `batch` rows times a weight of type `t` with `rows` rows: repacked
    /// weights take the gemm kernel for the rows in whole groups of four
    /// (rows `0..batch − batch % 4`) and the gemv kernel for the rest; the
    /// K-quants it does not repack take the tiled kernel for batches of 8
    /// or more (`ggml_tiled_min_batch`); everything else its `vec_dot`.
    pub fn choose(t: GgmlType, rows: usize, batch: usize, b: usize) -> Self {
        if Self::repacked(t, rows) {
            if b < batch - batch % 4 {
                LlamaCppKernel::RepackGemm
            } else {
                LlamaCppKernel::RepackGemv
            }
        } else if batch >= 8
            && matches!(
                t,
                GgmlType::Q2K | GgmlType::Q3K | GgmlType::Q4K | GgmlType::Q5K | GgmlType::Q6K
            )
        {
            LlamaCppKernel::Tiled
        } else {
            LlamaCppKernel::VecDot
        }
    }
}

/// [`QuantType::dot`] in the default order, as a plain `fn`.
fn reference_dot_default<T: QuantType>(w: &[T], x: &[T::Act]) -> f32 {
    T::dot(Numerics::Default, w, x)
}

/// [`QuantType::dot`] in llama.cpp's order, as a plain `fn`.
fn reference_dot_llamacpp<T: QuantType>(w: &[T], x: &[T::Act]) -> f32 {
    T::dot(Numerics::LlamaCpp, w, x)
}

/// Something to do with a quantized weight type chosen at run time (see
/// [`with_quant_type`]).
pub trait QuantVisitor {
    /// The result.
    type Output;
    /// Runs with the type `T`.
    fn visit<T: QuantType>(self) -> Self::Output;
}

/// Runs `v` with the [`QuantType`] whose GGUF type is `t`; `None` when `t`
/// is not a quantized type this crate implements. The one place that maps
/// type ids to implementations.
pub fn with_quant_type<V: QuantVisitor>(t: GgmlType, v: V) -> Option<V::Output> {
    use crate::blocks::*;
    Some(match t {
        GgmlType::Q4_0 => v.visit::<BlockQ4_0>(),
        GgmlType::Q4_1 => v.visit::<BlockQ4_1>(),
        GgmlType::Q8_0 => v.visit::<BlockQ8_0>(),
        GgmlType::Q6K => v.visit::<BlockQ6K>(),
        GgmlType::Q5_0 => v.visit::<crate::quants::BlockQ5_0>(),
        GgmlType::Q5_1 => v.visit::<crate::quants::BlockQ5_1>(),
        GgmlType::Q2K => v.visit::<crate::quants::BlockQ2K>(),
        GgmlType::Q3K => v.visit::<crate::quants::BlockQ3K>(),
        GgmlType::Q4K => v.visit::<crate::quants::BlockQ4K>(),
        GgmlType::Q5K => v.visit::<crate::quants::BlockQ5K>(),
        GgmlType::IQ4NL => v.visit::<crate::quants::BlockIq4Nl>(),
        _ => return None,
    })
}

/// Every quantized type [`with_quant_type`] implements.
pub const QUANT_TYPES: &[GgmlType] = &[
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q8_0,
    GgmlType::Q6K,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q2K,
    GgmlType::Q3K,
    GgmlType::Q4K,
    GgmlType::Q5K,
    GgmlType::IQ4NL,
];

/// Float weight types the matrix products support (no blocks).
pub const FLOAT_TYPES: &[GgmlType] = &[GgmlType::F32, GgmlType::F16, GgmlType::BF16];

/// Every weight type a matrix product supports: floats, then quantized.
pub fn matmul_types() -> impl Iterator<Item = GgmlType> {
    FLOAT_TYPES.iter().chain(QUANT_TYPES).copied()
}

/// "f32, f16, bf16, q4_0, …": the supported types for error messages.
pub fn matmul_type_names() -> String {
    matmul_types()
        .map(|t| t.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Alignment in bytes the blocks of weight type `t` need in memory (the
/// element's for float types; 1 for types this crate does not implement).
pub fn block_align(t: GgmlType) -> usize {
    struct Align;
    impl QuantVisitor for Align {
        type Output = usize;
        fn visit<T: QuantType>(self) -> usize {
            std::mem::align_of::<T>()
        }
    }
    match t {
        GgmlType::F32 => 4,
        GgmlType::F16 | GgmlType::BF16 => 2,
        t => with_quant_type(t, Align).unwrap_or(1),
    }
}
