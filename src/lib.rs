//! edge-llama: run Llama 2 models from GGUF files on CPUs at the edge.
//!
//! A [`Model`] memory-maps a GGUF file (no weights are read at open), a
//! [`Session`] holds one conversation's KV cache, a [`Sampler`] turns logits
//! into tokens, and [`Chat`] formats Llama 2 / ChatML conversations.
//!
//! ```
//! use edge_llama::kernels::GgmlType;
//! use edge_llama::synthetic::SyntheticSpec;
//! use edge_llama::{Model, Sampler, SamplerConfig, SessionOptions};
//!
//! # fn main() -> edge_llama::Result<()> {
//! // A small random-weight model stands in for a real GGUF file here.
//! let path = std::env::temp_dir().join(format!("edge-llama-doc-{}.gguf", std::process::id()));
//! SyntheticSpec::tiny(GgmlType::Q8_0).write(&path)?;
//!
//! let model = Model::open(&path)?;
//! let prompt = model.tokenizer().encode("hello", true);
//! let mut session = model.new_session(SessionOptions::default())?;
//! let mut sampler = Sampler::new(SamplerConfig { seed: 1, ..Default::default() }, model.config().n_vocab)?;
//! let mut text = String::new();
//! for token in session.generate(&prompt, &mut sampler, 8)? {
//!     text.push_str(&token?.text);
//! }
//! assert!(session.position() > prompt.len());
//! # std::fs::remove_file(&path).ok();
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod chat;
pub mod error;
pub mod eval;
pub mod gguf;
pub mod kv_cache;
pub mod model;
pub mod quantize;
pub mod sampler;
pub mod session;
pub mod synthetic;
pub mod tensor;
pub mod tokenizer;

pub use chat::{Chat, ChatFormat, Message, Reply, Role};
pub use edge_llama_kernels as kernels;
pub use error::{Error, Result, SessionFileError};
pub use kv_cache::{KvCacheConfig, KvType};
pub use model::{Config, Model, ModelOptions};
pub use sampler::{Sampler, SamplerConfig};
pub use session::{CancelHandle, Generate, Generated, Session, SessionOptions};
pub use tokenizer::Tokenizer;

/// Benchmark hooks; not part of the stable API.
#[doc(hidden)]
pub mod __bench {
    pub use crate::model::matvec::{bench_matvec, BenchActivation};
}

/// The README's code examples, compiled as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
