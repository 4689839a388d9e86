//! SmolLM2-135M-Instruct (Q4_1 weights, byte-level BPE) against llama.cpp's
//! outputs. Needs the model: run scripts/fetch-demo-model.sh first (CI does).

mod common;

use common::{compare, ids, read_f32, read_json};
use edge_llama::eval::{compare_models, Windows};
use edge_llama::kernels::Numerics;
use edge_llama::{Model, ModelOptions, Sampler, SamplerConfig, SessionOptions};
use std::path::{Path, PathBuf};

fn model_path() -> Option<PathBuf> {
    if common::slow_tests_skipped() {
        return None;
    }
    common::smollm2_model()
}

fn open(path: &Path, numerics: Numerics) -> Model {
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

/// The default numerics against llama.cpp's order over
/// `tests/data/quant_text.txt` (windows of 512 tokens, second halves
/// scored, as llama-perplexity): mean KL divergence ≤ 0.001 nats, a
/// quarter of what Q8_0 quantization itself costs.
#[test]
fn smollm2_default_numerics_kld_against_llama_cpp_order() {
    let Some(path) = model_path() else { return };
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/quant_text.txt"),
    )
    .expect("quant_text.txt");
    let default = open(&path, Numerics::Default);
    let llamacpp = open(&path, Numerics::LlamaCpp);
    let windows = Windows::from_text(&llamacpp, &text, 512, None).expect("windows");
    let c = compare_models(&default, &llamacpp, &windows, &mut |_, _| {}).expect("compare");
    println!(
        "SmolLM2 default vs llama.cpp order over {} positions: mean KLD {:.3e}, max {:.3e}, top-1 {:.4}",
        windows.n_scored(),
        c.kld.mean,
        c.kld.max,
        c.top1
    );
    assert!(c.kld.mean <= 0.001, "mean KLD {}", c.kld.mean);
}

#[test]
fn smollm2_matches_llama_cpp() {
    let (Some(dir), Some(path)) = (common::fixtures(), model_path()) else {
        return;
    };
    let reference = read_json(&dir.join("smollm2/smollm2-q4_1.ref.json"));
    // Bit for bit only in llama.cpp's numerics.
    let model = open(&path, Numerics::LlamaCpp);
    let c = model.config();
    assert_eq!(
        (c.dim, c.n_layers, c.n_heads, c.n_kv_heads, c.head_dim),
        (576, 30, 9, 3, 64)
    );
    assert_eq!(
        (c.n_vocab, c.context_length, c.rope_base),
        (49152, 8192, 100000.0)
    );

    let prompt = reference["prompt"].as_str().expect("prompt");
    let expected = ids(&reference["tokens"]);
    let tokens = model
        .tokenizer()
        .encode(prompt, model.tokenizer().add_bos());
    assert_eq!(tokens, expected, "token ids differ from llama.cpp's");

    let mut session = model
        .new_session(SessionOptions::default())
        .expect("session");
    let logits = session.eval_all(&tokens).expect("eval");
    let llama = read_f32(&dir.join("smollm2/smollm2-q4_1.logits.f32"));
    let cmp = compare(&logits, &llama, c.n_vocab);
    println!(
        "smollm2: {cmp:?}, mean/std = {:.5}",
        cmp.mean_abs / cmp.ref_std
    );
    // The bounds, then the stronger fact: every logit of every
    // position is llama.cpp's, bit for bit (we follow its CPU arithmetic).
    assert!(cmp.mean_abs <= 0.04 * cmp.ref_std, "{cmp:?}");
    assert!(cmp.argmax_agree >= 0.9, "{cmp:?}");
    for (p, (ours, theirs)) in logits
        .chunks_exact(c.n_vocab)
        .zip(llama.chunks_exact(c.n_vocab))
        .enumerate()
    {
        let same = ours
            .iter()
            .zip(theirs)
            .filter(|(a, b)| a.to_bits() == b.to_bits())
            .count();
        assert_eq!(
            same, c.n_vocab,
            "position {p}: {same} of {} logits equal",
            c.n_vocab
        );
    }

    let greedy = ids(&reference["greedy"]);
    let mut session = model
        .new_session(SessionOptions::default())
        .expect("session");
    let mut sampler = Sampler::new(SamplerConfig::greedy(), c.n_vocab).expect("sampler");
    let got: Vec<u32> = session
        .generate(&tokens, &mut sampler, greedy.len())
        .expect("generate")
        .map(|t| t.expect("token").id)
        .collect();
    println!("ours: {:?}", model.tokenizer().decode(&got));
    assert_eq!(got, greedy, "greedy continuation differs from llama.cpp's");
}
