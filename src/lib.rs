//! edge-llama: run Llama 2 models from GGUF files on CPUs at the edge.

#![warn(missing_docs)]

pub mod error;
pub mod gguf;
pub mod sampler;
pub mod tensor;
pub mod tokenizer;

pub use edge_llama_kernels as kernels;
pub use error::{Error, Result};
