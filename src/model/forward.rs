//! The Llama decoder over plain slices, for a batch of consecutive tokens
//! (one, when generating). Each step is one short function; `forward` reads
//! top to bottom like the paper.

use super::attention::{attention, HeadScratch};
use super::config::Config;
use super::matvec::Activation;
use super::products::{products, Job};
use super::weights::{Weight, Weights};
use crate::error::Result;
use crate::kv_cache::KvCache;
use crate::tensor::dequantize;
use edge_llama_kernels::Kernels;

/// Most tokens evaluated together. A batch reads each weight row once for
/// all its tokens, which is what makes prompt processing faster than
/// generation. 128 rather than 64: TinyLlama Q4_K_M pp512 at 1 thread
/// measured 161–164 against 143 tokens/s; the scratch sized for it adds
/// ~20 MiB at Llama-2-7B (peak RSS 5686 MiB with a 256-token prompt,
/// within file + KV cache + 64 MiB = 5761 MiB).
pub(crate) const MAX_BATCH: usize = 128;

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
    /// The outputs of a batch's products (those run together back to
    /// back), each `[rows][batch]`, before they are transposed to
    /// `[batch][rows]`.
    product: Vec<f32>,
    /// Per-head attention buffers, `n_heads`.
    heads: Vec<HeadScratch>,
    act: Activation,
}

impl Scratch {
    pub fn new(c: &Config, capacity: usize) -> Scratch {
        let qdim = c.n_heads * c.head_dim;
        let widest = c.dim.max(c.ffn_dim).max(qdim);
        // Most rows of the products run together (Q, K and V; gate and up).
        let together = (qdim + 2 * c.kv_dim()).max(2 * c.ffn_dim).max(c.dim);
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
            product: vec![0.0; b * together.max(c.n_vocab)],
            heads: (0..c.n_heads)
                .map(|_| HeadScratch::new(c, capacity))
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
            [(&w.wq, &mut s.q), (&w.wk, &mut s.k), (&w.wv, &mut s.v)],
        )?;
        for b in 0..n {
            let angles = b * half_rope..(b + 1) * half_rope;
            let (cos, sin) = (&s.cos[angles.clone()], &s.sin[angles]);
            rope(&mut s.q[b * qdim..(b + 1) * qdim], c.head_dim, cos, sin);
            rope(&mut s.k[b * kv..(b + 1) * kv], c.head_dim, cos, sin);
            let (k, v) = (&s.k[b * kv..(b + 1) * kv], &s.v[b * kv..(b + 1) * kv]);
            cache.write(ctx.kernels, l, pos + b, k, v);
        }
        attention(ctx, cache, l, pos, n, &s.q, &mut s.att, &mut s.heads);
        project(
            ctx,
            &mut s.act,
            &mut s.product,
            &s.att[..n * qdim],
            n,
            [(&w.wo, &mut s.proj)],
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
            [(&w.w_gate, &mut s.gate), (&w.w_up, &mut s.up)],
        )?;
        (ctx.kernels.float_ops.silu_mul)(&mut s.gate[..n * ffn], &s.up[..n * ffn]);
        project(
            ctx,
            &mut s.act,
            &mut s.product,
            &s.gate[..n * ffn],
            n,
            [(&w.w_down, &mut s.proj)],
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
        [(&ctx.weights.output, &mut s.logits)],
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
/// receives `[batch][rows]`. Products that share an activation format run
/// as one parallel region (see [`products`]).
fn project<const N: usize>(
    ctx: &Ctx<'_>,
    act: &mut Activation,
    product: &mut [f32],
    x: &[f32],
    batch: usize,
    mut outs: [(&Weight, &mut Vec<f32>); N],
) -> Result<()> {
    if batch == 1 {
        let mut jobs = outs.each_mut().map(|(w, o)| (&**w, &mut o[..w.rows]));
        return prepare_and_run(ctx, act, x, 1, &mut jobs);
    }
    // The products come out as [rows][batch], back to back in `product`.
    let mut rest = product;
    let mut jobs = outs.each_ref().map(|(w, _)| {
        let (mine, after) = std::mem::take(&mut rest).split_at_mut(w.rows * batch);
        rest = after;
        (*w, mine)
    });
    prepare_and_run(ctx, act, x, batch, &mut jobs)?;
    for ((w, out), (_, tmp)) in outs.iter_mut().zip(&jobs) {
        (ctx.kernels.float_ops.transpose)(tmp, &mut out[..w.rows * batch], batch);
    }
    Ok(())
}

/// Prepares `x` for each run of consecutive jobs whose weights share an
/// activation format, and runs each run as one region.
fn prepare_and_run(
    ctx: &Ctx<'_>,
    act: &mut Activation,
    x: &[f32],
    batch: usize,
    jobs: &mut [Job<'_>],
) -> Result<()> {
    let mut start = 0;
    while start < jobs.len() {
        let fmt = Activation::format_of(jobs[start].0.dtype);
        let len = jobs[start..]
            .iter()
            .take_while(|(w, _)| Activation::format_of(w.dtype) == fmt)
            .count();
        act.fill(ctx.kernels, fmt, x);
        let p = act.view(fmt, x);
        let run = &mut jobs[start..start + len];
        products(ctx.kernels, ctx.pool, ctx.map, p, batch, run)?;
        start += len;
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

/// Rotates the adjacent pairs (x[2i], x[2i+1]) of every head:
/// (a·cos − b·sin, a·sin + b·cos), as llama.cpp's compiled `rotate_pairs`
/// evaluates it (the compiler fuses each first product into the
/// subtraction or addition): (fma(a, cos, −(b·sin)), fma(a, sin, b·cos)).
/// Both numerics: a fused multiply-add gives the same bits on every CPU,
/// and with an f16 cache a key rounded differently from llama.cpp's moves
/// every later position's attention.
fn rope(x: &mut [f32], head_dim: usize, cos: &[f32], sin: &[f32]) {
    for head in x.chunks_exact_mut(head_dim) {
        for (pair, (&c, &s)) in head.chunks_exact_mut(2).zip(cos.iter().zip(sin)) {
            let (a, b) = (pair[0], pair[1]);
            pair[0] = a.mul_add(c, -(b * s));
            pair[1] = a.mul_add(s, b * c);
        }
    }
}

/// `x += y`.
fn add(x: &mut [f32], y: &[f32]) {
    for (a, &b) in x.iter_mut().zip(y) {
        *a += b;
    }
}
