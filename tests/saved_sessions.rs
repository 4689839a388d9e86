//! Saved sessions: a table of corrupted state files, each refused with its
//! own typed error (and the live session left untouched), and restoring
//! that continues bit for bit as if the session had never been interrupted.

mod common;

use edge_llama::{
    Error, KvCacheConfig, KvType, Model, ModelOptions, Sampler, SamplerConfig, Session,
    SessionFileError, SessionOptions,
};
use std::path::{Path, PathBuf};

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("edge-llama-state-{}-{name}", std::process::id()))
}

fn open(dir: &Path, variant: &str) -> Model {
    Model::open_with(
        dir.join(format!("tiny-gqa-{variant}.gguf")),
        ModelOptions { threads: 2 },
    )
    .expect("open fixture")
}

fn prompt(n: usize) -> Vec<u32> {
    (0..n as u32).map(|i| 1 + (i * 37 + 11) % 500).collect()
}

fn greedy(n_vocab: usize) -> Sampler {
    Sampler::new(SamplerConfig::greedy(), n_vocab).expect("sampler")
}

/// Generates `n` tokens from the session's current state.
fn continue_greedy(s: &mut Session, history: &[u32], n: usize) -> Vec<u32> {
    let n_vocab = s.logits().len();
    let mut sampler = greedy(n_vocab);
    for &t in history {
        sampler.accept(t);
    }
    s.generate(&[], &mut sampler, n)
        .expect("generate")
        .map(|g| g.expect("token").id)
        .collect()
}

#[test]
fn restored_session_continues_bit_for_bit() {
    let Some(dir) = common::fixtures() else {
        return;
    };
    let model = open(&dir, "q4_0");
    for kv in [
        KvCacheConfig::default(),
        KvCacheConfig {
            capacity: 40,
            n_sink: 4,
            dtype: KvType::Q8_0,
            ..KvCacheConfig::default()
        },
        KvCacheConfig {
            capacity: 64,
            n_sink: 2,
            dtype: KvType::F32,
            ..KvCacheConfig::default()
        },
    ] {
        let options = SessionOptions { kv };
        let p = prompt(50);
        // Uninterrupted: prompt, then 30 tokens (the small caches wrap).
        let mut a = model.new_session(options).expect("session");
        a.eval(&p).expect("eval");
        let straight = continue_greedy(&mut a, &p, 30);
        let straight_logits = a.logits().to_vec();

        // Interrupted: prompt, save, restore in a new session, 30 tokens.
        let mut b = model.new_session(options).expect("session");
        b.eval(&p).expect("eval");
        let path = temp(&format!("continue-{:?}-{}", kv.dtype, kv.capacity));
        b.save(&path).expect("save");
        drop(b);
        let mut c = model.restore_session(&path).expect("restore");
        assert_eq!(c.kv_config(), kv);
        assert_eq!(c.tokens(), &p[..]);
        assert_eq!(c.position(), p.len());
        let resumed = continue_greedy(&mut c, &p, 30);
        assert_eq!(resumed, straight, "{kv:?}");
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(c.logits()), bits(&straight_logits), "{kv:?}");

        // Saving mid-generation (after the ring wrapped) and restoring in
        // place into a used session gives the same continuation too.
        let mut d = model.new_session(options).expect("session");
        d.eval(&p).expect("eval");
        let first = continue_greedy(&mut d, &p, 12);
        d.save(&path).expect("save");
        let mut e = model.new_session(options).expect("session");
        e.eval(&prompt(7)).expect("eval");
        e.restore(&path).expect("restore in place");
        let history: Vec<u32> = e.tokens().to_vec();
        let rest = continue_greedy(&mut e, &history, 18);
        assert_eq!([first, rest].concat(), straight, "{kv:?}");
        std::fs::remove_file(&path).ok();
    }
}
