//! Corrupted and truncated GGUF files: each must be rejected with a specific
//! `Error` variant, and no input may panic.
//!
//! The table in `cases()` is the place to add rows: a row names a base file
//! (`small_file` built with the project's writer, a fixture, or any builder),
//! a mutation of its bytes, a loader (`parse` opens it as a `GgufFile`; a row
//! can use any `fn(Vec<u8>) -> Result<()>`, e.g. one that also builds a model
//! config) and a predicate on the error (write it with `matches!`).

mod common;

use edge_llama::gguf::{GgufFile, GgufWriter, OwnedValue, ValueType};
use edge_llama::kernels::GgmlType;
use edge_llama::{Error, Result};
use std::path::PathBuf;

// ---------------------------------------------------------------------------
// Base files

/// Alignment of the small file (not the default, so the key is honoured).
const ALIGN: u64 = 64;

/// A small valid file: strings, scalars, a string array, an f32 array, two
/// tensors. The last tensor's size is a multiple of the alignment, so the
/// file has no trailing padding and every strict prefix is invalid.
fn small_file() -> Option<Vec<u8>> {
    let mut w = GgufWriter::new();
    w.add_metadata("general.architecture", "llama".into())
        .unwrap();
    w.add_metadata("dupkey.aa", OwnedValue::U8(1)).unwrap();
    w.add_metadata("dupkey.bb", OwnedValue::U8(2)).unwrap();
    w.add_metadata("k.f32s", OwnedValue::f32_array([1.0, 2.0, 3.0]))
        .unwrap();
    w.add_metadata("k.strs", OwnedValue::string_array(["ab", "cd", "ef"]))
        .unwrap();
    w.add_metadata("k.u32", OwnedValue::U32(7)).unwrap();
    w.set_alignment(ALIGN).unwrap();
    // Q8_0, 64 x 2: 2 rows of 2 blocks of 34 bytes.
    let q8: Vec<u8> = (0..136u32).map(|i| (i * 7 % 251) as u8).collect();
    w.add_tensor("tensor.aa", GgmlType::Q8_0, &[64, 2], q8)
        .unwrap();
    // F32, 16 elements = 64 bytes.
    let f: Vec<u8> = (0..16).flat_map(|i| (i as f32).to_le_bytes()).collect();
    w.add_tensor("tensor.bb", GgmlType::F32, &[16], f).unwrap();
    let mut out = Vec::new();
    w.write(&mut out).unwrap();
    Some(out)
}

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures")
        .join(name)
}

/// The real Q4_0 fixture written by llama.cpp, `None` when absent.
fn q4_fixture() -> Option<Vec<u8>> {
    std::fs::read(fixture_path("tiny-gqa-q4_0.gguf")).ok()
}

/// A file with one key holding `levels` arrays nested inside each other.
fn nested_file(levels: usize) -> Vec<u8> {
    let mut b = header(3, 0, 1);
    put_str(&mut b, "deep");
    b.extend_from_slice(&9u32.to_le_bytes());
    for _ in 1..levels {
        b.extend_from_slice(&9u32.to_le_bytes());
        b.extend_from_slice(&1u64.to_le_bytes());
    }
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&0u64.to_le_bytes());
    b
}

fn deep_17() -> Option<Vec<u8>> {
    Some(nested_file(17))
}

fn deep_100k() -> Option<Vec<u8>> {
    Some(nested_file(100_000))
}

fn header(version: u32, n_tensors: u64, n_kv: u64) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend_from_slice(&version.to_le_bytes());
    b.extend_from_slice(&n_tensors.to_le_bytes());
    b.extend_from_slice(&n_kv.to_le_bytes());
    b
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(&(s.len() as u64).to_le_bytes());
    b.extend_from_slice(s.as_bytes());
}

// ---------------------------------------------------------------------------
// Locating fields (from the GGUF layout, independently of the reader)

/// Position of the bytes of the length-prefixed string `s` (just after its
/// u64 length). Panics unless it occurs exactly once.
fn at_str(b: &[u8], s: &str) -> usize {
    let mut needle = (s.len() as u64).to_le_bytes().to_vec();
    needle.extend_from_slice(s.as_bytes());
    let hits: Vec<usize> = b
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == &needle[..])
        .map(|(i, _)| i)
        .collect();
    assert_eq!(hits.len(), 1, "string {s:?} must occur exactly once");
    hits[0] + 8
}

/// Position of the value type tag of metadata key `key`.
fn kv_type(b: &[u8], key: &str) -> usize {
    at_str(b, key) + key.len()
}

/// Position of the value of metadata key `key` (after its type tag).
fn kv_value(b: &[u8], key: &str) -> usize {
    kv_type(b, key) + 4
}

fn read_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn read_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn set_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn set_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Fields of a tensor-table entry.
struct TensorInfo {
    n_dims_at: usize,
    dims_at: usize,
    type_at: usize,
    offset_at: usize,
}

fn tensor_info(b: &[u8], name: &str) -> TensorInfo {
    let n_dims_at = at_str(b, name) + name.len();
    let n_dims = read_u32(b, n_dims_at) as usize;
    let dims_at = n_dims_at + 4;
    let type_at = dims_at + 8 * n_dims;
    TensorInfo {
        n_dims_at,
        dims_at,
        type_at,
        offset_at: type_at + 4,
    }
}

/// End of the tensor table of the small file: just after the last entry.
fn small_table_end(b: &[u8]) -> usize {
    tensor_info(b, "tensor.bb").offset_at + 8
}

/// Start of tensor data in a file (end of the table rounded up).
fn small_data_start(b: &[u8]) -> usize {
    small_table_end(b).next_multiple_of(ALIGN as usize)
}

// ---------------------------------------------------------------------------
// The table

struct Case {
    name: &'static str,
    base: fn() -> Option<Vec<u8>>,
    mutate: fn(&mut Vec<u8>),
    load: fn(Vec<u8>) -> Result<()>,
    expect: fn(&Error) -> bool,
}

fn parse(b: Vec<u8>) -> Result<()> {
    GgufFile::from_bytes(b).map(|_| ())
}

/// A row on the small file, loaded with `parse`.
fn case(name: &'static str, mutate: fn(&mut Vec<u8>), expect: fn(&Error) -> bool) -> Case {
    Case {
        name,
        base: small_file,
        mutate,
        load: parse,
        expect,
    }
}

/// A row on the real Q4_0 fixture (skipped when fixtures are absent).
fn fixture_case(name: &'static str, mutate: fn(&mut Vec<u8>), expect: fn(&Error) -> bool) -> Case {
    Case {
        base: q4_fixture,
        ..case(name, mutate, expect)
    }
}

fn truncate_at(b: &mut Vec<u8>, n: usize) {
    b.truncate(n);
}

fn cases() -> Vec<Case> {
    use Error::*;
    vec![
        // --- truncation inside every section
        case(
            "truncated in magic",
            |b| truncate_at(b, 2),
            |e| matches!(e, Truncated { what, .. } if what == "magic"),
        ),
        case(
            "truncated in version",
            |b| truncate_at(b, 6),
            |e| matches!(e, Truncated { what, .. } if what == "version"),
        ),
        case(
            "truncated in tensor count",
            |b| truncate_at(b, 12),
            |e| matches!(e, Truncated { what, .. } if what == "tensor count"),
        ),
        case(
            "truncated in metadata count",
            |b| truncate_at(b, 20),
            |e| matches!(e, Truncated { what, .. } if what == "metadata count"),
        ),
        case(
            "truncated right after the header (count cannot fit)",
            |b| truncate_at(b, 24),
            |e| {
                matches!(
                    e,
                    CountTooLarge {
                        count: 7,
                        remaining: 0,
                        ..
                    }
                )
            },
        ),
        case(
            "truncated in a key",
            |b| {
                let p = at_str(b, "k.u32") + 2;
                truncate_at(b, p)
            },
            |e| matches!(e, Truncated { what, .. } if what.contains("key of metadata entry #5")),
        ),
        case(
            "truncated in a value",
            |b| {
                let p = kv_value(b, "k.u32") + 2;
                truncate_at(b, p)
            },
            |e| matches!(e, Truncated { what, needed: 4, .. } if what.contains("k.u32")),
        ),
        case(
            "truncated in a string array",
            |b| {
                // Inside the bytes of the last string, "ef".
                let p = at_str(b, "ef") + 1;
                truncate_at(b, p)
            },
            |e| matches!(e, Truncated { what, .. } if what.contains("k.strs")),
        ),
        case(
            "truncated in tensor info",
            |b| {
                let p = tensor_info(b, "tensor.bb").type_at + 1;
                truncate_at(b, p)
            },
            |e| matches!(e, Truncated { what, .. } if what.contains("tensor.bb")),
        ),
        case(
            "truncated in padding",
            |b| {
                let end = small_table_end(b);
                assert!(
                    small_data_start(b) > end + 1,
                    "the small file must have padding"
                );
                truncate_at(b, end + 1)
            },
            |e| matches!(e, BadTensor { name, .. } if name == "tensor.aa"),
        ),
        case(
            "truncated in tensor data",
            |b| {
                let n = b.len() - 10;
                truncate_at(b, n)
            },
            |e| matches!(e, BadTensor { name, .. } if name == "tensor.bb"),
        ),
        // --- header
        case(
            "bad magic",
            |b| b[0] = b'X',
            |e| matches!(e, BadMagic(m) if m == b"XGUF"),
        ),
        case(
            "big-endian version",
            |b| b[4..8].copy_from_slice(&3u32.to_be_bytes()),
            |e| matches!(e, BigEndian),
        ),
        case(
            "byte-swapped magic",
            |b| b[0..4].copy_from_slice(b"FUGG"),
            |e| matches!(e, BigEndian),
        ),
        case(
            "version 1",
            |b| set_u32(b, 4, 1),
            |e| matches!(e, UnsupportedVersion(1)),
        ),
        case(
            "version 99",
            |b| set_u32(b, 4, 99),
            |e| matches!(e, UnsupportedVersion(99)),
        ),
        case(
            "version 0",
            |b| set_u32(b, 4, 0),
            |e| matches!(e, UnsupportedVersion(0)),
        ),
        case(
            "huge tensor count",
            |b| set_u64(b, 8, u64::MAX),
            |e| {
                matches!(
                    e,
                    CountTooLarge {
                        count: u64::MAX,
                        ..
                    }
                )
            },
        ),
        case(
            "tensor count slightly too large",
            |b| set_u64(b, 8, 1 << 20),
            |e| matches!(e, CountTooLarge { what, count, .. } if what == "tensor count" && *count == 1 << 20),
        ),
        case(
            "huge metadata count",
            |b| set_u64(b, 16, 1 << 40),
            |e| matches!(e, CountTooLarge { count, .. } if *count == 1 << 40),
        ),
        // --- metadata
        case(
            "huge key length",
            |b| {
                let p = at_str(b, "k.u32") - 8;
                set_u64(b, p, u64::MAX)
            },
            |e| {
                matches!(
                    e,
                    Truncated {
                        needed: u64::MAX,
                        ..
                    }
                )
            },
        ),
        case(
            "huge string length",
            |b| {
                let p = kv_value(b, "general.architecture");
                set_u64(b, p, u64::MAX - 3)
            },
            |e| matches!(e, Truncated { what, needed, .. } if what.contains("general.architecture") && *needed == u64::MAX - 3),
        ),
        case(
            "huge array length",
            |b| {
                let p = kv_value(b, "k.f32s") + 4;
                set_u64(b, p, u64::MAX / 2)
            },
            |e| matches!(e, CountTooLarge { what, count, .. } if what.contains("k.f32s") && *count == u64::MAX / 2),
        ),
        case(
            "string array length too large",
            |b| {
                let p = kv_value(b, "k.strs") + 4;
                set_u64(b, p, 1 << 32)
            },
            |e| matches!(e, CountTooLarge { what, .. } if what.contains("k.strs")),
        ),
        case(
            "unknown value type",
            |b| {
                let p = kv_type(b, "k.u32");
                set_u32(b, p, 13)
            },
            |e| matches!(e, BadValueType { key, ty: 13 } if key == "k.u32"),
        ),
        case(
            "unknown array element type",
            |b| {
                let p = kv_value(b, "k.f32s");
                set_u32(b, p, 0xdead)
            },
            |e| matches!(e, BadValueType { key, ty: 0xdead } if key == "k.f32s"),
        ),
        case(
            "duplicate key",
            |b| {
                let p = at_str(b, "dupkey.bb");
                b[p + 7..p + 9].copy_from_slice(b"aa")
            },
            |e| matches!(e, Duplicate { kind: "metadata key", name } if name == "dupkey.aa"),
        ),
        case(
            "invalid UTF-8 in a string value",
            |b| {
                let p = at_str(b, "llama");
                b[p + 1] = 0xff
            },
            |e| matches!(e, BadUtf8 { what } if what.contains("general.architecture")),
        ),
        case(
            "invalid UTF-8 in a key",
            |b| {
                let p = at_str(b, "k.u32");
                b[p] = 0xc3
            },
            |e| matches!(e, BadUtf8 { what } if what.contains("key")),
        ),
        case(
            "invalid UTF-8 in a string array",
            |b| {
                let p = at_str(b, "cd");
                b[p] = 0x80
            },
            |e| matches!(e, BadUtf8 { what } if what.contains("k.strs")),
        ),
        case(
            "alignment 0",
            |b| {
                let p = kv_value(b, "general.alignment");
                set_u32(b, p, 0)
            },
            |e| matches!(e, BadAlignment(0)),
        ),
        case(
            "alignment 3",
            |b| {
                let p = kv_value(b, "general.alignment");
                set_u32(b, p, 3)
            },
            |e| matches!(e, BadAlignment(3)),
        ),
        case(
            "alignment stored as a float",
            |b| {
                let p = kv_type(b, "general.alignment");
                set_u32(b, p, ValueType::F32.id())
            },
            |e| matches!(e, WrongType { key, .. } if key == "general.alignment"),
        ),
        Case {
            name: "arrays nested 17 deep",
            base: deep_17,
            mutate: |_| {},
            load: parse,
            expect: |e| matches!(e, NestingTooDeep { key, limit: 16 } if key == "deep"),
        },
        Case {
            name: "arrays nested 100000 deep (no stack overflow)",
            base: deep_100k,
            mutate: |_| {},
            load: parse,
            expect: |e| matches!(e, NestingTooDeep { .. }),
        },
        // --- tensor table
        case(
            "invalid UTF-8 in a tensor name",
            |b| {
                let p = at_str(b, "tensor.bb");
                b[p + 8] = 0xfe
            },
            |e| matches!(e, BadUtf8 { what } if what.contains("tensor #1")),
        ),
        case(
            "unknown tensor type",
            |b| {
                let p = tensor_info(b, "tensor.aa").type_at;
                set_u32(b, p, 4)
            },
            |e| matches!(e, UnknownTensorType { name, ty: 4 } if name == "tensor.aa"),
        ),
        case(
            "n_dims 0",
            |b| {
                let p = tensor_info(b, "tensor.aa").n_dims_at;
                set_u32(b, p, 0)
            },
            |e| matches!(e, BadTensor { name, reason } if name == "tensor.aa" && reason.contains("n_dims")),
        ),
        case(
            "n_dims 5",
            |b| {
                let p = tensor_info(b, "tensor.aa").n_dims_at;
                set_u32(b, p, 5)
            },
            |e| matches!(e, BadTensor { name, reason } if name == "tensor.aa" && reason.contains("n_dims")),
        ),
        case(
            "row length not a multiple of the block size",
            |b| {
                let p = tensor_info(b, "tensor.aa").dims_at;
                set_u64(b, p, 48)
            },
            |e| matches!(e, BadTensor { name, reason } if name == "tensor.aa" && reason.contains("block size")),
        ),
        case(
            "element count overflows",
            |b| {
                let t = tensor_info(b, "tensor.aa");
                set_u64(b, t.dims_at, 1 << 40);
                set_u64(b, t.dims_at + 8, 1 << 40);
            },
            |e| matches!(e, BadTensor { name, reason } if name == "tensor.aa" && reason.contains("overflow")),
        ),
        case(
            "byte size overflows",
            |b| {
                let t = tensor_info(b, "tensor.bb");
                set_u64(b, t.dims_at, 1 << 62);
            },
            |e| matches!(e, BadTensor { name, reason } if name == "tensor.bb" && reason.contains("overflow")),
        ),
        case(
            "shape larger than the file",
            |b| {
                let t = tensor_info(b, "tensor.bb");
                set_u64(b, t.dims_at, 1 << 30);
            },
            |e| matches!(e, BadTensor { name, reason } if name == "tensor.bb" && reason.contains("past the end")),
        ),
        case(
            "offset not a multiple of general.alignment (64) though of 32",
            |b| {
                let p = tensor_info(b, "tensor.bb").offset_at;
                let off = read_u64(b, p);
                set_u64(b, p, off + 32)
            },
            |e| matches!(e, BadTensor { name, reason } if name == "tensor.bb" && reason.contains("alignment")),
        ),
        case(
            "offset past the end",
            |b| {
                let p = tensor_info(b, "tensor.bb").offset_at;
                set_u64(b, p, 1 << 20)
            },
            |e| matches!(e, BadTensor { name, reason } if name == "tensor.bb" && reason.contains("past the end")),
        ),
        case(
            "offset overflows",
            |b| {
                let p = tensor_info(b, "tensor.bb").offset_at;
                set_u64(b, p, u64::MAX - 63)
            },
            |e| matches!(e, BadTensor { name, .. } if name == "tensor.bb"),
        ),
        case(
            "duplicate tensor",
            |b| {
                let p = at_str(b, "tensor.bb");
                b[p + 7..p + 9].copy_from_slice(b"aa")
            },
            |e| matches!(e, Duplicate { kind: "tensor", name } if name == "tensor.aa"),
        ),
        // --- the real llama.cpp file
        fixture_case(
            "fixture: bad magic",
            |b| b[3] = 0,
            |e| matches!(e, BadMagic(_)),
        ),
        fixture_case(
            "fixture: version 1",
            |b| set_u32(b, 4, 1),
            |e| matches!(e, UnsupportedVersion(1)),
        ),
        fixture_case(
            "fixture: truncated to half (tensor data)",
            |b| {
                let n = b.len() / 2;
                truncate_at(b, n)
            },
            |e| matches!(e, BadTensor { .. }),
        ),
        fixture_case(
            "fixture: truncated inside the scores array",
            |b| {
                let p = kv_value(b, "tokenizer.ggml.scores") + 12 + 400;
                truncate_at(b, p)
            },
            |e| matches!(e, CountTooLarge { what, count: 32000, .. } if what.contains("tokenizer.ggml.scores")),
        ),
        fixture_case(
            "fixture: huge token array length",
            |b| {
                let p = kv_value(b, "tokenizer.ggml.tokens") + 4;
                set_u64(b, p, 1 << 50)
            },
            |e| matches!(e, CountTooLarge { what, .. } if what.contains("tokenizer.ggml.tokens")),
        ),
        fixture_case(
            "fixture: invalid UTF-8 in a token",
            |b| {
                // The first token's bytes (its length is at +12).
                let p = kv_value(b, "tokenizer.ggml.tokens") + 12 + 8;
                b[p] = 0xff
            },
            |e| matches!(e, BadUtf8 { what } if what.contains("tokenizer.ggml.tokens")),
        ),
        fixture_case(
            "fixture: unknown type for output.weight",
            |b| {
                let p = tensor_info(b, "output.weight").type_at;
                set_u32(b, p, 200)
            },
            |e| matches!(e, UnknownTensorType { name, ty: 200 } if name == "output.weight"),
        ),
        fixture_case(
            "fixture: duplicate tensor name",
            |b| {
                let p = at_str(b, "blk.0.attn_q.weight");
                b[p + 11] = b'k'
            },
            |e| matches!(e, Duplicate { kind: "tensor", name } if name == "blk.0.attn_k.weight"),
        ),
        fixture_case(
            "fixture: Q6_K row length not a multiple of 256",
            |b| {
                let p = tensor_info(b, "output.weight").dims_at;
                set_u64(b, p, 128)
            },
            |e| matches!(e, BadTensor { name, reason } if name == "output.weight" && reason.contains("block size")),
        ),
    ]
}

#[test]
fn corrupted_files_are_rejected_with_the_right_error() {
    let mut failures = Vec::new();
    let mut ran = 0;
    for c in cases() {
        let Some(mut bytes) = (c.base)() else {
            common::skip_missing(&format!(
                "{:?}: fixtures not found at {}",
                c.name,
                fixture_path("").display()
            ));
            continue;
        };
        (c.mutate)(&mut bytes);
        ran += 1;
        match (c.load)(bytes) {
            Ok(()) => failures.push(format!("{}: accepted", c.name)),
            Err(e) if (c.expect)(&e) => println!("ok   {}: {e}", c.name),
            Err(e) => failures.push(format!("{}: unexpected error {e:?} ({e})", c.name)),
        }
    }
    assert!(ran >= 25, "only {ran} cases ran");
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn the_base_files_are_valid() {
    // Guards the table: each row must fail because of its mutation only.
    let small = small_file().unwrap();
    let f = GgufFile::from_bytes(small.clone()).unwrap();
    assert_eq!(f.alignment(), ALIGN);
    assert_eq!(f.data_offset(), small_data_start(&small) as u64);
    assert_eq!(f.tensor_count(), 2);
    let mut nested = nested_file(16);
    parse(nested.clone()).unwrap();
    nested.truncate(nested.len() - 1);
    assert!(parse(nested).is_err());
    if let Some(b) = q4_fixture() {
        parse(b).unwrap();
    }
}

#[test]
fn every_prefix_of_a_small_file_is_rejected() {
    let b = small_file().unwrap();
    for n in 0..b.len() {
        let prefix = b[..n].to_vec();
        let r = std::panic::catch_unwind(|| GgufFile::from_bytes(prefix).map(|_| ()));
        match r {
            Ok(Err(_)) => {}
            Ok(Ok(())) => panic!("prefix of {n} bytes (of {}) accepted", b.len()),
            Err(_) => panic!("prefix of {n} bytes panicked"),
        }
    }
    assert!(GgufFile::from_bytes(b).is_ok());
}

#[test]
fn no_single_byte_change_panics() {
    let b = small_file().unwrap();
    let mut accepted = 0;
    for i in 0..b.len() {
        for v in [0x00, 0xff, 0x7f, 0x80, b[i].wrapping_add(1), b[i] ^ 0x10] {
            let mut m = b.clone();
            m[i] = v;
            let r = std::panic::catch_unwind(|| {
                let f = GgufFile::from_bytes(m)?;
                // Exercise the accessors on whatever was accepted.
                for (k, v) in f.metadata() {
                    let _ = (k.len(), v.to_owned_value());
                }
                for t in f.tensors() {
                    let _ = (t.name, t.n_elements(), t.data.len());
                }
                Ok::<(), Error>(())
            });
            match r {
                Ok(Ok(())) => accepted += 1,
                Ok(Err(_)) => {}
                Err(_) => panic!("changing byte {i} to {v:#x} panicked"),
            }
        }
    }
    // Changes inside tensor data or padding are not detectable.
    assert!(accepted > 0);
}

#[test]
fn empty_and_tiny_inputs() {
    for b in [&b""[..], b"G", b"GGU", b"GGUF", b"GGUF\x03\0\0\0"] {
        assert!(
            matches!(
                GgufFile::from_bytes(b.to_vec()),
                Err(Error::Truncated { .. })
            ),
            "{b:?}"
        );
    }
    // An empty file on disk (cannot be mapped) is reported, not a panic.
    let dir = std::env::temp_dir().join(format!("edge-llama-corrupt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("empty.gguf");
    std::fs::write(&p, b"").unwrap();
    assert!(matches!(GgufFile::open(&p), Err(Error::Truncated { .. })));
    let missing = dir.join("missing.gguf");
    match GgufFile::open(&missing) {
        Err(Error::Io { path, .. }) => assert_eq!(path, missing),
        other => panic!("expected Io error, got {other:?}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------
// Overlapping tensor data (issue 13)

/// The small file with tensor.bb's data offset (relative to the data start)
/// set to `offset`; tensor.aa holds bytes 0..136 of the data section.
fn with_bb_offset(offset: u64) -> Vec<u8> {
    let mut b = small_file().unwrap();
    let p = tensor_info(&b, "tensor.bb").offset_at;
    set_u64(&mut b, p, offset);
    b
}

#[test]
fn aliased_tensors_are_rejected() {
    let start = small_data_start(&small_file().unwrap()) as u64;
    match GgufFile::from_bytes(with_bb_offset(0)) {
        Err(Error::OverlappingTensors {
            first,
            first_range,
            second,
            second_range,
        }) => {
            // Same start: the shorter range sorts first.
            assert_eq!(
                (first.as_str(), first_range),
                ("tensor.bb", (start, start + 64))
            );
            assert_eq!(
                (second.as_str(), second_range),
                ("tensor.aa", (start, start + 136))
            );
        }
        other => panic!("expected OverlappingTensors, got {other:?}"),
    }
}

#[test]
fn partly_overlapping_tensors_are_rejected() {
    // tensor.aa covers data bytes 0..136; tensor.bb at 64 starts inside it.
    match GgufFile::from_bytes(with_bb_offset(64)) {
        Err(e @ Error::OverlappingTensors { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("tensor.aa") && msg.contains("tensor.bb"),
                "{msg}"
            );
        }
        other => panic!("expected OverlappingTensors, got {other:?}"),
    }
}

#[test]
fn adjacent_and_empty_tensors_do_not_overlap() {
    // 192 is the first aligned offset past tensor.aa's 136 bytes; the file
    // must then be long enough for tensor.bb's 64 bytes there.
    let mut b = with_bb_offset(192);
    let start = small_data_start(&b);
    b.resize(start + 192 + 64, 0);
    GgufFile::from_bytes(b).expect("adjacent tensors are valid");

    // An empty tensor may share an offset with another tensor.
    let mut w = GgufWriter::new();
    w.add_tensor("a", GgmlType::F32, &[4], vec![0u8; 16])
        .unwrap();
    w.add_tensor("empty", GgmlType::F32, &[0], Vec::new())
        .unwrap();
    let mut out = Vec::new();
    w.write(&mut out).unwrap();
    let empty_at = tensor_info(&out, "empty").offset_at;
    set_u64(&mut out, empty_at, 0);
    let f = GgufFile::from_bytes(out).expect("an empty tensor overlaps nothing");
    assert_eq!(f.tensor_offset("empty"), Some(0));
}
