//! Several matrix products on one prepared input, run as one parallel
//! region: the rows of all of them are cut into chunks and the chunks are
//! shared among the threads in a single fork-join. A small model's layer
//! (rows of 576) then pays one fork-join for Q, K and V together instead of
//! three, and one for the feed-forward gate and up.
//!
//! Chunks start at multiples of [`ROW_ALIGN`] rows of their weight and each
//! chunk runs the single-threaded product over its rows, so every row is
//! computed by the same code, in the same row grouping, whatever the thread
//! count: the logits do not depend on it.

use super::matvec::{matvec, Prepared};
use super::weights::Weight;
use crate::error::{Error, Result};
use edge_llama_kernels::Kernels;
use rayon::prelude::*;

/// Most chunks one region hands out.
const MAX_CHUNKS: usize = 64;
/// Chunks per thread: a few, so that a thread delayed by another process on
/// its core is helped by the others.
const CHUNKS_PER_THREAD: usize = 4;
/// Fewest rows worth a chunk of their own (below twice this a region stays
/// on the calling thread).
const MIN_CHUNK_ROWS: usize = 32;
/// Chunks start at multiples of this many rows of their weight: the height
/// of the Q4_0 row tiles, so tiles group the same rows as one whole product.
const ROW_ALIGN: usize = 8;

/// One product of a region: the weight and its output, `[w.rows][batch]`.
pub(crate) type Job<'a> = (&'a Weight, &'a mut [f32]);

/// Runs every job's product `out = W · x` for the same prepared input `x`
/// (`batch` vectors), all in one parallel region over `pool` when there is
/// enough work, else on this thread.
pub(crate) fn products(
    k: &Kernels,
    pool: Option<&rayon::ThreadPool>,
    map: &[u8],
    x: Prepared<'_>,
    batch: usize,
    jobs: &mut [Job<'_>],
) -> Result<()> {
    let threads = pool.map_or(1, |p| p.current_num_threads());
    let total: usize = jobs.iter().map(|(w, _)| w.rows).sum();
    let pool = match pool {
        Some(pool) if threads > 1 && total >= 2 * MIN_CHUNK_ROWS => pool,
        _ => {
            for (w, out) in jobs.iter_mut() {
                matvec(k, None, w, map, x, batch, out)?;
            }
            return Ok(());
        }
    };
    if 2 * jobs.len() > MAX_CHUNKS {
        for job in jobs.chunks_mut(MAX_CHUNKS / 2) {
            products(k, Some(pool), map, x, batch, job)?;
        }
        return Ok(());
    }
    // At most MAX_CHUNKS - jobs.len() whole chunks plus one partial chunk
    // per job.
    let chunk_rows = total
        .div_ceil(threads * CHUNKS_PER_THREAD)
        .max(total.div_ceil(MAX_CHUNKS - jobs.len()))
        .max(MIN_CHUNK_ROWS)
        .next_multiple_of(ROW_ALIGN);
    let mut chunks: [Option<(&Weight, usize, &mut [f32])>; MAX_CHUNKS] =
        [const { None }; MAX_CHUNKS];
    let mut n = 0;
    for (w, out) in jobs.iter_mut() {
        for (i, o) in out.chunks_mut(chunk_rows * batch).enumerate() {
            chunks[n] = Some((&**w, i * chunk_rows, o));
            n += 1;
        }
    }
    pool.install(|| {
        chunks[..n].par_iter_mut().try_for_each(|c| match c.take() {
            Some((w, first, out)) => rows_of(k, w, first, map, x, batch, out),
            None => Ok(()),
        })
    })
}

/// `out = W[first..first + out.len() / batch] · x` on this thread.
fn rows_of(
    k: &Kernels,
    w: &Weight,
    first: usize,
    map: &[u8],
    x: Prepared<'_>,
    batch: usize,
    out: &mut [f32],
) -> Result<()> {
    let rows = out.len() / batch;
    let rb = w.row_bytes();
    let part = Weight {
        // The name is only for errors, which are renamed below: no
        // allocation per product.
        name: String::new(),
        dtype: w.dtype,
        rows,
        cols: w.cols,
        // Offsets relative to the weight's own bytes (in the map, or its
        // aligned copy when the file did not align it).
        offset: first * rb,
        len: rows * rb,
        copy: None,
    };
    matvec(k, None, &part, w.bytes(map), x, batch, out).map_err(|e| Error::BadTensor {
        name: w.name.clone(),
        reason: format!("rows {first}..{}: {e}", first + rows),
    })
}
