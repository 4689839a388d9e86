//! The quantizer against llama.cpp's own quantized fixtures, its tensor-type
//! choices, its error on unsupported input, requantization of quantized
//! input, and atomic output.

mod common;

use edge_llama::gguf::{GgufFile, GgufWriter, OwnedValue};
use edge_llama::kernels::{cast_blocks, scalar, BlockQ6K, GgmlType};
use edge_llama::quantize::{
    quantize_file, quantize_to_writer, tensor_to_f32, QuantTarget, QuantizeOptions,
};
use edge_llama::synthetic::SyntheticSpec;
use edge_llama::Error;
use half::f16;
use std::path::PathBuf;

fn quantize_in_memory(input: &GgufFile, target: QuantTarget, pure: bool) -> GgufFile {
    let opts = QuantizeOptions {
        target,
        pure,
        ..QuantizeOptions::default()
    };
    let mut bytes = Vec::new();
    quantize_to_writer(input, &mut bytes, &opts, &mut |_| {}).expect("quantize");
    GgufFile::from_bytes(bytes).expect("our output parses")
}

fn scratch_dir(tag: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("edge-llama-quantize-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Compares our quantization of the f16 fixture with llama.cpp's file:
/// metadata, tensor types and shapes, and bytes. Returns the names of the
/// tensors whose bytes differ.
fn compare_with_llama_cpp(target: QuantTarget, reference: &str) -> Option<Vec<String>> {
    let dir = common::fixtures()?;
    let input = GgufFile::open(dir.join("tiny-gqa-f16.gguf")).expect("f16 fixture");
    let theirs = GgufFile::open(dir.join(reference)).expect("reference fixture");
    let ours = quantize_in_memory(&input, target, false);

    // Metadata: every input key copied, file type and quantization version set,
    // and the same key set as llama.cpp's file.
    for (key, value) in input.metadata() {
        let got = ours.get(key).unwrap_or_else(|| panic!("key {key} missing"));
        if key != "general.file_type" {
            assert_eq!(got.to_owned_value(), value.to_owned_value(), "key {key}");
        }
    }
    assert_eq!(
        ours.get_u32("general.file_type").unwrap(),
        theirs.get_u32("general.file_type").unwrap()
    );
    assert_eq!(ours.get_u32("general.quantization_version").unwrap(), 2);
    let mut our_keys: Vec<&str> = ours.metadata().map(|(k, _)| k).collect();
    let mut their_keys: Vec<&str> = theirs.metadata().map(|(k, _)| k).collect();
    our_keys.sort_unstable();
    their_keys.sort_unstable();
    assert_eq!(our_keys, their_keys);

    assert_eq!(ours.tensor_count(), theirs.tensor_count());
    let mut differing = Vec::new();
    for t in theirs.tensors() {
        let o = ours
            .tensor(t.name)
            .unwrap_or_else(|| panic!("tensor {} missing", t.name));
        assert_eq!(o.dtype, t.dtype, "type of {}", t.name);
        assert_eq!(o.shape, t.shape, "shape of {}", t.name);
        if o.data != t.data {
            differing.push(t.name.to_string());
        }
    }
    Some(differing)
}

#[test]
fn q8_0_is_byte_identical_to_llama_cpp() {
    let Some(differing) = compare_with_llama_cpp(QuantTarget::Q8_0, "tiny-gqa-q8_0.gguf") else {
        return;
    };
    assert!(
        differing.is_empty(),
        "tensors differing from llama.cpp: {differing:?}"
    );
}

#[test]
fn q4_0_default_mode_matches_llama_cpp() {
    let Some(differing) = compare_with_llama_cpp(QuantTarget::Q4_0, "tiny-gqa-q4_0.gguf") else {
        return;
    };
    // Every tensor, the Q6_K head included, is byte-identical (the head's
    // closeness is measured in `q6k_output_head_closeness`).
    assert!(
        differing.is_empty(),
        "tensors differing from llama.cpp: {differing:?}"
    );
}

#[test]
fn q6k_output_head_closeness() {
    let Some(dir) = common::fixtures() else {
        return;
    };
    let input = GgufFile::open(dir.join("tiny-gqa-f16.gguf")).expect("f16 fixture");
    let theirs = GgufFile::open(dir.join("tiny-gqa-q4_0.gguf")).expect("q4_0 fixture");
    let ours = quantize_in_memory(&input, QuantTarget::Q4_0, false);
    let (o, t) = (
        ours.tensor("output.weight").unwrap(),
        theirs.tensor("output.weight").unwrap(),
    );
    assert_eq!((o.dtype, t.dtype), (GgmlType::Q6K, GgmlType::Q6K));
    let ob: &[BlockQ6K] = cast_blocks(o.data).expect("our blocks");
    let tb: &[BlockQ6K] = cast_blocks(t.data).expect("their blocks");
    assert_eq!(ob.len(), tb.len());
    let identical_blocks = o
        .data
        .chunks_exact(t.data.len() / tb.len())
        .zip(t.data.chunks_exact(t.data.len() / tb.len()))
        .filter(|(a, b)| a == b)
        .count();
    let mut od = vec![0f32; ob.len() * 256];
    let mut td = vec![0f32; tb.len() * 256];
    scalar::dequantize_row_q6k(ob, &mut od);
    scalar::dequantize_row_q6k(tb, &mut td);
    let max_diff = od
        .iter()
        .zip(&td)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    let src = tensor_to_f32(&input.tensor("output.weight").unwrap()).unwrap();
    let err = |d: &[f32]| {
        (d.iter()
            .zip(&src)
            .map(|(a, b)| f64::from(a - b).powi(2))
            .sum::<f64>()
            / src.len() as f64)
            .sqrt()
    };
    let (our_rmse, their_rmse) = (err(&od), err(&td));
    println!(
        "Q6_K output.weight vs llama.cpp: bytes identical: {}; identical blocks {identical_blocks}/{} ({:.4}%); \
         max |dequantized difference| {max_diff:e}; RMS error vs f16 source: ours {our_rmse:e}, llama.cpp {their_rmse:e}",
        o.data == t.data,
        tb.len(),
        100.0 * identical_blocks as f64 / tb.len() as f64
    );
    // Measured: our port of quantize_row_q6_K_ref makes the same choices as
    // llama.cpp for every block of this tensor, so the bytes are identical.
    assert_eq!(
        identical_blocks,
        tb.len(),
        "max dequantized difference {max_diff}"
    );
    assert!(o.data == t.data);
}

#[test]
fn q8_0_file_head_and_pure_mode() {
    let Some(dir) = common::fixtures() else {
        return;
    };
    let input = GgufFile::open(dir.join("tiny-gqa-f16.gguf")).expect("f16 fixture");
    let pure = quantize_in_memory(&input, QuantTarget::Q4_0, true);
    for t in pure.tensors() {
        let want = if t.shape.len() == 1 {
            GgmlType::F32
        } else {
            GgmlType::Q4_0
        };
        assert_eq!(t.dtype, want, "{} in pure Q4_0", t.name);
    }
    assert_eq!(pure.get_u32("general.file_type").unwrap(), 2);
    let f16 = quantize_in_memory(&input, QuantTarget::F16, false);
    assert_eq!(f16.get_u32("general.file_type").unwrap(), 1);
    for t in f16.tensors() {
        assert_eq!(
            t.data,
            input.tensor(t.name).unwrap().data,
            "f16 → f16 copies {}",
            t.name
        );
    }
}

/// A small f32 model file without `output.weight`: the embedding is the head.
fn tied_model(dim: u64, vocab: u64, embd_type: GgmlType) -> Vec<u8> {
    let n = (dim * vocab) as usize;
    let values: Vec<f32> = (0..n)
        .map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 250.0)
        .collect();
    let embd = edge_llama::quantize::quantize_values(
        "token_embd.weight",
        &values,
        dim as usize,
        embd_type,
    )
    .unwrap();
    let square: Vec<u8> = (0..dim * dim)
        .flat_map(|i| ((i % 13) as f32 * 0.1).to_le_bytes())
        .collect();
    let norm: Vec<u8> = (0..dim).flat_map(|_| 1.0f32.to_le_bytes()).collect();
    let mut w = GgufWriter::new();
    w.add_metadata("general.architecture", OwnedValue::from("llama"))
        .unwrap();
    w.add_metadata("general.file_type", OwnedValue::U32(0))
        .unwrap();
    w.add_tensor("token_embd.weight", embd_type, &[dim, vocab], embd)
        .unwrap();
    w.add_tensor("blk.0.attn_q.weight", GgmlType::F32, &[dim, dim], square)
        .unwrap();
    w.add_tensor("output_norm.weight", GgmlType::F32, &[dim], norm)
        .unwrap();
    let mut bytes = Vec::new();
    w.write(&mut bytes).unwrap();
    bytes
}

#[test]
fn tied_embedding_is_the_output_head() {
    let input = GgufFile::from_bytes(tied_model(256, 8, GgmlType::F32)).unwrap();
    let q4 = quantize_in_memory(&input, QuantTarget::Q4_0, false);
    assert_eq!(q4.tensor("token_embd.weight").unwrap().dtype, GgmlType::Q6K);
    assert_eq!(
        q4.tensor("blk.0.attn_q.weight").unwrap().dtype,
        GgmlType::Q4_0
    );
    assert_eq!(
        q4.tensor("output_norm.weight").unwrap().dtype,
        GgmlType::F32
    );
    let q8 = quantize_in_memory(&input, QuantTarget::Q8_0, false);
    assert_eq!(
        q8.tensor("token_embd.weight").unwrap().dtype,
        GgmlType::Q8_0
    );
    // Row length 64: not a multiple of 256, so Q8_0.
    let narrow = GgufFile::from_bytes(tied_model(64, 8, GgmlType::F32)).unwrap();
    let q4 = quantize_in_memory(&narrow, QuantTarget::Q4_0, false);
    assert_eq!(
        q4.tensor("token_embd.weight").unwrap().dtype,
        GgmlType::Q8_0
    );
    assert_eq!(
        q4.tensor("blk.0.attn_q.weight").unwrap().dtype,
        GgmlType::Q4_0
    );
    // Dequantized Q6_K head stays close to the source values.
    let q4 = quantize_in_memory(&input, QuantTarget::Q4_0, false);
    let blocks: &[BlockQ6K] = cast_blocks(q4.tensor("token_embd.weight").unwrap().data).unwrap();
    let mut d = vec![0f32; blocks.len() * 256];
    scalar::dequantize_row_q6k(blocks, &mut d);
    let src = tensor_to_f32(&input.tensor("token_embd.weight").unwrap()).unwrap();
    let max_err = d
        .iter()
        .zip(&src)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(max_err < 2.0 / 31.0 * 1.01, "max error {max_err}");
}

#[test]
fn unsupported_input_type_is_a_clear_error() {
    let input = GgufFile::from_bytes(tied_model(256, 8, GgmlType::Q8_0)).unwrap();
    let mut sink = Vec::new();
    let err = quantize_to_writer(&input, &mut sink, &QuantizeOptions::default(), &mut |_| {})
        .unwrap_err();
    match &err {
        Error::UnsupportedTensorType { name, ty, .. } => {
            assert_eq!(name, "token_embd.weight");
            assert_eq!(ty, "q8_0");
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert!(err.to_string().contains("f32, f16 or bf16"), "{err}");
    assert!(sink.is_empty(), "nothing written before the error");
}

#[test]
fn failed_write_leaves_nothing_under_the_output_name() {
    let dir = scratch_dir("atomic");
    let src = dir.join("in.gguf");
    std::fs::write(&src, tied_model(256, 64, GgmlType::F32)).unwrap();
    let out = dir.join("out.gguf");
    let failing = QuantizeOptions {
        target: QuantTarget::Q4_0,
        fail_after_bytes: Some(3000),
        ..QuantizeOptions::default()
    };

    // No file before: none after.
    let err = quantize_file(&src, &out, &failing).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(!out.exists(), "a failed run left {}", out.display());

    // An existing file is left untouched.
    std::fs::write(&out, b"previous model").unwrap();
    assert!(quantize_file(&src, &out, &failing).is_err());
    assert_eq!(std::fs::read(&out).unwrap(), b"previous model");

    // No temporary files are left behind.
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    // Without the simulated failure the same call replaces it with a valid file.
    let opts = QuantizeOptions {
        fail_after_bytes: None,
        ..failing
    };
    let report = quantize_file(&src, &out, &opts).unwrap();
    let f = GgufFile::open(&out).unwrap();
    assert_eq!(f.get_u32("general.file_type").unwrap(), 2);
    assert_eq!(f.tensor_count(), report.tensors.len());
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------
// Requantization (quantized input behind `allow_requantize`).
// ---------------------------------------------------------------------------

/// Dequantizes Q8_0 or Q4_1 tensor bytes by hand from the block layouts
/// (independently of the library): Q8_0 = f16 d + 32 × i8, value d·q;
/// Q4_1 = f16 d, f16 m + 16 bytes of nibbles (low nibbles are elements 0..16,
/// high nibbles 16..32), value nibble·d + m.
fn dequantize_by_hand(dtype: GgmlType, data: &[u8]) -> Vec<f32> {
    let h = |b: &[u8]| f16::from_le_bytes([b[0], b[1]]).to_f32();
    match dtype {
        GgmlType::Q8_0 => data
            .chunks_exact(34)
            .flat_map(|b| {
                let d = h(&b[0..2]);
                b[2..34].iter().map(move |&q| f32::from(q as i8) * d)
            })
            .collect(),
        GgmlType::Q4_1 => data
            .chunks_exact(20)
            .flat_map(|b| {
                let (d, m) = (h(&b[0..2]), h(&b[2..4]));
                let lo = b[4..20].iter().map(move |&q| f32::from(q & 0xF) * d + m);
                let hi = b[4..20].iter().map(move |&q| f32::from(q >> 4) * d + m);
                lo.chain(hi).collect::<Vec<_>>()
            })
            .collect(),
        other => panic!("no hand dequantizer for {other}"),
    }
}

/// Quantizes f32 values with the kernels' reference row quantizers directly.
fn reference_quantize(dtype: GgmlType, values: &[f32]) -> Vec<u8> {
    use edge_llama::kernels::{block_bytes, BlockQ4_0, BlockQ8_0};
    let z = f16::ZERO;
    match dtype {
        GgmlType::Q4_0 => {
            let mut b = vec![BlockQ4_0 { d: z, qs: [0; 16] }; values.len() / 32];
            scalar::quantize_row_q4_0(values, &mut b);
            block_bytes(&b).to_vec()
        }
        GgmlType::Q8_0 => {
            let mut b = vec![BlockQ8_0 { d: z, qs: [0; 32] }; values.len() / 32];
            scalar::quantize_row_q8_0(values, &mut b);
            block_bytes(&b).to_vec()
        }
        GgmlType::Q6K => {
            let mut b = vec![
                BlockQ6K {
                    ql: [0; 128],
                    qh: [0; 64],
                    scales: [0; 16],
                    d: z
                };
                values.len() / 256
            ];
            scalar::quantize_row_q6k(values, &mut b);
            block_bytes(&b).to_vec()
        }
        other => panic!("no reference quantizer for {other}"),
    }
}

/// Requantizes `input` to `target` and checks every tensor: those whose
/// output type is their input type are copied; every other quantized one
/// equals the reference quantization of its hand-dequantized values; 1-D
/// tensors are unchanged f32. Returns the number of requantized tensors.
fn check_requantized(input: &GgufFile, target: QuantTarget, pure: bool) -> usize {
    let opts = QuantizeOptions {
        target,
        pure,
        allow_requantize: true,
        ..QuantizeOptions::default()
    };
    let mut bytes = Vec::new();
    quantize_to_writer(input, &mut bytes, &opts, &mut |_| {}).expect("requantize");
    let out = GgufFile::from_bytes(bytes).expect("our output parses");
    assert_eq!(
        out.get_u32("general.file_type").unwrap(),
        target.file_type()
    );
    assert_eq!(out.tensor_count(), input.tensor_count());
    let mut requantized = 0;
    for t in input.tensors() {
        let o = out.tensor(t.name).expect("tensor kept");
        assert_eq!(o.shape, t.shape, "shape of {}", t.name);
        if o.dtype == t.dtype {
            assert_eq!(o.data, t.data, "{} ({}) copied as-is", t.name, t.dtype);
            continue;
        }
        let values = dequantize_by_hand(t.dtype, t.data);
        // The library's dequantization agrees with the hand-written one.
        assert_eq!(tensor_to_f32(&t).unwrap(), values, "{}", t.name);
        assert_eq!(
            o.data,
            reference_quantize(o.dtype, &values),
            "{}: {} → {}",
            t.name,
            t.dtype,
            o.dtype
        );
        requantized += 1;
    }
    requantized
}

#[test]
fn requantizing_q8_0_to_q4_0_equals_quantizing_the_dequantized_values() {
    let dir = scratch_dir("requant");
    let path = dir.join("tiny-q8_0.gguf");
    SyntheticSpec::tiny(GgmlType::Q8_0)
        .write(&path)
        .expect("write synthetic model");
    let input = GgufFile::open(&path).unwrap();

    // Default mode: the output head's rows (64) are not a multiple of 256, so
    // it stays Q8_0 and is copied; the other 2-D weights become Q4_0.
    let n = check_requantized(&input, QuantTarget::Q4_0, false);
    let n2d = input.tensors().filter(|t| t.shape.len() == 2).count();
    assert_eq!(n, n2d - 1, "every 2-D weight but the head requantized");
    // Pure mode: the head too.
    assert_eq!(check_requantized(&input, QuantTarget::Q4_0, true), n2d);
    // Q8_0 → Q8_0: everything copied unchanged.
    assert_eq!(check_requantized(&input, QuantTarget::Q8_0, false), 0);

    // Through the file API too, with a Q6_K head (tied embedding, rows of 256).
    let tied = dir.join("tied-q8_0.gguf");
    std::fs::write(&tied, tied_model(256, 8, GgmlType::Q8_0)).unwrap();
    let out = dir.join("tied-q4_0.gguf");
    let opts = QuantizeOptions {
        target: QuantTarget::Q4_0,
        allow_requantize: true,
        ..QuantizeOptions::default()
    };
    quantize_file(&tied, &out, &opts).expect("requantize file");
    let (src, dst) = (
        GgufFile::open(&tied).unwrap(),
        GgufFile::open(&out).unwrap(),
    );
    let head = dst.tensor("token_embd.weight").unwrap();
    assert_eq!(head.dtype, GgmlType::Q6K);
    let values = dequantize_by_hand(
        GgmlType::Q8_0,
        src.tensor("token_embd.weight").unwrap().data,
    );
    assert_eq!(head.data, reference_quantize(GgmlType::Q6K, &values));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn requantizing_q4_1_to_q8_0_and_f16() {
    // SmolLM2's case: a Q4_1 model turned into Q8_0, and into f16 (exact: a
    // Q4_1 value nibble·d + m is rounded to f16 once).
    let input = GgufFile::from_bytes(
        SyntheticSpec::tiny(GgmlType::Q4_1)
            .build()
            .and_then(|w| {
                let mut b = Vec::new();
                w.write(&mut b).map(|()| b)
            })
            .expect("synthetic Q4_1 model"),
    )
    .unwrap();
    let n2d = input.tensors().filter(|t| t.shape.len() == 2).count();
    assert_eq!(check_requantized(&input, QuantTarget::Q8_0, false), n2d);

    let opts = QuantizeOptions {
        target: QuantTarget::F16,
        allow_requantize: true,
        ..QuantizeOptions::default()
    };
    let mut bytes = Vec::new();
    quantize_to_writer(&input, &mut bytes, &opts, &mut |_| {}).unwrap();
    let out = GgufFile::from_bytes(bytes).unwrap();
    for t in input.tensors().filter(|t| t.dtype == GgmlType::Q4_1) {
        let o = out.tensor(t.name).unwrap();
        assert_eq!(o.dtype, GgmlType::F16);
        let want: Vec<u8> = dequantize_by_hand(GgmlType::Q4_1, t.data)
            .into_iter()
            .flat_map(|v| f16::from_f32(v).to_le_bytes())
            .collect();
        assert_eq!(o.data, want, "{}", t.name);
    }
}

#[test]
fn quantized_input_without_the_option_is_an_error() {
    let dir = scratch_dir("requant-refused");
    let path = dir.join("tiny-q8_0.gguf");
    SyntheticSpec::tiny(GgmlType::Q8_0).write(&path).unwrap();
    let out = dir.join("out.gguf");
    let opts = QuantizeOptions {
        target: QuantTarget::Q4_0,
        ..QuantizeOptions::default()
    };
    let err = quantize_file(&path, &out, &opts).unwrap_err();
    match &err {
        Error::UnsupportedTensorType { name, ty, .. } => {
            // The first quantized weight in llama.cpp's order (names outside
            // the layers first, sorted).
            assert_eq!(name, "output.weight");
            assert_eq!(ty, "q8_0");
        }
        other => panic!("unexpected error {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("f32, f16 or bf16"), "{msg}");
    assert!(msg.contains("--allow-requantize"), "{msg}");
    assert!(!out.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unsupported_quantized_input_is_refused_even_with_the_option() {
    // A Q8_1 weight (36-byte blocks, an activation type with no dequantizer
    // here): refused by name.
    let mut w = GgufWriter::new();
    w.add_metadata("general.architecture", OwnedValue::from("llama"))
        .unwrap();
    w.add_tensor(
        "blk.0.attn_q.weight",
        GgmlType::Q8_1,
        &[64, 2],
        vec![0u8; 36 * 4],
    )
    .unwrap();
    let mut bytes = Vec::new();
    w.write(&mut bytes).unwrap();
    let input = GgufFile::from_bytes(bytes).unwrap();
    let opts = QuantizeOptions {
        target: QuantTarget::Q4_0,
        allow_requantize: true,
        ..QuantizeOptions::default()
    };
    let err = quantize_to_writer(&input, &mut Vec::new(), &opts, &mut |_| {}).unwrap_err();
    match &err {
        Error::UnsupportedTensorType { name, ty, .. } => {
            assert_eq!(
                (name.as_str(), ty.as_str()),
                ("blk.0.attn_q.weight", "q8_1")
            );
        }
        other => panic!("unexpected error {other:?}"),
    }
}
