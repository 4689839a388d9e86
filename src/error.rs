//! The one error type of the crate: every failure is a variant.

use std::path::PathBuf;

/// Everything that can go wrong when loading or running a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be opened, mapped, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file does not start with the GGUF magic.
    #[error("not a GGUF file: it starts with \"{}\", not \"GGUF\"", escape_magic(.0))]
    BadMagic([u8; 4]),
    /// A big-endian GGUF file.
    #[error("big-endian GGUF files are not supported")]
    BigEndian,
    /// A GGUF version other than 2 or 3.
    #[error("unsupported GGUF version {0} (supported: 2 and 3)")]
    UnsupportedVersion(u32),
    /// The file ends before a structure it declares.
    #[error("GGUF file truncated: {what} needs {needed} bytes at offset {offset}, but the file has {file_len}")]
    Truncated {
        /// What was being read.
        what: String,
        /// Byte offset of the read.
        offset: u64,
        /// Bytes needed.
        needed: u64,
        /// File length in bytes.
        file_len: u64,
    },
    /// A count or length larger than the remaining bytes could hold.
    #[error("GGUF {what}: count {count} cannot fit in the {remaining} bytes left")]
    CountTooLarge {
        /// What was counted.
        what: String,
        /// The declared count.
        count: u64,
        /// Bytes left in the file at that point.
        remaining: u64,
    },
    /// An unknown metadata value type.
    #[error("metadata key {key:?}: unknown value type {ty}")]
    BadValueType {
        /// The key.
        key: String,
        /// The type id found.
        ty: u32,
    },
    /// Metadata arrays nested deeper than the reader supports.
    #[error("metadata key {key:?}: arrays nested deeper than {limit} levels")]
    NestingTooDeep {
        /// The key.
        key: String,
        /// The deepest nesting accepted.
        limit: usize,
    },
    /// A string that is not valid UTF-8.
    #[error("invalid UTF-8 in {what}")]
    BadUtf8 {
        /// Where.
        what: String,
    },
    /// Two metadata keys or tensors with the same name.
    #[error("duplicate {kind} {name:?}")]
    Duplicate {
        /// "metadata key" or "tensor".
        kind: &'static str,
        /// The name.
        name: String,
    },
    /// `general.alignment` is zero, not a power of two, or too large.
    #[error("invalid general.alignment {0}")]
    BadAlignment(u64),
    /// A tensor whose type id is not known.
    #[error("tensor {name:?}: unknown tensor type {ty}")]
    UnknownTensorType {
        /// Tensor name.
        name: String,
        /// Type id found.
        ty: u32,
    },
    /// A tensor type that is known but not supported for this use.
    #[error("tensor {name:?}: type {ty} is not supported {context}")]
    UnsupportedTensorType {
        /// Tensor name.
        name: String,
        /// Type name.
        ty: String,
        /// What it was needed for.
        context: String,
    },
    /// A malformed tensor entry (dimensions, size, offset, alignment).
    #[error("tensor {name:?}: {reason}")]
    BadTensor {
        /// Tensor name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A required metadata key is absent.
    #[error("missing metadata key {0:?}")]
    MissingKey(String),
    /// A metadata value of the wrong type (or out of range for it).
    #[error("metadata key {key:?}: expected {expected}, found {found}")]
    WrongType {
        /// The key.
        key: String,
        /// What was expected.
        expected: &'static str,
        /// What was found.
        found: String,
    },
    /// A required tensor is absent.
    #[error("missing tensor {0:?}")]
    MissingTensor(String),
    /// A tensor's shape does not match the model config.
    #[error("tensor {name:?}: shape {found:?}, expected {expected:?}")]
    ShapeMismatch {
        /// Tensor name.
        name: String,
        /// Shape the config implies (ne order).
        expected: Vec<u64>,
        /// Shape in the file.
        found: Vec<u64>,
    },
    /// Hyperparameters that are inconsistent or out of range.
    #[error("invalid model config: {0}")]
    BadConfig(String),
    /// A token id outside the vocabulary.
    #[error("token id {id} out of range (vocabulary has {n_vocab} tokens)")]
    TokenOutOfRange {
        /// The id.
        id: u32,
        /// Vocabulary size.
        n_vocab: usize,
    },
    /// The tokenizer metadata is missing or invalid.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// Invalid sampler settings.
    #[error("sampler: {0}")]
    Sampler(String),
    /// An invalid chat conversation.
    #[error("chat: {0}")]
    Chat(String),
    /// A session operation that the cache state does not allow.
    #[error("context: {0}")]
    Context(String),
    /// Any other invalid argument.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A kernel path that is unknown or that this CPU cannot run (from
    /// `EDGE_LLAMA_KERNELS` or `ModelOptions::kernel_path`).
    #[error("kernels: {0}")]
    Kernel(#[from] edge_llama_kernels::KernelError),
}

/// Result with the crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// The magic bytes as printable ASCII with escapes (`"\\x00"`).
fn escape_magic(magic: &[u8; 4]) -> String {
    magic
        .iter()
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect()
}
