//! One conversation: a KV cache, the position, the token history, and the
//! generate loop; saving and restoring it; cancelling it from another thread.
//!
//! This module depends on [`crate::model`], never the other way round: the
//! constructors [`Model::new_session`] and [`Model::restore_session`] are
//! defined here.

mod cancel;
mod generate;
pub(crate) mod state;

pub use cancel::CancelHandle;
pub use generate::{Generate, Generated};
/// The checksum of saved session files (XXH64, seed 0), for tests that
/// build corrupted files; not part of the stable API.
#[doc(hidden)]
pub use state::xxh64 as saved_session_checksum;

use crate::error::{Error, Result};
use crate::kv_cache::{KvCache, KvCacheConfig};
use crate::model::forward::{forward, Logits, Scratch, MAX_BATCH};
use crate::model::{Model, ModelInner};
use crate::sampler::Sampler;
use std::path::Path;
use std::sync::Arc;

/// Options for a new session.
#[derive(Clone, Copy, Debug, Default)]
pub struct SessionOptions {
    /// KV cache capacity, sinks and storage type.
    pub kv: KvCacheConfig,
}

/// A conversation with a model: its KV cache, position, token history and
/// scratch buffers. Evaluating tokens allocates nothing but the amortized
/// growth of the token history (4 bytes a token).
pub struct Session {
    model: Arc<ModelInner>,
    cache: KvCache,
    scratch: Scratch,
    pos: usize,
    /// Every token evaluated, in order (`pos` of them).
    tokens: Vec<u32>,
    /// Whether `scratch` holds the logits of the last evaluated token.
    has_logits: bool,
    cancel: CancelHandle,
}

impl Model {
    /// Starts a conversation with its own KV cache.
    pub fn new_session(&self, options: SessionOptions) -> Result<Session> {
        Session::new(self.inner.clone(), options)
    }

    /// Restores a session saved with [`Session::save`]: its KV cache
    /// settings, cache contents, token history and last logits, so that it
    /// goes on exactly as the saved one would have. The whole file is read
    /// and checked (length, magic, version, checksum, that it was saved from
    /// this model, every field) before any cache is allocated; a bad file is
    /// an [`Error::SessionFile`] naming what was wrong.
    pub fn restore_session(&self, path: impl AsRef<Path>) -> Result<Session> {
        self.restore_session_with_limit(path, crate::kv_cache::DEFAULT_MAX_SESSION_BYTES)
    }

    /// [`Model::restore_session`], refusing with [`Error::TooLarge`] a file
    /// whose cache settings would make the session allocate more than
    /// `max_session_bytes` (see [`KvCacheConfig::max_session_bytes`]).
    pub fn restore_session_with_limit(
        &self,
        path: impl AsRef<Path>,
        max_session_bytes: u64,
    ) -> Result<Session> {
        let path = path.as_ref();
        let bytes = state::read(path)?;
        let saved =
            state::parse(&self.inner, &bytes).map_err(|kind| state::file_error(path, kind))?;
        let kv = KvCacheConfig {
            max_session_bytes,
            ..saved.kv
        };
        let mut session = Session::new(self.inner.clone(), SessionOptions { kv })?;
        session.load(&saved);
        Ok(session)
    }
}

impl Session {
    fn new(model: Arc<ModelInner>, options: SessionOptions) -> Result<Session> {
        let c = &model.config;
        c.check_session_bytes(&options.kv)?;
        let cache = KvCache::new(options.kv, c.n_layers, c.kv_dim(), c.head_dim)?;
        let scratch = Scratch::new(c, options.kv.capacity);
        Ok(Session {
            model,
            cache,
            scratch,
            pos: 0,
            tokens: Vec::with_capacity(options.kv.capacity.min(1 << 16)),
            has_logits: false,
            cancel: CancelHandle::new(),
        })
    }

    /// Number of tokens evaluated so far (the absolute position of the next one).
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Every token evaluated so far, in order (`position()` of them, also
    /// those whose cache entries a wrapped ring has dropped).
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// Bytes held by the KV cache.
    pub fn kv_bytes(&self) -> usize {
        self.cache.bytes()
    }

    /// The cache settings.
    pub fn kv_config(&self) -> KvCacheConfig {
        self.cache.config()
    }

    /// A handle that cancels this session's running (or next) evaluation
    /// from any thread; see [`CancelHandle`].
    pub fn cancel_handle(&self) -> CancelHandle {
        self.cancel.clone()
    }

    /// Forgets everything: the next token is at position 0.
    pub fn reset(&mut self) {
        self.pos = 0;
        self.tokens.clear();
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
        self.tokens.truncate(n);
        Ok(())
    }

    /// Writes this session (KV cache settings and contents, ring state,
    /// token history, last logits) to `path`, atomically: a temporary file
    /// beside it is written, synced and renamed over `path`, so `path` holds
    /// either its old contents or the complete new state. Restore it with
    /// [`Model::restore_session`] or [`Session::restore`].
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        state::write(
            path.as_ref(),
            &state::Snapshot {
                model: &self.model,
                cache: &self.cache,
                pos: self.pos,
                tokens: &self.tokens,
                logits: self.has_logits.then(|| self.scratch.logits(1)),
            },
        )
    }

    /// Replaces this session's state with the one saved in `path`. The file
    /// is checked completely first (as by [`Model::restore_session`]) and
    /// must have this session's KV cache capacity, sinks and type; on any
    /// error the session is left exactly as it was.
    pub fn restore(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = state::read(path)?;
        let saved =
            state::parse(&self.model, &bytes).map_err(|kind| state::file_error(path, kind))?;
        let (file, mine) = (saved.kv, self.cache.config());
        let layout = |c: KvCacheConfig| (c.capacity, c.n_sink, c.dtype);
        if layout(file) != layout(mine) {
            let show = |c: KvCacheConfig| {
                format!(
                    "{} positions, {} sinks, {:?}",
                    c.capacity, c.n_sink, c.dtype
                )
            };
            return Err(state::file_error(
                path,
                crate::error::SessionFileError::KvConfigMismatch {
                    file: show(file),
                    session: show(mine),
                },
            ));
        }
        self.load(&saved);
        Ok(())
    }

    /// Copies a checked saved state into this session (same KV settings).
    fn load(&mut self, saved: &state::Saved<'_>) {
        saved.copy_kv_into(&mut self.cache);
        self.pos = saved.tokens.len();
        self.tokens.clear();
        self.tokens.extend_from_slice(&saved.tokens);
        self.has_logits = match &saved.logits {
            Some(l) => {
                self.scratch.set_last_logits(l);
                true
            }
            None => false,
        };
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
    ///
    /// A cancel request is seen between batches and between layers; the
    /// batches done before it are kept, the running one is not.
    fn run(&mut self, tokens: &[u32], logits: Logits, mut each: impl FnMut(&[f32])) -> Result<()> {
        self.check_tokens(tokens)?;
        let model = self.model.clone();
        let mut ctx = model.ctx();
        ctx.cancel = Some(self.cancel.flag());
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
            // Whatever happens now, the scratch logits no longer belong to
            // the last kept token until this batch completes.
            self.has_logits = false;
            let (scratch, cache, pos) = (&mut self.scratch, &mut self.cache, self.pos);
            let ctx = &ctx;
            let mut step = move || forward(ctx, scratch, cache, batch, pos, want);
            // Inside the pool, each parallel product is a cheap fork-join
            // with this thread taking part, instead of a cross-thread
            // hand-off and wake-up per product.
            let result = match &model.pool {
                Some(pool) => pool.install(step),
                None => step(),
            };
            if let Err(e) = result {
                if matches!(e, Error::Cancelled) {
                    // The request is answered: later calls run normally.
                    self.cancel.clear();
                }
                return Err(e);
            }
            self.pos += n;
            self.tokens.extend_from_slice(batch);
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
    ///
    /// [`Error::Cancelled`] when the [`CancelHandle`] fired: the batches
    /// (of up to 128 tokens) finished before it are kept ([`Session::position`]
    /// and [`Session::tokens`] say how far it got), the running one is not.
    pub fn eval(&mut self, tokens: &[u32]) -> Result<&[f32]> {
        if tokens.is_empty() {
            return Err(Error::InvalidArgument("no tokens to evaluate".into()));
        }
        self.run(tokens, Logits::Last, |_| {})?;
        self.has_logits = true;
        Ok(self.scratch.logits(1))
    }

    /// Evaluates `tokens` and returns every position's logits, row-major
    /// `[tokens.len()][n_vocab]`. Cancellation as for [`Session::eval`].
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

    /// Logits of the last evaluated token (empty before any evaluation, and
    /// after a cancelled one until the next evaluation).
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
    /// (which is yielded, with empty text), or at a stop string set with
    /// [`Generate::stop_at`].
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
        } else if !self.has_logits {
            return Err(Error::InvalidArgument(
                "generate without a prompt needs the logits of the last token (evaluate a token first)".into(),
            ));
        }
        for &t in prompt {
            sampler.accept(t);
        }
        let model = self.model.clone();
        Ok(Generate::new(self, sampler, model, max_tokens))
    }
}
