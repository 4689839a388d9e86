//! Restoring a saved session (`Model::restore_session_with_limit`,
//! `Session::restore`) from arbitrary bytes.
//!
//! Input: one flag byte, then the file. Flag bit 0 set: the trailing XXH64
//! checksum is recomputed first, so mutations reach the field checks behind
//! it instead of all failing the checksum. Checks: nothing panics; a
//! session that would exceed the memory limit is `Error::TooLarge`; a
//! restored session has the file's position, saves back to the same bytes,
//! and evaluates a token; a refused file leaves an existing session as it
//! was.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use edge_llama::gguf::GgufFile;
use edge_llama::session::saved_session_checksum;
use edge_llama::{Error, KvCacheConfig, Model, ModelOptions, SessionOptions};
use libfuzzer_sys::fuzz_target;

/// Memory limit for restored sessions (cache + scratch).
const MAX_SESSION_BYTES: u64 = 256 << 20;

fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        let mut bytes = Vec::new();
        let built = edge_llama_fuzz::session_model_spec()
            .build()
            .and_then(|w| w.write(&mut bytes));
        if let Err(e) = built {
            panic!("building the session model: {e}");
        }
        match GgufFile::from_bytes(bytes).and_then(|f| {
            Model::from_gguf(
                f,
                ModelOptions {
                    threads: 1,
                    ..Default::default()
                },
            )
        }) {
            Ok(m) => m,
            Err(e) => panic!("opening the session model: {e}"),
        }
    })
}

/// Files of this process (RAM-backed when /dev/shm exists).
fn scratch_path(name: &str) -> PathBuf {
    let dir = PathBuf::from("/dev/shm");
    let dir = if dir.is_dir() {
        dir
    } else {
        std::env::temp_dir()
    };
    dir.join(format!("edge-llama-fuzz-{}-{name}", std::process::id()))
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, file)) = data.split_first() else {
        return;
    };
    let mut file = file.to_vec();
    if flags & 1 != 0 && file.len() >= 8 {
        let body = file.len() - 8;
        let sum = saved_session_checksum(&file[..body]);
        file[body..].copy_from_slice(&sum.to_le_bytes());
    }
    let input = scratch_path("input.elss");
    if let Err(e) = std::fs::write(&input, &file) {
        panic!("writing {}: {e}", input.display());
    }
    let model = model();
    match model.restore_session_with_limit(&input, MAX_SESSION_BYTES) {
        Ok(mut session) => {
            let kv = session.kv_config();
            assert!(kv.capacity > kv.n_sink);
            assert_eq!(session.tokens().len(), session.position());
            let resaved = scratch_path("resaved.elss");
            if let Err(e) = session.save(&resaved) {
                panic!("saving a restored session: {e}");
            }
            match std::fs::read(&resaved) {
                Ok(again) => assert!(again == file, "a restored session saves to other bytes"),
                Err(e) => panic!("reading {}: {e}", resaved.display()),
            }
            // A session of the same settings takes the state too.
            let mut other = match model.new_session(SessionOptions { kv }) {
                Ok(s) => s,
                Err(e) => panic!("a second session of restored settings: {e}"),
            };
            if let Err(e) = other.restore(&input) {
                panic!("Session::restore of a file restore_session took: {e}");
            }
            assert_eq!(other.position(), session.position());
            // Bit for bit: the file's logits may be any f32, NaN included.
            let bits = |l: &[f32]| l.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
            assert_eq!(bits(other.logits()), bits(session.logits()));
            let token = (data.len() % model.config().n_vocab) as u32;
            if let Err(e) = session.eval(&[token]) {
                panic!("evaluating after a restore: {e}");
            }
        }
        Err(Error::TooLarge { needed, limit, .. }) => assert!(needed > limit),
        Err(Error::SessionFile { .. }) => {
            // A refused file leaves a live session untouched.
            let kv = KvCacheConfig {
                capacity: 16,
                ..KvCacheConfig::default()
            };
            let mut live = match model.new_session(SessionOptions { kv }) {
                Ok(s) => s,
                Err(e) => panic!("a default session: {e}"),
            };
            if let Err(e) = live.eval(&[1, 2]) {
                panic!("eval: {e}");
            }
            let before = live.logits().to_vec();
            assert!(live.restore(&input).is_err());
            assert_eq!(live.position(), 2);
            assert!(live.logits() == &before[..]);
        }
        Err(e) => panic!("unexpected error restoring a session: {e}"),
    }
});
