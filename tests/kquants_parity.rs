//! The K-quant mixes and their fallback types (`../shared/fixtures/kquants`:
//! Q4_K_M, Q5_K_M, Q3_K_M, Q2_K, Q5_0, Q5_1, IQ4_NL files written by
//! llama.cpp) against llama.cpp's logits and greedy continuations:
//!
//! - default numerics: within mean |Δ| ≤ 0.04 × std of llama.cpp's logits,
//!   the same argmax at ≥ 85% of positions, and the same bits on every kernel
//!   path and thread count;
//! - llama.cpp numerics (scalar path): llama.cpp's logits bit for bit and its
//!   24-token greedy continuation.

mod common;

use common::{compare, fixture_file, ids, read_f32, read_json};
use edge_llama::kernels::{KernelPath, Numerics};
use edge_llama::{Model, ModelOptions, Sampler, SamplerConfig, SessionOptions};
use std::path::PathBuf;

const VARIANTS: [&str; 7] = [
    "q4_k_m", "q5_k_m", "q3_k_m", "q2_k", "q5_0", "q5_1", "iq4_nl",
];

struct Fixture {
    path: PathBuf,
    reference: serde_json::Value,
    logits: Vec<f32>,
}

/// The fixture `variant`, or `None` when the fixtures are absent.
fn fixture(variant: &str) -> Option<Fixture> {
    let path = fixture_file(&format!("kquants/tiny-gqa-{variant}.gguf"))?;
    let dir = path.parent().expect("kquants folder");
    let reference = read_json(&dir.join(format!("tiny-gqa-{variant}.ref.json")));
    let logits = read_f32(&dir.join(format!("tiny-gqa-{variant}.logits.f32")));
    Some(Fixture {
        path,
        reference,
        logits,
    })
}

fn open(f: &Fixture, threads: usize, numerics: Numerics, path: Option<KernelPath>) -> Model {
    let options = ModelOptions {
        threads,
        numerics: Some(numerics),
        kernel_path: path,
        ..Default::default()
    };
    Model::open_with(&f.path, options).unwrap_or_else(|e| panic!("{}: {e}", f.path.display()))
}

/// Our logits for the fixture's prompt (the token ids must be llama.cpp's).
fn prompt_logits(model: &Model, reference: &serde_json::Value) -> Vec<f32> {
    let prompt = reference["prompt"].as_str().expect("prompt");
    let tokens = ids(&reference["tokens"]);
    assert_eq!(
        model.tokenizer().encode(prompt, true),
        tokens,
        "token ids differ"
    );
    let mut session = model
        .new_session(SessionOptions::default())
        .expect("session");
    session.eval_all(&tokens).expect("eval")
}

/// Our greedy continuation of the fixture's prompt, as long as llama.cpp's.
fn greedy(model: &Model, reference: &serde_json::Value) -> Vec<u32> {
    let n = ids(&reference["greedy"]).len();
    let mut session = model
        .new_session(SessionOptions::default())
        .expect("session");
    let mut sampler =
        Sampler::new(SamplerConfig::greedy(), model.config().n_vocab).expect("sampler");
    session
        .generate(&ids(&reference["tokens"]), &mut sampler, n)
        .expect("generate")
        .map(|t| t.expect("token").id)
        .collect()
}

/// Default numerics: every kquants fixture opens and its logits are within
/// the bounds of llama.cpp's.
#[test]
fn default_numerics_within_bounds() {
    for variant in VARIANTS {
        let Some(f) = fixture(variant) else { return };
        let model = open(&f, 2, Numerics::Default, None);
        let ours = prompt_logits(&model, &f.reference);
        let c = compare(&ours, &f.logits, model.config().n_vocab);
        println!(
            "{variant}: default numerics, mean |Δ|/std {:.5}, max |Δ| {:.4}, argmax agree {:.3}",
            c.mean_abs / c.ref_std,
            c.max_abs,
            c.argmax_agree
        );
        assert_eq!(c.rows, ids(&f.reference["tokens"]).len());
        assert!(
            c.mean_abs <= 0.04 * c.ref_std,
            "{variant}: mean |Δ| {} > 0.04 × std {}",
            c.mean_abs,
            c.ref_std
        );
        assert!(
            c.argmax_agree >= 0.85,
            "{variant}: argmax agrees at {} of positions",
            c.argmax_agree
        );
    }
}

/// Default numerics: the same logits, bit for bit, on every kernel path
/// this CPU runs and for 1 and 2 threads.
#[test]
fn default_numerics_same_bits_on_every_path() {
    let paths: Vec<KernelPath> = edge_llama::kernels::available()
        .into_iter()
        .filter_map(KernelPath::from_name)
        .collect();
    assert!(paths.contains(&KernelPath::Scalar));
    for variant in VARIANTS {
        let Some(f) = fixture(variant) else { return };
        let want = prompt_logits(
            &open(&f, 1, Numerics::Default, Some(KernelPath::Scalar)),
            &f.reference,
        );
        for &p in &paths {
            for threads in [1, 2] {
                let got =
                    prompt_logits(&open(&f, threads, Numerics::Default, Some(p)), &f.reference);
                let same = got
                    .iter()
                    .zip(&want)
                    .filter(|(a, b)| a.to_bits() == b.to_bits())
                    .count();
                assert_eq!(
                    same,
                    want.len(),
                    "{variant}: path {p}, {threads} threads: {same} of {} logits equal the scalar path's",
                    want.len()
                );
            }
        }
    }
}

/// llama.cpp numerics on the scalar path: llama.cpp's logits bit for bit
/// at every position, and its 24-token greedy continuation.
#[test]
fn llamacpp_numerics_bit_for_bit() {
    let mut failures = Vec::new();
    for variant in VARIANTS {
        let Some(f) = fixture(variant) else { return };
        let model = open(&f, 2, Numerics::LlamaCpp, Some(KernelPath::Scalar));
        let n = model.config().n_vocab;
        let ours = prompt_logits(&model, &f.reference);
        assert_eq!(ours.len(), f.logits.len());
        let positions: Vec<usize> = ours
            .chunks_exact(n)
            .zip(f.logits.chunks_exact(n))
            .map(|(a, b)| {
                a.iter()
                    .zip(b)
                    .filter(|(x, y)| x.to_bits() == y.to_bits())
                    .count()
            })
            .collect();
        println!("{variant}: llama.cpp numerics, equal logits per position {positions:?}");
        if let Some(p) = positions.iter().position(|&same| same != n) {
            failures.push(format!(
                "{variant}: position {p}: {} of {n} logits equal llama.cpp's",
                positions[p]
            ));
            continue;
        }
        let got = greedy(&model, &f.reference);
        if got != ids(&f.reference["greedy"]) {
            failures.push(format!("{variant}: greedy continuation {got:?} differs"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
