//! The GGUF reader: validates a file once at open, keeps a small index of
//! offsets, and hands out values and tensors borrowed from the bytes.

use std::ops::{Deref, Range};
use std::path::Path;

use edge_llama_kernels::GgmlType;

use super::pages::{self, MapOptions, PageReport};
use super::value::{decode_at, ArrayValue, Value, ValueType, MAX_ARRAY_DEPTH};
use super::{DEFAULT_ALIGNMENT, MAX_DIMS};
use crate::error::{Error, Result};
use crate::tensor::TensorView;

/// The bytes of a GGUF file: a read-only memory map, or a vector (tests,
/// in-memory files).
enum Storage {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Deref for Storage {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Storage::Mapped(m) => m,
            Storage::Owned(v) => v,
        }
    }
}

/// One metadata entry: where its key and value are in the file.
#[derive(Debug)]
struct KvEntry {
    /// Byte range of the key (valid UTF-8).
    key: Range<usize>,
    /// Value type.
    ty: ValueType,
    /// Byte position of the value (after the type tag).
    val: usize,
}

/// One tensor-table entry.
#[derive(Debug)]
struct TensorEntry {
    /// Byte range of the name (valid UTF-8).
    name: Range<usize>,
    dtype: GgmlType,
    /// Dimensions, `shape[0]` contiguous; 1..=4 of them.
    shape: Vec<u64>,
    /// Absolute byte range of the data in the file.
    data: Range<usize>,
}

/// A GGUF file (version 2 or 3, little-endian), validated at open.
///
/// Holds the bytes (memory-mapped by [`GgufFile::open`]) and an index of
/// offsets; metadata strings, arrays and tensor data are borrowed from the
/// bytes on access, nothing is copied. Every structural check (counts,
/// lengths, UTF-8, types, tensor shapes, alignment, bounds, duplicates)
/// happens in `open`/`from_bytes`, so accessors cannot fail on layout.
pub struct GgufFile {
    bytes: Storage,
    version: u32,
    alignment: u64,
    data_offset: u64,
    kvs: Vec<KvEntry>,
    /// Indices into `kvs`, sorted by key bytes.
    kv_sorted: Vec<u32>,
    tensors: Vec<TensorEntry>,
    /// Indices into `tensors`, sorted by name bytes.
    tensor_sorted: Vec<u32>,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("len", &self.bytes.len())
            .field("version", &self.version)
            .field("alignment", &self.alignment)
            .field("data_offset", &self.data_offset)
            .field("n_metadata", &self.kvs.len())
            .field("n_tensors", &self.tensors.len())
            .finish()
    }
}

impl GgufFile {
    /// Memory-maps and validates the file at `path`. I/O failures are
    /// `Error::Io` naming the path.
    pub fn open(path: impl AsRef<Path>) -> Result<GgufFile> {
        GgufFile::open_with(path, MapOptions::default())
    }

    /// [`GgufFile::open`] with options for the map (see [`MapOptions`]).
    /// The map always asks for 2 MiB pages (Linux `MADV_HUGEPAGE`, a hint).
    pub fn open_with(path: impl AsRef<Path>, options: MapOptions) -> Result<GgufFile> {
        let path = path.as_ref();
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if options.reread_in_huge_pages {
            pages::drop_unmapped_cached_pages(&file);
        }
        let bytes = if len == 0 {
            Storage::Owned(Vec::new())
        } else {
            // SAFETY: the map is read-only and we never hand out mutable
            // access. As with every file mapping, another process truncating
            // or rewriting the file while it is mapped is outside what Rust
            // can guard against; the index stores only offsets checked
            // against the map's fixed length, and all decoding of contents
            // after open is fallible, so changed contents cannot cause
            // out-of-bounds access.
            let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
            pages::advise_huge_pages(&map);
            Storage::Mapped(map)
        };
        Self::parse(bytes)
    }

    /// Validates a GGUF file held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<GgufFile> {
        Self::parse(Storage::Owned(bytes))
    }

    /// GGUF version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Alignment of tensor data in bytes (`general.alignment`, default 32);
    /// a nonzero power of two.
    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Absolute byte offset where tensor data starts: the end of the tensor
    /// table rounded up to the alignment. Tensor offsets are relative to it.
    /// (May equal or exceed the file length when the file has no tensors.)
    pub fn data_offset(&self) -> u64 {
        self.data_offset
    }

    /// How much of the mapped file is resident and how much of that is in
    /// 2 MiB pages, read from `/proc/self/smaps` now (it changes as pages
    /// are touched or reclaimed). `None` for an in-memory file, or where
    /// the kernel does not report it (not Linux).
    pub fn page_report(&self) -> Option<PageReport> {
        match &self.bytes {
            Storage::Mapped(m) => pages::report(m.as_ptr()),
            Storage::Owned(_) => None,
        }
    }

    /// The whole file.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Number of metadata entries.
    pub fn metadata_len(&self) -> usize {
        self.kvs.len()
    }

    /// Number of tensors.
    pub fn tensor_count(&self) -> usize {
        self.tensors.len()
    }

    /// All metadata entries in file order.
    pub fn metadata(&self) -> impl Iterator<Item = (&str, Value<'_>)> + '_ {
        self.kvs.iter().map(|e| {
            let key = self.key_str(e);
            (key, self.value_of(key, e))
        })
    }

    /// The value of `key`, `None` when absent.
    pub fn get(&self, key: &str) -> Option<Value<'_>> {
        let i = find_sorted(&self.kv_sorted, key.as_bytes(), |i| {
            self.kvs
                .get(i)
                .map_or(&[][..], |e| &self.bytes[e.key.clone()])
        })?;
        let e = self.kvs.get(i)?;
        Some(self.value_of(self.key_str(e), e))
    }

    fn require(&self, key: &str) -> Result<Value<'_>> {
        self.get(key)
            .ok_or_else(|| Error::MissingKey(key.to_string()))
    }

    /// A string value; `MissingKey` when absent, `WrongType` when not a string.
    pub fn get_str(&self, key: &str) -> Result<&str> {
        let v = self.require(key)?;
        v.as_str().ok_or_else(|| wrong(key, "string", &v))
    }

    /// An integer value of any width that fits in `u64`; `MissingKey`, or
    /// `WrongType` for non-integers and negative values.
    pub fn get_u64(&self, key: &str) -> Result<u64> {
        let v = self.require(key)?;
        v.as_u64()
            .ok_or_else(|| wrong(key, "non-negative integer", &v))
    }

    /// An integer value of any width that fits in `u32`; `MissingKey`, or
    /// `WrongType` for non-integers and out-of-range values.
    pub fn get_u32(&self, key: &str) -> Result<u32> {
        let v = self.require(key)?;
        v.as_u64()
            .and_then(|x| u32::try_from(x).ok())
            .ok_or_else(|| wrong(key, "integer in u32 range", &v))
    }

    /// An `f32` value (an `f64` is rounded to `f32`); `MissingKey`, or
    /// `WrongType` for other types.
    pub fn get_f32(&self, key: &str) -> Result<f32> {
        let v = self.require(key)?;
        match v {
            Value::F32(x) => Ok(x),
            Value::F64(x) => Ok(x as f32),
            _ => Err(wrong(key, "float", &v)),
        }
    }

    /// A bool value; `MissingKey`, or `WrongType` for other types.
    pub fn get_bool(&self, key: &str) -> Result<bool> {
        let v = self.require(key)?;
        v.as_bool().ok_or_else(|| wrong(key, "bool", &v))
    }

    /// An array value; `MissingKey`, or `WrongType` for other types.
    pub fn get_array(&self, key: &str) -> Result<ArrayValue<'_>> {
        let v = self.require(key)?;
        v.as_array().ok_or_else(|| wrong(key, "array", &v))
    }

    /// Like [`get_u64`](Self::get_u64), `None` when absent.
    pub fn opt_u64(&self, key: &str) -> Result<Option<u64>> {
        self.optional(key, Self::get_u64)
    }

    /// Like [`get_u32`](Self::get_u32), `None` when absent.
    pub fn opt_u32(&self, key: &str) -> Result<Option<u32>> {
        self.optional(key, Self::get_u32)
    }

    /// Like [`get_f32`](Self::get_f32), `None` when absent.
    pub fn opt_f32(&self, key: &str) -> Result<Option<f32>> {
        self.optional(key, Self::get_f32)
    }

    /// Like [`get_bool`](Self::get_bool), `None` when absent.
    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        self.optional(key, Self::get_bool)
    }

    /// Like [`get_str`](Self::get_str), `None` when absent.
    pub fn opt_str(&self, key: &str) -> Result<Option<&str>> {
        self.optional(key, Self::get_str)
    }

    fn optional<'s, T>(
        &'s self,
        key: &str,
        f: impl FnOnce(&'s Self, &str) -> Result<T>,
    ) -> Result<Option<T>> {
        match f(self, key) {
            Ok(v) => Ok(Some(v)),
            Err(Error::MissingKey(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// All tensors in file order.
    pub fn tensors(&self) -> impl ExactSizeIterator<Item = TensorView<'_>> + '_ {
        self.tensors.iter().map(|t| self.view(t))
    }

    /// The tensor named `name` (binary search), `None` when absent.
    pub fn tensor(&self, name: &str) -> Option<TensorView<'_>> {
        let i = find_sorted(&self.tensor_sorted, name.as_bytes(), |i| {
            self.tensors
                .get(i)
                .map_or(&[][..], |t| &self.bytes[t.name.clone()])
        })?;
        self.tensors.get(i).map(|t| self.view(t))
    }

    /// Offset of a tensor's data relative to [`data_offset`](Self::data_offset)
    /// (the value stored in the tensor table), `None` when absent.
    pub fn tensor_offset(&self, name: &str) -> Option<u64> {
        let t = self.tensor(name)?;
        let start = (t.data.as_ptr() as usize).checked_sub(self.bytes.as_ptr() as usize)?;
        (start as u64).checked_sub(self.data_offset)
    }

    fn view<'s>(&'s self, t: &'s TensorEntry) -> TensorView<'s> {
        TensorView {
            name: std::str::from_utf8(&self.bytes[t.name.clone()]).unwrap_or(""),
            dtype: t.dtype,
            shape: &t.shape,
            data: &self.bytes[t.data.clone()],
        }
    }

    fn key_str(&self, e: &KvEntry) -> &str {
        std::str::from_utf8(&self.bytes[e.key.clone()]).unwrap_or("")
    }

    fn value_of<'s>(&'s self, key: &'s str, e: &KvEntry) -> Value<'s> {
        // The entry was validated at open, so decoding succeeds; the fallback
        // only guards against the mapped file changing underneath us.
        decode_at(key, e.ty, &self.bytes, e.val, 0).map_or_else(
            || match e.ty {
                ValueType::String => Value::String(""),
                ValueType::Array => Value::Array(ArrayValue::new(key, ValueType::U8, 0, &[])),
                _ => Value::U8(0),
            },
            |(v, _)| v,
        )
    }

    fn parse(bytes: Storage) -> Result<GgufFile> {
        let buf: &[u8] = &bytes;
        let mut c = Cursor { buf, pos: 0 };

        // Header.
        let magic = c.take(4, || "magic".to_string())?;
        let magic: [u8; 4] = [magic[0], magic[1], magic[2], magic[3]];
        if &magic == b"FUGG" {
            // The magic read as a big-endian u32 by a writer that byte-swaps it.
            return Err(Error::BigEndian);
        }
        if &magic != b"GGUF" {
            return Err(Error::BadMagic(magic));
        }
        let version = c.u32(|| "version".to_string())?;
        match version {
            2 | 3 => {}
            // A small version number stored big-endian reads as a large one.
            v if v != 0 && v & 0xffff == 0 => return Err(Error::BigEndian),
            v => return Err(Error::UnsupportedVersion(v)),
        }
        let n_tensors = c.u64(|| "tensor count".to_string())?;
        let n_kv = c.u64(|| "metadata count".to_string())?;
        // Each entry needs at least a key length (8), a type (4), one byte.
        check_count(n_kv, 8 + 4 + 1, c.remaining(), || {
            "metadata key/value count".to_string()
        })?;

        // Metadata.
        let mut kvs = Vec::with_capacity(cap(n_kv));
        for i in 0..n_kv {
            let key = c.string(
                || format!("key of metadata entry #{i}"),
                || format!("key of metadata entry #{i}"),
            )?;
            let key_range = c.pos - key.len()..c.pos;
            let ty_id = c.u32(|| format!("value type of metadata key {key:?}"))?;
            let ty = ValueType::from_id(ty_id).ok_or_else(|| Error::BadValueType {
                key: key.to_string(),
                ty: ty_id,
            })?;
            let val = c.pos;
            scan_value(&mut c, ty, key, 0)?;
            kvs.push(KvEntry {
                key: key_range,
                ty,
                val,
            });
        }
        let kv_sorted = sorted_unique(kvs.len(), |i| &buf[kvs[i].key.clone()], "metadata key")?;

        // Alignment.
        let mut alignment = DEFAULT_ALIGNMENT;
        const ALIGN_KEY: &str = "general.alignment";
        if let Some(i) = find_sorted(&kv_sorted, ALIGN_KEY.as_bytes(), |i| {
            &buf[kvs[i].key.clone()]
        }) {
            let e = &kvs[i];
            let v = decode_at(ALIGN_KEY, e.ty, buf, e.val, 0).map_or(Value::U8(0), |(v, _)| v);
            use Value::*;
            if !matches!(
                v,
                U8(_) | I8(_) | U16(_) | I16(_) | U32(_) | I32(_) | U64(_) | I64(_)
            ) {
                return Err(wrong(ALIGN_KEY, "unsigned integer", &v));
            }
            alignment = match (v.as_u64(), v.as_i64()) {
                (Some(a), _) if a.is_power_of_two() => a,
                (Some(a), _) => return Err(Error::BadAlignment(a)),
                (None, a) => return Err(Error::BadAlignment(a.unwrap_or(0) as u64)),
            };
        }

        // Tensor table.
        // Each entry needs a name length (8), n_dims (4), one dim (8), a type
        // (4) and an offset (8).
        check_count(n_tensors, 8 + 4 + 8 + 4 + 8, c.remaining(), || {
            "tensor count".to_string()
        })?;
        let mut tensors = Vec::with_capacity(cap(n_tensors));
        let mut offsets = Vec::with_capacity(cap(n_tensors));
        for i in 0..n_tensors {
            let name = c.string(
                || format!("name of tensor #{i}"),
                || format!("name of tensor #{i}"),
            )?;
            let name_range = c.pos - name.len()..c.pos;
            let bad = |reason: String| Error::BadTensor {
                name: name.to_string(),
                reason,
            };
            let n_dims = c.u32(|| format!("n_dims of tensor {name:?}"))?;
            if n_dims == 0 || n_dims as usize > MAX_DIMS {
                return Err(bad(format!("n_dims is {n_dims}, must be 1..={MAX_DIMS}")));
            }
            let mut shape = Vec::with_capacity(n_dims as usize);
            for d in 0..n_dims {
                shape.push(c.u64(|| format!("dimension {d} of tensor {name:?}"))?);
            }
            let ty = c.u32(|| format!("type of tensor {name:?}"))?;
            let offset = c.u64(|| format!("data offset of tensor {name:?}"))?;
            let dtype = GgmlType::from_id(ty).ok_or_else(|| Error::UnknownTensorType {
                name: name.to_string(),
                ty,
            })?;
            let ne0 = shape[0];
            // The row count alone must fit too: with a zero row length the
            // element count is 0 whatever the other dimensions (fuzzing found
            // [0, 2^40, 2^40, 2^40] overflowing `TensorView::n_rows`).
            let n_rows = shape[1..]
                .iter()
                .try_fold(1u64, |acc, &d| acc.checked_mul(d))
                .filter(|&r| usize::try_from(r).is_ok())
                .ok_or_else(|| bad(format!("row count of shape {shape:?} overflows")))?;
            // In dimension order too, as `TensorView::n_elements` multiplies
            // (fuzzing found [32, 2^62, 0] passing the row-count check).
            shape
                .iter()
                .try_fold(1u64, |acc, &d| acc.checked_mul(d))
                .ok_or_else(|| bad(format!("element count of shape {shape:?} overflows u64")))?;
            let block = dtype.block_elems() as u64;
            if ne0 % block != 0 {
                return Err(bad(format!(
                    "row length {ne0} is not a multiple of the {dtype} block size {block}"
                )));
            }
            let row_bytes = dtype
                .row_bytes(ne0)
                .ok_or_else(|| bad(format!("byte size of shape {shape:?} overflows")))?;
            let size = row_bytes
                .checked_mul(n_rows)
                .filter(|&s| usize::try_from(s).is_ok())
                .ok_or_else(|| bad(format!("byte size of shape {shape:?} overflows")))?;
            if offset % alignment != 0 {
                return Err(bad(format!(
                    "data offset {offset} is not a multiple of the alignment {alignment}"
                )));
            }
            offsets.push((offset, size));
            tensors.push(TensorEntry {
                name: name_range,
                dtype,
                shape,
                data: 0..0,
            });
        }

        // Tensor data.
        let data_offset = (c.pos as u64)
            .checked_next_multiple_of(alignment)
            .ok_or(Error::BadAlignment(alignment))?;
        let file_len = buf.len() as u64;
        for (t, &(offset, size)) in tensors.iter_mut().zip(&offsets) {
            let start = data_offset.checked_add(offset);
            let end = start.and_then(|s| s.checked_add(size));
            match (start, end) {
                (Some(s), Some(e)) if e <= file_len => t.data = s as usize..e as usize,
                _ => {
                    return Err(Error::BadTensor {
                        name: String::from_utf8_lossy(&buf[t.name.clone()]).into_owned(),
                        reason: format!(
                            "data at offset {offset} (+{size} bytes) from data start {data_offset} \
                             extends past the end of the file ({file_len} bytes)"
                        ),
                    })
                }
            }
        }
        let tensor_sorted =
            sorted_unique(tensors.len(), |i| &buf[tensors[i].name.clone()], "tensor")?;
        check_no_overlap(&tensors, buf)?;

        Ok(GgufFile {
            bytes,
            version,
            alignment,
            data_offset,
            kvs,
            kv_sorted,
            tensors,
            tensor_sorted,
        })
    }
}

fn wrong(key: &str, expected: &'static str, v: &Value<'_>) -> Error {
    Error::WrongType {
        key: key.to_string(),
        expected,
        found: v.describe(),
    }
}

/// Initial capacity for a vector of `n` checked entries (grows as entries are
/// actually parsed beyond this).
fn cap(n: u64) -> usize {
    n.min(4096) as usize
}

fn check_count(
    count: u64,
    min_each: u64,
    remaining: u64,
    what: impl FnOnce() -> String,
) -> Result<()> {
    match count.checked_mul(min_each) {
        Some(n) if n <= remaining => Ok(()),
        _ => Err(Error::CountTooLarge {
            what: what(),
            count,
            remaining,
        }),
    }
}

/// Indices `0..n` sorted by `name(i)`; `Error::Duplicate` on equal names.
fn sorted_unique<'b>(
    n: usize,
    name: impl Fn(usize) -> &'b [u8],
    kind: &'static str,
) -> Result<Vec<u32>> {
    let n32 = u32::try_from(n).map_err(|_| Error::CountTooLarge {
        what: format!("{kind} count"),
        count: n as u64,
        remaining: u32::MAX as u64,
    })?;
    let mut idx: Vec<u32> = (0..n32).collect();
    idx.sort_by(|&a, &b| name(a as usize).cmp(name(b as usize)));
    for w in idx.windows(2) {
        let a = name(w[0] as usize);
        if a == name(w[1] as usize) {
            return Err(Error::Duplicate {
                kind,
                name: String::from_utf8_lossy(a).into_owned(),
            });
        }
    }
    Ok(idx)
}

/// `Error::OverlappingTensors` when the data of two tensors share a byte
/// (aliased tensors, at the same offset, included). Empty tensors occupy no
/// bytes and overlap nothing.
fn check_no_overlap(tensors: &[TensorEntry], buf: &[u8]) -> Result<()> {
    let mut by_start: Vec<&TensorEntry> = tensors.iter().filter(|t| !t.data.is_empty()).collect();
    by_start.sort_by_key(|t| (t.data.start, t.data.end));
    for w in by_start.windows(2) {
        let (a, b) = (w[0], w[1]);
        if b.data.start < a.data.end {
            let name = |t: &TensorEntry| String::from_utf8_lossy(&buf[t.name.clone()]).into_owned();
            return Err(Error::OverlappingTensors {
                first: name(a),
                first_range: (a.data.start as u64, a.data.end as u64),
                second: name(b),
                second_range: (b.data.start as u64, b.data.end as u64),
            });
        }
    }
    Ok(())
}

/// Binary search of `target` among `sorted` indices ordered by `name`.
fn find_sorted<'b>(
    sorted: &[u32],
    target: &[u8],
    name: impl Fn(usize) -> &'b [u8],
) -> Option<usize> {
    sorted
        .binary_search_by(|&i| name(i as usize).cmp(target))
        .ok()
        .and_then(|p| sorted.get(p))
        .map(|&i| i as usize)
}

/// Validates one encoded value of type `ty` (no type tag) and moves past it.
/// `depth` is the number of arrays enclosing it.
fn scan_value(c: &mut Cursor<'_>, ty: ValueType, key: &str, depth: usize) -> Result<()> {
    match ty {
        ValueType::String => {
            c.string(
                || format!("string value of metadata key {key:?}"),
                || format!("string value of metadata key {key:?}"),
            )?;
        }
        ValueType::Array => {
            if depth >= MAX_ARRAY_DEPTH {
                return Err(Error::NestingTooDeep {
                    key: key.to_string(),
                    limit: MAX_ARRAY_DEPTH,
                });
            }
            let id = c.u32(|| format!("array element type of metadata key {key:?}"))?;
            let et = ValueType::from_id(id).ok_or_else(|| Error::BadValueType {
                key: key.to_string(),
                ty: id,
            })?;
            let n = c.u64(|| format!("array length of metadata key {key:?}"))?;
            check_count(n, et.min_size(), c.remaining(), || {
                format!("array length of metadata key {key:?}")
            })?;
            match et.fixed_size() {
                // Cannot overflow or fail: n * size <= remaining was checked.
                Some(size) => {
                    c.take(n * size as u64, || format!("array of metadata key {key:?}"))?;
                }
                None => {
                    for _ in 0..n {
                        scan_value(c, et, key, depth + 1)?;
                    }
                }
            }
        }
        _ => {
            let size = ty.fixed_size().unwrap_or(1) as u64;
            c.take(size, || format!("{ty} value of metadata key {key:?}"))?;
        }
    }
    Ok(())
}

/// A read position in the file with bounds-checked, error-reporting reads.
/// Invariant: `pos <= buf.len()`.
struct Cursor<'b> {
    buf: &'b [u8],
    pos: usize,
}

impl<'b> Cursor<'b> {
    fn remaining(&self) -> u64 {
        self.buf.len().saturating_sub(self.pos) as u64
    }

    fn take(&mut self, n: u64, what: impl FnOnce() -> String) -> Result<&'b [u8]> {
        if n > self.remaining() {
            return Err(Error::Truncated {
                what: what(),
                offset: self.pos as u64,
                needed: n,
                file_len: self.buf.len() as u64,
            });
        }
        // n <= remaining, so it fits in usize and the range is in bounds.
        let end = self.pos + n as usize;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u32(&mut self, what: impl FnOnce() -> String) -> Result<u32> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self, what: impl FnOnce() -> String) -> Result<u64> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// A u64-length-prefixed UTF-8 string.
    fn string(
        &mut self,
        what: impl Fn() -> String,
        utf8_what: impl FnOnce() -> String,
    ) -> Result<&'b str> {
        let n = self.u64(|| format!("length of {}", what()))?;
        let b = self.take(n, &what)?;
        std::str::from_utf8(b).map_err(|_| Error::BadUtf8 { what: utf8_what() })
    }
}
