//! The Llama model: config from metadata, weights bound to the mapped file,
//! and the forward pass.

mod attention;
mod config;
pub(crate) mod forward;
pub(crate) mod matvec;
mod panel;
mod products;
mod realign;
mod threads;
pub(crate) mod weights;

pub use config::Config;
pub use threads::{default_threads, ThreadChoice};

use crate::error::{Error, Result};
use crate::gguf::{GgufFile, MapOptions};
use crate::tokenizer::Tokenizer;
use edge_llama_kernels::{KernelPath, Kernels, Numerics};
use std::path::Path;
use std::sync::Arc;
use weights::Weights;

/// Options for opening a model.
#[derive(Clone, Debug, Default)]
pub struct ModelOptions {
    /// Threads for matrix-vector products; 0 means [`default_threads`]: the
    /// physical cores, or the performance cores of a big.LITTLE ARM board.
    pub threads: usize,
    /// Summation order of the kernels. `None`: the `EDGE_LLAMA_NUMERICS`
    /// variable (`default` or `llamacpp`; any other value is an error at
    /// open), else [`Numerics::Default`].
    pub numerics: Option<Numerics>,
    /// Kernel path. `None`: the `EDGE_LLAMA_KERNELS` variable, else the best
    /// this CPU runs. A path this CPU cannot run is an error at open.
    pub kernel_path: Option<KernelPath>,
    /// How the file is mapped (2 MiB pages; see [`MapOptions`]).
    pub map: MapOptions,
}

/// The numerics `options` ask for, else `EDGE_LLAMA_NUMERICS`, else the default.
fn numerics_of(options: &ModelOptions) -> Result<Numerics> {
    if let Some(n) = options.numerics {
        return Ok(n);
    }
    match std::env::var(Numerics::ENV_VAR) {
        Ok(v) if !v.trim().is_empty() => Numerics::from_name(v.trim()).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "{}={v:?}: expected \"default\" or \"llamacpp\"",
                Numerics::ENV_VAR
            ))
        }),
        _ => Ok(Numerics::Default),
    }
}

/// A mapped GGUF model, ready to run. Cheap to clone (shared); `Send + Sync`,
/// so sessions on several threads can share one mapped file.
#[derive(Clone)]
pub struct Model {
    pub(crate) inner: Arc<ModelInner>,
}

pub(crate) struct ModelInner {
    pub file: GgufFile,
    pub config: Config,
    pub weights: Weights,
    pub tokenizer: Tokenizer,
    pub kernels: Kernels,
    pub pool: Option<rayon::ThreadPool>,
    pub threads: usize,
}

impl ModelInner {
    pub fn ctx(&self) -> forward::Ctx<'_> {
        forward::Ctx {
            config: &self.config,
            weights: &self.weights,
            map: self.file.as_bytes(),
            kernels: &self.kernels,
            pool: self.pool.as_ref(),
            cancel: None,
        }
    }
}

impl Model {
    /// Maps the GGUF file at `path` with default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Model> {
        Model::open_with(path, ModelOptions::default())
    }

    /// Maps the GGUF file at `path`: parses the header, checks every tensor
    /// against the config; reads no weight data.
    pub fn open_with(path: impl AsRef<Path>, options: ModelOptions) -> Result<Model> {
        Model::from_gguf(GgufFile::open_with(path, options.map)?, options)
    }

    /// Builds a model over an already opened GGUF file.
    pub fn from_gguf(file: GgufFile, options: ModelOptions) -> Result<Model> {
        let config = Config::from_gguf(&file)?;
        let weights = Weights::from_gguf(&file, &config)?;
        let tokenizer = Tokenizer::from_gguf(&file)?;
        if tokenizer.n_vocab() != config.n_vocab {
            return Err(Error::BadConfig(format!(
                "tokenizer has {} tokens, model {}",
                tokenizer.n_vocab(),
                config.n_vocab
            )));
        }
        // An EDGE_LLAMA_KERNELS naming an unknown path, or one this CPU
        // cannot run, is an error rather than a silent fallback.
        let kernels = match options.kernel_path {
            Some(path) => edge_llama_kernels::kernels_for(path.name()),
            None => edge_llama_kernels::try_kernels().copied(),
        }
        .map_err(Error::Kernel)?
        .with_numerics(numerics_of(&options)?);
        let threads = if options.threads == 0 {
            default_threads().threads
        } else {
            options.threads
        };
        let pool = if threads > 1 {
            Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .thread_name(|i| format!("edge-llama-{i}"))
                    .build()
                    .map_err(|e| {
                        Error::InvalidArgument(format!("thread pool of {threads}: {e}"))
                    })?,
            )
        } else {
            None
        };
        Ok(Model {
            inner: Arc::new(ModelInner {
                file,
                config,
                weights,
                tokenizer,
                kernels,
                pool,
                threads,
            }),
        })
    }

    /// The hyperparameters.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The model's own tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.inner.tokenizer
    }

    /// The underlying GGUF file (metadata, tensors).
    pub fn gguf(&self) -> &GgufFile {
        &self.inner.file
    }

    /// Threads used for matrix-vector products.
    pub fn threads(&self) -> usize {
        self.inner.threads
    }

    /// Name of the kernel path in use ("scalar", "avx2", "avx512", "neon", "dotprod").
    pub fn kernel_path(&self) -> &'static str {
        self.inner.kernels.name
    }

    /// The summation order the kernels follow.
    pub fn numerics(&self) -> Numerics {
        self.inner.kernels.numerics
    }

    /// Names and sizes (bytes) of the weight matrices that the file did not
    /// align for their type (GGUF allows `general.alignment` 1 or 2) and
    /// that were therefore copied into aligned memory when the model was
    /// opened; empty for a normally aligned file, where every weight is read
    /// in place from the map. The library logs nothing itself: applications
    /// may report this (the `generate` and `chat` examples print one line).
    pub fn realigned_tensors(&self) -> Vec<(&str, usize)> {
        let w = &self.inner.weights;
        let layers = w
            .layers
            .iter()
            .flat_map(|l| [&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down]);
        let mut out: Vec<(&str, usize)> = [&w.token_embd, &w.output]
            .into_iter()
            .chain(layers)
            .filter_map(|m| m.copy.as_ref().map(|c| (m.name.as_str(), c.len())))
            .collect();
        // A tied head shares the embedding's copy: list it once.
        out.dedup_by(|a, b| a.0 == b.0);
        out
    }
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("config", &self.inner.config)
            .field("threads", &self.inner.threads)
            .field("kernels", &self.inner.kernels.name)
            .finish()
    }
}
