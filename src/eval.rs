//! Accuracy measures: perplexity over a text in llama-perplexity's manner, and
//! KL divergence, top-1 agreement and Δp of a model against a baseline.
//!
//! The text is tokenized whole (with BOS when the model adds one), cut into
//! non-overlapping windows of `ctx` tokens (a trailing partial window is
//! dropped), and the first token of each window is replaced by BOS. Each
//! window is evaluated from an empty cache; only its second half is scored:
//! for positions `j` in `[ctx/2, ctx − 1)`, the log-probability the model
//! gives to token `j + 1`. This is what llama.cpp's `llama-perplexity` does
//! (`first = n_ctx/2`, `n_ctx − 1 − first` scored positions per chunk), so the
//! figures are comparable with its output.
//!
//! ```no_run
//! use edge_llama::eval::{perplexity, Windows};
//! use edge_llama::Model;
//!
//! let model = Model::open("model.gguf")?;
//! let text = std::fs::read_to_string("text.txt").unwrap();
//! let windows = Windows::from_text(&model, &text, 512, None)?;
//! let ppl = perplexity(&model, &windows, &mut |done, total| eprintln!("{done}/{total}"))?;
//! println!("perplexity {:.4} ± {:.4}", ppl.ppl, ppl.ppl_stderr);
//! # Ok::<(), edge_llama::Error>(())
//! ```

use crate::error::{Error, Result};
use crate::kv_cache::KvCacheConfig;
use crate::model::Model;
use crate::session::{Session, SessionOptions};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// The windows a text is scored in: `ctx` tokens each, first token BOS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Windows {
    /// Tokens per window (≥ 3).
    pub ctx: usize,
    /// The windows, each exactly `ctx` tokens.
    pub windows: Vec<Vec<u32>>,
}

impl Windows {
    /// Cuts `tokens` into `⌊len/ctx⌋` non-overlapping windows (at most
    /// `max_chunks` when given), replacing the first token of each by `bos`
    /// when given. Errors when `ctx < 3` (no position would be scored) or the
    /// text holds fewer than `ctx` tokens.
    pub fn new(
        tokens: &[u32],
        ctx: usize,
        max_chunks: Option<usize>,
        bos: Option<u32>,
    ) -> Result<Windows> {
        if ctx < 3 {
            return Err(Error::InvalidArgument(format!(
                "context of {ctx} tokens: at least 3 needed"
            )));
        }
        let n_max = tokens.len() / ctx;
        if n_max == 0 {
            return Err(Error::InvalidArgument(format!(
                "the text has {} tokens, fewer than one window of {ctx}",
                tokens.len()
            )));
        }
        let n = max_chunks.map_or(n_max, |m| m.min(n_max));
        if n == 0 {
            return Err(Error::InvalidArgument("zero chunks requested".into()));
        }
        let windows = tokens
            .chunks_exact(ctx)
            .take(n)
            .map(|w| {
                let mut w = w.to_vec();
                if let Some(b) = bos {
                    w[0] = b;
                }
                w
            })
            .collect();
        Ok(Windows { ctx, windows })
    }

    /// Tokenizes `text` with `model`'s tokenizer (BOS first when the model
    /// adds one, as llama-perplexity does) and cuts it with [`Windows::new`].
    pub fn from_text(
        model: &Model,
        text: &str,
        ctx: usize,
        max_chunks: Option<usize>,
    ) -> Result<Windows> {
        let tok = model.tokenizer();
        let add_bos = tok.add_bos();
        let tokens = tok.encode(text, add_bos);
        Windows::new(
            &tokens,
            ctx,
            max_chunks,
            if add_bos { tok.bos_id() } else { None },
        )
    }

    /// First scored position of each window: `ctx / 2`.
    pub fn first_scored(&self) -> usize {
        self.ctx / 2
    }

    /// Scored positions per window: `ctx − 1 − ctx/2`.
    pub fn scored_per_window(&self) -> usize {
        self.ctx - 1 - self.ctx / 2
    }

    /// Total scored positions.
    pub fn n_scored(&self) -> usize {
        self.scored_per_window() * self.windows.len()
    }

    /// FNV-1a hash of `ctx` and every window's tokens (identifies the windows
    /// a baseline file was made from).
    pub fn fingerprint(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |x: u64| {
            for b in x.to_le_bytes() {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        };
        eat(self.ctx as u64);
        for w in &self.windows {
            for &t in w {
                eat(u64::from(t));
            }
        }
        h
    }
}

/// Perplexity of a model over the scored positions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Perplexity {
    /// `exp(mean negative log-likelihood)`.
    pub ppl: f64,
    /// Its standard error, as llama-perplexity estimates it
    /// (`ppl · sd(nll) / sqrt(n − 1)`); 0 when `n < 2`.
    pub ppl_stderr: f64,
    /// Mean negative log-likelihood in nats per token.
    pub nll: f64,
    /// Positions scored.
    pub n_scored: usize,
    /// Windows evaluated.
    pub n_windows: usize,
}

/// Distribution of the per-position KL divergence `KL(baseline ‖ model)` in nats.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KldStats {
    /// Mean over positions.
    pub mean: f64,
    /// Median (linear interpolation between order statistics, as llama.cpp).
    pub median: f64,
    /// 99th percentile (same interpolation).
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

/// A model compared with a baseline on the same windows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Comparison {
    /// The model's own perplexity.
    pub perplexity: Perplexity,
    /// KL divergence of the model's next-token distribution from the baseline's.
    pub kld: KldStats,
    /// Fraction (0..=1) of positions where the model's most likely token is
    /// the baseline's.
    pub top1: f64,
    /// Largest |p_model(t) − p_baseline(t)| over positions, for t the
    /// baseline's most likely token.
    pub max_abs_dp: f64,
}

/// `out[i] = logits[i] − logsumexp(logits)`, summed in f64, stored as f32.
/// Returns the log-sum-exp (f64).
pub fn log_softmax(logits: &[f32], out: &mut [f32]) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&l| f64::from(l - max).exp()).sum();
    let lse = f64::from(max) + sum.ln();
    for (o, &l) in out.iter_mut().zip(logits) {
        *o = (f64::from(l) - lse) as f32;
    }
    lse
}

/// Index of the largest value (the first on ties).
fn argmax(x: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = i;
        }
    }
    best
}

/// Percentile with llama.cpp's interpolation; `sorted` ascending, non-empty.
fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    let p = fraction * (sorted.len() - 1) as f64;
    let ip = p as usize;
    let frac = p - ip as f64;
    let next = sorted[(ip + 1).min(sorted.len() - 1)];
    (1.0 - frac) * sorted[ip] + frac * next
}

/// Accumulates per-position figures.
#[derive(Default)]
struct Scorer {
    nll: f64,
    nll2: f64,
    n: usize,
    klds: Vec<f64>,
    top1: usize,
    max_abs_dp: f64,
}

impl Scorer {
    /// Adds every scored position of one window, with the base model's
    /// log-probs for the same positions (`[positions][n_vocab]` each).
    fn add_window(&mut self, lp: &[f32], nll: &[f64], base: &[f32], n_vocab: usize) {
        for ((row, brow), &v) in lp
            .chunks_exact(n_vocab)
            .zip(base.chunks_exact(n_vocab))
            .zip(nll)
        {
            self.add(row, v, Some(brow));
        }
    }

    /// Scores one position: `lp` the model's log-probs, `v` the negative
    /// log-likelihood of the next token (f64), `base` the baseline's log-probs
    /// (when comparing).
    fn add(&mut self, lp: &[f32], v: f64, base: Option<&[f32]>) {
        self.nll += v;
        self.nll2 += v * v;
        self.n += 1;
        if let Some(base) = base {
            let kld: f64 = base
                .iter()
                .zip(lp)
                .map(|(&b, &m)| f64::from(b).exp() * (f64::from(b) - f64::from(m)))
                .sum();
            self.klds.push(kld);
            let top = argmax(base);
            if argmax(lp) == top {
                self.top1 += 1;
            }
            let dp = (f64::from(lp[top]).exp() - f64::from(base[top]).exp()).abs();
            self.max_abs_dp = self.max_abs_dp.max(dp);
        }
    }

    fn perplexity(&self, n_windows: usize) -> Perplexity {
        let n = self.n.max(1) as f64;
        let nll = self.nll / n;
        let ppl = nll.exp();
        let var = self.nll2 / n - nll * nll;
        let ppl_stderr = if self.n > 1 && var > 0.0 {
            (var / (n - 1.0)).sqrt() * ppl
        } else {
            0.0
        };
        Perplexity {
            ppl,
            ppl_stderr,
            nll,
            n_scored: self.n,
            n_windows,
        }
    }

    fn comparison(mut self, n_windows: usize) -> Comparison {
        let perplexity = self.perplexity(n_windows);
        self.klds.sort_by(f64::total_cmp);
        let kld = if self.klds.is_empty() {
            KldStats {
                mean: 0.0,
                median: 0.0,
                p99: 0.0,
                max: 0.0,
            }
        } else {
            KldStats {
                mean: self.klds.iter().sum::<f64>() / self.klds.len() as f64,
                median: percentile(&self.klds, 0.5),
                p99: percentile(&self.klds, 0.99),
                max: self.klds[self.klds.len() - 1],
            }
        };
        Comparison {
            perplexity,
            kld,
            top1: self.top1 as f64 / self.n.max(1) as f64,
            max_abs_dp: self.max_abs_dp,
        }
    }
}

fn session_for(model: &Model, windows: &Windows) -> Result<Session> {
    let capacity = windows.ctx.max(8);
    model.new_session(SessionOptions {
        kv: KvCacheConfig {
            capacity,
            n_sink: KvCacheConfig::default().n_sink.min(capacity - 1),
            ..KvCacheConfig::default()
        },
    })
}

/// Evaluates one window from an empty cache and returns the log-probs of its
/// scored positions, row-major `[scored_per_window][n_vocab]`.
/// Also returns the negative log-likelihood of each scored position's next
/// token, computed in f64 from the logits.
fn window_logprobs(
    session: &mut Session,
    windows: &Windows,
    w: &[u32],
    n_vocab: usize,
) -> Result<(Vec<f32>, Vec<f64>)> {
    session.reset();
    let first = windows.first_scored();
    // Positions before `first` only fill the cache; positions first..ctx-1
    // give the scored logits; the last token is only ever a target.
    session.eval(&w[..first])?;
    let mut lp = session.eval_all(&w[first..windows.ctx - 1])?;
    let mut logits = vec![0f32; n_vocab];
    let mut nll = Vec::with_capacity(windows.scored_per_window());
    for (k, row) in lp.chunks_exact_mut(n_vocab).enumerate() {
        logits.copy_from_slice(row);
        let lse = log_softmax(&logits, row);
        nll.push(lse - f64::from(logits[w[first + k + 1] as usize]));
    }
    Ok((lp, nll))
}

/// Perplexity of `model` over `windows`. `progress(done, total)` is called
/// after each window (and once with 0 at the start).
pub fn perplexity(
    model: &Model,
    windows: &Windows,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Perplexity> {
    let n_vocab = model.config().n_vocab;
    let mut session = session_for(model, windows)?;
    let mut scorer = Scorer::default();
    let total = windows.windows.len();
    progress(0, total);
    for (i, w) in windows.windows.iter().enumerate() {
        let (lp, nll) = window_logprobs(&mut session, windows, w, n_vocab)?;
        for (row, &v) in lp.chunks_exact(n_vocab).zip(&nll) {
            scorer.add(row, v, None);
        }
        progress(i + 1, total);
    }
    Ok(scorer.perplexity(total))
}

/// Compares `model` with `baseline` on `windows`, evaluating both window by
/// window (memory: two windows of log-probs). The vocabularies must have the
/// same size.
pub fn compare_models(
    model: &Model,
    baseline: &Model,
    windows: &Windows,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Comparison> {
    let n_vocab = model.config().n_vocab;
    if baseline.config().n_vocab != n_vocab {
        return Err(Error::InvalidArgument(format!(
            "vocabulary sizes differ: model {n_vocab}, baseline {}",
            baseline.config().n_vocab
        )));
    }
    let mut s_model = session_for(model, windows)?;
    let mut s_base = session_for(baseline, windows)?;
    let mut scorer = Scorer::default();
    let total = windows.windows.len();
    progress(0, total);
    for (i, w) in windows.windows.iter().enumerate() {
        let (base, _) = window_logprobs(&mut s_base, windows, w, n_vocab)?;
        let (lp, nll) = window_logprobs(&mut s_model, windows, w, n_vocab)?;
        scorer.add_window(&lp, &nll, &base, n_vocab);
        progress(i + 1, total);
    }
    Ok(scorer.comparison(total))
}

const MAGIC: &[u8; 8] = b"ELLPROB1";
const HEADER_LEN: usize = 8 + 4 * 4 + 8;

fn header(windows: &Windows, n_vocab: usize) -> Result<[u8; HEADER_LEN]> {
    let u32_of = |x: usize, what: &str| {
        u32::try_from(x).map_err(|_| Error::InvalidArgument(format!("{what} {x} too large")))
    };
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&u32_of(n_vocab, "vocabulary")?.to_le_bytes());
    h[12..16].copy_from_slice(&u32_of(windows.ctx, "context")?.to_le_bytes());
    h[16..20].copy_from_slice(&u32_of(windows.windows.len(), "window count")?.to_le_bytes());
    h[20..24]
        .copy_from_slice(&u32_of(windows.scored_per_window(), "scored positions")?.to_le_bytes());
    h[24..32].copy_from_slice(&windows.fingerprint().to_le_bytes());
    Ok(h)
}

/// Evaluates the baseline `model` on `windows`, writes the log-probs of every
/// scored position to `path` (a small header, then little-endian f32
/// `[n_scored][n_vocab]`; written to a temporary file and renamed) for
/// [`compare_with_file`], and returns the baseline's perplexity. The file
/// takes `4 · n_scored · n_vocab` bytes.
pub fn write_baseline(
    model: &Model,
    windows: &Windows,
    path: impl AsRef<Path>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Perplexity> {
    let path = path.as_ref();
    let n_vocab = model.config().n_vocab;
    let head = header(windows, n_vocab)?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let io = |p: &Path| {
        let p: PathBuf = p.to_path_buf();
        move |source| Error::Io { path: p, source }
    };
    let result = (|| -> Result<Perplexity> {
        let mut out = BufWriter::new(std::fs::File::create(&tmp).map_err(io(&tmp))?);
        out.write_all(&head).map_err(io(&tmp))?;
        let mut session = session_for(model, windows)?;
        let mut scorer = Scorer::default();
        let total = windows.windows.len();
        progress(0, total);
        let mut bytes = Vec::new();
        for (i, w) in windows.windows.iter().enumerate() {
            let (lp, nll) = window_logprobs(&mut session, windows, w, n_vocab)?;
            for (row, &v) in lp.chunks_exact(n_vocab).zip(&nll) {
                scorer.add(row, v, None);
            }
            bytes.clear();
            bytes.extend(lp.iter().flat_map(|v| v.to_le_bytes()));
            out.write_all(&bytes).map_err(io(&tmp))?;
            progress(i + 1, total);
        }
        let file = out.into_inner().map_err(|e| io(&tmp)(e.into_error()))?;
        file.sync_all().map_err(io(&tmp))?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(io(path))?;
        Ok(scorer.perplexity(total))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Compares `model` with the baseline log-probs that [`write_baseline`] wrote
/// to `path` for the same `windows` (checked: vocabulary, context, window
/// count and a fingerprint of the tokens). Reads one window at a time.
pub fn compare_with_file(
    model: &Model,
    windows: &Windows,
    path: impl AsRef<Path>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Comparison> {
    let path = path.as_ref();
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let n_vocab = model.config().n_vocab;
    let want = header(windows, n_vocab)?;
    let mut input = BufReader::new(std::fs::File::open(path).map_err(io)?);
    let mut got = [0u8; HEADER_LEN];
    input.read_exact(&mut got).map_err(io)?;
    if got != want {
        return Err(Error::InvalidArgument(format!(
            "{}: baseline log-probs were made for other windows, another context or another vocabulary",
            path.display()
        )));
    }
    let mut session = session_for(model, windows)?;
    let mut scorer = Scorer::default();
    let total = windows.windows.len();
    progress(0, total);
    let mut bytes = vec![0u8; 4 * windows.scored_per_window() * n_vocab];
    let mut base = vec![0f32; windows.scored_per_window() * n_vocab];
    for (i, w) in windows.windows.iter().enumerate() {
        input.read_exact(&mut bytes).map_err(io)?;
        for (b, c) in base.iter_mut().zip(bytes.chunks_exact(4)) {
            *b = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
        let (lp, nll) = window_logprobs(&mut session, windows, w, n_vocab)?;
        scorer.add_window(&lp, &nll, &base, n_vocab);
        progress(i + 1, total);
    }
    Ok(scorer.comparison(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_follow_llama_perplexity() {
        let tokens: Vec<u32> = (10..35).collect();
        let w = Windows::new(&tokens, 8, None, Some(1)).unwrap();
        assert_eq!(w.windows.len(), 3);
        assert_eq!(w.windows[1], vec![1, 19, 20, 21, 22, 23, 24, 25]);
        assert_eq!((w.first_scored(), w.scored_per_window()), (4, 3));
        assert_eq!(
            Windows::new(&tokens, 8, Some(2), None).unwrap().windows[1][0],
            18
        );
        assert!(Windows::new(&tokens, 26, None, None).is_err());
        assert!(Windows::new(&tokens, 2, None, None).is_err());
    }

    #[test]
    fn percentile_interpolates() {
        let v = [0.0, 1.0, 2.0, 10.0];
        assert_eq!(percentile(&v, 0.5), 1.5);
        assert!((percentile(&v, 0.99) - 9.76).abs() < 1e-12);
    }

    #[test]
    fn log_softmax_normalizes() {
        let mut out = [0f32; 3];
        log_softmax(&[1.0, 2.0, 3.0], &mut out);
        let s: f32 = out.iter().map(|x| x.exp()).sum();
        assert!((s - 1.0).abs() < 1e-6);
        assert!((out[2] - out[1] - 1.0).abs() < 1e-6);
    }
}
