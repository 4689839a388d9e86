//! A batch's attention over an f16 cache, the query heads of one kv head
//! together: each cached key and value is converted to f32 once per group
//! of tokens for all those heads, keys go through the scores kernel 16 at
//! a time, values through the lane accumulation 16 positions at a time.
//! The same operations per (head, token) as [`super::attend_head_f16`] for
//! a batch, in the same order, so the same bits.

use super::{attend_head_f16, row_to_f32, Attend, HeadScratch, GROUP};
use edge_llama_kernels::float_ops::KEY_TILE;
use std::cell::RefCell;

thread_local! {
    /// This thread's f32 tile: 16 keys transposed, then the same keys as
    /// rows, `2 * 16 * head_dim` (8 KiB at head_dim 64), grown on first use.
    static TILE: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Whether [`attend_batch_f16`] computes a batch's attention with these
/// shapes: the lane kernels need whole 16-element chunks of the head (for
/// other widths llama.cpp takes its 64-lane dot), and every query head
/// must belong to one kv head.
pub(super) fn fits(head_dim: usize, n_heads: usize, n_kv_heads: usize) -> bool {
    head_dim > 0 && head_dim.is_multiple_of(16) && n_heads.is_multiple_of(n_kv_heads)
}

/// Attention of the `n` tokens at `pos..pos + n` (the batch within the
/// cache's capacity, an f16 cache) for the query heads
/// `first..first + heads.len()`, all reading kv head `kvh`; token b's
/// output for head `first + j` goes to row b of `heads[j].out`.
///
/// Tokens go in groups of [`GROUP`]; token t of a group attends positions
/// `0..=pos + b0 + t`. Per group:
/// - each query rounded to f16 (`queries`);
/// - scores: 16 keys at a time converted, then transposed into `tile`, then
///   [`edge_llama_kernels::float_ops::scores16`] for every head's queries
///   (keys past a token's own position are computed but never read);
/// - softmax of each token's scores, rounded to f16;
/// - values: [`edge_llama_kernels::float_ops::value_sum16_f16`] for each
///   (head, token) over the f16 rows in the cache: position p in lane
///   p mod 16, lanes from +0 (fma(w, v, +0) is the exact product w·v, as
///   `attend_head_f16`'s first step), summed as `sum_lanes16` does.
pub(super) fn attend_batch_f16(
    at: &Attend<'_>,
    kvh: usize,
    first: usize,
    pos: usize,
    n: usize,
    q: &[f32],
    heads: &mut [HeadScratch],
) {
    let hd = at.ctx.config.head_dim;
    TILE.with_borrow_mut(|tile| {
        if tile.len() < 2 * KEY_TILE * hd {
            tile.resize(2 * KEY_TILE * hd, 0.0);
        }
        batch_groups(at, kvh, first, pos, n, q, heads, tile);
    });
}

/// [`attend_batch_f16`] with its tile (`2 * 16 * head_dim`: 16 keys
/// transposed, and the same keys as rows).
///
/// A group's (token t, head j) pairs are rows r = t·per_kv + j, row r held
/// in slot r mod `GROUP` of `heads[r / GROUP]` (its query in `queries`, its
/// scores in `scores`): the heads of one token are neighbours, so the
/// value pass reads each cached value once for all of them.
#[allow(clippy::too_many_arguments)]
fn batch_groups(
    at: &Attend<'_>,
    kvh: usize,
    first: usize,
    pos: usize,
    n: usize,
    q: &[f32],
    heads: &mut [HeadScratch],
    tile: &mut [f32],
) {
    let c = at.ctx.config;
    let f = &at.ctx.kernels.float_ops;
    let (cache, layer) = (at.cache, at.layer);
    let (hd, qdim) = (c.head_dim, c.n_heads * c.head_dim);
    let per_kv = heads.len();
    let scale = 1.0 / (hd as f32).sqrt();
    let stride = heads[0].scores.len() / GROUP;
    let Some((values, vstride)) = cache.values_f16(layer, kvh, pos + n) else {
        // Not reached (`attention` checks the cache): token by token.
        for (j, hs) in heads.iter_mut().enumerate() {
            for b in 0..n {
                let qt = &q[b * qdim + (first + j) * hd..][..hd];
                attend_head_f16(at, kvh, pos + b, qt, hs, b);
            }
        }
        return;
    };
    for b0 in (0..n).step_by(GROUP) {
        let g = GROUP.min(n - b0);
        let end = pos + b0 + g;
        let rows = g * per_kv;
        for r in 0..rows {
            let (t, j) = (r / per_kv, r % per_kv);
            let qt = &q[(b0 + t) * qdim + (first + j) * hd..][..hd];
            let slot = r % GROUP;
            let qr = &mut heads[r / GROUP].queries[slot * hd..(slot + 1) * hd];
            qr.copy_from_slice(qt);
            (f.round_f16)(qr);
        }
        // Scores of every row against 16 keys at a time.
        for p0 in (0..end).step_by(KEY_TILE) {
            let m = KEY_TILE.min(end - p0);
            // The keys as f32 rows (zero past the last), then transposed.
            let (ktile, keys) = tile.split_at_mut(KEY_TILE * hd);
            for (k, key) in keys[..KEY_TILE * hd].chunks_exact_mut(hd).enumerate() {
                if k < m {
                    row_to_f32(cache.key(layer, p0 + k, kvh), key);
                } else {
                    key.fill(0.0);
                }
            }
            (f.transpose)(&keys[..KEY_TILE * hd], ktile, hd);
            for (i, hs) in heads.iter_mut().enumerate().take(rows.div_ceil(GROUP)) {
                let here = GROUP.min(rows - i * GROUP);
                let out = &mut hs.scores[p0..];
                (f.scores16)(&ktile[..], &hs.queries[..here * hd], scale, out, stride);
            }
        }
        for r in 0..rows {
            let slot = r % GROUP;
            let w = &mut heads[r / GROUP].scores[slot * stride..][..pos + b0 + r / per_kv + 1];
            (f.softmax)(w);
            (f.round_f16)(w);
        }
        // Weighted values, straight from the f16 cache: the heads of a
        // token (the same positions) in runs within one scratch.
        let mut r = 0;
        while r < rows {
            let t = r / per_kv;
            let run = (GROUP - r % GROUP).min((t + 1) * per_kv - r);
            let slot = r % GROUP;
            let w = &heads[r / GROUP].scores[slot * stride..];
            let sums = &mut tile[..run * hd];
            (f.value_sum16_f16)(sums, run, w, stride, pos + b0 + t + 1, values, vstride);
            for (i, s) in sums.chunks_exact(hd).enumerate() {
                let j = (r + i) % per_kv;
                heads[j].out[(b0 + t) * hd..(b0 + t + 1) * hd].copy_from_slice(s);
            }
            r += run;
        }
    }
}
