//! One conversation: a KV cache, the position, and the generate loop.

use crate::error::{Error, Result};
use crate::kv_cache::{KvCache, KvCacheConfig};
use crate::model::forward::{forward, Logits, Scratch, MAX_BATCH};
use crate::model::ModelInner;
use crate::sampler::Sampler;
use std::sync::Arc;

/// Options for a new session.
#[derive(Clone, Copy, Debug, Default)]
pub struct SessionOptions {
    /// KV cache capacity, sinks and storage type.
    pub kv: KvCacheConfig,
}

/// A conversation with a model: its KV cache, position and scratch buffers.
/// Evaluating tokens allocates nothing.
pub struct Session {
    model: Arc<ModelInner>,
    cache: KvCache,
    scratch: Scratch,
    pos: usize,
    /// Whether `scratch` holds the logits of the last evaluated token.
    has_logits: bool,
}

impl Session {
    pub(crate) fn new(model: Arc<ModelInner>, options: SessionOptions) -> Result<Session> {
        let c = &model.config;
        c.check_session_bytes(&options.kv)?;
        let cache = KvCache::new(options.kv, c.n_layers, c.kv_dim(), c.head_dim)?;
        let scratch = Scratch::new(c, options.kv.capacity);
        Ok(Session {
            model,
            cache,
            scratch,
            pos: 0,
            has_logits: false,
        })
    }

    /// Number of tokens evaluated so far (the absolute position of the next one).
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes held by the KV cache.
    pub fn kv_bytes(&self) -> usize {
        self.cache.bytes()
    }

    /// The cache settings.
    pub fn kv_config(&self) -> KvCacheConfig {
        self.cache.config()
    }

    /// Forgets everything: the next token is at position 0.
    pub fn reset(&mut self) {
        self.pos = 0;
        self.has_logits = false;
    }

    /// Drops every position from `n` on. Allowed only while the cache has not
    /// wrapped (positions ≤ capacity), since older entries are gone afterwards.
    pub fn truncate(&mut self, n: usize) -> Result<()> {
        if n > self.pos {
            return Err(Error::Context(format!(
                "cannot truncate to {n}: only {} positions evaluated",
                self.pos
            )));
        }
        if self.pos > self.cache.config().capacity {
            return Err(Error::Context(format!(
                "cannot truncate after the cache wrapped ({} positions > capacity {})",
                self.pos,
                self.cache.config().capacity
            )));
        }
        if n < self.pos {
            self.has_logits = false;
        }
        self.pos = n;
        Ok(())
    }

    fn check_tokens(&self, tokens: &[u32]) -> Result<()> {
        let n_vocab = self.model.config.n_vocab;
        match tokens.iter().find(|&&t| t as usize >= n_vocab) {
            Some(&id) => Err(Error::TokenOutOfRange { id, n_vocab }),
            None => Ok(()),
        }
    }

    /// Runs `tokens` in batches of up to `MAX_BATCH`, asking each batch for
    /// `logits`. A batch never spans a cache slot twice: once positions
    /// reach the capacity, tokens go one at a time. Several tokens are never
    /// split so that one is left alone (attention sums a lone token in
    /// another order, as llama.cpp does).
    fn run(&mut self, tokens: &[u32], logits: Logits, mut each: impl FnMut(&[f32])) -> Result<()> {
        self.check_tokens(tokens)?;
        let model = self.model.clone();
        let ctx = model.ctx();
        let capacity = self.cache.config().capacity;
        let mut rest = tokens;
        while !rest.is_empty() {
            let room = capacity.saturating_sub(self.pos).max(1);
            let mut n = rest.len().min(MAX_BATCH).min(room);
            if rest.len() - n == 1 && n > 2 {
                // Never leave one token alone after a batch: llama.cpp
                // evaluates a prompt as one batch, and a lone token takes
                // its single-token summation order.
                n -= 1;
            }
            let (batch, tail) = rest.split_at(n);
            let want = match logits {
                Logits::Last if !tail.is_empty() => Logits::None,
                other => other,
            };
            let (scratch, cache, pos) = (&mut self.scratch, &mut self.cache, self.pos);
            let ctx = &ctx;
            let mut step = move || forward(ctx, scratch, cache, batch, pos, want);
            // Inside the pool, each parallel product is a cheap fork-join
            // with this thread taking part, instead of a cross-thread
            // hand-off and wake-up per product.
            match &model.pool {
                Some(pool) => pool.install(step)?,
                None => step()?,
            }
            self.pos += n;
            match want {
                Logits::All => each(self.scratch.logits(n)),
                Logits::Last => each(self.scratch.logits(1)),
                Logits::None => {}
            }
            rest = tail;
        }
        Ok(())
    }

    /// Evaluates `tokens` after the ones already seen and returns the logits
    /// (`n_vocab` values) of the last one. An empty slice is an error.
    pub fn eval(&mut self, tokens: &[u32]) -> Result<&[f32]> {
        if tokens.is_empty() {
            return Err(Error::InvalidArgument("no tokens to evaluate".into()));
        }
        self.run(tokens, Logits::Last, |_| {})?;
        self.has_logits = true;
        Ok(self.scratch.logits(1))
    }

    /// Evaluates `tokens` and returns every position's logits, row-major
    /// `[tokens.len()][n_vocab]`.
    pub fn eval_all(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        let mut all = Vec::with_capacity(tokens.len() * self.model.config.n_vocab);
        self.run(tokens, Logits::All, |l| all.extend_from_slice(l))?;
        // The last row is where `logits()` finds it only when the last batch
        // had one token; keep the invariant simple by copying it there.
        if let Some(last) = all.len().checked_sub(self.model.config.n_vocab) {
            self.scratch.set_last_logits(&all[last..]);
            self.has_logits = true;
        }
        Ok(all)
    }

    /// Logits of the last evaluated token (empty before any evaluation).
    pub fn logits(&self) -> &[f32] {
        if self.has_logits {
            self.scratch.logits(1)
        } else {
            &[]
        }
    }

    /// Evaluates `prompt` (may be empty when tokens were evaluated before),
    /// then returns an iterator that samples up to `max_tokens` tokens, each
    /// evaluated as it is produced. Stops after an end-of-generation token
    /// (which is yielded, with empty text).
    pub fn generate<'s>(
        &'s mut self,
        prompt: &[u32],
        sampler: &'s mut Sampler,
        max_tokens: usize,
    ) -> Result<Generate<'s>> {
        if prompt.is_empty() && self.pos == 0 {
            return Err(Error::InvalidArgument(
                "generate needs a prompt or earlier tokens".into(),
            ));
        }
        if !prompt.is_empty() {
            self.eval(prompt)?;
        }
        for &t in prompt {
            sampler.accept(t);
        }
        let model = self.model.clone();
        Ok(Generate {
            session: self,
            sampler,
            model,
            pending: Vec::new(),
            remaining: max_tokens,
            done: false,
        })
    }
}

/// One generated token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generated {
    /// Token id.
    pub id: u32,
    /// Text that became complete with this token (may be empty, e.g. inside
    /// a multi-byte character or for control tokens).
    pub text: String,
    /// True for an end-of-generation token (the last item).
    pub eog: bool,
}

/// Iterator returned by [`Session::generate`].
pub struct Generate<'s> {
    session: &'s mut Session,
    sampler: &'s mut Sampler,
    model: Arc<ModelInner>,
    /// Bytes of an incomplete UTF-8 character, held until it completes.
    pending: Vec<u8>,
    remaining: usize,
    done: bool,
}

impl Generate<'_> {
    fn step(&mut self) -> Result<Generated> {
        let id = self.sampler.sample(self.session.logits())?;
        self.sampler.accept(id);
        self.session.eval(&[id])?;
        self.remaining -= 1;
        let tok = &self.model.tokenizer;
        let eog = tok.is_eog(id);
        if eog {
            self.done = true;
        }
        if !eog {
            self.pending.extend_from_slice(&tok.token_bytes(id)?);
        }
        let text = take_complete_utf8(&mut self.pending, eog);
        Ok(Generated { id, text, eog })
    }
}

impl Iterator for Generate<'_> {
    type Item = Result<Generated>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.remaining == 0 {
            return None;
        }
        let r = self.step();
        if r.is_err() {
            self.done = true;
        }
        Some(r)
    }
}

/// Removes and returns the longest prefix of `buf` that is complete UTF-8
/// (invalid bytes become U+FFFD); an incomplete character at the end stays in
/// `buf` unless `flush`.
fn take_complete_utf8(buf: &mut Vec<u8>, flush: bool) -> String {
    let keep = match std::str::from_utf8(buf) {
        Ok(_) => 0,
        Err(e) if e.error_len().is_none() && !flush => buf.len() - e.valid_up_to(),
        Err(_) => 0,
    };
    let tail = buf.split_off(buf.len() - keep);
    let text = String::from_utf8_lossy(buf).into_owned();
    *buf = tail;
    text
}

#[cfg(test)]
mod tests {
    use super::take_complete_utf8;

    #[test]
    fn utf8_is_never_split() {
        let euro = "€".as_bytes();
        let mut buf = vec![b'a', euro[0]];
        assert_eq!(take_complete_utf8(&mut buf, false), "a");
        buf.extend_from_slice(&euro[1..]);
        assert_eq!(take_complete_utf8(&mut buf, false), "€");
        assert!(buf.is_empty());
        buf.push(euro[0]);
        assert_eq!(take_complete_utf8(&mut buf, true), "\u{fffd}");
    }
}
