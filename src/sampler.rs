//! Logits to next token.
//!
//! [`Sampler`] applies, in the order of llama.cpp's default chain:
//! repetition penalty → top-k → top-p → min-p → temperature → softmax →
//! a draw from a seeded PRNG. With temperature 0 it is greedy: the argmax
//! after the repetition penalty (ties: the lowest id).
//!
//! ```
//! use edge_llama::{Sampler, SamplerConfig};
//!
//! let mut s = Sampler::new(SamplerConfig::greedy(), 4)?;
//! assert_eq!(s.sample(&[0.1, 2.0, -1.0, 2.0])?, 1);
//! # Ok::<(), edge_llama::Error>(())
//! ```

use std::cmp::Ordering;

use crate::error::{Error, Result};

/// Sampling settings. Defaults match llama.cpp's: temperature 0.8, top-k 40,
/// top-p 0.95, min-p 0.05, repetition penalty 1.0 (off) over the last 64
/// tokens, seed 0.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplerConfig {
    /// Divides the logits before the softmax; 0 means greedy (argmax).
    /// Must be finite and ≥ 0.
    pub temperature: f32,
    /// Keep only the `top_k` most likely tokens; 0 turns it off.
    pub top_k: usize,
    /// Keep the smallest set of most likely tokens whose probability
    /// (at temperature 1) adds up to at least `top_p`; in (0, 1], 1 is off.
    pub top_p: f32,
    /// Drop tokens whose probability is below `min_p` times that of the most
    /// likely token (at temperature 1); in [0, 1], 0 is off.
    pub min_p: f32,
    /// Repetition penalty: a recent token's logit is divided by it when
    /// positive, multiplied by it otherwise; > 0, 1 is off.
    pub repeat_penalty: f32,
    /// How many of the most recently accepted tokens the penalty looks at;
    /// 0 turns the penalty off.
    pub repeat_last_n: usize,
    /// Seed of the random generator: the same seed and inputs give the same
    /// tokens.
    pub seed: u64,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            seed: 0,
        }
    }
}

impl SamplerConfig {
    /// Greedy decoding: temperature 0, every filter and the penalty off.
    pub fn greedy() -> Self {
        SamplerConfig {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repeat_penalty: 1.0,
            ..SamplerConfig::default()
        }
    }

    /// Checks every field's range; [`Error::Sampler`] names the first bad one.
    pub fn validate(&self) -> Result<()> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(Error::Sampler(format!(
                "temperature must be finite and >= 0, got {}",
                self.temperature
            )));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(Error::Sampler(format!(
                "top_p must be in (0, 1], got {}",
                self.top_p
            )));
        }
        if !(self.min_p >= 0.0 && self.min_p <= 1.0) {
            return Err(Error::Sampler(format!(
                "min_p must be in [0, 1], got {}",
                self.min_p
            )));
        }
        if !(self.repeat_penalty.is_finite() && self.repeat_penalty > 0.0) {
            return Err(Error::Sampler(format!(
                "repeat_penalty must be finite and > 0, got {}",
                self.repeat_penalty
            )));
        }
        Ok(())
    }
}

/// xoshiro256** seeded through splitmix64: small, fast, reproducible.
#[derive(Clone, Debug)]
struct Rng {
    s: [u64; 4],
}

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        Rng {
            s: [next(), next(), next(), next()],
        }
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1) with 53 random bits.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// One candidate token during sampling.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    id: u32,
    logit: f32,
    /// Probability, filled by the softmax steps.
    p: f32,
}

/// Most likely first; equal logits by lower id (a total order, so results do
/// not depend on the sort algorithm).
fn by_logit_desc(a: &Candidate, b: &Candidate) -> Ordering {
    b.logit.total_cmp(&a.logit).then(a.id.cmp(&b.id))
}

/// Turns logits into tokens; see the module docs for the order of steps.
///
/// Holds the recent-token history for the repetition penalty, the PRNG, and
/// scratch space sized once for the vocabulary: [`Sampler::sample`] does not
/// allocate.
#[derive(Clone, Debug)]
pub struct Sampler {
    config: SamplerConfig,
    n_vocab: usize,
    rng: Rng,
    /// Ring buffer of the last `repeat_last_n` accepted tokens.
    history: Vec<u32>,
    /// Next slot of `history` to overwrite once it is full.
    history_pos: usize,
    candidates: Vec<Candidate>,
}

impl Sampler {
    /// A sampler for logits of `n_vocab` entries. [`Error::Sampler`] when a
    /// config field is out of range (naming it) or `n_vocab` is 0 or more than
    /// token ids can address.
    pub fn new(config: SamplerConfig, n_vocab: usize) -> Result<Sampler> {
        config.validate()?;
        if n_vocab == 0 || n_vocab > u32::MAX as usize + 1 {
            return Err(Error::Sampler(format!(
                "n_vocab must be in 1..=2^32, got {n_vocab}"
            )));
        }
        Ok(Sampler {
            rng: Rng::new(config.seed),
            // The history grows as tokens are accepted: a huge
            // `repeat_last_n` costs nothing up front.
            history: Vec::with_capacity(config.repeat_last_n.min(4096)),
            history_pos: 0,
            candidates: Vec::with_capacity(n_vocab),
            n_vocab,
            config,
        })
    }

    /// The settings.
    pub fn config(&self) -> &SamplerConfig {
        &self.config
    }

    /// The vocabulary size the sampler expects.
    pub fn n_vocab(&self) -> usize {
        self.n_vocab
    }

    /// Records a token (prompt or generated) for the repetition penalty; only
    /// the last `repeat_last_n` are kept.
    pub fn accept(&mut self, token: u32) {
        let n = self.config.repeat_last_n;
        if n == 0 {
            return;
        }
        if self.history.len() < n {
            self.history.push(token);
        } else {
            self.history[self.history_pos] = token;
            self.history_pos = (self.history_pos + 1) % n;
        }
    }

    /// Forgets the token history. The random generator is not reseeded: it
    /// keeps going, so a reset sampler does not replay earlier draws (use
    /// [`Sampler::reseed`] for that).
    pub fn reset(&mut self) {
        self.history.clear();
        self.history_pos = 0;
    }

    /// Restarts the random generator from `seed`.
    pub fn reseed(&mut self, seed: u64) {
        self.config.seed = seed;
        self.rng = Rng::new(seed);
    }

    /// Picks the next token from `logits` (one per vocabulary entry).
    ///
    /// Non-finite logits (NaN, ±∞) are never picked. [`Error::Sampler`] when
    /// `logits.len() != n_vocab` or no logit is finite. Does not record the
    /// token: call [`Sampler::accept`] with it.
    pub fn sample(&mut self, logits: &[f32]) -> Result<u32> {
        if logits.len() != self.n_vocab {
            return Err(Error::Sampler(format!(
                "got {} logits, expected n_vocab = {}",
                logits.len(),
                self.n_vocab
            )));
        }
        let cands = &mut self.candidates;
        cands.clear();
        cands.extend(logits.iter().enumerate().map(|(i, &logit)| Candidate {
            id: i as u32, // n_vocab <= 2^32 checked in new
            logit,
            p: 0.0,
        }));

        // Repetition penalty, once per distinct recent token (indexed by id
        // while the candidates are still in id order).
        let penalty = self.config.repeat_penalty;
        if penalty != 1.0 {
            for (i, &tok) in self.history.iter().enumerate() {
                if self.history[..i].contains(&tok) {
                    continue;
                }
                if let Some(c) = cands.get_mut(tok as usize) {
                    c.logit = if c.logit > 0.0 {
                        c.logit / penalty
                    } else {
                        c.logit * penalty
                    };
                }
            }
        }

        cands.retain(|c| c.logit.is_finite());
        if cands.is_empty() {
            return Err(Error::Sampler("no finite logit to sample from".to_string()));
        }

        if self.config.temperature == 0.0 {
            // First maximum in id order: ties go to the lowest id.
            let mut best = cands[0];
            for c in cands.iter() {
                if c.logit > best.logit {
                    best = *c;
                }
            }
            return Ok(best.id);
        }

        // Top-k (and sort, most likely first).
        let k = self.config.top_k;
        if k > 0 && k < cands.len() {
            cands.select_nth_unstable_by(k - 1, by_logit_desc);
            cands.truncate(k);
        }
        cands.sort_unstable_by(by_logit_desc);

        // Top-p on the probabilities at temperature 1.
        if self.config.top_p < 1.0 {
            softmax(cands, 1.0);
            let mut cum = 0.0f64;
            let mut keep = cands.len();
            for (i, c) in cands.iter().enumerate() {
                cum += c.p as f64;
                if cum >= self.config.top_p as f64 {
                    keep = i + 1;
                    break;
                }
            }
            cands.truncate(keep);
        }

        // Min-p: p_i >= min_p * p_max  ⇔  logit_i >= logit_max + ln(min_p).
        if self.config.min_p > 0.0 {
            let threshold = cands[0].logit + self.config.min_p.ln();
            let keep = cands
                .iter()
                .position(|c| c.logit < threshold)
                .unwrap_or(cands.len())
                .max(1);
            cands.truncate(keep);
        }

        softmax(cands, self.config.temperature);

        let u = self.rng.next_f64();
        let mut cum = 0.0f64;
        for c in cands.iter() {
            cum += c.p as f64;
            if u < cum {
                return Ok(c.id);
            }
        }
        // Rounding left the total just under 1: the last candidate.
        Ok(cands[cands.len() - 1].id)
    }
}

/// Fills `p` with the softmax of `logit / temperature`; `cands` is non-empty
/// with finite logits, sorted most likely first, and `temperature > 0`.
/// Subtracting the maximum first keeps every exponent ≤ 0 (no overflow even
/// for a tiny temperature).
fn softmax(cands: &mut [Candidate], temperature: f32) {
    let max = cands[0].logit;
    let mut sum = 0.0f64;
    for c in cands.iter_mut() {
        c.p = ((c.logit - max) / temperature).exp();
        sum += c.p as f64;
    }
    for c in cands.iter_mut() {
        c.p = (c.p as f64 / sum) as f32;
    }
}
