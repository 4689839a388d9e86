//! The GGUF reader against the independent `gguf-rs` parser on every fixture,
//! and writer round trips (read back by both readers).

mod common;

use edge_llama::gguf::{GgufFile, GgufWriter, MapOptions, OwnedValue, Value, ValueType};
use edge_llama::kernels::GgmlType;
use edge_llama::Error;
use std::path::{Path, PathBuf};

fn fixtures_dir() -> PathBuf {
    common::fixtures_dir()
}

/// Every `.gguf` file in the fixtures folder and its subfolders, or `None`
/// (after printing why) when the folder is absent.
fn gguf_fixtures() -> Option<Vec<PathBuf>> {
    let dir = common::fixtures()?;
    let mut out = Vec::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "gguf") {
                out.push(p);
            }
        }
    }
    out.sort();
    Some(out)
}

/// A scratch directory unique to this process and test.
fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("edge-llama-gguf-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Compares one of our scalar values with gguf-rs's JSON value (whose type
/// cannot be named here, hence a macro).
macro_rules! check_scalar {
    ($what:expr, $ours:expr, $theirs:expr) => {{
        let what = &$what;
        let ours: Value<'_> = $ours;
        let theirs = $theirs;
        match ours {
            Value::String(s) => assert_eq!(theirs.as_str(), Some(s), "{what}"),
            Value::Bool(b) => assert_eq!(theirs.as_bool(), Some(b), "{what}"),
            Value::F32(x) => {
                // gguf-rs stores the shortest decimal of the f32.
                let t = theirs.as_f64().map(|t| t as f32);
                assert!(
                    t == Some(x) || (x.is_nan() && theirs.is_null()),
                    "{what}: {x} vs {theirs}"
                );
            }
            Value::F64(x) => assert!(
                theirs.as_f64() == Some(x) || (x.is_nan() && theirs.is_null()),
                "{what}: {x} vs {theirs}"
            ),
            Value::Array(_) => panic!("{what}: gguf-rs does not read nested arrays"),
            int => match int.as_u64() {
                Some(u) => assert_eq!(theirs.as_u64(), Some(u), "{what}"),
                None => assert_eq!(theirs.as_i64(), int.as_i64(), "{what}"),
            },
        }
    }};
}

/// Opens `path` with both readers and checks that they agree on every key,
/// every value (arrays in full), and the tensor table. Returns our file.
fn cross_check(path: &Path) -> GgufFile {
    let ours = GgufFile::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let theirs = gguf_rs::get_gguf_container_array_size(path.to_str().unwrap(), u64::MAX)
        .unwrap()
        .decode()
        .unwrap();
    let name = path.display();

    assert_eq!(
        theirs.get_version(),
        format!("v{}", ours.version()),
        "{name}"
    );
    assert_eq!(theirs.alignment(), ours.alignment(), "{name}");
    assert_eq!(theirs.data_offset(), ours.data_offset(), "{name}");

    // Metadata.
    let meta = theirs.metadata();
    assert_eq!(theirs.num_kv() as usize, ours.metadata_len(), "{name}");
    assert_eq!(meta.len(), ours.metadata().count(), "{name}");
    for (k, v) in ours.metadata() {
        let t = meta
            .get(k)
            .unwrap_or_else(|| panic!("{name}: gguf-rs lacks key {k}"));
        assert_eq!(ours.get(k).map(|g| g.value_type()), Some(v.value_type()));
        match v {
            Value::Array(a) => {
                let ta = t
                    .as_array()
                    .unwrap_or_else(|| panic!("{name}: {k} not an array"));
                assert_eq!(ta.len(), a.len(), "{name}: length of {k}");
                assert_eq!(a.iter().count(), a.len(), "{name}: {k}");
                for (i, (x, tx)) in a.iter().zip(ta).enumerate() {
                    assert_eq!(x.value_type(), a.elem_type());
                    check_scalar!(format!("{name}: {k}[{i}]"), x, tx);
                }
            }
            s => check_scalar!(format!("{name}: {k}"), s, t),
        }
    }

    // Tensor table, in file order.
    let tt = theirs.tensors();
    assert_eq!(tt.len(), ours.tensors().len(), "{name}");
    assert_eq!(ours.tensor_count(), tt.len());
    let base = ours.as_bytes().as_ptr() as usize;
    let file_len = ours.as_bytes().len();
    for (o, t) in ours.tensors().zip(tt) {
        assert_eq!(o.name, t.name, "{name}");
        assert_eq!(o.dtype.id(), t.kind, "{name}: {}", o.name);
        assert_eq!(o.shape, &t.shape[..], "{name}: {}", o.name);
        // gguf-rs 0.1.8 assumes 256-element blocks for every type id >= 10,
        // so its sizes for the plain integer/f64/bf16 types (ids 24..=30)
        // are wrong, and so is its size for IQ4_NL (id 20, 32-element
        // blocks); compare sizes for the types it gets right.
        if t.kind < 24 && t.kind != 20 {
            assert_eq!(o.data.len() as u64, t.size, "{name}: {}", o.name);
        }
        assert_eq!(
            ours.tensor_offset(o.name),
            Some(t.offset),
            "{name}: {}",
            o.name
        );
        // Zero copy: the data is a slice of the file at the table's offset.
        let start = o.data.as_ptr() as usize - base;
        assert_eq!(start as u64, theirs.data_offset() + t.offset);
        assert!(start + o.data.len() <= file_len);
        // Lookup by name finds the same tensor.
        let by_name = ours.tensor(o.name).unwrap();
        assert_eq!(by_name.data.as_ptr(), o.data.as_ptr());
    }
    ours
}

#[test]
fn fixtures_match_gguf_rs() {
    let Some(paths) = gguf_fixtures() else { return };
    assert!(
        !paths.is_empty(),
        "no .gguf files in {}",
        fixtures_dir().display()
    );
    for p in &paths {
        println!("checking {}", p.display());
        cross_check(p);
    }
}

#[test]
fn fixtures_hold_the_documented_values() {
    // Facts from ../shared/fixtures/README.md.
    let Some(paths) = gguf_fixtures() else { return };
    let vocab = paths
        .iter()
        .find(|p| p.ends_with("ggml-vocab-llama-spm.gguf"))
        .unwrap();
    let f = GgufFile::open(vocab).unwrap();
    assert_eq!(f.tensor_count(), 0);
    assert_eq!(f.get_str("tokenizer.ggml.model").unwrap(), "llama");
    let tokens = f.get_array("tokenizer.ggml.tokens").unwrap();
    assert_eq!(tokens.elem_type(), ValueType::String);
    assert_eq!(tokens.len(), 32000);
    let strings = tokens.strings().unwrap();
    assert_eq!(strings.len(), 32000);
    assert_eq!(strings[1], "<s>");
    assert_eq!(strings[2], "</s>");
    assert_eq!(
        f.get_array("tokenizer.ggml.scores")
            .unwrap()
            .to_f32_vec()
            .unwrap()
            .len(),
        32000
    );
    assert_eq!(
        f.get_array("tokenizer.ggml.token_type")
            .unwrap()
            .to_i64_vec()
            .unwrap()
            .len(),
        32000
    );
    assert_eq!(f.get_u32("tokenizer.ggml.bos_token_id").unwrap(), 1);
    assert_eq!(f.get_u64("tokenizer.ggml.eos_token_id").unwrap(), 2);
    assert_eq!(f.get_u32("tokenizer.ggml.unknown_token_id").unwrap(), 0);
    assert!(f.get_bool("tokenizer.ggml.add_bos_token").unwrap());
    // Strings are borrowed from the map, not copied.
    let bytes = f.as_bytes().as_ptr_range();
    assert!(bytes.contains(&strings[100].as_ptr()));

    for variant in ["f16", "q8_0", "q4_0"] {
        let p = fixtures_dir().join(format!("tiny-gqa-{variant}.gguf"));
        let f = GgufFile::open(&p).unwrap();
        assert_eq!(f.get_str("general.architecture").unwrap(), "llama");
        assert_eq!(f.get_u32("llama.embedding_length").unwrap(), 256);
        assert_eq!(f.get_u32("llama.block_count").unwrap(), 2);
        assert_eq!(f.get_u32("llama.attention.head_count").unwrap(), 4);
        assert_eq!(f.get_u32("llama.attention.head_count_kv").unwrap(), 2);
        assert_eq!(f.get_u32("llama.feed_forward_length").unwrap(), 768);
        assert_eq!(f.get_u32("llama.context_length").unwrap(), 4096);
        assert_eq!(f.opt_f32("llama.rope.freq_base").unwrap(), None);
        assert_eq!(
            f.get_f32("llama.attention.layer_norm_rms_epsilon").unwrap(),
            1e-5
        );
        let norm = f.tensor("blk.0.attn_norm.weight").unwrap();
        assert_eq!(norm.dtype, GgmlType::F32);
        assert_eq!(norm.shape, &[256]);
        let q = f.tensor("blk.1.attn_q.weight").unwrap();
        assert_eq!(q.shape, &[256, 256]);
        let k = f.tensor("blk.1.attn_k.weight").unwrap();
        assert_eq!(k.shape, &[256, 128]);
        let expect_q = match variant {
            "f16" => GgmlType::F16,
            "q8_0" => GgmlType::Q8_0,
            _ => GgmlType::Q4_0,
        };
        assert_eq!(q.dtype, expect_q, "{variant}");
        if variant == "q4_0" {
            assert_eq!(f.tensor("output.weight").unwrap().dtype, GgmlType::Q6K);
        }
        assert!(f.tensor("no.such.tensor").is_none());
    }
}

/// Every value type, nested arrays included.
fn all_values() -> Vec<(&'static str, OwnedValue)> {
    use OwnedValue as O;
    vec![
        ("general.architecture", O::from("llama")),
        ("v.u8", O::U8(255)),
        ("v.i8", O::I8(-128)),
        ("v.u16", O::U16(65535)),
        ("v.i16", O::I16(-32768)),
        ("v.u32", O::U32(u32::MAX)),
        ("v.i32", O::I32(i32::MIN)),
        ("v.f32", O::F32(-1.5e-7)),
        ("v.bool.t", O::Bool(true)),
        ("v.bool.f", O::Bool(false)),
        ("v.string", O::from("héllo ▁world 世界 🦙")),
        ("v.empty_string", O::from("")),
        ("v.u64", O::U64(u64::MAX)),
        ("v.i64", O::I64(i64::MIN)),
        ("v.f64", O::F64(std::f64::consts::PI)),
        (
            "a.u8",
            O::Array(ValueType::U8, vec![O::U8(0), O::U8(7), O::U8(255)]),
        ),
        ("a.i8", O::Array(ValueType::I8, vec![O::I8(-1), O::I8(127)])),
        (
            "a.u16",
            O::Array(ValueType::U16, vec![O::U16(1), O::U16(65535)]),
        ),
        ("a.i16", O::Array(ValueType::I16, vec![O::I16(-300)])),
        (
            "a.u32",
            O::Array(ValueType::U32, vec![O::U32(1), O::U32(2), O::U32(3)]),
        ),
        ("a.i32", O::i32_array([-5, 0, 5, i32::MAX])),
        ("a.f32", O::f32_array([0.5, -2.25, 1e-5])),
        (
            "a.bool",
            O::Array(ValueType::Bool, vec![O::Bool(true), O::Bool(false)]),
        ),
        ("a.string", O::string_array(["<s>", "", "▁the", "日本"])),
        (
            "a.u64",
            O::Array(ValueType::U64, vec![O::U64(u64::MAX), O::U64(0)]),
        ),
        (
            "a.i64",
            O::Array(ValueType::I64, vec![O::I64(-1), O::I64(i64::MAX)]),
        ),
        (
            "a.f64",
            O::Array(ValueType::F64, vec![O::F64(1e300), O::F64(-0.0)]),
        ),
        ("a.empty", O::Array(ValueType::U32, vec![])),
        (
            "nested.u32",
            O::Array(
                ValueType::Array,
                vec![
                    O::Array(ValueType::U32, vec![O::U32(1), O::U32(2)]),
                    O::Array(ValueType::U32, vec![]),
                    O::Array(ValueType::I8, vec![O::I8(-3)]),
                ],
            ),
        ),
        (
            "nested.strings",
            O::Array(
                ValueType::Array,
                vec![
                    O::string_array(["a", "bc"]),
                    O::Array(ValueType::Array, vec![O::string_array(["deep"])]),
                ],
            ),
        ),
    ]
}

struct TestTensor {
    name: &'static str,
    dtype: GgmlType,
    shape: Vec<u64>,
    data: Vec<u8>,
}

fn test_tensors() -> Vec<TestTensor> {
    let f32s: Vec<u8> = (0..24)
        .flat_map(|i| (i as f32 * 0.5 - 3.0).to_le_bytes())
        .collect();
    let f16s: Vec<u8> = (0..128)
        .flat_map(|i| half::f16::from_f32(i as f32 / 16.0).to_le_bytes())
        .collect();
    // Q8_0, 64 x 3: 6 blocks of (f16 scale, 32 x i8).
    let mut q8 = Vec::new();
    for b in 0..6 {
        q8.extend_from_slice(&half::f16::from_f32(0.01 * (b + 1) as f32).to_le_bytes());
        q8.extend((0..32).map(|j| ((j * 9 + b * 5) % 255) as i8 as u8));
    }
    vec![
        TestTensor {
            name: "t.f32",
            dtype: GgmlType::F32,
            shape: vec![8, 3],
            data: f32s,
        },
        TestTensor {
            name: "t.f16",
            dtype: GgmlType::F16,
            shape: vec![64, 2],
            data: f16s,
        },
        TestTensor {
            name: "t.q8_0",
            dtype: GgmlType::Q8_0,
            shape: vec![64, 3],
            data: q8,
        },
        TestTensor {
            name: "t.empty",
            dtype: GgmlType::F32,
            shape: vec![4, 0],
            data: vec![],
        },
        TestTensor {
            name: "t.4d",
            dtype: GgmlType::I8,
            shape: vec![3, 2, 2, 2],
            data: (0..24).collect(),
        },
    ]
}

fn build_writer<'a>(
    values: &[(&str, OwnedValue)],
    tensors: &'a [TestTensor],
    alignment: u64,
) -> GgufWriter<'a> {
    let mut w = GgufWriter::new();
    for (k, v) in values {
        w.add_metadata(k, v.clone()).unwrap();
    }
    w.set_alignment(alignment).unwrap();
    for t in tensors {
        // Borrowed: nothing is copied until written.
        w.add_tensor(t.name, t.dtype, &t.shape, &t.data[..])
            .unwrap();
    }
    w
}

/// Checks a file read back against what was written.
fn check_round_trip(
    f: &GgufFile,
    values: &[(&str, OwnedValue)],
    tensors: &[TestTensor],
    align: u64,
) {
    assert_eq!(f.version(), 3);
    assert_eq!(f.alignment(), align);
    assert_eq!(f.data_offset() % align, 0);
    let mut expected: Vec<(String, OwnedValue)> = values
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    if align != 32 {
        expected.push(("general.alignment".into(), OwnedValue::U32(align as u32)));
    }
    let got: Vec<(String, OwnedValue)> = f
        .metadata()
        .map(|(k, v)| (k.to_string(), v.to_owned_value()))
        .collect();
    assert_eq!(got, expected);
    for (k, v) in &expected {
        assert_eq!(&f.get(k).unwrap().to_owned_value(), v, "{k}");
    }
    assert_eq!(f.tensors().len(), tensors.len());
    for (o, t) in f.tensors().zip(tensors) {
        assert_eq!(o.name, t.name);
        assert_eq!(o.dtype, t.dtype);
        assert_eq!(o.shape, &t.shape[..]);
        assert_eq!(o.data, &t.data[..], "{}", t.name);
        assert_eq!(f.tensor_offset(t.name).unwrap() % align, 0);
        let abs = o.data.as_ptr() as usize - f.as_bytes().as_ptr() as usize;
        assert_eq!(abs as u64 % align, 0, "{}", t.name);
    }
}

#[test]
fn writer_round_trip_every_value_type() {
    let values = all_values();
    let tensors = test_tensors();
    for align in [32, 64, 128, 8] {
        let w = build_writer(&values, &tensors, align);
        let mut bytes = Vec::new();
        w.write(&mut bytes).unwrap();
        let f = GgufFile::from_bytes(bytes).unwrap();
        check_round_trip(&f, &values, &tensors, align);
    }

    // Typed getters on the written values.
    let w = build_writer(&values, &tensors, 64);
    let mut bytes = Vec::new();
    w.write(&mut bytes).unwrap();
    let f = GgufFile::from_bytes(bytes).unwrap();
    assert_eq!(f.get_u64("v.u8").unwrap(), 255);
    assert_eq!(f.get_u32("v.u16").unwrap(), 65535);
    assert_eq!(f.get_u64("v.u64").unwrap(), u64::MAX);
    assert!(matches!(f.get_u32("v.u64"), Err(Error::WrongType { .. })));
    assert!(matches!(f.get_u64("v.i8"), Err(Error::WrongType { .. })));
    assert!(matches!(
        f.get_u64("v.string"),
        Err(Error::WrongType { .. })
    ));
    assert!(matches!(f.get_str("v.u8"), Err(Error::WrongType { .. })));
    assert!(matches!(f.get_str("absent"), Err(Error::MissingKey(k)) if k == "absent"));
    assert_eq!(f.get_str("v.string").unwrap(), "héllo ▁world 世界 🦙");
    assert_eq!(f.get_f32("v.f32").unwrap(), -1.5e-7);
    assert_eq!(f.get_f32("v.f64").unwrap(), std::f64::consts::PI as f32);
    assert!(matches!(f.get_f32("v.u32"), Err(Error::WrongType { .. })));
    assert!(f.get_bool("v.bool.t").unwrap());
    assert!(matches!(f.get_bool("v.u8"), Err(Error::WrongType { .. })));
    assert_eq!(f.opt_u32("absent").unwrap(), None);
    assert_eq!(f.opt_u32("v.u16").unwrap(), Some(65535));
    assert!(f.opt_u32("v.string").is_err());
    assert_eq!(f.opt_str("absent").unwrap(), None);
    assert_eq!(f.opt_bool("v.bool.f").unwrap(), Some(false));
    assert_eq!(f.opt_f32("v.f32").unwrap(), Some(-1.5e-7));
    assert_eq!(f.opt_u64("v.u32").unwrap(), Some(u32::MAX as u64));
    let a = f.get_array("a.i32").unwrap();
    assert_eq!(a.to_i64_vec().unwrap(), vec![-5, 0, 5, i32::MAX as i64]);
    assert_eq!(
        a.to_f32_vec().unwrap(),
        vec![-5.0, 0.0, 5.0, i32::MAX as f32]
    );
    assert!(matches!(a.strings(), Err(Error::WrongType { key, .. }) if key == "a.i32"));
    assert!(f.get_array("a.u64").unwrap().to_i64_vec().is_err());
    assert!(f.get_array("a.string").unwrap().to_f32_vec().is_err());
    assert!(f.get_array("a.f32").unwrap().to_i64_vec().is_err());
    assert_eq!(
        f.get_array("a.f32").unwrap().to_f32_vec().unwrap(),
        vec![0.5, -2.25, 1e-5]
    );
    assert!(f.get_array("a.empty").unwrap().is_empty());
    assert!(matches!(f.get_array("v.u8"), Err(Error::WrongType { .. })));
    let nested = f.get_array("nested.strings").unwrap();
    assert_eq!(nested.elem_type(), ValueType::Array);
    let inner: Vec<_> = nested.iter().map(|v| v.as_array().unwrap()).collect();
    assert_eq!(inner[0].strings().unwrap(), vec!["a", "bc"]);
    let deep = inner[1].iter().next().unwrap().as_array().unwrap();
    assert_eq!(deep.strings().unwrap(), vec!["deep"]);
    // Value conversions.
    let v = f.get("v.i16").unwrap();
    assert_eq!(v.as_i64(), Some(-32768));
    assert_eq!(v.as_u64(), None);
    assert_eq!(v.as_f64(), Some(-32768.0));
    assert_eq!(f.get("v.f32").unwrap().as_i64(), None);
}

#[test]
fn writer_output_reads_with_gguf_rs() {
    // gguf-rs does not read nested arrays: leave them out here.
    let values: Vec<_> = all_values()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("nested."))
        .collect();
    let tensors = test_tensors();
    let dir = scratch("gguf-rs");
    for align in [32, 256] {
        let path = dir.join(format!("round-trip-{align}.gguf"));
        build_writer(&values, &tensors, align)
            .write_to_path(&path)
            .unwrap();
        let f = cross_check(&path);
        check_round_trip(&f, &values, &tensors, align);
    }
    // A v2 file has the same layout: patch the version and read it again.
    let path = dir.join("round-trip-32.gguf");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[4..8].copy_from_slice(&2u32.to_le_bytes());
    let v2 = dir.join("v2.gguf");
    std::fs::write(&v2, &bytes).unwrap();
    let f = cross_check(&v2);
    assert_eq!(f.version(), 2);
    check_round_trip_v2(&f, &values, &tensors);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn check_round_trip_v2(f: &GgufFile, values: &[(&str, OwnedValue)], tensors: &[TestTensor]) {
    assert_eq!(f.metadata_len(), values.len());
    assert_eq!(f.tensor_count(), tensors.len());
    for (k, v) in values {
        assert_eq!(&f.get(k).unwrap().to_owned_value(), v);
    }
}

#[test]
fn writer_rejects_invalid_input() {
    let mut w = GgufWriter::new();
    w.add_metadata("a", OwnedValue::U8(1)).unwrap();
    assert!(matches!(
        w.add_metadata("a", OwnedValue::U8(2)),
        Err(Error::Duplicate { kind: "metadata key", name }) if name == "a"
    ));
    w.set_metadata("a", OwnedValue::U8(3));
    assert!(matches!(
        w.add_metadata(
            "mixed",
            OwnedValue::Array(ValueType::U8, vec![OwnedValue::I8(1)])
        ),
        Err(Error::InvalidArgument(_))
    ));
    let mut deep = OwnedValue::Array(ValueType::U8, vec![]);
    for _ in 0..16 {
        deep = OwnedValue::Array(ValueType::Array, vec![deep]);
    }
    assert!(matches!(
        w.add_metadata("deep", deep),
        Err(Error::NestingTooDeep { .. })
    ));
    for bad in [0, 3, 48, 1 << 40] {
        assert!(matches!(w.set_alignment(bad), Err(Error::BadAlignment(a)) if a == bad));
    }
    let data = vec![0u8; 16];
    assert!(matches!(
        w.add_tensor("t", GgmlType::F32, &[3], &data[..]),
        Err(Error::BadTensor { .. })
    ));
    assert!(matches!(
        w.add_tensor("t", GgmlType::Q8_0, &[16], &data[..]),
        Err(Error::BadTensor { .. })
    ));
    assert!(matches!(
        w.add_tensor("t", GgmlType::F32, &[], &data[..]),
        Err(Error::BadTensor { .. })
    ));
    assert!(matches!(
        w.add_tensor("t", GgmlType::F32, &[1, 1, 1, 1, 4], &data[..]),
        Err(Error::BadTensor { .. })
    ));
    w.add_tensor("t", GgmlType::F32, &[2, 2], &data[..])
        .unwrap();
    assert!(matches!(
        w.add_tensor("t", GgmlType::F32, &[4], data.clone()),
        Err(Error::Duplicate { kind: "tensor", .. })
    ));
    // A general.alignment set by hand that disagrees is caught at write.
    w.set_metadata("general.alignment", OwnedValue::String("x".into()));
    assert!(w.write(&mut Vec::new()).is_err());
    w.set_metadata("general.alignment", OwnedValue::U32(64));
    assert_eq!(w.alignment(), 64);
    let mut out = Vec::new();
    w.write(&mut out).unwrap();
    let f = GgufFile::from_bytes(out).unwrap();
    assert_eq!(f.alignment(), 64);
    assert_eq!(f.get_u32("a").unwrap(), 3);
}

/// A `Write` that fails after `budget` bytes.
struct FailingWriter {
    budget: usize,
    written: Vec<u8>,
}

impl std::io::Write for FailingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.budget == 0 {
            return Err(std::io::Error::other("disk full"));
        }
        let n = buf.len().min(self.budget);
        self.budget -= n;
        self.written.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn no_temp_files(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .unwrap()
        .all(|e| !e.unwrap().file_name().to_string_lossy().contains(".tmp-"))
}

#[test]
fn write_errors_leave_nothing_behind() {
    let values = all_values();
    let tensors = test_tensors();
    let w = build_writer(&values, &tensors, 32);

    // A stream failing part-way through the tensor data.
    let mut full = Vec::new();
    w.write(&mut full).unwrap();
    for budget in [0, 10, full.len() / 2, full.len() - 1] {
        let mut out = FailingWriter {
            budget,
            written: Vec::new(),
        };
        match w.write(&mut out) {
            Err(Error::Io { path, .. }) => assert_eq!(path, Path::new("<stream>")),
            other => panic!("budget {budget}: expected Io error, got {other:?}"),
        }
    }

    let dir = scratch("atomic");
    // A directory that does not exist.
    let missing = dir.join("no/such/dir/model.gguf");
    assert!(matches!(w.write_to_path(&missing), Err(Error::Io { .. })));
    assert!(!missing.exists());

    // Renaming onto a non-empty directory fails after the data was written:
    // the temporary file must be removed and the directory left alone.
    let target = dir.join("occupied.gguf");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("keep"), b"x").unwrap();
    assert!(matches!(w.write_to_path(&target), Err(Error::Io { .. })));
    assert!(target.join("keep").exists());
    assert!(no_temp_files(&dir));

    // A successful write replaces an existing file with the complete new one.
    let path = dir.join("model.gguf");
    std::fs::write(&path, b"old contents").unwrap();
    w.write_to_path(&path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), full);
    assert!(no_temp_files(&dir));
    let f = GgufFile::open(&path).unwrap();
    check_round_trip(&f, &values, &tensors, 32);

    // A validation error happens before any file is created.
    let mut bad = GgufWriter::new();
    bad.set_metadata("general.alignment", OwnedValue::F32(1.0));
    let p2 = dir.join("never.gguf");
    assert!(bad.write_to_path(&p2).is_err());
    assert!(!p2.exists());
    assert!(no_temp_files(&dir));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn gguf_file_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<GgufFile>();
}

#[test]
fn empty_file_without_tensors() {
    let mut out = Vec::new();
    GgufWriter::new().write(&mut out).unwrap();
    assert_eq!(out.len(), 32, "24-byte header padded to 32");
    let f = GgufFile::from_bytes(out).unwrap();
    assert_eq!(f.metadata().count(), 0);
    assert_eq!(f.tensors().len(), 0);
    assert_eq!(f.data_offset(), 32);
    assert!(f.get("x").is_none());
    // llama.cpp-style files without tensors may end right after the table.
    let f = GgufFile::from_bytes(out_header_only()).unwrap();
    assert_eq!(f.version(), 3);
}

fn out_header_only() -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend_from_slice(&3u32.to_le_bytes());
    b.extend_from_slice(&0u64.to_le_bytes());
    b.extend_from_slice(&0u64.to_le_bytes());
    b
}

#[test]
fn reread_in_huge_pages_maps_the_same_bytes() {
    // A file written here (so dropping its cached pages costs nothing
    // shared): opened plainly and with the re-read, the bytes and the index
    // are the same, and the page report accounts for the map.
    let mut w = GgufWriter::new();
    w.add_metadata("general.architecture", OwnedValue::from("llama"))
        .unwrap();
    let data: Vec<u8> = (0..(3u32 << 20)).map(|i| (i % 251) as u8).collect();
    w.add_tensor("w", GgmlType::I8, &[data.len() as u64], &data)
        .unwrap();
    let dir = scratch("reread");
    let path = dir.join("m.gguf");
    let mut bytes = Vec::new();
    w.write(&mut bytes).unwrap();
    std::fs::write(&path, &bytes).unwrap();

    let plain = GgufFile::open(&path).unwrap();
    let reread = GgufFile::open_with(
        &path,
        MapOptions {
            reread_in_huge_pages: true,
        },
    )
    .unwrap();
    assert_eq!(plain.as_bytes(), reread.as_bytes());
    assert_eq!(reread.tensor("w").unwrap().data, &data[..]);
    if cfg!(target_os = "linux") {
        let r = reread.page_report().expect("smaps reports the map");
        assert!(r.resident_bytes >= data.len() as u64 / 2, "{r:?}");
        assert!(r.huge_page_bytes <= r.resident_bytes, "{r:?}");
    }
    assert_eq!(GgufFile::from_bytes(bytes).unwrap().page_report(), None);
    let _ = std::fs::remove_dir_all(&dir);
}
