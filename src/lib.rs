//! edge-llama: run Llama 2 models from GGUF files on CPUs at the edge.

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
pub use error::{Error, Result};
pub use kv_cache::{KvCacheConfig, KvType};
pub use model::{Config, Model, ModelOptions};
pub use sampler::{Sampler, SamplerConfig};
pub use session::{Generate, Generated, Session, SessionOptions};
pub use tokenizer::Tokenizer;
