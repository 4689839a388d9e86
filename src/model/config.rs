//! Hyperparameters read from GGUF metadata, validated.

use crate::error::{Error, Result};
use crate::gguf::GgufFile;
use crate::kv_cache::KvCacheConfig;

/// Tokens a forward step processes at once; scratch buffers are sized for it
/// (the same constant as the forward pass's batch).
const SCRATCH_BATCH: u64 = crate::model::forward::MAX_BATCH as u64;

/// f32 lanes per head the attention keeps for weighted value sums.
const SCRATCH_VALUE_LANES: u64 = 64;

/// Bytes per element of the quantized activation buffers (f32 copy plus
/// q8_0, q8_1 and q8_K blocks), rounded up.
const ACTIVATION_BYTES_PER_ELEM: u64 = 8;

/// Upper bounds that keep allocations sized from file numbers sane. Real
/// models are far below them; the tensor shapes are checked against the file
/// size as well.
const MAX_DIM: u64 = 1 << 16;
const MAX_LAYERS: u64 = 1 << 10;
const MAX_HEADS: u64 = 1 << 10;

/// The shape of a Llama-architecture decoder.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// `general.architecture` (always "llama" for now).
    pub arch: String,
    /// Embedding width (`llama.embedding_length`).
    pub dim: usize,
    /// Number of decoder blocks (`llama.block_count`).
    pub n_layers: usize,
    /// Query heads (`llama.attention.head_count`).
    pub n_heads: usize,
    /// Key/value heads (`llama.attention.head_count_kv`, default `n_heads`).
    pub n_kv_heads: usize,
    /// Width of one head: `dim / n_heads`.
    pub head_dim: usize,
    /// Hidden width of the feed-forward block (`llama.feed_forward_length`).
    pub ffn_dim: usize,
    /// Vocabulary size (length of `tokenizer.ggml.tokens`).
    pub n_vocab: usize,
    /// Training context length in tokens (`llama.context_length`).
    pub context_length: usize,
    /// RMSNorm epsilon (`llama.attention.layer_norm_rms_epsilon`).
    pub rms_eps: f32,
    /// RoPE base frequency (`llama.rope.freq_base`, default 10000).
    pub rope_base: f32,
    /// Rotated dimensions per head (`llama.rope.dimension_count`, default `head_dim`).
    pub rope_dim: usize,
}

impl Config {
    /// Width of the key/value projections: `n_kv_heads * head_dim`.
    pub fn kv_dim(&self) -> usize {
        self.n_kv_heads * self.head_dim
    }

    /// Bytes a session with cache settings `kv` allocates: the KV cache
    /// (keys and values of every layer) plus the per-session scratch buffers
    /// (activations for a batch, attention scores over `kv.capacity`
    /// positions, logits). An upper estimate of the scratch (within a few
    /// percent); `None` when the size overflows `u64`.
    pub fn session_bytes(&self, kv: &KvCacheConfig) -> Option<u64> {
        let u = |x: usize| x as u64;
        let (num, den) = kv.dtype.bytes_per_elem();
        let cache = u(kv.capacity)
            .checked_mul(u(self.kv_dim()))?
            .checked_mul(u(self.n_layers))?
            .checked_mul(2 * num)?
            / den;
        let qdim = u(self.n_heads) * u(self.head_dim);
        let widest = u(self.dim).max(u(self.ffn_dim)).max(qdim);
        let batch_f32 = [
            3 * u(self.dim),
            2 * qdim,
            2 * u(self.kv_dim()),
            2 * u(self.ffn_dim),
            u(self.rope_dim),
            u(self.n_vocab),
            widest.max(u(self.n_vocab)),
        ]
        .iter()
        .try_fold(0u64, |a, &x| a.checked_add(x))?;
        let per_head = u(kv.capacity).checked_add((3 + SCRATCH_VALUE_LANES) * u(self.head_dim))?;
        let scratch = SCRATCH_BATCH
            .checked_mul(batch_f32)?
            .checked_add(u(self.n_heads).checked_mul(per_head)?)?
            .checked_mul(4)?
            .checked_add(SCRATCH_BATCH * widest * ACTIVATION_BYTES_PER_ELEM)?;
        cache.checked_add(scratch)
    }

    /// [`Error::TooLarge`] when a session with cache settings `kv` would
    /// allocate more than `kv.max_session_bytes` (see
    /// [`session_bytes`](Self::session_bytes)).
    pub fn check_session_bytes(&self, kv: &KvCacheConfig) -> Result<()> {
        let limit = kv.max_session_bytes;
        match self.session_bytes(kv) {
            Some(needed) if needed <= limit => Ok(()),
            needed => Err(Error::TooLarge {
                what: format!(
                    "a session of {} positions ({} layers, KV width {}, vocabulary {})",
                    kv.capacity,
                    self.n_layers,
                    self.kv_dim(),
                    self.n_vocab
                ),
                needed: needed.unwrap_or(u64::MAX),
                limit,
            }),
        }
    }

    /// Reads and validates the hyperparameters of `file`.
    pub fn from_gguf(file: &GgufFile) -> Result<Config> {
        let arch = file.get_str("general.architecture")?.to_string();
        if arch != "llama" {
            return Err(Error::BadConfig(format!(
                "general.architecture is {arch:?}; only \"llama\" is supported"
            )));
        }
        let key = |k: &str| format!("{arch}.{k}");
        let bounded = |k: &str, v: u64, max: u64| -> Result<usize> {
            if v == 0 || v > max {
                return Err(Error::BadConfig(format!(
                    "{k} = {v} is out of range 1..={max}"
                )));
            }
            Ok(v as usize)
        };
        let dim_key = key("embedding_length");
        let dim = bounded(&dim_key, file.get_u64(&dim_key)?, MAX_DIM)?;
        let layers_key = key("block_count");
        let n_layers = bounded(&layers_key, file.get_u64(&layers_key)?, MAX_LAYERS)?;
        let ffn_key = key("feed_forward_length");
        let ffn_dim = bounded(&ffn_key, file.get_u64(&ffn_key)?, MAX_DIM * 8)?;
        let heads_key = key("attention.head_count");
        let n_heads = bounded(&heads_key, file.get_u64(&heads_key)?, MAX_HEADS)?;
        let kv_key = key("attention.head_count_kv");
        let n_kv_heads = match file.opt_u64(&kv_key)? {
            Some(v) => bounded(&kv_key, v, MAX_HEADS)?,
            None => n_heads,
        };
        if n_heads % n_kv_heads != 0 {
            return Err(Error::BadConfig(format!(
                "{heads_key} = {n_heads} is not a multiple of {kv_key} = {n_kv_heads}"
            )));
        }
        if dim % n_heads != 0 {
            return Err(Error::BadConfig(format!(
                "{dim_key} = {dim} is not a multiple of {heads_key} = {n_heads}"
            )));
        }
        let head_dim = dim / n_heads;
        if head_dim % 2 != 0 {
            return Err(Error::BadConfig(format!(
                "head dimension {head_dim} is odd"
            )));
        }
        let eps_key = key("attention.layer_norm_rms_epsilon");
        let rms_eps = file.get_f32(&eps_key)?;
        if !(rms_eps.is_finite() && rms_eps > 0.0) {
            return Err(Error::BadConfig(format!(
                "{eps_key} = {rms_eps} must be positive"
            )));
        }
        let base_key = key("rope.freq_base");
        let rope_base = file.opt_f32(&base_key)?.unwrap_or(10000.0);
        if !(rope_base.is_finite() && rope_base > 1.0) {
            return Err(Error::BadConfig(format!(
                "{base_key} = {rope_base} must be > 1"
            )));
        }
        let rope_key = key("rope.dimension_count");
        let rope_dim = match file.opt_u64(&rope_key)? {
            Some(v) => v as usize,
            None => head_dim,
        };
        if rope_dim == 0 || rope_dim > head_dim || rope_dim % 2 != 0 {
            return Err(Error::BadConfig(format!(
                "{rope_key} = {rope_dim} must be even and in 2..={head_dim}"
            )));
        }
        let ctx_key = key("context_length");
        let context_length = match file.opt_u64(&ctx_key)? {
            Some(v) => bounded(&ctx_key, v, 1 << 24)?,
            None => 4096,
        };
        let n_vocab = file.get_array("tokenizer.ggml.tokens")?.len();
        if n_vocab == 0 {
            return Err(Error::BadConfig("tokenizer.ggml.tokens is empty".into()));
        }
        Ok(Config {
            arch,
            dim,
            n_layers,
            n_heads,
            n_kv_heads,
            head_dim,
            ffn_dim,
            n_vocab,
            context_length,
            rms_eps,
            rope_base,
            rope_dim,
        })
    }
}
