//! Generation far past the cache capacity: 10,000 tokens with a 4096-position
//! ring run without error and without growing memory. Alone in its own test
//! binary so that no other test allocates in this process meanwhile.

mod common;

use edge_llama::{Model, ModelOptions, Sampler, SamplerConfig, SessionOptions};
use std::time::Instant;

/// Resident set size of this process in KiB, from /proc (Linux only).
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn ten_thousand_tokens_in_constant_memory() {
    if common::slow_tests_skipped() {
        return;
    }
    let Some(dir) = common::fixtures() else {
        return;
    };
    let model = Model::open_with(
        dir.join("tiny-gqa-q4_0.gguf"),
        ModelOptions {
            threads: 2,
            ..Default::default()
        },
    )
    .expect("open");
    let mut session = model
        .new_session(SessionOptions::default())
        .expect("session");
    assert_eq!(session.kv_config().capacity, 4096);
    let config = SamplerConfig {
        seed: 3,
        ..SamplerConfig::default()
    };
    let mut sampler = Sampler::new(config, model.config().n_vocab).expect("sampler");
    let prompt = model.tokenizer().encode("Once upon a time", true);
    let total = 10_000;
    let mut rss = Vec::new();
    let mut rates = Vec::new();
    let mut t = Instant::now();
    let mut produced = 0;
    for tok in session
        .generate(&prompt, &mut sampler, total)
        .expect("generate")
    {
        tok.expect("token");
        produced += 1;
        if produced % 1000 == 0 {
            rates.push(1000.0 / t.elapsed().as_secs_f64());
            t = Instant::now();
        }
        if produced == 5_000 || produced == 10_000 {
            rss.push(rss_kib());
        }
    }
    // An end-of-generation token may stop it early; keep going until 10,000.
    while produced < total {
        let more = session
            .generate(&[], &mut sampler, total - produced)
            .expect("generate");
        for tok in more {
            tok.expect("token");
            produced += 1;
            if produced == 5_000 || produced == 10_000 {
                rss.push(rss_kib());
            }
        }
    }
    assert_eq!(session.position(), prompt.len() + total);
    println!("tokens/s per 1000: {rates:.0?}");
    println!("RSS at 5,000 and 10,000 tokens (KiB): {rss:?}");
    if let [Some(a), Some(b)] = rss[..] {
        assert!(
            b.abs_diff(a) < 1024,
            "RSS changed by {} KiB between token 5,000 and 10,000",
            b.abs_diff(a)
        );
    }
}
