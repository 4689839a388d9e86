//! The Llama decoder over plain slices, for a batch of consecutive tokens
//! (one, when generating). Each step is one short function; `forward` reads
//! top to bottom like the paper.

use super::config::Config;
use super::matvec::{matvec, Activation, Prepared};
use super::weights::{Weight, Weights};
use crate::error::Result;
use crate::kv_cache::{KvCache, Row};
use crate::tensor::dequantize;
use edge_llama_kernels::{float_ops, BlockQ8_0, GgmlType, Kernels, QK};
use half::f16;
use half::slice::HalfFloatSliceExt;
use rayon::prelude::*;

/// Most tokens evaluated together. A batch reads each weight row once for
/// all its tokens, which is what makes prompt processing faster than
/// generation.
pub(crate) const MAX_BATCH: usize = 32;

/// Per-session buffers, sized once from the config for `MAX_BATCH` tokens.
/// Every per-token buffer is row-major `[batch][width]`.
pub(crate) struct Scratch {
    /// Residual stream, `dim`.
    x: Vec<f32>,
    /// Normalized input of the current sub-block, `dim`.
    xb: Vec<f32>,
    /// Queries, `n_heads * head_dim`.
    q: Vec<f32>,
    /// Keys and values, `kv_dim` each.
    k: Vec<f32>,
    v: Vec<f32>,
    /// Attention output (all heads), `n_heads * head_dim`.
    att: Vec<f32>,
    /// Output of a projection back to `dim`.
    proj: Vec<f32>,
    /// Feed-forward gate and up activations, `ffn_dim` each.
    gate: Vec<f32>,
    up: Vec<f32>,
    /// RoPE cos/sin of each token's position, `rope_dim / 2` each.
    cos: Vec<f32>,
    sin: Vec<f32>,
    /// Output logits, `n_vocab`.
    logits: Vec<f32>,
    /// A product's output before it is transposed to `[batch][rows]`.
    product: Vec<f32>,
    /// Per-head attention buffers, `n_heads`.
    heads: Vec<HeadScratch>,
    act: Activation,
}

impl Scratch {
    pub fn new(c: &Config, capacity: usize) -> Scratch {
        let qdim = c.n_heads * c.head_dim;
        let widest = c.dim.max(c.ffn_dim).max(qdim);
        let b = MAX_BATCH;
        Scratch {
            x: vec![0.0; b * c.dim],
            xb: vec![0.0; b * c.dim],
            q: vec![0.0; b * qdim],
            k: vec![0.0; b * c.kv_dim()],
            v: vec![0.0; b * c.kv_dim()],
            att: vec![0.0; b * qdim],
            proj: vec![0.0; b * c.dim],
            gate: vec![0.0; b * c.ffn_dim],
            up: vec![0.0; b * c.ffn_dim],
            cos: vec![0.0; b * c.rope_dim / 2],
            sin: vec![0.0; b * c.rope_dim / 2],
            logits: vec![0.0; b * c.n_vocab],
            product: vec![0.0; b * widest.max(c.n_vocab)],
            heads: (0..c.n_heads)
                .map(|_| HeadScratch {
                    scores: vec![0.0; capacity],
                    value: vec![0.0; c.head_dim],
                    q16: vec![0.0; c.head_dim],
                    lanes: vec![0.0; VALUE_LANES * c.head_dim],
                    tail: vec![0.0; c.head_dim],
                })
                .collect(),
            act: Activation::new(b * widest),
        }
    }

    /// Stores `logits` (`n_vocab` values) as the last token's.
    pub fn set_last_logits(&mut self, logits: &[f32]) {
        self.logits[..logits.len()].copy_from_slice(logits);
    }

    /// Logits of the `n` tokens of the last batch that asked for them
    /// (`n_vocab` each, the last batch's tokens in order).
    pub fn logits(&self, n: usize) -> &[f32] {
        &self.logits[..n * self.logits.len() / MAX_BATCH]
    }
}

/// One attention head's buffers.
struct HeadScratch {
    /// Scores (then weights) over the attended positions, `capacity`.
    scores: Vec<f32>,
    /// One cached key or value converted to f32, `head_dim`.
    value: Vec<f32>,
    /// The query rounded to f16 (f16 cache), `head_dim`.
    q16: Vec<f32>,
    /// Lane accumulators of the weighted value sum, `VALUE_LANES` rows of
    /// `head_dim`.
    lanes: Vec<f32>,
    /// The f64 part of the weighted value sum (positions past the last
    /// full 64), `head_dim`.
    tail: Vec<f64>,
}

/// Lane rows of the value accumulation: 64 for a single token, 16 for a
/// batch (see [`attend_head_f16`]).
const VALUE_LANES: usize = 64;

/// llama.cpp pads its key/value window to a multiple of this many cells.
const KV_PAD: usize = 32;

/// Everything the forward pass reads but does not change.
pub(crate) struct Ctx<'a> {
    pub config: &'a Config,
    pub weights: &'a Weights,
    pub map: &'a [u8],
    pub kernels: &'a Kernels,
    pub pool: Option<&'a rayon::ThreadPool>,
    /// Set from another thread to stop the pass between layers.
    pub cancel: Option<&'a std::sync::atomic::AtomicBool>,
}

/// Which logits a forward pass computes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Logits {
    /// None (a prompt chunk whose logits nobody reads).
    None,
    /// The last token's only.
    Last,
    /// Every token's.
    All,
}

/// Runs `tokens` (at most `MAX_BATCH`) at absolute positions `pos..`,
/// writing their keys and values into `cache`, and fills the requested
/// logits. The caller guarantees no cache slot is reused inside the batch
/// (`pos + tokens.len() <= capacity`) unless the batch is one token.
pub(crate) fn forward(
    ctx: &Ctx<'_>,
    s: &mut Scratch,
    cache: &mut KvCache,
    tokens: &[u32],
    pos: usize,
    logits: Logits,
) -> Result<()> {
    let c = ctx.config;
    let n = tokens.len();
    let (dim, qdim, kv, ffn) = (c.dim, c.n_heads * c.head_dim, c.kv_dim(), c.ffn_dim);
    let half_rope = c.rope_dim / 2;
    for (b, &t) in tokens.iter().enumerate() {
        embed(ctx, t, &mut s.x[b * dim..(b + 1) * dim])?;
        let angles = b * half_rope..(b + 1) * half_rope;
        rope_angles(c, pos + b, &mut s.cos[angles.clone()], &mut s.sin[angles]);
    }
    for (l, w) in ctx.weights.layers.iter().enumerate() {
        if ctx
            .cancel
            .is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed))
        {
            return Err(crate::error::Error::Cancelled);
        }
        // Attention block.
        rms_norm(
            &mut s.xb[..n * dim],
            &s.x[..n * dim],
            &w.attn_norm,
            c.rms_eps,
        );
        project(
            ctx,
            &mut s.act,
            &mut s.product,
            &s.xb[..n * dim],
            n,
            &mut [(&w.wq, &mut s.q), (&w.wk, &mut s.k), (&w.wv, &mut s.v)],
        )?;
        for b in 0..n {
            let angles = b * half_rope..(b + 1) * half_rope;
            let (cos, sin) = (&s.cos[angles.clone()], &s.sin[angles]);
            rope(&mut s.q[b * qdim..(b + 1) * qdim], c.head_dim, cos, sin);
            rope(&mut s.k[b * kv..(b + 1) * kv], c.head_dim, cos, sin);
            let (k, v) = (&s.k[b * kv..(b + 1) * kv], &s.v[b * kv..(b + 1) * kv]);
            cache.write(ctx.kernels, l, pos + b, k, v);
        }
        for b in 0..n {
            let (q, att) = (
                &s.q[b * qdim..(b + 1) * qdim],
                &mut s.att[b * qdim..(b + 1) * qdim],
            );
            let at = Attend {
                ctx,
                cache,
                layer: l,
                pos: pos + b,
                single: n == 1,
            };
            attention(&at, &mut s.heads, q, att);
        }
        project(
            ctx,
            &mut s.act,
            &mut s.product,
            &s.att[..n * qdim],
            n,
            &mut [(&w.wo, &mut s.proj)],
        )?;
        add(&mut s.x[..n * dim], &s.proj[..n * dim]);
        // Feed-forward block.
        rms_norm(
            &mut s.xb[..n * dim],
            &s.x[..n * dim],
            &w.ffn_norm,
            c.rms_eps,
        );
        project(
            ctx,
            &mut s.act,
            &mut s.product,
            &s.xb[..n * dim],
            n,
            &mut [(&w.w_gate, &mut s.gate), (&w.w_up, &mut s.up)],
        )?;
        (ctx.kernels.float_ops.silu_mul)(&mut s.gate[..n * ffn], &s.up[..n * ffn]);
        project(
            ctx,
            &mut s.act,
            &mut s.product,
            &s.gate[..n * ffn],
            n,
            &mut [(&w.w_down, &mut s.proj)],
        )?;
        add(&mut s.x[..n * dim], &s.proj[..n * dim]);
    }
    // Output head, for the tokens whose logits are wanted.
    let first = match logits {
        Logits::None => return Ok(()),
        Logits::Last => n - 1,
        Logits::All => 0,
    };
    let m = n - first;
    rms_norm(
        &mut s.xb[..m * dim],
        &s.x[first * dim..n * dim],
        &ctx.weights.output_norm,
        c.rms_eps,
    );
    project(
        ctx,
        &mut s.act,
        &mut s.product,
        &s.xb[..m * dim],
        m,
        &mut [(&ctx.weights.output, &mut s.logits)],
    )
}

/// Copies (dequantizing) the embedding row of `token` into `x`.
fn embed(ctx: &Ctx<'_>, token: u32, x: &mut [f32]) -> Result<()> {
    let e = &ctx.weights.token_embd;
    let rb = e.row_bytes();
    let row = token as usize;
    let bytes = e
        .bytes(ctx.map)
        .get(row * rb..(row + 1) * rb)
        .unwrap_or(&[]);
    dequantize(&e.name, e.dtype, bytes, x)
}

/// `out = x / rms(x) * w` for each `w.len()`-wide vector of `x`, in
/// llama.cpp's order: the sum of squares in f64, the scale in f32, then the
/// product with the weight.
fn rms_norm(out: &mut [f32], x: &[f32], w: &[f32], eps: f32) {
    for (out, x) in out.chunks_exact_mut(w.len()).zip(x.chunks_exact(w.len())) {
        let sum: f64 = x.iter().map(|&v| (v * v) as f64).sum();
        let mean = (sum / x.len() as f64) as f32;
        let scale = 1.0 / (mean + eps).sqrt();
        for ((o, &xi), &wi) in out.iter_mut().zip(x).zip(w) {
            *o = (xi * scale) * wi;
        }
    }
}

/// Runs every `(weight, out)` product on the same `batch` input vectors `x`
/// (`[batch][cols]`), preparing the activations once per format; each `out`
/// receives `[batch][rows]`.
fn project(
    ctx: &Ctx<'_>,
    act: &mut Activation,
    product: &mut [f32],
    x: &[f32],
    batch: usize,
    products: &mut [(&Weight, &mut Vec<f32>)],
) -> Result<()> {
    let mut prepared: Option<GgmlType> = None;
    for (w, out) in products.iter_mut() {
        let fmt = Activation::format_of(w.dtype);
        if prepared != Some(fmt) {
            act.fill(ctx.kernels, fmt, x);
            prepared = Some(fmt);
        }
        let p: Prepared<'_> = act.view(fmt, x);
        let rows = w.rows;
        if batch == 1 {
            matvec(ctx.kernels, ctx.pool, w, ctx.map, p, 1, &mut out[..rows])?;
        } else {
            // The product comes out as [rows][batch]; transpose it.
            let tmp = &mut product[..rows * batch];
            matvec(ctx.kernels, ctx.pool, w, ctx.map, p, batch, tmp)?;
            for (r, vals) in tmp.chunks_exact(batch).enumerate() {
                for (b, &v) in vals.iter().enumerate() {
                    out[b * rows + r] = v;
                }
            }
        }
    }
    Ok(())
}

/// cos/sin of pos·base^(−2i/rope_dim) for each rotated pair i, computed as
/// llama.cpp does (the angle multiplied by the scale step by step, in f32).
fn rope_angles(c: &Config, pos: usize, cos: &mut [f32], sin: &mut [f32]) {
    let step = c.rope_base.powf(-2.0 / c.rope_dim as f32);
    let mut theta = pos as f32;
    for (co, si) in cos.iter_mut().zip(sin.iter_mut()) {
        *co = theta.cos();
        *si = theta.sin();
        theta *= step;
    }
}

/// Rotates the adjacent pairs (x[2i], x[2i+1]) of every head.
fn rope(x: &mut [f32], head_dim: usize, cos: &[f32], sin: &[f32]) {
    for head in x.chunks_exact_mut(head_dim) {
        for (pair, (&c, &s)) in head.chunks_exact_mut(2).zip(cos.iter().zip(sin)) {
            let (a, b) = (pair[0], pair[1]);
            pair[0] = a * c - b * s;
            pair[1] = a * s + b * c;
        }
    }
}

/// Grouped-query attention of every query head over the cached positions of
/// its kv head, written to `s.att`. Heads are independent: with a pool and
/// enough work they run in parallel, each head on one thread with the same
/// code, so the result does not depend on the thread count.
fn attention(at: &Attend<'_>, heads: &mut [HeadScratch], q: &[f32], att: &mut [f32]) {
    let c = at.ctx.config;
    let hd = c.head_dim;
    let n_attended = at.cache.attended(at.pos).count();
    let one = |(h, (out, hs)): (usize, (&mut [f32], &mut HeadScratch))| {
        attend_head(at, h, &q[h * hd..(h + 1) * hd], hs, out)
    };
    match at.ctx.pool {
        Some(pool) if n_attended * c.n_heads * hd >= PARALLEL_ATTENTION_MIN => pool.install(|| {
            att.par_chunks_mut(hd)
                .zip(heads.par_iter_mut())
                .enumerate()
                .for_each(one)
        }),
        _ => att
            .chunks_mut(hd)
            .zip(heads.iter_mut())
            .enumerate()
            .for_each(one),
    }
}

/// Multiply-adds below which attention stays on the calling thread.
const PARALLEL_ATTENTION_MIN: usize = 1 << 16;

/// What one head's attention reads: the cache, the layer, the query's
/// position, and whether this token is evaluated alone (which decides
/// llama.cpp's summation order, see [`attend_head_f16`]).
struct Attend<'a> {
    ctx: &'a Ctx<'a>,
    cache: &'a KvCache,
    layer: usize,
    pos: usize,
    single: bool,
}

/// Attention of query head `h` (`q`, `head_dim` values) into `out`.
fn attend_head(at: &Attend<'_>, h: usize, q: &[f32], hs: &mut HeadScratch, out: &mut [f32]) {
    let c = at.ctx.config;
    let kvh = h / (c.n_heads / c.n_kv_heads);
    let first = at.cache.attended(at.pos).next().unwrap_or(0);
    match at.cache.key(at.layer, first, kvh) {
        Row::F16(_) => attend_head_f16(at, kvh, q, hs, out),
        _ => attend_head_plain(at, kvh, q, hs, out),
    }
}

/// Attention over an f16 cache in llama.cpp's arithmetic (CPU, no flash
/// attention), so that logits match it bit for bit:
/// - the query is rounded to f16; score = key·q in the lane order of
///   llama.cpp's product (`dot_lanes16` for a batch, `dot_vec64` for a
///   single token), times 1/√head_dim;
/// - softmax as [`edge_llama_kernels::float_ops::softmax`]; the weights
///   are rounded to f16;
/// - out = Σ weight·value over the window padded to `KV_PAD` positions:
///   a batch puts position i in lane i mod 16 (FMA chains, then a 16-lane
///   reduction); a single token puts the first whole 64 positions in lane
///   i mod 64 (folded to 16 lanes, reduced) and adds the rest in f64.
fn attend_head_f16(at: &Attend<'_>, kvh: usize, q: &[f32], hs: &mut HeadScratch, out: &mut [f32]) {
    let f = &at.ctx.kernels.float_ops;
    let (cache, layer) = (at.cache, at.layer);
    let hd = q.len();
    let scale = 1.0 / (hd as f32).sqrt();
    for (r, &v) in hs.q16.iter_mut().zip(q) {
        *r = f16::from_f32(v).to_f32();
    }
    let dot = if at.single {
        f.dot_vec64
    } else {
        f.dot_lanes16
    };
    let mut n = 0;
    for p in cache.attended(at.pos) {
        row_to_f32(cache.key(layer, p, kvh), &mut hs.value);
        hs.scores[n] = dot(&hs.value, &hs.q16) * scale;
        n += 1;
    }
    let w = &mut hs.scores[..n];
    (f.softmax)(w);
    for v in w.iter_mut() {
        *v = f16::from_f32(*v).to_f32();
    }
    let (rows, in_lanes) = if at.single {
        (64, n.div_ceil(KV_PAD) * KV_PAD / 64 * 64)
    } else {
        (16, n)
    };
    hs.lanes[..rows * hd].fill(0.0);
    hs.tail.fill(0.0);
    for (i, p) in cache.attended(at.pos).enumerate() {
        row_to_f32(cache.value(layer, p, kvh), &mut hs.value);
        if i < in_lanes {
            let lane = &mut hs.lanes[(i % rows) * hd..(i % rows + 1) * hd];
            (f.fma_acc)(lane, hs.scores[i], &hs.value);
        } else {
            for (t, &v) in hs.tail.iter_mut().zip(&hs.value) {
                *t += f64::from(hs.scores[i] * v);
            }
        }
    }
    let lanes = &hs.lanes;
    for (d, (o, &t)) in out.iter_mut().zip(&hs.tail).enumerate() {
        let lane = |r: usize| lanes[r * hd + d];
        *o = if at.single {
            let l64: [f32; 64] = std::array::from_fn(lane);
            (f64::from(float_ops::reduce16(&float_ops::fold64(&l64))) + t) as f32
        } else {
            float_ops::reduce16(&std::array::from_fn(lane))
        };
    }
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
    q: &[f32],
    hs: &mut HeadScratch,
    out: &mut [f32],
) {
    let k = at.ctx.kernels;
    let (cache, layer) = (at.cache, at.layer);
    let scale = 1.0 / (q.len() as f32).sqrt();
    let mut n = 0;
    for p in cache.attended(at.pos) {
        hs.scores[n] = match cache.key(layer, p, kvh) {
            Row::F32(key) => (k.dot_f32_f32)(key, q),
            Row::F16(key) => (k.dot_f16_f32)(key, q),
            Row::Q8_0(key) => dot_q8_0_f32(key, q),
        } * scale;
        n += 1;
    }
    softmax(&mut hs.scores[..n]);
    out.fill(0.0);
    for (p, &w) in cache.attended(at.pos).zip(&hs.scores[..n]) {
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

/// `x += y`.
fn add(x: &mut [f32], y: &[f32]) {
    for (a, &b) in x.iter_mut().zip(y) {
        *a += b;
    }
}
