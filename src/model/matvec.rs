//! Matrix-vector products over quantized weights in the map, and the
//! activation formats each weight type pairs with.

use super::weights::Weight;
use crate::error::{Error, Result};
use crate::tensor::{dequantize, TensorView};
use edge_llama_kernels::{
    cast_blocks, Block, BlockQ4_0, BlockQ4_1, BlockQ6K, BlockQ8K, BlockQ8_0, BlockQ8_1, GgmlType,
    Kernels, QK, QK_K,
};
use half::{bf16, f16};
use rayon::prelude::*;

fn blocks<'a, B: Block>(name: &str, bytes: &'a [u8]) -> Result<&'a [B]> {
    cast_blocks::<B>(bytes).ok_or_else(|| Error::BadTensor {
        name: name.to_string(),
        reason: "data is not a whole number of aligned blocks".into(),
    })
}

/// Dequantizes row `row` of tensor `t` into `out` (`out.len()` = row length).
pub(crate) fn dequantize_row(t: &TensorView<'_>, row: usize, out: &mut [f32]) -> Result<()> {
    let rb = t.row_bytes();
    let bytes = t
        .data
        .get(row * rb..(row + 1) * rb)
        .ok_or_else(|| Error::BadTensor {
            name: t.name.to_string(),
            reason: format!("row {row} out of range"),
        })?;
    dequantize(t.name, t.dtype, bytes, out)
}

/// Scratch space for activation vectors in every format a weight may want.
/// A batch of vectors is converted as one long row: every vector's length is
/// a multiple of the block size, so no block spans two vectors. Sized once
/// for the widest input times the largest batch; never reallocated per token.
pub(crate) struct Activation {
    /// The vector rounded through f16 or bf16 (for F16/BF16 weights).
    rounded: Vec<f32>,
    q8_0: Vec<BlockQ8_0>,
    q8_1: Vec<BlockQ8_1>,
    q8k: Vec<BlockQ8K>,
}

/// An activation vector prepared for one weight type.
#[derive(Clone, Copy)]
pub(crate) enum Prepared<'a> {
    F32(&'a [f32]),
    Q8_0(&'a [BlockQ8_0]),
    Q8_1(&'a [BlockQ8_1]),
    Q8K(&'a [BlockQ8K]),
}

impl Activation {
    /// Scratch for vectors of up to `max_len` elements.
    pub fn new(max_len: usize) -> Self {
        Activation {
            rounded: vec![0.0; max_len],
            q8_0: vec![
                BlockQ8_0 {
                    d: f16::ZERO,
                    qs: [0; QK]
                };
                max_len.div_ceil(QK)
            ],
            q8_1: vec![
                BlockQ8_1 {
                    d: f16::ZERO,
                    s: f16::ZERO,
                    qs: [0; QK]
                };
                max_len.div_ceil(QK)
            ],
            q8k: vec![
                BlockQ8K {
                    d: 0.0,
                    qs: [0; QK_K],
                    bsums: [0; QK_K / 16]
                };
                max_len.div_ceil(QK_K)
            ],
        }
    }

    /// The activation format `dtype` weights multiply with, as llama.cpp
    /// does: Q8_0 for Q4_0/Q8_0, Q8_1 for Q4_1, Q8_K for Q6_K, the value
    /// rounded to f16 (bf16) for F16 (BF16), plain f32 for F32.
    pub fn format_of(dtype: GgmlType) -> GgmlType {
        match dtype {
            GgmlType::Q4_0 | GgmlType::Q8_0 => GgmlType::Q8_0,
            GgmlType::Q4_1 => GgmlType::Q8_1,
            GgmlType::Q6K => GgmlType::Q8K,
            GgmlType::F16 => GgmlType::F16,
            GgmlType::BF16 => GgmlType::BF16,
            _ => GgmlType::F32,
        }
    }

    /// Converts `x` into activation format `fmt` (see [`Self::format_of`]).
    pub fn fill(&mut self, k: &Kernels, fmt: GgmlType, x: &[f32]) {
        let n = x.len();
        match fmt {
            GgmlType::Q8_0 => (k.quantize_q8_0)(x, &mut self.q8_0[..n / QK]),
            GgmlType::Q8_1 => (k.quantize_q8_1)(x, &mut self.q8_1[..n / QK]),
            GgmlType::Q8K => (k.quantize_q8_k)(x, &mut self.q8k[..n / QK_K]),
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
            _ => {}
        }
    }

    /// The activation last filled for format `fmt` from `x`.
    pub fn view<'a>(&'a self, fmt: GgmlType, x: &'a [f32]) -> Prepared<'a> {
        let n = x.len();
        match fmt {
            GgmlType::Q8_0 => Prepared::Q8_0(&self.q8_0[..n / QK]),
            GgmlType::Q8_1 => Prepared::Q8_1(&self.q8_1[..n / QK]),
            GgmlType::Q8K => Prepared::Q8K(&self.q8k[..n / QK_K]),
            GgmlType::F16 | GgmlType::BF16 => Prepared::F32(&self.rounded[..n]),
            _ => Prepared::F32(x),
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
/// follow llama.cpp, whose batched and single-token f16 products sum in
/// different orders (`batch == 1` vs `batch > 1` may differ by rounding).
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
    let rb = w.row_bytes();
    let name = w.name.as_str();
    // The b-th activation vector of a batch.
    fn nth<T>(a: &[T], batch: usize, b: usize) -> &[T] {
        let n = a.len() / batch;
        &a[b * n..(b + 1) * n]
    }
    // Vectors b..b + 4 of a batch, back to back.
    fn four<T>(a: &[T], batch: usize, b: usize) -> &[T] {
        let n = a.len() / batch;
        &a[b * n..(b + 4) * n]
    }
    // A 4-vector dot made of four single ones (types without a fused kernel).
    fn each<B>(
        dot: impl Fn(&[B], usize) -> f32 + Sync,
    ) -> impl Fn(&[B], usize, &mut [f32; 4]) + Sync {
        move |r, b, o| {
            for (i, o) in o.iter_mut().enumerate() {
                *o = dot(r, b + i);
            }
        }
    }
    match (w.dtype, x) {
        (GgmlType::Q4_0, Prepared::Q8_0(a)) => {
            let wb = blocks::<BlockQ4_0>(name, bytes)?;
            let dot = |r: &[BlockQ4_0], b| (k.dot_q4_0_q8_0)(r, nth(a, batch, b));
            let dot4 =
                |r: &[BlockQ4_0], b, o: &mut [f32; 4]| (k.dot4_q4_0_q8_0)(r, four(a, batch, b), o);
            match (k.dot2_q4_0_q8_0, k.dot8x1_q4_0_q8_0, k.dot8x4_q4_0_q8_0) {
                // A batch: eight rows at a time, as llama.cpp's repacked
                // kernels (one vector FMA per block for eight rows). A
                // single token: two rows at a time (eight interleaved row
                // streams measured slower than one; two, prefetched, 8%
                // faster).
                (_, Some(t1), Some(t4)) if batch >= 4 => {
                    let tile = |w8: &[BlockQ4_0], o: &mut [f32]| {
                        let mut b = 0;
                        while b + 4 <= batch {
                            let mut t = [[0f32; 8]; 4];
                            t4(w8, four(a, batch, b), &mut t);
                            scatter(&t, o, batch, b);
                            b += 4;
                        }
                        for b in b..batch {
                            let mut t = [[0f32; 8]; 1];
                            t1(w8, nth(a, batch, b), &mut t);
                            scatter(&t, o, batch, b);
                        }
                    };
                    rows8(pool, out, batch, wb, rb / 18, tile, |r, o| {
                        row_products(r, o, batch, &dot, &dot4)
                    });
                }
                (Some(t2), _, _) if batch == 1 => {
                    let pairs = |w8: &[BlockQ4_0], o: &mut [f32]| {
                        for (w2, o2) in w8.chunks_exact(w8.len() / 4).zip(o.chunks_exact_mut(2)) {
                            let o2: &mut [f32; 2] =
                                o2.try_into().unwrap_or_else(|_| unreachable!());
                            t2(w2, a, o2);
                        }
                    };
                    rows8(pool, out, batch, wb, rb / 18, pairs, |r, o| {
                        row_products(r, o, batch, &dot, &dot4)
                    });
                }
                _ => rows(pool, out, batch, wb, rb / 18, dot, dot4),
            }
        }
        (GgmlType::Q8_0, Prepared::Q8_0(a)) => {
            let wb = blocks::<BlockQ8_0>(name, bytes)?;
            rows(
                pool,
                out,
                batch,
                wb,
                rb / 34,
                |r, b| (k.dot_q8_0_q8_0)(r, nth(a, batch, b)),
                |r, b, o| (k.dot4_q8_0_q8_0)(r, four(a, batch, b), o),
            );
        }
        (GgmlType::Q4_1, Prepared::Q8_1(a)) => {
            let wb = blocks::<BlockQ4_1>(name, bytes)?;
            rows(
                pool,
                out,
                batch,
                wb,
                rb / 20,
                |r, b| (k.dot_q4_1_q8_1)(r, nth(a, batch, b)),
                |r, b, o| (k.dot4_q4_1_q8_1)(r, four(a, batch, b), o),
            );
        }
        (GgmlType::Q6K, Prepared::Q8K(a)) => {
            let wb = blocks::<BlockQ6K>(name, bytes)?;
            rows(
                pool,
                out,
                batch,
                wb,
                rb / 210,
                |r, b| (k.dot_q6k_q8k)(r, nth(a, batch, b)),
                |r, b, o| (k.dot4_q6k_q8k)(r, four(a, batch, b), o),
            );
        }
        (GgmlType::F16, Prepared::F32(a)) => {
            // llama.cpp's order (the activation is already rounded to f16):
            // a batch goes through tinyBLAS (16 lanes), a single token
            // through ggml_vec_dot_f16 (64 lanes). The kernels widen the
            // f16 weights on the fly (exact).
            let wb = blocks::<f16>(name, bytes)?;
            let f = &k.float_ops;
            if batch == 1 {
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
            let dot = |r: &[f32], b| (k.dot_f32_f32)(r, nth(a, batch, b));
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
        (t, _) => {
            return Err(Error::UnsupportedTensorType {
                name: name.to_string(),
                ty: t.to_string(),
                context: "with this activation format".into(),
            })
        }
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
fn rows8<B: Sync, T, R>(
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
