//! SmolLM2-135M-Instruct requantized by our quantizer to Q4_K_M and Q3_K_M
//! (`smollm2/smollm2-{q4_k_m,q3_k_m}.ref.json`, whose file bytes
//! `quantize_mixes.rs` checks) against llama.cpp's logits of the same file:
//!
//! - default numerics: mean |Δ| ≤ 0.04 × std, the same argmax at ≥ 85% of
//!   positions;
//! - llama.cpp numerics: its logits bit for bit at every prompt position
//!   and its 24-token greedy continuation.
//!
//! Each test requantizes once (a few seconds at the test profile's
//! opt-level) into a temporary file, removed at the end.

mod common;

use common::{compare, ids, read_f32, read_json};
use edge_llama::gguf::GgufFile;
use edge_llama::kernels::Numerics;
use edge_llama::quantize::{quantize_to_writer, QuantTarget, QuantizeOptions};
use edge_llama::{Model, ModelOptions, Sampler, SamplerConfig, SessionOptions};
use std::path::PathBuf;

/// A file removed when dropped.
struct TempFile(PathBuf);
impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn open(path: &std::path::Path, numerics: Numerics) -> Model {
    Model::open_with(
        path,
        ModelOptions {
            threads: 2,
            numerics: Some(numerics),
            ..Default::default()
        },
    )
    .expect("open")
}

fn check(target: QuantTarget, tag: &str) {
    let Some(dir) = common::fixtures() else {
        return;
    };
    if common::slow_tests_skipped() {
        return;
    }
    let Some(src) = common::smollm2_model() else {
        return;
    };
    let reference = read_json(&dir.join(format!("smollm2/smollm2-{tag}.ref.json")));
    let want = read_f32(&dir.join(format!("smollm2/smollm2-{tag}.logits.f32")));
    let input = GgufFile::open(&src).expect("SmolLM2");
    let opts = QuantizeOptions {
        target,
        allow_requantize: true,
        ..QuantizeOptions::default()
    };
    let mut bytes = Vec::new();
    quantize_to_writer(&input, &mut bytes, &opts, &mut |_| {}).expect("requantize");
    let file = TempFile(std::env::temp_dir().join(format!(
        "edge-llama-smollm2-{tag}-{}.gguf",
        std::process::id()
    )));
    std::fs::write(&file.0, &bytes).expect("write the requantized file");
    let tokens = ids(&reference["tokens"]);

    // Default numerics: within bounds.
    let model = open(&file.0, Numerics::Default);
    let n = model.config().n_vocab;
    let ours = model
        .new_session(SessionOptions::default())
        .expect("session")
        .eval_all(&tokens)
        .expect("eval");
    let c = compare(&ours, &want, n);
    println!(
        "SmolLM2 {tag}: default numerics, mean |Δ|/std {:.5}, argmax agree {:.3}",
        c.mean_abs / c.ref_std,
        c.argmax_agree
    );
    assert_eq!(c.rows, tokens.len());
    assert!(c.mean_abs <= 0.04 * c.ref_std, "{tag}: {c:?}");
    assert!(c.argmax_agree >= 0.85, "{tag}: {c:?}");

    // llama.cpp numerics: bit for bit, then the greedy continuation.
    let model = open(&file.0, Numerics::LlamaCpp);
    let ours = model
        .new_session(SessionOptions::default())
        .expect("session")
        .eval_all(&tokens)
        .expect("eval");
    let positions: Vec<usize> = ours
        .chunks_exact(n)
        .zip(want.chunks_exact(n))
        .map(|(a, b)| {
            a.iter()
                .zip(b)
                .filter(|(x, y)| x.to_bits() == y.to_bits())
                .count()
        })
        .collect();
    println!("SmolLM2 {tag}: llama.cpp numerics, equal logits per position {positions:?}");
    assert!(
        positions.iter().all(|&same| same == n),
        "{tag}: not bit for bit"
    );
    let greedy = ids(&reference["greedy"]);
    let mut session = model
        .new_session(SessionOptions::default())
        .expect("session");
    let mut sampler = Sampler::new(SamplerConfig::greedy(), n).expect("sampler");
    let got: Vec<u32> = session
        .generate(&tokens, &mut sampler, greedy.len())
        .expect("generate")
        .map(|t| t.expect("token").id)
        .collect();
    assert_eq!(got, greedy, "{tag}: greedy continuation");
}

#[test]
fn smollm2_q4_k_m_logits_match_llama_cpp() {
    check(QuantTarget::Q4KM, "q4_k_m");
}

#[test]
fn smollm2_q3_k_m_logits_match_llama_cpp() {
    check(QuantTarget::Q3KM, "q3_k_m");
}
