//! A batch's attention over an f16 cache, the query heads of one kv head
//! together: each cached key and value is converted to f32 once per group
//! of tokens for all those heads, keys go through the scores kernel 16 at
//! a time, values through the lane accumulation 16 positions at a time.
//! The same operations per (head, token) as [`super::attend_head_f16`] for
//! a batch, in the same order, so the same bits.

use super::{
    attend_head_f16, round_f16, round_f16_in_place, row_to_f32, Attend, HeadScratch, GROUP,
};
use edge_llama_kernels::float_ops::KEY_TILE;
use std::cell::RefCell;

thread_local! {
    /// This thread's f32 tile of 16 keys (transposed), `16 * head_dim`
    /// (4 KiB at head_dim 64), grown on first use.
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
/// - scores: 16 keys at a time converted and transposed into `tile`, then
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
        if tile.len() < KEY_TILE * hd {
            tile.resize(KEY_TILE * hd, 0.0);
        }
        let mut row = std::mem::take(&mut heads[0].value);
        batch_groups(at, kvh, first, pos, n, q, heads, tile, &mut row);
        heads[0].value = row;
    });
}

/// [`attend_batch_f16`] with its tile (`16 * head_dim`) and a row
/// buffer (`head_dim`).
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
    row: &mut [f32],
) {
    let c = at.ctx.config;
    let f = &at.ctx.kernels.float_ops;
    let (cache, layer) = (at.cache, at.layer);
    let (hd, qdim) = (c.head_dim, c.n_heads * c.head_dim);
    let scale = 1.0 / (hd as f32).sqrt();
    let stride = heads[0].scores.len() / GROUP;
    for b0 in (0..n).step_by(GROUP) {
        let g = GROUP.min(n - b0);
        let end = pos + b0 + g;
        for (j, hs) in heads.iter_mut().enumerate() {
            for t in 0..g {
                let qt = &q[(b0 + t) * qdim + (first + j) * hd..][..hd];
                round_f16(qt, &mut hs.queries[t * hd..(t + 1) * hd]);
            }
        }
        // Scores of every (head, token) against 16 keys at a time.
        for p0 in (0..end).step_by(KEY_TILE) {
            let m = KEY_TILE.min(end - p0);
            let ktile = &mut tile[..KEY_TILE * hd];
            for k in 0..KEY_TILE {
                if k < m {
                    row_to_f32(cache.key(layer, p0 + k, kvh), row);
                } else {
                    row.fill(0.0);
                }
                for (d, &x) in row.iter().enumerate() {
                    ktile[d * KEY_TILE + k] = x;
                }
            }
            for hs in heads.iter_mut() {
                let out = &mut hs.scores[p0..];
                (f.scores16)(&ktile[..], &hs.queries[..g * hd], scale, out, stride);
            }
        }
        for hs in heads.iter_mut() {
            for t in 0..g {
                let w = &mut hs.scores[t * stride..][..pos + b0 + t + 1];
                (f.softmax)(w);
                round_f16_in_place(w);
            }
        }
        // Weighted values of each token, straight from the f16 cache.
        match cache.values_f16(layer, kvh, end) {
            Some((values, vstride)) => {
                for hs in heads.iter_mut() {
                    for t in 0..g {
                        let w = &hs.scores[t * stride..][..pos + b0 + t + 1];
                        let out = &mut hs.out[(b0 + t) * hd..(b0 + t + 1) * hd];
                        (f.value_sum16_f16)(out, w, values, vstride);
                    }
                }
            }
            // Not reached (`attention` checks the cache): token by token.
            None => {
                for (j, hs) in heads.iter_mut().enumerate() {
                    for t in 0..g {
                        let b = b0 + t;
                        let qt = &q[b * qdim + (first + j) * hd..][..hd];
                        attend_head_f16(at, kvh, pos + b, qt, hs, b);
                    }
                }
            }
        }
    }
}
