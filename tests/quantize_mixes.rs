//! Our quantizer against llama.cpp's files, byte for byte: each mix of
//! `tiny-gqa-f16.gguf` equals llama.cpp's quantization of the same weights,
//! tensor by tensor and as a whole file (metadata order, tensor order,
//! alignment, data).

mod common;

use edge_llama::gguf::GgufFile;
use edge_llama::quantize::{quantize_to_writer, QuantTarget, QuantizeOptions};
use sha2::{Digest, Sha256};

fn quantize(input: &GgufFile, target: QuantTarget) -> Vec<u8> {
    let opts = QuantizeOptions {
        target,
        ..QuantizeOptions::default()
    };
    let mut bytes = Vec::new();
    quantize_to_writer(input, &mut bytes, &opts, &mut |_| {}).expect("quantize");
    bytes
}

/// Quantizes the f16 fixture to `target` and compares it with llama.cpp's
/// `reference` file: every tensor's type, shape and bytes (the names of the
/// differing ones in the message), then the whole file, then, when the
/// reference's ref.json has one, its sha256.
fn check(target: QuantTarget, reference: &str) {
    let Some(dir) = common::fixtures() else {
        return;
    };
    let input = GgufFile::open(dir.join("tiny-gqa-f16.gguf")).expect("f16 fixture");
    let ref_path = dir.join(reference);
    let theirs_bytes = std::fs::read(&ref_path).expect("reference fixture");
    let ours_bytes = quantize(&input, target);
    let ours = GgufFile::from_bytes(ours_bytes.clone()).expect("our output parses");
    let theirs = GgufFile::from_bytes(theirs_bytes.clone()).expect("reference parses");

    let mut differing = Vec::new();
    for t in theirs.tensors() {
        let o = ours
            .tensor(t.name)
            .unwrap_or_else(|| panic!("{target}: tensor {} missing", t.name));
        assert_eq!(
            (o.dtype, o.shape),
            (t.dtype, t.shape),
            "{target}: {}",
            t.name
        );
        if o.data != t.data {
            differing.push(format!("{} ({})", t.name, t.dtype));
        }
    }
    assert_eq!(ours.tensor_count(), theirs.tensor_count(), "{target}");
    assert!(
        differing.is_empty(),
        "{target}: tensors differing from llama.cpp: {differing:?}"
    );
    assert!(
        ours_bytes == theirs_bytes,
        "{target}: tensors equal but the files differ (metadata or layout)"
    );
    let json_path = ref_path.with_extension("ref.json");
    if json_path.is_file() {
        let json = common::read_json(&json_path);
        if let Some(sha) = json["sha256"].as_str() {
            let ours_sha = format!("{:x}", Sha256::digest(&ours_bytes));
            assert_eq!(ours_sha, sha, "{target}: sha256");
        }
    }
}

#[test]
fn q8_0_file_equals_llama_cpp() {
    check(QuantTarget::Q8_0, "tiny-gqa-q8_0.gguf");
}

#[test]
fn q4_0_file_equals_llama_cpp() {
    check(QuantTarget::Q4_0, "tiny-gqa-q4_0.gguf");
}

#[test]
fn q4_k_m_file_equals_llama_cpp() {
    check(QuantTarget::Q4KM, "kquants/tiny-gqa-q4_k_m.gguf");
}

#[test]
fn q5_k_m_file_equals_llama_cpp() {
    check(QuantTarget::Q5KM, "kquants/tiny-gqa-q5_k_m.gguf");
}

#[test]
fn q3_k_m_file_equals_llama_cpp() {
    check(QuantTarget::Q3KM, "kquants/tiny-gqa-q3_k_m.gguf");
}

#[test]
fn q2_k_file_equals_llama_cpp() {
    check(QuantTarget::Q2K, "kquants/tiny-gqa-q2_k.gguf");
}

#[test]
fn q5_0_file_equals_llama_cpp() {
    check(QuantTarget::Q5_0, "kquants/tiny-gqa-q5_0.gguf");
}

#[test]
fn q5_1_file_equals_llama_cpp() {
    check(QuantTarget::Q5_1, "kquants/tiny-gqa-q5_1.gguf");
}

#[test]
fn iq4_nl_file_equals_llama_cpp() {
    check(QuantTarget::IQ4NL, "kquants/tiny-gqa-iq4_nl.gguf");
}

/// SmolLM2's Q4_1 file requantized to `target` equals llama.cpp's
/// requantization as a whole file: its size and sha256 in `smollm2/TAG.ref.json`.
fn check_smollm2(target: QuantTarget, tag: &str) {
    let Some(dir) = common::fixtures() else {
        return;
    };
    if common::slow_tests_skipped() {
        return;
    }
    let Some(path) = common::smollm2_model() else {
        return;
    };
    let input = GgufFile::open(path).expect("SmolLM2");
    let opts = QuantizeOptions {
        target,
        allow_requantize: true,
        ..QuantizeOptions::default()
    };
    let mut bytes = Vec::new();
    quantize_to_writer(&input, &mut bytes, &opts, &mut |_| {}).expect("requantize");
    let json = common::read_json(&dir.join(format!("smollm2/smollm2-{tag}.ref.json")));
    assert_eq!(
        bytes.len() as u64,
        json["size"].as_u64().expect("size"),
        "{tag}: file size"
    );
    let sha = format!("{:x}", Sha256::digest(&bytes));
    println!("SmolLM2 {tag}: {} bytes, sha256 {sha}", bytes.len());
    assert_eq!(
        sha,
        json["sha256"].as_str().expect("sha256"),
        "{tag}: sha256"
    );
}

#[test]
fn smollm2_q4_k_m_file_equals_llama_cpp() {
    check_smollm2(QuantTarget::Q4KM, "q4_k_m");
}

#[test]
fn smollm2_q3_k_m_file_equals_llama_cpp() {
    check_smollm2(QuantTarget::Q3KM, "q3_k_m");
}
