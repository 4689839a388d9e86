//! The GGUF writer: metadata and tensors in, a GGUF v3 little-endian file out.

use std::borrow::Cow;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use edge_llama_kernels::GgmlType;

use super::value::{OwnedValue, MAX_ARRAY_DEPTH};
use super::{DEFAULT_ALIGNMENT, MAX_DIMS};
use crate::error::{Error, Result};

const ALIGN_KEY: &str = "general.alignment";

/// A tensor waiting to be written.
#[derive(Debug)]
struct PendingTensor<'a> {
    name: String,
    dtype: GgmlType,
    shape: Vec<u64>,
    data: Cow<'a, [u8]>,
}

/// Builds a GGUF file (version 3, little-endian): metadata in insertion
/// order, then the tensor table, then the tensor data, each tensor starting
/// at a multiple of the alignment (32 bytes unless changed with
/// [`set_alignment`](Self::set_alignment)).
///
/// Tensor data is borrowed (`Cow::Borrowed`) or owned; nothing is copied
/// until it is written. Every value and tensor is checked when added, so a
/// file the writer produces always passes the reader's validation.
#[derive(Debug)]
pub struct GgufWriter<'a> {
    alignment: u64,
    metadata: Vec<(String, OwnedValue)>,
    tensors: Vec<PendingTensor<'a>>,
}

impl Default for GgufWriter<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> GgufWriter<'a> {
    /// An empty writer: no metadata, no tensors, alignment 32.
    pub fn new() -> Self {
        GgufWriter {
            alignment: DEFAULT_ALIGNMENT,
            metadata: Vec::new(),
            tensors: Vec::new(),
        }
    }

    /// The tensor-data alignment in bytes.
    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Sets the tensor-data alignment in bytes: a nonzero power of two that
    /// fits in u32, else `Error::BadAlignment`. When it is not 32 the
    /// `general.alignment` key (u32) is written too; setting 32 removes it.
    pub fn set_alignment(&mut self, a: u64) -> Result<()> {
        if !a.is_power_of_two() || a > u64::from(u32::MAX) {
            return Err(Error::BadAlignment(a));
        }
        self.alignment = a;
        if a == DEFAULT_ALIGNMENT {
            self.metadata.retain(|(k, _)| k != ALIGN_KEY);
        } else {
            // Fits: checked above.
            self.put(ALIGN_KEY, OwnedValue::U32(a as u32));
        }
        Ok(())
    }

    /// Adds a metadata entry. `Error::Duplicate` when the key exists (the
    /// existing value is kept); `Error::InvalidArgument` when an array holds
    /// an element of another type than its declared element type;
    /// `Error::NestingTooDeep` for arrays nested deeper than
    /// [`super::MAX_ARRAY_DEPTH`]. Setting
    /// `general.alignment` to a valid value also sets the alignment.
    pub fn add_metadata(&mut self, key: &str, value: OwnedValue) -> Result<()> {
        if self.metadata.iter().any(|(k, _)| k == key) {
            return Err(Error::Duplicate {
                kind: "metadata key",
                name: key.to_string(),
            });
        }
        validate_value(key, &value, 0)?;
        self.put(key, value);
        Ok(())
    }

    /// Inserts or replaces a metadata entry (a replaced entry keeps its
    /// position). Invalid values are reported by [`write`](Self::write).
    pub fn set_metadata(&mut self, key: &str, value: OwnedValue) {
        self.put(key, value);
    }

    /// Removes a metadata entry, returning its value.
    pub fn remove_metadata(&mut self, key: &str) -> Option<OwnedValue> {
        let i = self.metadata.iter().position(|(k, _)| k == key)?;
        Some(self.metadata.remove(i).1)
    }

    fn put(&mut self, key: &str, value: OwnedValue) {
        if key == ALIGN_KEY {
            if let Some(a) = owned_u64(&value).filter(|a| a.is_power_of_two()) {
                self.alignment = a;
            }
        }
        match self.metadata.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.metadata.push((key.to_string(), value)),
        }
    }

    /// Adds a tensor with GGUF shape `shape` (`shape[0]` contiguous, 1..=4
    /// dimensions). `Error::Duplicate` for a name already added;
    /// `Error::BadTensor` when the shape is invalid for `dtype` (row length
    /// not a multiple of the block size) or `data` is not exactly the byte
    /// size the type and shape imply.
    pub fn add_tensor(
        &mut self,
        name: &str,
        dtype: GgmlType,
        shape: &[u64],
        data: impl Into<Cow<'a, [u8]>>,
    ) -> Result<()> {
        let bad = |reason: String| Error::BadTensor {
            name: name.to_string(),
            reason,
        };
        if self.tensors.iter().any(|t| t.name == name) {
            return Err(Error::Duplicate {
                kind: "tensor",
                name: name.to_string(),
            });
        }
        if shape.is_empty() || shape.len() > MAX_DIMS {
            return Err(bad(format!(
                "{} dimensions, must be 1..={MAX_DIMS}",
                shape.len()
            )));
        }
        let data = data.into();
        let n_elems = shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| bad(format!("element count of shape {shape:?} overflows u64")))?;
        let block = dtype.block_elems() as u64;
        if !shape[0].is_multiple_of(block) {
            return Err(bad(format!(
                "row length {} is not a multiple of the {dtype} block size {block}",
                shape[0]
            )));
        }
        let row = dtype
            .row_bytes(shape[0])
            .ok_or_else(|| bad(format!("byte size of shape {shape:?} overflows")))?;
        let n_rows = n_elems.checked_div(shape[0]).unwrap_or(0);
        let size = row
            .checked_mul(n_rows)
            .ok_or_else(|| bad(format!("byte size of shape {shape:?} overflows")))?;
        if size != data.len() as u64 {
            return Err(bad(format!(
                "{dtype} tensor of shape {shape:?} needs {size} bytes, got {}",
                data.len()
            )));
        }
        self.tensors.push(PendingTensor {
            name: name.to_string(),
            dtype,
            shape: shape.to_vec(),
            data,
        });
        Ok(())
    }

    /// Writes the file to `out`. Validation errors come before any byte is
    /// written; I/O errors are `Error::Io` with path `"<stream>"`.
    pub fn write<W: Write>(&self, out: &mut W) -> Result<()> {
        let header = self.encode_header()?;
        self.emit(&header, out).map_err(|source| Error::Io {
            path: PathBuf::from("<stream>"),
            source,
        })
    }

    /// Writes the file to `path` atomically: writes `PATH.tmp-<pid>` in the
    /// same directory, fsyncs it, then renames it over `path`. On any error
    /// the temporary file is removed, so `path` is either untouched or the
    /// complete new file.
    pub fn write_to_path(&self, path: impl AsRef<Path>) -> Result<()> {
        let header = self.encode_header()?;
        write_atomically(path.as_ref(), |w| {
            self.emit(&header, w).map_err(|source| Error::Io {
                path: PathBuf::from("<stream>"),
                source,
            })
        })
    }

    /// Everything before the tensor data: header, metadata, tensor table,
    /// padding. Validates the metadata.
    fn encode_header(&self) -> Result<Vec<u8>> {
        let align = self.alignment;
        let mut kvs: Vec<(&str, Cow<'_, OwnedValue>)> = Vec::with_capacity(self.metadata.len() + 1);
        for (k, v) in &self.metadata {
            validate_value(k, v, 0)?;
            if k == ALIGN_KEY {
                match owned_u64(v) {
                    Some(a) if a == align => {}
                    Some(a) => return Err(Error::BadAlignment(a)),
                    None => {
                        return Err(Error::WrongType {
                            key: k.clone(),
                            expected: "unsigned integer",
                            found: v.value_type().to_string(),
                        })
                    }
                }
            }
            kvs.push((k, Cow::Borrowed(v)));
        }
        if align != DEFAULT_ALIGNMENT && !self.metadata.iter().any(|(k, _)| k == ALIGN_KEY) {
            let a = u32::try_from(align).map_err(|_| Error::BadAlignment(align))?;
            kvs.push((ALIGN_KEY, Cow::Owned(OwnedValue::U32(a))));
        }

        let mut b = Vec::with_capacity(4096);
        b.extend_from_slice(b"GGUF");
        b.extend_from_slice(&3u32.to_le_bytes());
        b.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        b.extend_from_slice(&(kvs.len() as u64).to_le_bytes());
        for (k, v) in &kvs {
            put_str(&mut b, k);
            b.extend_from_slice(&v.value_type().id().to_le_bytes());
            encode_value(&mut b, v);
        }
        let mut offset = 0u64;
        for t in &self.tensors {
            put_str(&mut b, &t.name);
            b.extend_from_slice(&(t.shape.len() as u32).to_le_bytes());
            for d in &t.shape {
                b.extend_from_slice(&d.to_le_bytes());
            }
            b.extend_from_slice(&t.dtype.id().to_le_bytes());
            b.extend_from_slice(&offset.to_le_bytes());
            offset = (offset + t.data.len() as u64)
                .checked_next_multiple_of(align)
                .ok_or(Error::BadAlignment(align))?;
        }
        let padded = (b.len() as u64)
            .checked_next_multiple_of(align)
            .ok_or(Error::BadAlignment(align))?;
        b.resize(padded as usize, 0);
        Ok(b)
    }

    fn emit<W: Write>(&self, header: &[u8], out: &mut W) -> io::Result<()> {
        out.write_all(header)?;
        for t in &self.tensors {
            out.write_all(&t.data)?;
            let len = t.data.len() as u64;
            let pad = len.next_multiple_of(self.alignment) - len;
            write_zeros(out, pad)?;
        }
        out.flush()
    }
}

fn write_zeros<W: Write>(out: &mut W, mut n: u64) -> io::Result<()> {
    const ZEROS: [u8; 256] = [0; 256];
    while n > 0 {
        let k = n.min(ZEROS.len() as u64) as usize;
        out.write_all(&ZEROS[..k])?;
        n -= k as u64;
    }
    Ok(())
}

fn owned_u64(v: &OwnedValue) -> Option<u64> {
    match *v {
        OwnedValue::U8(x) => Some(x.into()),
        OwnedValue::U16(x) => Some(x.into()),
        OwnedValue::U32(x) => Some(x.into()),
        OwnedValue::U64(x) => Some(x),
        OwnedValue::I8(x) => u64::try_from(x).ok(),
        OwnedValue::I16(x) => u64::try_from(x).ok(),
        OwnedValue::I32(x) => u64::try_from(x).ok(),
        OwnedValue::I64(x) => u64::try_from(x).ok(),
        _ => None,
    }
}

/// Checks that arrays hold only their element type and nest at most
/// `MAX_ARRAY_DEPTH` deep (`depth` = arrays enclosing `v`).
fn validate_value(key: &str, v: &OwnedValue, depth: usize) -> Result<()> {
    if let OwnedValue::Array(et, items) = v {
        if depth >= MAX_ARRAY_DEPTH {
            return Err(Error::NestingTooDeep {
                key: key.to_string(),
                limit: MAX_ARRAY_DEPTH,
            });
        }
        for (i, item) in items.iter().enumerate() {
            if item.value_type() != *et {
                return Err(Error::InvalidArgument(format!(
                    "metadata key {key:?}: element {i} of an array of {et} is a {}",
                    item.value_type()
                )));
            }
            validate_value(key, item, depth + 1)?;
        }
    }
    Ok(())
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(&(s.len() as u64).to_le_bytes());
    b.extend_from_slice(s.as_bytes());
}

/// Appends the encoding of `v` without its type tag.
fn encode_value(b: &mut Vec<u8>, v: &OwnedValue) {
    match v {
        OwnedValue::U8(x) => b.push(*x),
        OwnedValue::I8(x) => b.extend_from_slice(&x.to_le_bytes()),
        OwnedValue::U16(x) => b.extend_from_slice(&x.to_le_bytes()),
        OwnedValue::I16(x) => b.extend_from_slice(&x.to_le_bytes()),
        OwnedValue::U32(x) => b.extend_from_slice(&x.to_le_bytes()),
        OwnedValue::I32(x) => b.extend_from_slice(&x.to_le_bytes()),
        OwnedValue::F32(x) => b.extend_from_slice(&x.to_le_bytes()),
        OwnedValue::Bool(x) => b.push(u8::from(*x)),
        OwnedValue::String(s) => put_str(b, s),
        OwnedValue::Array(et, items) => {
            b.extend_from_slice(&et.id().to_le_bytes());
            b.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for item in items {
                encode_value(b, item);
            }
        }
        OwnedValue::U64(x) => b.extend_from_slice(&x.to_le_bytes()),
        OwnedValue::I64(x) => b.extend_from_slice(&x.to_le_bytes()),
        OwnedValue::F64(x) => b.extend_from_slice(&x.to_le_bytes()),
    }
}

/// Runs `f` on a buffered temporary file beside `path` (`PATH.tmp-<pid>`),
/// then fsyncs it and renames it to `path`; removes the temporary file on any
/// error, so `path` is either untouched or complete. I/O errors reported by
/// `f` for the stream are attributed to the temporary file.
pub(crate) fn write_atomically<T>(
    path: &Path,
    f: impl FnOnce(&mut io::BufWriter<std::fs::File>) -> Result<T>,
) -> Result<T> {
    let io_err = |p: &Path| {
        let p: PathBuf = p.to_path_buf();
        move |source| Error::Io { path: p, source }
    };
    let file_name = path.file_name().ok_or_else(|| {
        io_err(path)(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a file path",
        ))
    })?;
    let mut tmp_name = file_name.to_os_string();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = (|| -> Result<T> {
        let file = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
        let mut w = io::BufWriter::with_capacity(1 << 20, file);
        let value = f(&mut w).map_err(|e| match e {
            // The writer names the stream "<stream>": name the file instead.
            Error::Io { source, .. } => Error::Io {
                path: tmp.clone(),
                source,
            },
            other => other,
        })?;
        let file = w.into_inner().map_err(|e| io_err(&tmp)(e.into_error()))?;
        file.sync_all().map_err(io_err(&tmp))?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(io_err(path))?;
        // Best effort: make the rename itself durable.
        #[cfg(unix)]
        if let Some(dir) = path.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(value)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
