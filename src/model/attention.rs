//! Grouped-query attention over the KV cache, for every token of a batch.
//! Heads are independent: with a pool and enough work they run in
//! parallel (one fork-join per layer for the whole batch), each head (for
//! a batch over an f16 cache, each kv head's group of query heads, see
//! [`batch`]) on one thread with the same code, so the result does not
//! depend on the thread count.

use super::config::Config;
use super::forward::{Ctx, MAX_BATCH};
use crate::kv_cache::{KvCache, Row};
use edge_llama_kernels::{BlockQ8_0, FloatOps, QK};
use half::f16;
use half::slice::HalfFloatSliceExt;
use rayon::prelude::*;

mod batch;

/// One attention head's buffers.
pub(crate) struct HeadScratch {
    /// Scores (then weights) over the attended positions: `GROUP` rows of
    /// `capacity`, one per token of a group (row 0 for a lone token).
    scores: Vec<f32>,
    /// One cached value converted to f32, `head_dim`.
    value: Vec<f32>,
    /// The query rounded to f16 (f16 cache), `head_dim`.
    q16: Vec<f32>,
    /// Lane accumulators of the weighted value sum, `VALUE_LANES` rows of
    /// `head_dim` (a group's tokens use 16 rows each).
    lanes: Vec<f32>,
    /// The f64 part of the weighted value sum (positions past the last
    /// full 64), `head_dim`.
    tail: Vec<f64>,
    /// This head's output for each token of the batch, `MAX_BATCH` rows of
    /// `head_dim`.
    out: Vec<f32>,
    /// The f16-rounded queries of a group of a batch's tokens, `GROUP`
    /// rows of `head_dim` (see [`batch::attend_batch_f16`]).
    queries: Vec<f32>,
}

impl HeadScratch {
    /// Buffers of one head for a cache of `capacity` positions.
    pub fn new(c: &Config, capacity: usize) -> HeadScratch {
        let hd = c.head_dim;
        HeadScratch {
            // Rows of whole 16-key tiles (see `batch`).
            scores: vec![0.0; GROUP * capacity.next_multiple_of(16)],
            value: vec![0.0; hd],
            q16: vec![0.0; hd],
            lanes: vec![0.0; VALUE_LANES.max(16 * GROUP) * hd],
            tail: vec![0.0; hd],
            out: vec![0.0; MAX_BATCH * hd],
            queries: vec![0.0; GROUP * hd],
        }
    }
}

/// Lane rows of the value accumulation: 64 for a single token, 16 for a
/// batch (see [`attend_head_f16`]).
const VALUE_LANES: usize = 64;

/// Tokens of a batch whose attention reads the cached values together
/// (each value converted to f32 once for all of them).
const GROUP: usize = 8;

/// Most query heads per kv head that [`attend_kv_group_f16`] takes together.
const MAX_GROUP_HEADS: usize = 8;

/// llama.cpp pads its key/value window to a multiple of this many cells.
const KV_PAD: usize = 32;

/// Query values × attended positions below which attention stays on the
/// calling thread: about 16 positions of a 576-wide query (SmolLM2), where
/// one head's share already outweighs a fork-join with a spinning worker.
const PARALLEL_ATTENTION_MIN: usize = 1 << 13;

/// Attention of the `n` tokens at positions `pos..pos + n` (their keys and
/// values already in `cache`) in `layer`: `q` holds their queries and `att`
/// receives their outputs, `[n][n_heads * head_dim]` each.
#[allow(clippy::too_many_arguments)]
pub(crate) fn attention(
    ctx: &Ctx<'_>,
    cache: &KvCache,
    layer: usize,
    pos: usize,
    n: usize,
    q: &[f32],
    att: &mut [f32],
    heads: &mut [HeadScratch],
) {
    let c = ctx.config;
    let (hd, qdim) = (c.head_dim, c.n_heads * c.head_dim);
    let at = Attend {
        ctx,
        cache,
        layer,
        single: n == 1,
    };
    // A batch lies within the cache's capacity (no slot written twice), so
    // each token attends exactly the positions before it and itself.
    let grouped = n > 1
        && pos + n <= cache.config().capacity
        && matches!(cache.key(layer, 0, 0), Row::F16(_));
    // Head h for every token of the batch, into its own `out` rows.
    let one = |(h, hs): (usize, &mut HeadScratch)| {
        if grouped {
            for b0 in (0..n).step_by(GROUP) {
                let g = GROUP.min(n - b0);
                attend_group_f16(&at, h, pos, q, b0, g, hs);
            }
        } else {
            for b in 0..n {
                attend_head(&at, h, pos + b, &q[b * qdim + h * hd..][..hd], hs, b);
            }
        }
    };
    let attended = cache.attended(pos + n - 1).count();
    let heads = &mut heads[..c.n_heads];
    let per_kv = c.n_heads / c.n_kv_heads;
    let f16_cache = matches!(cache.key(layer, 0, 0), Row::F16(_));
    if grouped && batch::fits(hd, c.n_heads, c.n_kv_heads) {
        // A batch: the query heads of one kv head together.
        let group = |(g, hs): (usize, &mut [HeadScratch])| {
            batch::attend_batch_f16(&at, g, g * per_kv, pos, n, q, hs)
        };
        match ctx.pool {
            Some(pool) if n * attended * qdim >= PARALLEL_ATTENTION_MIN => {
                pool.install(|| heads.par_chunks_mut(per_kv).enumerate().for_each(group))
            }
            _ => heads.chunks_mut(per_kv).enumerate().for_each(group),
        }
        copy_out(heads, n, hd, att);
        return;
    }
    if n == 1 && f16_cache && (2..=MAX_GROUP_HEADS).contains(&per_kv) {
        // A lone token: the query heads of one kv head together, each
        // cached value converted once for all of them.
        let group = |(g, hs): (usize, &mut [HeadScratch])| {
            attend_kv_group_f16(&at, g, g * per_kv, pos, q, hs)
        };
        match ctx.pool {
            Some(pool) if attended * qdim >= PARALLEL_ATTENTION_MIN => {
                pool.install(|| heads.par_chunks_mut(per_kv).enumerate().for_each(group))
            }
            _ => heads.chunks_mut(per_kv).enumerate().for_each(group),
        }
        for (h, hs) in heads.iter().enumerate() {
            att[h * hd..(h + 1) * hd].copy_from_slice(&hs.out[..hd]);
        }
        return;
    }
    match ctx.pool {
        Some(pool) if n * attended * qdim >= PARALLEL_ATTENTION_MIN => {
            pool.install(|| heads.par_iter_mut().enumerate().for_each(one))
        }
        _ => heads.iter_mut().enumerate().for_each(one),
    }
    copy_out(heads, n, hd, att);
}

/// Copies each head's outputs for the `n` tokens into `att`
/// (`[n][n_heads * head_dim]`).
fn copy_out(heads: &[HeadScratch], n: usize, hd: usize, att: &mut [f32]) {
    let qdim = heads.len() * hd;
    for (h, hs) in heads.iter().enumerate() {
        for b in 0..n {
            att[b * qdim + h * hd..][..hd].copy_from_slice(&hs.out[b * hd..(b + 1) * hd]);
        }
    }
}

/// What one head's attention reads: the cache, the layer, and whether the
/// token is evaluated alone (which decides llama.cpp's summation order, see
/// [`attend_head_f16`]).
struct Attend<'a> {
    ctx: &'a Ctx<'a>,
    cache: &'a KvCache,
    layer: usize,
    single: bool,
}

/// Attention of query head `h` (`q`, `head_dim` values) of the token at
/// `pos` into row `b` of `hs.out`.
fn attend_head(at: &Attend<'_>, h: usize, pos: usize, q: &[f32], hs: &mut HeadScratch, b: usize) {
    let c = at.ctx.config;
    let kvh = h / (c.n_heads / c.n_kv_heads);
    let first = at.cache.attended(pos).next().unwrap_or(0);
    match at.cache.key(at.layer, first, kvh) {
        Row::F16(_) => attend_head_f16(at, kvh, pos, q, hs, b),
        _ => attend_head_plain(at, kvh, pos, q, hs, b),
    }
}

/// Attention over an f16 cache in llama.cpp's arithmetic (CPU, no flash
/// attention), so that logits match it bit for bit:
/// - the query is rounded to f16; score = key·q in the lane order of
///   llama.cpp's product (`dot_lanes16` for a batch, `dot_vec64` for a
///   single token, both taken on the f16 key as stored), times
///   1/√head_dim;
/// - softmax as [`edge_llama_kernels::float_ops::softmax`]; the weights
///   are rounded to f16;
/// - out = Σ weight·value over the window padded to `KV_PAD` positions:
///   a batch puts position i in lane i mod 16 (FMA chains, then a 16-lane
///   reduction); a single token puts the first whole 64 positions in lane
///   i mod 64 (folded to 16 lanes, reduced) and adds the rest in f64.
fn attend_head_f16(
    at: &Attend<'_>,
    kvh: usize,
    pos: usize,
    q: &[f32],
    hs: &mut HeadScratch,
    b: usize,
) {
    let f = &at.ctx.kernels.float_ops;
    let (cache, layer) = (at.cache, at.layer);
    let w = weights_f16(at, kvh, pos, q, hs);
    let mut value = std::mem::take(&mut hs.value);
    for (i, p) in cache.attended(pos).enumerate() {
        row_to_f32(cache.value(layer, p, kvh), &mut value);
        add_value(f, &w, i, &value, hs);
    }
    hs.value = value;
    finish_f16(at.single, &w, hs, b);
}

/// The single token at `pos`, query heads `first..first + heads.len()`
/// (all reading kv head `kvh`): [`attend_head_f16`] for each, with each
/// cached value converted to f32 once for all of them. The same operations
/// per head in the same order, so the same bits.
fn attend_kv_group_f16(
    at: &Attend<'_>,
    kvh: usize,
    first: usize,
    pos: usize,
    q: &[f32],
    heads: &mut [HeadScratch],
) {
    let f = &at.ctx.kernels.float_ops;
    let (cache, layer) = (at.cache, at.layer);
    let hd = at.ctx.config.head_dim;
    let mut w = [Window::default(); MAX_GROUP_HEADS];
    for (j, hs) in heads.iter_mut().enumerate() {
        w[j] = weights_f16(at, kvh, pos, &q[(first + j) * hd..][..hd], hs);
    }
    let mut value = std::mem::take(&mut heads[0].value);
    for (i, p) in cache.attended(pos).enumerate() {
        row_to_f32(cache.value(layer, p, kvh), &mut value);
        for (j, hs) in heads.iter_mut().enumerate() {
            add_value(f, &w[j], i, &value, hs);
        }
    }
    heads[0].value = value;
    for (j, hs) in heads.iter_mut().enumerate() {
        finish_f16(true, &w[j], hs, 0);
    }
}

/// How one head's weighted value sum splits the attended positions: the
/// first `in_lanes` go to lane i mod `rows`, the rest to the f64 tail.
#[derive(Clone, Copy, Default)]
struct Window {
    n: usize,
    rows: usize,
    in_lanes: usize,
}

/// The f16-rounded attention weights of query `q` over the positions
/// `pos` attends (in `hs.scores`), with the lanes and tail made ready for
/// the value pass (see [`attend_head_f16`]).
fn weights_f16(at: &Attend<'_>, kvh: usize, pos: usize, q: &[f32], hs: &mut HeadScratch) -> Window {
    let f = &at.ctx.kernels.float_ops;
    let (cache, layer) = (at.cache, at.layer);
    let hd = q.len();
    let scale = 1.0 / (hd as f32).sqrt();
    round_f16(q, &mut hs.q16);
    let dot = if at.single {
        f.dot_f16_vec64
    } else {
        f.dot_f16_lanes16
    };
    let mut n = 0;
    for p in cache.attended(pos) {
        // The f16 kernels widen the key exactly: the same bits as widening
        // it first, without the copy.
        hs.scores[n] = match cache.key(layer, p, kvh) {
            Row::F16(key) => dot(key, &hs.q16),
            other => {
                row_to_f32(other, &mut hs.value);
                (f.dot_vec64)(&hs.value, &hs.q16)
            }
        } * scale;
        n += 1;
    }
    let w = &mut hs.scores[..n];
    (f.softmax)(w);
    round_f16_in_place(w);
    let (rows, in_lanes) = if at.single {
        (64, n.div_ceil(KV_PAD) * KV_PAD / 64 * 64)
    } else {
        (16, n)
    };
    if in_lanes > 0 && n < rows {
        // Lanes no position reaches still take part in the reduction (a
        // window of 33..64 positions is padded to 64 lanes).
        hs.lanes[n * hd..rows * hd].fill(0.0);
    }
    if at.single {
        hs.tail.fill(0.0);
    }
    Window { n, rows, in_lanes }
}

/// Adds attended position `i`'s value (`value`, f32) times its weight into
/// the head's lanes or tail.
fn add_value(f: &FloatOps, w: &Window, i: usize, value: &[f32], hs: &mut HeadScratch) {
    let hd = value.len();
    let wi = hs.scores[i];
    if i < w.in_lanes {
        let r = i % w.rows;
        let lane = &mut hs.lanes[r * hd..(r + 1) * hd];
        if i < w.rows {
            // The lane's first step, fma(w, v, +0): w and v are f16
            // values, so w·v is exact in f32 and adding +0 rounds the
            // same way (a zero product becomes +0 as in the FMA).
            for (l, &v) in lane.iter_mut().zip(value) {
                *l = wi * v + 0.0;
            }
        } else {
            (f.fma_acc)(lane, wi, value);
        }
    } else {
        for (t, &v) in hs.tail.iter_mut().zip(value) {
            *t += f64::from(wi * v);
        }
    }
}

/// Reduces the head's lanes (and tail) into row `b` of `hs.out`.
fn finish_f16(single: bool, w: &Window, hs: &mut HeadScratch, b: usize) {
    let hd = hs.q16.len();
    let out = &mut hs.out[b * hd..(b + 1) * hd];
    if single {
        if w.in_lanes > 0 {
            fold_lanes64(&mut hs.lanes, hd);
        }
        let l0 = sum_lanes16(&mut hs.lanes, hd, w.in_lanes > 0);
        for ((o, &t), &l) in out.iter_mut().zip(&hs.tail).zip(l0.iter()) {
            *o = (f64::from(l) + t) as f32;
        }
    } else {
        let l0 = sum_lanes16(&mut hs.lanes, hd, w.n > 0);
        out.copy_from_slice(l0);
    }
}

/// [`attend_head_f16`] for the `g` tokens `b0..b0 + g` of a batch at
/// positions `pos + b0..` (queries in `q`, `[batch][n_heads * head_dim]`),
/// head `h`, into rows `b0..b0 + g` of `hs.out`. The same operations for
/// each token, in the same order, so the same bits; only the value pass is
/// shared: each cached value is converted once and added into the lanes of
/// every token of the group that attends it. The tokens attend positions
/// `0..=pos + b` (the batch lies within the capacity).
fn attend_group_f16(
    at: &Attend<'_>,
    h: usize,
    pos: usize,
    q: &[f32],
    b0: usize,
    g: usize,
    hs: &mut HeadScratch,
) {
    let c = at.ctx.config;
    let f = &at.ctx.kernels.float_ops;
    let (cache, layer) = (at.cache, at.layer);
    let (hd, qdim) = (c.head_dim, c.n_heads * c.head_dim);
    let kvh = h / (c.n_heads / c.n_kv_heads);
    let scale = 1.0 / (hd as f32).sqrt();
    let stride = hs.scores.len() / GROUP;
    // Scores, then f16-rounded weights, of each token.
    for j in 0..g {
        let b = b0 + j;
        round_f16(&q[b * qdim + h * hd..][..hd], &mut hs.q16);
        let scores = &mut hs.scores[j * stride..(j + 1) * stride];
        let n = pos + b + 1;
        for (s, p) in scores[..n].iter_mut().zip(0..n) {
            *s = match cache.key(layer, p, kvh) {
                Row::F16(key) => (f.dot_f16_lanes16)(key, &hs.q16),
                other => {
                    row_to_f32(other, &mut hs.value);
                    (f.dot_lanes16)(&hs.value, &hs.q16)
                }
            } * scale;
        }
        let w = &mut scores[..n];
        (f.softmax)(w);
        round_f16_in_place(w);
        if n < 16 {
            // Lanes no position reaches still take part in the reduction.
            hs.lanes[(16 * j + n) * hd..16 * (j + 1) * hd].fill(0.0);
        }
    }
    // Weighted values: token j's lanes are rows 16j..16j + 16, position i in
    // lane i mod 16; token j attends positions 0..=pos + b0 + j.
    let first = pos + b0;
    for p in 0..first + g {
        row_to_f32(cache.value(layer, p, kvh), &mut hs.value);
        let from = p.saturating_sub(first);
        for j in from..g {
            let w = hs.scores[j * stride + p];
            let row = 16 * j + p % 16;
            let lane = &mut hs.lanes[row * hd..(row + 1) * hd];
            if p < 16 {
                // As in `attend_head_f16`: exactly fma(w, v, +0).
                for (l, &v) in lane.iter_mut().zip(&hs.value) {
                    *l = w * v + 0.0;
                }
            } else {
                (f.fma_acc)(lane, w, &hs.value);
            }
        }
    }
    for j in 0..g {
        let lanes = &mut hs.lanes[16 * j * hd..16 * (j + 1) * hd];
        let sums = sum_lanes16(lanes, hd, true);
        hs.out[(b0 + j) * hd..(b0 + j + 1) * hd].copy_from_slice(sums);
    }
}

/// `out[i]` = `x[i]` rounded to f16 (to nearest even) and back, with the
/// slice conversions (vector instructions where the CPU has them), through
/// a buffer on the stack.
fn round_f16(x: &[f32], out: &mut [f32]) {
    let mut buf = [f16::ZERO; 64];
    for (xc, oc) in x.chunks(64).zip(out.chunks_mut(64)) {
        let b = &mut buf[..xc.len()];
        b.convert_from_f32_slice(xc);
        b.convert_to_f32_slice(oc);
    }
}

/// [`round_f16`] in place.
fn round_f16_in_place(x: &mut [f32]) {
    let mut buf = [f16::ZERO; 64];
    for c in x.chunks_mut(64) {
        let b = &mut buf[..c.len()];
        b.convert_from_f32_slice(c);
        b.convert_to_f32_slice(c);
    }
}

/// `lanes[dst] += lanes[src]` element by element, for rows `dst < src` of
/// `hd` values.
fn add_row(lanes: &mut [f32], hd: usize, dst: usize, src: usize) {
    let (a, b) = lanes.split_at_mut(src * hd);
    for (x, &y) in a[dst * hd..(dst + 1) * hd].iter_mut().zip(&b[..hd]) {
        *x += y;
    }
}

/// Folds 64 lane rows to 16 as [`edge_llama_kernels::float_ops::fold64`]
/// does for each element: row l = (l + l+32) + (l+16 + l+48). Row by row,
/// so each step is a vector add over the head's elements.
fn fold_lanes64(lanes: &mut [f32], hd: usize) {
    for l in 0..16 {
        add_row(lanes, hd, l + 16, l + 48);
        add_row(lanes, hd, l, l + 32);
        add_row(lanes, hd, l, l + 16);
    }
}

/// Sums 16 lane rows element by element in the order of
/// [`edge_llama_kernels::float_ops::reduce16`] and returns the sums (row
/// 0). With `any` false every lane is zero and so is every sum.
fn sum_lanes16(lanes: &mut [f32], hd: usize, any: bool) -> &[f32] {
    if !any {
        lanes[..hd].fill(0.0);
        return &lanes[..hd];
    }
    for j in 0..8 {
        add_row(lanes, hd, j, j + 8);
    }
    for j in 0..4 {
        add_row(lanes, hd, j, j + 4);
    }
    add_row(lanes, hd, 0, 2);
    add_row(lanes, hd, 1, 3);
    add_row(lanes, hd, 0, 1);
    &lanes[..hd]
}

/// One cached row (key or value) as f32 in `out` (`head_dim` values).
fn row_to_f32(row: Row<'_>, out: &mut [f32]) {
    match row {
        Row::F32(v) => out.copy_from_slice(v),
        Row::F16(v) => v.convert_to_f32_slice(out),
        Row::Q8_0(v) => {
            for (b, o) in v.iter().zip(out.chunks_exact_mut(QK)) {
                let d = b.d.to_f32();
                for (x, &q) in o.iter_mut().zip(&b.qs) {
                    *x = d * q as f32;
                }
            }
        }
    }
}

/// Attention over an f32 or Q8_0 cache: the query and weights stay f32,
/// scores and the weighted sum in plain order.
fn attend_head_plain(
    at: &Attend<'_>,
    kvh: usize,
    pos: usize,
    q: &[f32],
    hs: &mut HeadScratch,
    b: usize,
) {
    let k = at.ctx.kernels;
    let (cache, layer) = (at.cache, at.layer);
    let scale = 1.0 / (q.len() as f32).sqrt();
    let mut n = 0;
    for p in cache.attended(pos) {
        hs.scores[n] = match cache.key(layer, p, kvh) {
            Row::F32(key) => (k.dot_f32_f32)(key, q),
            Row::F16(key) => (k.dot_f16_f32)(key, q),
            Row::Q8_0(key) => dot_q8_0_f32(key, q),
        } * scale;
        n += 1;
    }
    softmax(&mut hs.scores[..n]);
    let out = &mut hs.out[b * q.len()..(b + 1) * q.len()];
    out.fill(0.0);
    for (p, &w) in cache.attended(pos).zip(&hs.scores[..n]) {
        row_to_f32(cache.value(layer, p, kvh), &mut hs.value);
        axpy(out, w, &hs.value);
    }
}

/// Σ key·q for a Q8_0 key and an unquantized query (quantizing the query
/// as well would add a second rounding to every score).
fn dot_q8_0_f32(key: &[BlockQ8_0], q: &[f32]) -> f32 {
    key.iter()
        .zip(q.chunks_exact(QK))
        .map(|(b, x)| {
            let s: f32 = b.qs.iter().zip(x).map(|(&w, &v)| w as f32 * v).sum();
            b.d.to_f32() * s
        })
        .sum()
}

/// `out += w * v`.
fn axpy(out: &mut [f32], w: f32, v: &[f32]) {
    for (o, &x) in out.iter_mut().zip(v) {
        *o += w * x;
    }
}

/// In-place softmax; the sum accumulated in f64 as llama.cpp does.
fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f64;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v as f64;
    }
    let inv = (1.0 / sum) as f32;
    for v in x.iter_mut() {
        *v *= inv;
    }
}
