//! GGUF reader and writer (zero-copy over memmap2).
//!
//! [`GgufFile`] validates a GGUF v2/v3 little-endian file once when it is
//! opened (every count, length, string, type, tensor shape, offset and
//! alignment) and then serves metadata values and tensor bytes borrowed from
//! the memory map. [`GgufWriter`] produces GGUF v3 files that the reader
//! accepts.
//!
//! ```
//! use edge_llama::gguf::{GgufFile, GgufWriter, OwnedValue};
//! use edge_llama::kernels::GgmlType;
//!
//! let weights: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0].iter().flat_map(|x| x.to_le_bytes()).collect();
//! let mut w = GgufWriter::new();
//! w.add_metadata("general.architecture", OwnedValue::from("llama"))?;
//! w.add_tensor("w", GgmlType::F32, &[2, 2], &weights)?;
//! let mut bytes = Vec::new();
//! w.write(&mut bytes)?;
//!
//! let f = GgufFile::from_bytes(bytes)?;
//! assert_eq!(f.get_str("general.architecture")?, "llama");
//! let t = f.tensor("w").unwrap();
//! assert_eq!(t.shape, &[2, 2]);
//! assert_eq!(t.data, &weights[..]);
//! # Ok::<(), edge_llama::Error>(())
//! ```

pub mod pages;
pub mod reader;
pub mod value;
pub mod writer;

pub use pages::{MapOptions, PageReport};
pub use reader::GgufFile;
pub use value::{ArrayValue, OwnedValue, Value, ValueType, MAX_ARRAY_DEPTH};
pub use writer::GgufWriter;

/// Tensor-data alignment in bytes when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// Most dimensions a GGUF tensor may have.
pub const MAX_DIMS: usize = 4;
