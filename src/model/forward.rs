//! The Llama decoder, one token at a time, over plain slices. Each step is
//! one short function; `forward` reads top to bottom like the paper.

use super::config::Config;
use super::matvec::{dequantize, matvec, Activation, Prepared};
use super::weights::{Weight, Weights};
use crate::error::Result;
use crate::kv_cache::{KvCache, Row};
use edge_llama_kernels::{BlockQ8_0, GgmlType, Kernels, QK};
use half::slice::HalfFloatSliceExt;
use rayon::prelude::*;

/// Per-session buffers, sized once from the config.
pub(crate) struct Scratch {
    /// Residual stream, `dim`.
    x: Vec<f32>,
    /// Normalized input of the current sub-block, `dim`.
    xb: Vec<f32>,
    /// Queries, `n_heads * head_dim`.
    q: Vec<f32>,
    /// Keys and values of the current position, `kv_dim` each.
    k: Vec<f32>,
    v: Vec<f32>,
    /// Attention output (all heads), `n_heads * head_dim`.
    att: Vec<f32>,
    /// Output of a projection back to `dim`.
    proj: Vec<f32>,
    /// Feed-forward gate and up activations, `ffn_dim` each.
    gate: Vec<f32>,
    up: Vec<f32>,
    /// Per-head attention buffers, `n_heads`.
    heads: Vec<HeadScratch>,
    /// RoPE cos/sin for the current position, `rope_dim / 2` each.
    cos: Vec<f32>,
    sin: Vec<f32>,
    /// Output logits, `n_vocab`.
    pub logits: Vec<f32>,
    act: Activation,
}

impl Scratch {
    pub fn new(c: &Config, capacity: usize) -> Scratch {
        let qdim = c.n_heads * c.head_dim;
        Scratch {
            x: vec![0.0; c.dim],
            xb: vec![0.0; c.dim.max(qdim)],
            q: vec![0.0; qdim],
            k: vec![0.0; c.kv_dim()],
            v: vec![0.0; c.kv_dim()],
            att: vec![0.0; qdim],
            proj: vec![0.0; c.dim],
            gate: vec![0.0; c.ffn_dim],
            up: vec![0.0; c.ffn_dim],
            heads: (0..c.n_heads)
                .map(|_| HeadScratch {
                    scores: vec![0.0; capacity],
                    value: vec![0.0; c.head_dim],
                })
                .collect(),
            cos: vec![0.0; c.rope_dim / 2],
            sin: vec![0.0; c.rope_dim / 2],
            logits: vec![0.0; c.n_vocab],
            act: Activation::new(c.dim.max(c.ffn_dim).max(qdim)),
        }
    }
}

/// One attention head's buffers.
struct HeadScratch {
    /// Scores (then weights) over the attended positions, `capacity`.
    scores: Vec<f32>,
    /// One cached value converted to f32, `head_dim`.
    value: Vec<f32>,
}

/// Everything the forward pass reads but does not change.
pub(crate) struct Ctx<'a> {
    pub config: &'a Config,
    pub weights: &'a Weights,
    pub map: &'a [u8],
    pub kernels: &'a Kernels,
    pub pool: Option<&'a rayon::ThreadPool>,
}

/// Runs token `token` at absolute position `pos`, writing its keys and values
/// into `cache`; when `logits` is true, fills `s.logits`.
pub(crate) fn forward(
    ctx: &Ctx<'_>,
    s: &mut Scratch,
    cache: &mut KvCache,
    token: u32,
    pos: usize,
    logits: bool,
) -> Result<()> {
    let c = ctx.config;
    embed(ctx, token, &mut s.x)?;
    rope_angles(c, pos, &mut s.cos, &mut s.sin);
    for (l, w) in ctx.weights.layers.iter().enumerate() {
        // Attention block.
        rms_norm(&mut s.xb[..c.dim], &s.x, &w.attn_norm, c.rms_eps);
        project(
            ctx,
            &mut s.act,
            &s.xb[..c.dim],
            &mut [(&w.wq, &mut s.q), (&w.wk, &mut s.k), (&w.wv, &mut s.v)],
        )?;
        rope(&mut s.q, c.head_dim, &s.cos, &s.sin);
        rope(&mut s.k, c.head_dim, &s.cos, &s.sin);
        cache.write(ctx.kernels, l, pos, &s.k, &s.v);
        attention(ctx, s, cache, l, pos);
        project(ctx, &mut s.act, &s.att, &mut [(&w.wo, &mut s.proj)])?;
        add(&mut s.x, &s.proj);
        // Feed-forward block.
        rms_norm(&mut s.xb[..c.dim], &s.x, &w.ffn_norm, c.rms_eps);
        project(
            ctx,
            &mut s.act,
            &s.xb[..c.dim],
            &mut [(&w.w_gate, &mut s.gate), (&w.w_up, &mut s.up)],
        )?;
        swiglu(&mut s.gate, &s.up);
        project(ctx, &mut s.act, &s.gate, &mut [(&w.w_down, &mut s.proj)])?;
        add(&mut s.x, &s.proj);
    }
    if logits {
        rms_norm(
            &mut s.xb[..c.dim],
            &s.x,
            &ctx.weights.output_norm,
            c.rms_eps,
        );
        project(
            ctx,
            &mut s.act,
            &s.xb[..c.dim],
            &mut [(&ctx.weights.output, &mut s.logits)],
        )?;
    }
    Ok(())
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

/// `out = x / rms(x) * w`, in llama.cpp's order: the sum of squares in f64,
/// the scale in f32, then the product with the weight.
fn rms_norm(out: &mut [f32], x: &[f32], w: &[f32], eps: f32) {
    let sum: f64 = x.iter().map(|&v| (v * v) as f64).sum();
    let mean = (sum / x.len() as f64) as f32;
    let scale = 1.0 / (mean + eps).sqrt();
    for ((o, &xi), &wi) in out.iter_mut().zip(x).zip(w) {
        *o = (xi * scale) * wi;
    }
}

/// Runs every `(weight, out)` product on the same input `x`, preparing the
/// activation once per format.
fn project(
    ctx: &Ctx<'_>,
    act: &mut Activation,
    x: &[f32],
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
        matvec(ctx.kernels, ctx.pool, w, ctx.map, p, &mut out[..w.rows])?;
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
fn attention(ctx: &Ctx<'_>, s: &mut Scratch, cache: &KvCache, layer: usize, pos: usize) {
    let c = ctx.config;
    let hd = c.head_dim;
    let n_attended = cache.attended(pos).count();
    let one = |(h, (out, hs)): (usize, (&mut [f32], &mut HeadScratch))| {
        attend_head(
            ctx,
            cache,
            layer,
            pos,
            h,
            &s.q[h * hd..(h + 1) * hd],
            hs,
            out,
        )
    };
    let heads = s.att.chunks_mut(hd).zip(s.heads.iter_mut()).enumerate();
    match ctx.pool {
        Some(pool) if n_attended * c.n_heads * hd >= PARALLEL_ATTENTION_MIN => pool.install(|| {
            s.att
                .par_chunks_mut(hd)
                .zip(s.heads.par_iter_mut())
                .enumerate()
                .for_each(one)
        }),
        _ => heads.for_each(one),
    }
}

/// Multiply-adds below which attention stays on the calling thread.
const PARALLEL_ATTENTION_MIN: usize = 1 << 16;

/// Attention of query head `h` (`q`, `head_dim` values) into `out`.
#[allow(clippy::too_many_arguments)]
fn attend_head(
    ctx: &Ctx<'_>,
    cache: &KvCache,
    layer: usize,
    pos: usize,
    h: usize,
    q: &[f32],
    hs: &mut HeadScratch,
    out: &mut [f32],
) {
    let k = ctx.kernels;
    let kvh = h / (ctx.config.n_heads / ctx.config.n_kv_heads);
    let scale = 1.0 / (q.len() as f32).sqrt();
    // The query and the softmax weights stay f32 whatever the cache type
    // (llama.cpp rounds both to f16 for an f16 cache): closer to the exact
    // result, which decides near-ties in greedy decoding.
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
    out.fill(0.0);
    for (p, &w) in cache.attended(pos).zip(&hs.scores[..n]) {
        let v: &[f32] = match cache.value(layer, p, kvh) {
            Row::F32(v) => v,
            Row::F16(v) => {
                v.convert_to_f32_slice(&mut hs.value);
                &hs.value
            }
            Row::Q8_0(v) => {
                for (b, o) in v.iter().zip(hs.value.chunks_exact_mut(QK)) {
                    let d = b.d.to_f32();
                    for (x, &q) in o.iter_mut().zip(&b.qs) {
                        *x = d * q as f32;
                    }
                }
                &hs.value
            }
        };
        axpy(out, w, v);
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

/// `gate = silu(gate) * up`.
fn swiglu(gate: &mut [f32], up: &[f32]) {
    for (g, &u) in gate.iter_mut().zip(up) {
        *g = *g / (1.0 + (-*g).exp()) * u;
    }
}

/// `x += y`.
fn add(x: &mut [f32], y: &[f32]) {
    for (a, &b) in x.iter_mut().zip(y) {
        *a += b;
    }
}
