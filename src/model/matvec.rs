//! Matrix-vector products over weights in the map (one generic driver for
//! every quantized type, selected by one `match` on the tensor type), and
//! the activation formats each weight type pairs with.

use super::panel::{panel_products, PANEL_MIN_BATCH};
use super::weights::Weight;
use crate::error::{Error, Result};
use edge_llama_kernels::{
    cast_blocks, cast_blocks_mut, with_quant_type, Block, GgmlType, Kernels, LlamaCppKernel,
    Numerics, QuantType, QuantVisitor, QUANT_TYPES,
};
use half::{bf16, f16};
use rayon::prelude::*;

fn blocks<'a, B: Block>(name: &str, bytes: &'a [u8]) -> Result<&'a [B]> {
    cast_blocks::<B>(bytes).ok_or_else(|| Error::BadTensor {
        name: name.to_string(),
        reason: "data is not a whole number of aligned blocks".into(),
    })
}

/// The GGUF type of `T`'s activation blocks.
struct ActTypeOf;
impl QuantVisitor for ActTypeOf {
    type Output = GgmlType;
    fn visit<T: QuantType>(self) -> GgmlType {
        T::ACT_TYPE
    }
}

/// Bytes of activation blocks per element, for `T`.
struct ActBytesPerElem;
impl QuantVisitor for ActBytesPerElem {
    type Output = usize;
    fn visit<T: QuantType>(self) -> usize {
        std::mem::size_of::<T::Act>().div_ceil(<T::Act as Block>::ELEMS)
    }
}

/// Quantizes `x` into the activation blocks of `T` held in `bytes`.
struct QuantizeAct<'a> {
    k: &'a Kernels,
    x: &'a [f32],
    bytes: &'a mut [u8],
}
impl QuantVisitor for QuantizeAct<'_> {
    type Output = ();
    fn visit<T: QuantType>(self) {
        let n = self.x.len() / <T::Act as Block>::ELEMS * std::mem::size_of::<T::Act>();
        if let Some(y) = cast_blocks_mut::<T::Act>(&mut self.bytes[..n]) {
            (self.k.quant::<T>().quantize_act)(self.x, y);
        }
    }
}

/// Scratch space for activation vectors in every format a weight may want.
/// A batch of vectors is converted as one long row: every vector's length is
/// a multiple of the block size, so no block spans two vectors. Sized once
/// for the widest input times the largest batch; never reallocated per token.
pub(crate) struct Activation {
    /// The vector rounded through f16 or bf16 (for F16/BF16 weights).
    rounded: Vec<f32>,
    /// Quantized activation blocks of the format last filled (u64 words so
    /// that every block type is aligned).
    quant: Vec<u64>,
}

/// An activation vector prepared for one weight type.
#[derive(Clone, Copy)]
pub(crate) enum Prepared<'a> {
    /// Plain (or rounded) floats.
    F32(&'a [f32]),
    /// Quantized blocks of activation type `fmt`, as bytes.
    Quant { fmt: GgmlType, bytes: &'a [u8] },
}

impl Activation {
    /// Scratch for vectors of up to `max_len` elements.
    pub fn new(max_len: usize) -> Self {
        let per_elem = QUANT_TYPES
            .iter()
            .filter_map(|&t| with_quant_type(t, ActBytesPerElem))
            .max()
            .unwrap_or(0);
        Activation {
            rounded: vec![0.0; max_len],
            quant: vec![0; (max_len * per_elem).div_ceil(8) + 64],
        }
    }

    fn quant_bytes(&self) -> &[u8] {
        // SAFETY: a u64 slice is valid as bytes (no padding, alignment 1
        // for u8); the length is its size in bytes.
        unsafe { std::slice::from_raw_parts(self.quant.as_ptr().cast(), self.quant.len() * 8) }
    }

    fn quant_bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as `quant_bytes`; every byte pattern is a valid u64, and
        // the exclusive borrow of `self.quant` is held by the result.
        unsafe {
            std::slice::from_raw_parts_mut(self.quant.as_mut_ptr().cast(), self.quant.len() * 8)
        }
    }

    /// The activation format `dtype` weights multiply with, as llama.cpp
    /// does: the type's [`QuantType::ACT_TYPE`] (Q8_0 for Q4_0/Q8_0, Q8_1
    /// for Q4_1, Q8_K for K-quants), the value rounded to f16 (bf16) for
    /// F16 (BF16), plain f32 for F32.
    pub fn format_of(dtype: GgmlType) -> GgmlType {
        match dtype {
            GgmlType::F16 => GgmlType::F16,
            GgmlType::BF16 => GgmlType::BF16,
            t => with_quant_type(t, ActTypeOf).unwrap_or(GgmlType::F32),
        }
    }

    /// Converts `x` into activation format `fmt` (see [`Self::format_of`]).
    /// Weight types with the same activation format quantize activations
    /// the same way, so the first such type's quantizer serves all.
    pub fn fill(&mut self, k: &Kernels, fmt: GgmlType, x: &[f32]) {
        let n = x.len();
        match fmt {
            GgmlType::F16 => {
                for (o, &v) in self.rounded[..n].iter_mut().zip(x) {
                    *o = f16::from_f32(v).to_f32();
                }
            }
            GgmlType::BF16 => {
                for (o, &v) in self.rounded[..n].iter_mut().zip(x) {
                    *o = bf16::from_f32(v).to_f32();
                }
            }
            fmt => {
                let owner = QUANT_TYPES
                    .iter()
                    .find(|&&t| with_quant_type(t, ActTypeOf) == Some(fmt));
                if let Some(&t) = owner {
                    let bytes = self.quant_bytes_mut();
                    with_quant_type(t, QuantizeAct { k, x, bytes });
                }
            }
        }
    }

    /// The activation last filled for format `fmt` from `x`.
    pub fn view<'a>(&'a self, fmt: GgmlType, x: &'a [f32]) -> Prepared<'a> {
        match fmt {
            GgmlType::F16 | GgmlType::BF16 => Prepared::F32(&self.rounded[..x.len()]),
            GgmlType::F32 => Prepared::F32(x),
            fmt => Prepared::Quant {
                fmt,
                bytes: self.quant_bytes(),
            },
        }
    }
}

/// Rows per parallel task: enough work that scheduling is cheap.
const MIN_ROWS_PER_TASK: usize = 32;

/// `out = W · x` for weight `w` (bytes in `map`) and `batch` activation
/// vectors stored one after another in `x` (prepared for `w.dtype`). `out`
/// is row-major `[w.rows][batch]`: `out[r * batch + b]` = row r · vector b.
/// Rows are split across `pool`; each row is computed by exactly one thread
/// with the same code, so the result does not depend on the thread count.
/// Nor, for quantized and F32/BF16 weights, on the batch size; F16 weights
/// under [`Numerics::LlamaCpp`] follow llama.cpp, whose batched and
/// single-token f16 products sum in different orders.
pub(crate) fn matvec(
    k: &Kernels,
    pool: Option<&rayon::ThreadPool>,
    w: &Weight,
    map: &[u8],
    x: Prepared<'_>,
    batch: usize,
    out: &mut [f32],
) -> Result<()> {
    debug_assert_eq!(out.len(), w.rows * batch);
    let bytes = w.bytes(map);
    let name = w.name.as_str();
    let unsupported = |t: GgmlType| Error::UnsupportedTensorType {
        name: name.to_string(),
        ty: t.to_string(),
        context: "with this activation format".into(),
    };
    match (w.dtype, x) {
        (GgmlType::F16, Prepared::F32(a)) => {
            let wb = blocks::<f16>(name, bytes)?;
            let f = &k.float_ops;
            // llama.cpp's order (the activation is already rounded to f16):
            // a batch goes through tinyBLAS (16 lanes), a single token
            // through ggml_vec_dot_f16 (64 lanes). The default numerics
            // take the 16-lane order for every batch size.
            if batch == 1 && k.numerics == Numerics::LlamaCpp {
                let dot = |r: &[f16], b| (f.dot_f16_vec64)(r, nth(a, batch, b));
                rows(pool, out, batch, wb, w.cols, dot, each(dot));
            } else {
                rows(
                    pool,
                    out,
                    batch,
                    wb,
                    w.cols,
                    |r, b| (f.dot_f16_lanes16)(r, nth(a, batch, b)),
                    |r, b, o| (f.dot4_f16_lanes16)(r, four(a, batch, b), o),
                );
            }
        }
        (GgmlType::F32, Prepared::F32(a)) => {
            let wb = blocks::<f32>(name, bytes)?;
            // The path's own f32 dot in llama.cpp's numerics (as before);
            // the 16-lane order, the same bits on every path, by default.
            let dot_f32 = match k.numerics {
                Numerics::LlamaCpp => k.dot_f32_f32,
                Numerics::Default => k.float_ops.dot_lanes16,
            };
            let dot = |r: &[f32], b| dot_f32(r, nth(a, batch, b));
            rows(pool, out, batch, wb, w.cols, dot, each(dot));
        }
        (GgmlType::BF16, Prepared::F32(a)) => {
            let wb = blocks::<bf16>(name, bytes)?;
            let dot = |r: &[bf16], b| {
                r.iter()
                    .zip(nth(a, batch, b))
                    .map(|(w, x)| w.to_f32() * x)
                    .sum()
            };
            rows(pool, out, batch, wb, w.cols, dot, each(dot));
        }
        (t, Prepared::Quant { fmt, bytes: act }) => {
            let job = QuantProduct {
                k,
                pool,
                w,
                bytes,
                fmt,
                act,
                batch,
                out,
            };
            with_quant_type(t, job).unwrap_or_else(|| Err(unsupported(t)))?
        }
        (t, _) => return Err(unsupported(t)),
    }
    Ok(())
}

/// The b-th activation vector of a batch.
fn nth<T>(a: &[T], batch: usize, b: usize) -> &[T] {
    let n = a.len() / batch;
    &a[b * n..(b + 1) * n]
}

/// Vectors b..b + 4 of a batch, back to back.
fn four<T>(a: &[T], batch: usize, b: usize) -> &[T] {
    let n = a.len() / batch;
    &a[b * n..(b + 4) * n]
}

/// A 4-vector dot made of four single ones (float types).
fn each<B>(dot: impl Fn(&[B], usize) -> f32 + Sync) -> impl Fn(&[B], usize, &mut [f32; 4]) + Sync {
    move |r, b, o| {
        for (i, o) in o.iter_mut().enumerate() {
            *o = dot(r, b + i);
        }
    }
}

/// One quantized product, run by [`matvec_quant`] for the weight's type.
struct QuantProduct<'a, 'o> {
    k: &'a Kernels,
    pool: Option<&'a rayon::ThreadPool>,
    w: &'a Weight,
    bytes: &'a [u8],
    fmt: GgmlType,
    act: &'a [u8],
    batch: usize,
    out: &'o mut [f32],
}

impl QuantVisitor for QuantProduct<'_, '_> {
    type Output = Result<()>;
    fn visit<T: QuantType>(self) -> Result<()> {
        matvec_quant::<T>(self)
    }
}

/// The generic quantized driver: `out = W · x` for weights of type `T`.
///
/// A batch of 16 or more goes through the path's panel kernels when it has
/// them (see `panel.rs`). A batch of 4 or more goes eight weight rows at a time through the
/// path's tile kernels when it has them (each weight block unpacked once
/// for four activation rows); a single token eight rows at a time when the
/// path has an 8-row tile and no two-row kernel, else two rows at a time
/// when it has a two-row kernel (two FMA chains overlap; both rows
/// prefetched); otherwise one row at a time, four activation rows per call.
/// All give each (row, vector) pair the bits of the single dot.
fn matvec_quant<T: QuantType>(p: QuantProduct<'_, '_>) -> Result<()> {
    let QuantProduct {
        k,
        pool,
        w,
        bytes,
        fmt,
        act,
        batch,
        out,
    } = p;
    let name = w.name.as_str();
    if fmt != T::ACT_TYPE {
        return Err(Error::UnsupportedTensorType {
            name: name.to_string(),
            ty: T::TYPE.to_string(),
            context: format!("with {fmt} activations"),
        });
    }
    let rk = k.quant::<T>();
    let wb = blocks::<T>(name, bytes)?;
    let per_row = w.cols / T::ELEMS;
    let n_act = batch * per_row * std::mem::size_of::<T::Act>();
    let a = act
        .get(..n_act)
        .and_then(cast_blocks::<T::Act>)
        .ok_or_else(|| Error::BadTensor {
            name: name.to_string(),
            reason: "activation scratch too small or misaligned".into(),
        })?;
    if k.numerics == Numerics::LlamaCpp {
        // llama.cpp picks its kernel by the shape of the product, and some
        // of its kernels sum in other orders than the type's `dot`: where
        // that happens, each activation row gets the order of the kernel
        // llama.cpp runs for it (scalar functions, the same on every path).
        let pick = |b| T::llamacpp_dot(LlamaCppKernel::choose(T::TYPE, w.rows, batch, b));
        if (0..batch).any(|b| pick(b).is_some()) {
            let dot = |r: &[T], b| pick(b).unwrap_or(rk.dot)(r, nth(a, batch, b));
            rows(pool, out, batch, wb, per_row, dot, each(dot));
            return Ok(());
        }
    }
    let dot = |r: &[T], b| (rk.dot)(r, nth(a, batch, b));
    let dot4 = |r: &[T], b, o: &mut [f32; 4]| rk.dot4(r, four(a, batch, b), o);
    if let Some(pk) = k.panel::<T>().filter(|_| batch >= PANEL_MIN_BATCH) {
        let row_out = |r: &[T], o: &mut [f32]| row_products(r, o, batch, &dot, &dot4);
        panel_products(pool, out, batch, wb, a, per_row, pk, row_out);
    } else if batch >= 4 && rk.has_tiles() {
        let tile = |w8: &[T], o: &mut [f32]| {
            let mut b = 0;
            while b + 4 <= batch {
                let mut t = [[0f32; 8]; 4];
                rk.tile8::<4>(w8, four(a, batch, b), &mut t);
                scatter(&t, o, batch, b);
                b += 4;
            }
            for b in b..batch {
                let mut t = [[0f32; 8]; 1];
                rk.tile8::<1>(w8, nth(a, batch, b), &mut t);
                scatter(&t, o, batch, b);
            }
        };
        rows8(pool, out, batch, wb, per_row, tile, |r, o| {
            row_products(r, o, batch, &dot, &dot4)
        });
    } else if let (None, Some(_), 1) = (rk.rows2, rk.tile8x1, batch) {
        // The path's fastest single-token kernel is its 8-row tile.
        let tile = |w8: &[T], o: &mut [f32]| {
            let mut t = [[0f32; 8]; 1];
            rk.tile8::<1>(w8, a, &mut t);
            o.copy_from_slice(&t[0]);
        };
        rows8(pool, out, batch, wb, per_row, tile, |r, o| {
            row_products(r, o, batch, &dot, &dot4)
        });
    } else if let (Some(t2), 1) = (rk.rows2, batch) {
        let pairs = |w8: &[T], o: &mut [f32]| {
            for (w2, o2) in w8.chunks_exact(w8.len() / 4).zip(o.chunks_exact_mut(2)) {
                let o2: &mut [f32; 2] = o2.try_into().unwrap_or_else(|_| unreachable!());
                t2(w2, a, o2);
            }
        };
        rows8(pool, out, batch, wb, per_row, pairs, |r, o| {
            row_products(r, o, batch, &dot, &dot4)
        });
    } else {
        rows(pool, out, batch, wb, per_row, dot, dot4);
    }
    Ok(())
}

/// For each row (`per_row` items of `w`) and each of `batch` vectors, writes
/// `dot(row, b)` to `out[r * batch + b]`; a row stays in cache for its batch.
/// Vectors are taken 4 at a time by `dot4(row, b, out)` (vectors b..b + 4,
/// which must give bit for bit what `dot` gives for each), the remainder
/// one at a time by `dot`.
fn rows<B: Sync, F, F4>(
    pool: Option<&rayon::ThreadPool>,
    out: &mut [f32],
    batch: usize,
    w: &[B],
    per_row: usize,
    dot: F,
    dot4: F4,
) where
    F: Fn(&[B], usize) -> f32 + Sync,
    F4: Fn(&[B], usize, &mut [f32; 4]) + Sync,
{
    rows_by(pool, out, batch, w, per_row, |row, o| {
        row_products(row, o, batch, &dot, &dot4)
    });
}

/// One row's products with all `batch` vectors into `o`: 4 vectors at a
/// time by `dot4`, the rest one by one by `dot`.
fn row_products<B>(
    row: &[B],
    o: &mut [f32],
    batch: usize,
    dot: &impl Fn(&[B], usize) -> f32,
    dot4: &impl Fn(&[B], usize, &mut [f32; 4]),
) {
    let mut quads = o.chunks_exact_mut(4);
    for (q, o4) in (&mut quads).enumerate() {
        let o4: &mut [f32; 4] = o4.try_into().unwrap_or_else(|_| unreachable!());
        dot4(row, 4 * q, o4);
    }
    let done = batch / 4 * 4;
    for (b, o) in quads.into_remainder().iter_mut().enumerate() {
        *o = dot(row, done + b);
    }
}

/// Writes an 8-row tile's results (`t[v][r]` for vectors b..b + V) into the
/// `[row][batch]` output `o` of those eight rows.
fn scatter<const V: usize>(t: &[[f32; 8]; V], o: &mut [f32], batch: usize, b: usize) {
    for (v, tv) in t.iter().enumerate() {
        for (r, &x) in tv.iter().enumerate() {
            o[r * batch + b + v] = x;
        }
    }
}

/// As [`rows_by`], but rows go eight at a time to `tile(rows8, o)` (eight
/// rows back to back; `o` is their `[8][batch]` output), and the rows past
/// the last multiple of 8 one by one to `row_out`. Chunks handed to threads
/// are multiples of 8 rows, so the grouping, like the result, does not
/// depend on the thread count.
#[allow(clippy::too_many_arguments)]
pub(super) fn rows8<B: Sync, T, R>(
    pool: Option<&rayon::ThreadPool>,
    out: &mut [f32],
    batch: usize,
    w: &[B],
    per_row: usize,
    tile: T,
    row_out: R,
) where
    T: Fn(&[B], &mut [f32]) + Sync,
    R: Fn(&[B], &mut [f32]) + Sync,
{
    for_row_chunks(pool, out, batch, 8, |first, chunk| {
        let done = first + chunk.len() / (8 * batch) * 8;
        let mut tiles = chunk.chunks_exact_mut(8 * batch);
        for (t, o) in (&mut tiles).enumerate() {
            let r = first + 8 * t;
            tile(&w[r * per_row..(r + 8) * per_row], o);
        }
        for (j, o) in tiles.into_remainder().chunks_exact_mut(batch).enumerate() {
            let r = done + j;
            row_out(&w[r * per_row..(r + 1) * per_row], o);
        }
    });
}

/// For each row (`per_row` items of `w`), `row_out(row, o)` writes the
/// row's products with all `batch` vectors to `o` (`out[r * batch..][..batch]`).
/// Rows are split across `pool` in contiguous chunks; each row is computed
/// by exactly one call, so the result does not depend on the thread count.
fn rows_by<B: Sync, F>(
    pool: Option<&rayon::ThreadPool>,
    out: &mut [f32],
    batch: usize,
    w: &[B],
    per_row: usize,
    row_out: F,
) where
    F: Fn(&[B], &mut [f32]) + Sync,
{
    for_row_chunks(pool, out, batch, 1, |first, chunk| {
        for (j, o) in chunk.chunks_exact_mut(batch).enumerate() {
            let r = first + j;
            row_out(&w[r * per_row..(r + 1) * per_row], o);
        }
    });
}

/// Splits the rows of `out` (`batch` values each) into contiguous chunks of
/// a multiple of `align` rows and calls `chunk(first_row, values)` for each,
/// across `pool` when it has several threads and there is enough work, else
/// once for all rows on this thread.
fn for_row_chunks<F>(
    pool: Option<&rayon::ThreadPool>,
    out: &mut [f32],
    batch: usize,
    align: usize,
    chunk: F,
) where
    F: Fn(usize, &mut [f32]) + Sync,
{
    let n_rows = out.len() / batch;
    match pool {
        Some(pool) if pool.current_num_threads() > 1 && n_rows >= 2 * MIN_ROWS_PER_TASK => {
            let tasks = pool.current_num_threads() * 4;
            let chunk_rows = n_rows
                .div_ceil(tasks)
                .max(MIN_ROWS_PER_TASK)
                .next_multiple_of(align);
            pool.install(|| {
                out.par_chunks_mut(chunk_rows * batch)
                    .enumerate()
                    .for_each(|(ci, c)| chunk(ci * chunk_rows, c))
            });
        }
        _ => chunk(0, out),
    }
}

/// Benchmark hook (not a stable API): `out = W · x` for a weight matrix of
/// `rows` × `cols` elements of `dtype` held in `weights` (row-major, GGUF
/// layout), with `x` (length `cols`) first converted to the activation
/// format `dtype` pairs with, exactly as the model does. Rows are split
/// across `pool` when given.
#[doc(hidden)]
#[allow(clippy::too_many_arguments)]
pub fn bench_matvec(
    k: &Kernels,
    pool: Option<&rayon::ThreadPool>,
    act: &mut BenchActivation,
    dtype: GgmlType,
    weights: &[u8],
    rows: usize,
    x: &[f32],
    out: &mut [f32],
) -> Result<()> {
    if out.len() != rows
        || dtype.row_bytes(x.len() as u64) != Some((weights.len() / rows.max(1)) as u64)
    {
        return Err(Error::InvalidArgument(format!(
            "bench_matvec: {} bytes of {dtype} do not make {rows} rows of {} elements",
            weights.len(),
            x.len()
        )));
    }
    let w = Weight {
        name: "bench".into(),
        dtype,
        rows,
        cols: x.len(),
        offset: 0,
        len: weights.len(),
        copy: None,
    };
    let fmt = Activation::format_of(dtype);
    act.0.fill(k, fmt, x);
    matvec(k, pool, &w, weights, act.0.view(fmt, x), 1, out)
}

/// Scratch for [`bench_matvec`], for vectors of up to `max_len` elements.
#[doc(hidden)]
pub struct BenchActivation(Activation);

impl BenchActivation {
    /// Scratch for vectors of up to `max_len` elements.
    pub fn new(max_len: usize) -> Self {
        BenchActivation(Activation::new(max_len))
    }
}
