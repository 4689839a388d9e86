//! A whole model from arbitrary bytes: GGUF parsing, config validation,
//! tensor-table checks and tokenizer construction; when the model opens, a
//! session with a small memory limit and one forward step on one token.
//!
//! Checks: nothing panics; a session either fits the limit or is refused
//! with `Error::TooLarge`; one step gives `n_vocab` logits.
#![no_main]

use edge_llama::gguf::GgufFile;
use edge_llama::{Error, KvCacheConfig, KvType, Model, ModelOptions, SessionOptions};
use libfuzzer_sys::fuzz_target;

/// Session memory limit for fuzzing (cache + scratch); far below the
/// `-rss_limit_mb` the runs use.
const MAX_SESSION_BYTES: u64 = 256 << 20;

fuzz_target!(|data: &[u8]| {
    let Ok(file) = GgufFile::from_bytes(data.to_vec()) else {
        return;
    };
    let Ok(model) = Model::from_gguf(
        file,
        ModelOptions {
            threads: 1,
            ..Default::default()
        },
    ) else {
        return;
    };
    let n_vocab = model.config().n_vocab;
    let options = SessionOptions {
        kv: KvCacheConfig {
            capacity: 64,
            n_sink: 4,
            dtype: KvType::F16,
            max_session_bytes: MAX_SESSION_BYTES,
        },
    };
    let mut session = match model.new_session(options) {
        Ok(s) => s,
        Err(Error::TooLarge { needed, limit, .. }) => {
            assert!(needed > limit);
            return;
        }
        Err(e) => panic!("a model that opened cannot start a session: {e}"),
    };
    let token = (data.len() % n_vocab) as u32;
    match session.eval(&[token]) {
        Ok(logits) => assert_eq!(logits.len(), n_vocab),
        Err(e) => panic!("a model that opened cannot evaluate token {token}: {e}"),
    }
    let text = model.tokenizer().encode("Hi", true);
    assert!(text.iter().all(|&id| (id as usize) < n_vocab));
});
