//! Perplexity and KL divergence against hand computations and llama.cpp's logits.

mod common;

use edge_llama::eval::{compare_models, compare_with_file, perplexity, write_baseline, Windows};
use edge_llama::{Model, ModelOptions, SessionOptions};
use std::path::Path;

fn open(dir: &Path, name: &str) -> Model {
    Model::open_with(
        dir.join(name),
        ModelOptions {
            threads: 1,
            ..Default::default()
        },
    )
    .expect("fixture model")
}

fn prompt_tokens(dir: &Path, model: &Model) -> Vec<u32> {
    let reference = common::read_json(&dir.join("tiny-gqa-f16.ref.json"));
    let prompt = reference["prompt"].as_str().expect("prompt");
    let tokens = model.tokenizer().encode(prompt, true);
    assert_eq!(
        tokens,
        common::ids(&reference["tokens"]),
        "tokenizer disagrees with llama.cpp"
    );
    tokens
}

/// Negative log-likelihood of `target` under `logits`, computed plainly.
fn nll(logits: &[f32], target: u32) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = logits.iter().map(|&l| (l as f64 - max).exp()).sum();
    max + sum.ln() - logits[target as usize] as f64
}

#[test]
fn perplexity_matches_a_hand_computation() {
    let Some(dir) = common::fixtures() else {
        return;
    };
    let model = open(&dir, "tiny-gqa-f16.gguf");
    let tokens = prompt_tokens(&dir, &model);
    let ctx = 10;
    let windows = Windows::new(&tokens, ctx, None, Some(1)).unwrap();
    assert_eq!(windows.windows.len(), 3);
    let mut calls = Vec::new();
    let ours = perplexity(&model, &windows, &mut |d, t| calls.push((d, t))).unwrap();
    assert_eq!(calls, vec![(0, 3), (1, 3), (2, 3), (3, 3)]);

    // By hand: every window from a fresh session, all logits, positions
    // ctx/2 .. ctx-2 scored against the next token of the original text.
    let n_vocab = model.config().n_vocab;
    let mut sum = 0.0;
    let mut n = 0;
    for c in 0..tokens.len() / ctx {
        let mut window = tokens[c * ctx..(c + 1) * ctx].to_vec();
        window[0] = 1;
        let mut session = model.new_session(SessionOptions::default()).unwrap();
        let logits = session.eval_all(&window).unwrap();
        for j in ctx / 2..ctx - 1 {
            sum += nll(
                &logits[j * n_vocab..(j + 1) * n_vocab],
                tokens[c * ctx + j + 1],
            );
            n += 1;
        }
    }
    let expected = (sum / n as f64).exp();
    println!(
        "perplexity: ours {} ± {}, by hand {expected} over {n} positions",
        ours.ppl, ours.ppl_stderr
    );
    assert_eq!(ours.n_scored, n);
    assert_eq!(ours.n_windows, 3);
    assert!(
        (ours.ppl - expected).abs() <= 1e-9 * expected,
        "{} vs {expected}",
        ours.ppl
    );
    assert!(ours.ppl_stderr > 0.0);
}

#[test]
fn perplexity_is_close_to_one_from_llama_cpp_logits() {
    let Some(dir) = common::fixtures() else {
        return;
    };
    let model = open(&dir, "tiny-gqa-f16.gguf");
    let tokens = prompt_tokens(&dir, &model);
    let ctx = tokens.len();
    let theirs = common::read_f32(&dir.join("tiny-gqa-f16.logits.f32"));
    let n_vocab = model.config().n_vocab;
    let (mut sum, mut n) = (0.0, 0);
    for j in ctx / 2..ctx - 1 {
        sum += nll(&theirs[j * n_vocab..(j + 1) * n_vocab], tokens[j + 1]);
        n += 1;
    }
    let llama_cpp = (sum / n as f64).exp();
    let windows = Windows::new(&tokens, ctx, None, Some(1)).unwrap();
    let ours = perplexity(&model, &windows, &mut |_, _| {}).unwrap();
    println!(
        "perplexity over one window of {ctx}: ours {}, from llama.cpp's logits {llama_cpp}; mean NLL differs by {}",
        ours.ppl,
        ours.nll - sum / n as f64
    );
    // Our f16 logits are llama.cpp's bit for bit (tests/llama_cpp_parity.rs),
    // so the mean log-likelihoods differ only by the f32 log-probs and f64
    // summation order: measured 1.4e-10 nat.
    assert!(
        (ours.nll - (sum / n as f64)).abs() < 1e-6,
        "{} vs {llama_cpp}",
        ours.ppl
    );
}

#[test]
fn kld_of_a_model_against_itself_is_zero() {
    let Some(dir) = common::fixtures() else {
        return;
    };
    let model = open(&dir, "tiny-gqa-q4_0.gguf");
    let tokens = prompt_tokens(&dir, &model);
    let windows = Windows::new(&tokens, 12, None, Some(1)).unwrap();
    let same = compare_models(&model, &model.clone(), &windows, &mut |_, _| {}).unwrap();
    assert_eq!(same.kld.mean, 0.0);
    assert_eq!(same.kld.median, 0.0);
    assert_eq!(same.kld.p99, 0.0);
    assert_eq!(same.kld.max, 0.0);
    assert_eq!(same.top1, 1.0);
    assert_eq!(same.max_abs_dp, 0.0);
    assert_eq!(
        same.perplexity,
        perplexity(&model, &windows, &mut |_, _| {}).unwrap()
    );
}

#[test]
fn baseline_file_gives_the_same_comparison() {
    let Some(dir) = common::fixtures() else {
        return;
    };
    let base = open(&dir, "tiny-gqa-f16.gguf");
    let q8 = open(&dir, "tiny-gqa-q8_0.gguf");
    let tokens = prompt_tokens(&dir, &base);
    let windows = Windows::new(&tokens, 12, None, Some(1)).unwrap();
    let tmp = std::env::temp_dir().join(format!("edge-llama-eval-{}.logprobs", std::process::id()));
    let base_ppl = write_baseline(&base, &windows, &tmp, &mut |_, _| {}).unwrap();
    assert_eq!(
        base_ppl,
        perplexity(&base, &windows, &mut |_, _| {}).unwrap()
    );

    let self_cmp = compare_with_file(&base, &windows, &tmp, &mut |_, _| {}).unwrap();
    assert_eq!(
        (self_cmp.kld.mean, self_cmp.kld.max, self_cmp.top1),
        (0.0, 0.0, 1.0)
    );

    let from_file = compare_with_file(&q8, &windows, &tmp, &mut |_, _| {}).unwrap();
    let direct = compare_models(&q8, &base, &windows, &mut |_, _| {}).unwrap();
    assert_eq!(from_file, direct);
    println!("q8_0 vs f16: {direct:?}");
    assert!(
        direct.kld.mean > 0.0 && direct.kld.mean < 0.05,
        "{direct:?}"
    );
    assert!(direct.kld.median <= direct.kld.p99 && direct.kld.p99 <= direct.kld.max);

    // Other windows are refused.
    let other = Windows::new(&tokens, 15, None, Some(1)).unwrap();
    assert!(compare_with_file(&q8, &other, &tmp, &mut |_, _| {}).is_err());
    let _ = std::fs::remove_file(&tmp);
}
