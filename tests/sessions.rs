//! Several sessions over one mapped model, from several threads.

mod common;

use edge_llama::kernels::Numerics;
use edge_llama::{KvCacheConfig, KvType, Model, ModelOptions, Session, SessionOptions};

fn assert_send_sync<T: Send + Sync>() {}
fn assert_send<T: Send>() {}

#[test]
fn model_is_send_and_sync_and_sessions_are_send() {
    assert_send_sync::<Model>();
    assert_send::<Session>();
}

#[test]
fn sessions_on_threads_agree_with_a_lone_session() {
    let Some(dir) = common::fixtures() else {
        return;
    };
    let model = Model::open_with(
        dir.join("tiny-gqa-q8_0.gguf"),
        ModelOptions {
            threads: 2,
            ..Default::default()
        },
    )
    .expect("open");
    let prompts: Vec<Vec<u32>> = (0..4)
        .map(|k| (0..12).map(|i| 100 + 31 * i + 7 * k).collect())
        .collect();
    let alone: Vec<Vec<f32>> = prompts
        .iter()
        .map(|p| {
            let mut s = model
                .new_session(SessionOptions::default())
                .expect("session");
            s.eval(p).expect("eval").to_vec()
        })
        .collect();
    let together: Vec<Vec<f32>> = std::thread::scope(|scope| {
        let handles: Vec<_> = prompts
            .iter()
            .map(|p| {
                let model = model.clone();
                scope.spawn(move || {
                    let mut s = model
                        .new_session(SessionOptions::default())
                        .expect("session");
                    // Feed in two batches: tokens after existing ones.
                    s.eval(&p[..5]).expect("eval");
                    s.eval(&p[5..]).expect("eval").to_vec()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    assert_eq!(alone, together);
}

/// A prompt evaluated in batches against the same tokens evaluated one at
/// a time, for every position, across batch boundaries. For a quantized
/// model with an f32 cache the two are bit-identical (every product is the
/// same code on the same data) under llama.cpp's numerics, which this test
/// selects, except where llama.cpp itself changes order with the batch size
/// (below); the default numerics are bit-identical at every batch size
/// (`default_numerics_batched_prompt_equals_token_by_token`). With the default f16 cache attention
/// follows llama.cpp, whose single-token and batched f16 products sum in
/// different orders: position 0 is still identical, later ones differ by
/// rounding only. F16 weight matrices take those same two orders (tinyBLAS
/// for a batch, ggml_vec_dot_f16 for one token), so for the f16 model every
/// position may differ by rounding, whatever the cache. Rounding only means
/// a mean |Δ| of at most 0.002 of the logits' standard deviation: measured
/// ≤ 5.5e-4 (scalar, AVX2 and AVX-512 paths) for the f16 model; the q4_0
/// model with an f16 cache measured identical. The q4_0 file's output head
/// is Q6_K, which llama.cpp (0.3.36, x86) multiplies with its tiled kernel
/// for a batch of 8 or more and with `ggml_vec_dot_q6_K_q8_K` for one
/// token, in different orders; so its logits are compared by the rounding
/// bound too (the hidden states before the head are the same bits).
#[test]
fn batched_prompt_equals_token_by_token() {
    let Some(dir) = common::fixtures() else {
        return;
    };
    for (variant, kv_type) in [
        ("f16", KvType::F32),
        ("q4_0", KvType::F32),
        ("q4_0", KvType::F16),
    ] {
        let model = Model::open_with(
            dir.join(format!("tiny-gqa-{variant}.gguf")),
            ModelOptions {
                threads: 2,
                numerics: Some(Numerics::LlamaCpp),
                ..Default::default()
            },
        )
        .expect("open");
        let options = SessionOptions {
            kv: KvCacheConfig {
                dtype: kv_type,
                ..KvCacheConfig::default()
            },
        };
        let tokens: Vec<u32> = (0..139).map(|i| 1 + (i * 389) % 31999).collect();
        let mut batched = model.new_session(options).expect("session");
        let all = batched.eval_all(&tokens).expect("eval");
        let mut single = model.new_session(options).expect("session");
        let n = model.config().n_vocab;
        for (i, &t) in tokens.iter().enumerate() {
            let l = single.eval(&[t]).expect("eval");
            let b = &all[i * n..(i + 1) * n];
            let c = common::compare(l, b, n);
            assert!(
                c.mean_abs <= 0.002 * c.ref_std,
                "{variant} {kv_type:?}: position {i}: {c:?}"
            );
        }
        let mut last_only = model.new_session(options).expect("session");
        let l = last_only.eval(&tokens).expect("eval");
        let b = &all[(tokens.len() - 1) * n..];
        {
            // Only the last position reaches the output head here: a
            // single-token product, in the other order (F16 and Q6_K).
            let c = common::compare(l, b, n);
            assert!(
                c.mean_abs <= 0.002 * c.ref_std,
                "{variant}: last only: {c:?}"
            );
        }
    }
}

/// Under the default numerics a quantized model gives the same bits
/// whatever the batch size: a 139-token prompt in batches (128 + 11 tokens:
/// the panel kernels, the 8-row tiles and the remainder rows) against the
/// same tokens one at a time (the single-token kernels), at every
/// position, with an f32 cache (whose attention has one order).
#[test]
fn default_numerics_batched_prompt_equals_token_by_token() {
    let Some(dir) = common::fixtures() else {
        return;
    };
    for file in [
        "tiny-gqa-q4_0.gguf",
        "tiny-gqa-q8_0.gguf",
        "kquants/tiny-gqa-q4_k_m.gguf",
        "kquants/tiny-gqa-q5_k_m.gguf",
        "kquants/tiny-gqa-q3_k_m.gguf",
        "kquants/tiny-gqa-q2_k.gguf",
        "kquants/tiny-gqa-q5_0.gguf",
        "kquants/tiny-gqa-iq4_nl.gguf",
    ] {
        default_batched_equals_single(&dir.join(file), file);
    }
}

/// As [`default_numerics_batched_prompt_equals_token_by_token`] for the
/// SmolLM2 demo model (Q4_1; in the block order, see
/// `Q4_1_DEFAULT_IN_BLOCK_ORDER`: 8-row tiles for a batch, the 8-row
/// single-token kernel for one token).
#[test]
fn default_numerics_batched_prompt_equals_token_by_token_smollm2() {
    let Some(path) = common::smollm2_model() else {
        return;
    };
    default_batched_equals_single(&path, "SmolLM2 Q4_1");
}

/// A 139-token prompt in batches against one token at a time, default
/// numerics, f32 cache: the same bits at every position.
fn default_batched_equals_single(path: &std::path::Path, file: &str) {
    {
        let model = Model::open_with(
            path,
            ModelOptions {
                threads: 2,
                numerics: Some(Numerics::Default),
                ..Default::default()
            },
        )
        .expect("open");
        let options = SessionOptions {
            kv: KvCacheConfig {
                dtype: KvType::F32,
                ..KvCacheConfig::default()
            },
        };
        let tokens: Vec<u32> = (0..139).map(|i| 1 + (i * 389) % 31999).collect();
        let mut batched = model.new_session(options).expect("session");
        let all = batched.eval_all(&tokens).expect("eval");
        let mut single = model.new_session(options).expect("session");
        let n = model.config().n_vocab;
        for (i, &t) in tokens.iter().enumerate() {
            let l = single.eval(&[t]).expect("eval");
            let b = &all[i * n..(i + 1) * n];
            assert!(
                l.iter().zip(b).all(|(a, b)| a.to_bits() == b.to_bits()),
                "{file}: position {i} differs between batched and single evaluation"
            );
        }
    }
}
