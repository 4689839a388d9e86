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
    /// Two tensors whose data ranges share bytes (overlapping or aliased).
    #[error("tensors {first:?} (bytes {}..{}) and {second:?} (bytes {}..{}) overlap", .first_range.0, .first_range.1, .second_range.0, .second_range.1)]
    OverlappingTensors {
        /// The tensor whose data starts first.
        first: String,
        /// Its absolute byte range in the file, `start..end`.
        first_range: (u64, u64),
        /// The tensor whose data starts inside the first one's.
        second: String,
        /// Its absolute byte range in the file, `start..end`.
        second_range: (u64, u64),
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
    /// Memory a file or option would make us allocate exceeds a limit
    /// (e.g. [`crate::KvCacheConfig::max_session_bytes`]).
    #[error("{what} needs {needed} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// What would be allocated.
        what: String,
        /// Bytes it needs.
        needed: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// Any other invalid argument.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// An evaluation stopped because its session's
    /// [`CancelHandle`](crate::session::CancelHandle) was cancelled. The
    /// tokens of the batch that was running are not kept; the session
    /// keeps working.
    #[error("cancelled")]
    Cancelled,
    /// A saved session file that cannot be restored (or written).
    #[error("session file {path}: {kind}")]
    SessionFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        kind: SessionFileError,
    },
    /// A kernel path that is unknown or that this CPU cannot run (from
    /// `EDGE_LLAMA_KERNELS` or `ModelOptions::kernel_path`).
    #[error("kernels: {0}")]
    Kernel(#[from] edge_llama_kernels::KernelError),
}

/// Why a saved session file was refused. Every check runs before a live
/// session is touched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionFileError {
    /// The file is shorter than its header, or than the length it declares.
    #[error("truncated: {len} bytes, at least {needed} needed")]
    Truncated {
        /// File length in bytes.
        len: u64,
        /// Bytes needed.
        needed: u64,
    },
    /// The file is longer than the length its header declares.
    #[error("{len} bytes, but the header declares {declared}")]
    TrailingBytes {
        /// File length in bytes.
        len: u64,
        /// Length the header declares.
        declared: u64,
    },
    /// The file does not start with the session magic `ELSS`.
    #[error("not a saved session: it starts with \"{}\", not \"ELSS\"", escape_magic(.0))]
    BadMagic([u8; 4]),
    /// A format version this build does not read (a newer file, or a broken one).
    #[error("format version {found}; this build reads version {supported}")]
    UnsupportedVersion {
        /// Version in the file.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },
    /// The checksum over the contents does not match: the file is corrupted.
    #[error("checksum mismatch (stored {stored:#018x}, computed {computed:#018x}): the file is corrupted")]
    Checksum {
        /// Checksum stored in the file.
        stored: u64,
        /// Checksum of the contents read.
        computed: u64,
    },
    /// The state was saved from another model (or another quantization of it).
    #[error("saved from another model (identity {file:#018x}, this model is {model:#018x})")]
    ForeignModel {
        /// Model identity in the file.
        file: u64,
        /// Identity of the model restoring it.
        model: u64,
    },
    /// A model dimension in the file differs from the model's.
    #[error("{field} is {file} in the file, {model} in the model")]
    ModelMismatch {
        /// The dimension.
        field: &'static str,
        /// Value in the file.
        file: u64,
        /// The model's value.
        model: u64,
    },
    /// A header field or section that is out of range or inconsistent.
    #[error("{field} = {value}: {reason}")]
    BadField {
        /// The field.
        field: &'static str,
        /// Its value.
        value: u64,
        /// What is wrong.
        reason: String,
    },
    /// Restoring in place into a session whose KV cache settings differ.
    #[error("KV cache in the file is {file}, the session's is {session}")]
    KvConfigMismatch {
        /// Settings in the file.
        file: String,
        /// The session's settings.
        session: String,
    },
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
