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
        ModelOptions {
            threads: 2,
            ..Default::default()
        },
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

/// Little-endian field setters on a state file's bytes.
fn set_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn set_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Rewrites the trailing checksum so that only the field changed is wrong.
fn reseal(b: &mut [u8]) {
    let body = b.len() - 8;
    let sum = edge_llama::session::saved_session_checksum(&b[..body]);
    b[body..].copy_from_slice(&sum.to_le_bytes());
}

type Check = fn(&SessionFileError) -> bool;

/// The corruptions: a name, what to do to the bytes of a good file (of a
/// 20-token prompt, f16 cache of capacity 64, logits saved), and the error
/// expected.
fn corruptions(good: &[u8], foreign: &[u8], gguf: &[u8]) -> Vec<(&'static str, Vec<u8>, Check)> {
    use SessionFileError as E;
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = good.to_vec();
        f(&mut b);
        b
    };
    let sealed = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = good.to_vec();
        f(&mut b);
        reseal(&mut b);
        b
    };
    let n = good.len();
    vec![
        ("empty file", Vec::new(), |e| {
            matches!(e, E::Truncated { len: 0, .. })
        }),
        ("cut inside the header", good[..40].to_vec(), |e| {
            matches!(e, E::Truncated { len: 40, .. })
        }),
        ("cut inside the tokens", good[..100].to_vec(), |e| {
            matches!(e, E::Truncated { len: 100, .. })
        }),
        ("cut inside the KV cache", good[..n / 2].to_vec(), |e| {
            matches!(e, E::Truncated { .. })
        }),
        ("last byte missing", good[..n - 1].to_vec(), |e| {
            matches!(e, E::Truncated { .. })
        }),
        ("a byte appended", with(&|b| b.push(0)), |e| {
            matches!(e, E::TrailingBytes { .. })
        }),
        ("wrong magic", with(&|b| b[0] = b'X'), |e| {
            matches!(e, E::BadMagic([b'X', b'L', b'S', b'S']))
        }),
        (
            "a GGUF model instead",
            gguf.to_vec(),
            |e| matches!(e, E::BadMagic(m) if m == b"GGUF"),
        ),
        ("future version", with(&|b| set_u32(b, 4, 2)), |e| {
            matches!(
                e,
                E::UnsupportedVersion {
                    found: 2,
                    supported: 1
                }
            )
        }),
        ("version 0", with(&|b| set_u32(b, 4, 0)), |e| {
            matches!(e, E::UnsupportedVersion { found: 0, .. })
        }),
        (
            "declared length too long",
            with(&|b| set_u64(b, 8, u64::MAX)),
            |e| {
                matches!(
                    e,
                    E::Truncated {
                        needed: u64::MAX,
                        ..
                    }
                )
            },
        ),
        (
            "declared length too short",
            with(&|b| set_u64(b, 8, 100)),
            |e| matches!(e, E::TrailingBytes { declared: 100, .. }),
        ),
        (
            "a bit flipped in the KV cache",
            with(&|b| b[n - 1000] ^= 0x10),
            |e| matches!(e, E::Checksum { .. }),
        ),
        ("a bit flipped in the tokens", with(&|b| b[84] ^= 1), |e| {
            matches!(e, E::Checksum { .. })
        }),
        (
            "a bit flipped in the logits",
            with(&|b| b[80 + 4 * 20 + 7] ^= 0x80),
            |e| matches!(e, E::Checksum { .. }),
        ),
        ("checksum altered", with(&|b| b[n - 3] ^= 0xff), |e| {
            matches!(e, E::Checksum { .. })
        }),
        ("another model's state", foreign.to_vec(), |e| {
            matches!(e, E::ForeignModel { .. })
        }),
        ("model identity altered", sealed(&|b| b[16] ^= 1), |e| {
            matches!(e, E::ForeignModel { .. })
        }),
        ("layer count altered", sealed(&|b| set_u32(b, 24, 3)), |e| {
            matches!(
                e,
                E::ModelMismatch {
                    field: "n_layers",
                    file: 3,
                    ..
                }
            )
        }),
        (
            "vocabulary size altered",
            sealed(&|b| set_u32(b, 36, 7)),
            |e| {
                matches!(
                    e,
                    E::ModelMismatch {
                        field: "n_vocab",
                        file: 7,
                        ..
                    }
                )
            },
        ),
        ("unknown KV type", sealed(&|b| set_u32(b, 40, 9)), |e| {
            matches!(
                e,
                E::BadField {
                    field: "kv_type",
                    value: 9,
                    ..
                }
            )
        }),
        (
            "KV type f32 with f16 data",
            sealed(&|b| set_u32(b, 40, 0)),
            |e| {
                matches!(
                    e,
                    E::BadField {
                        field: "positions",
                        ..
                    }
                )
            },
        ),
        ("logits flag 2", sealed(&|b| set_u32(b, 44, 2)), |e| {
            matches!(
                e,
                E::BadField {
                    field: "has_logits",
                    value: 2,
                    ..
                }
            )
        }),
        ("logits flag cleared", sealed(&|b| set_u32(b, 44, 0)), |e| {
            matches!(
                e,
                E::BadField {
                    field: "positions",
                    ..
                }
            )
        }),
        ("capacity 2^40", sealed(&|b| set_u64(b, 48, 1 << 40)), |e| {
            matches!(
                e,
                E::BadField {
                    field: "capacity",
                    ..
                }
            )
        }),
        ("capacity 0", sealed(&|b| set_u64(b, 48, 0)), |e| {
            matches!(
                e,
                E::BadField {
                    field: "capacity",
                    value: 0,
                    ..
                }
            )
        }),
        (
            "sinks fill the capacity",
            sealed(&|b| set_u64(b, 56, 64)),
            |e| {
                matches!(
                    e,
                    E::BadField {
                        field: "n_sink",
                        value: 64,
                        ..
                    }
                )
            },
        ),
        (
            "slot count inconsistent",
            sealed(&|b| set_u64(b, 72, 19)),
            |e| {
                matches!(
                    e,
                    E::BadField {
                        field: "n_slots",
                        value: 19,
                        ..
                    }
                )
            },
        ),
        (
            "positions 2^64 - 1",
            sealed(&|b| {
                set_u64(b, 64, u64::MAX);
                set_u64(b, 72, 64)
            }),
            |e| {
                matches!(
                    e,
                    E::BadField {
                        field: "positions",
                        ..
                    }
                )
            },
        ),
        (
            "positions and slots one more",
            sealed(&|b| {
                set_u64(b, 64, 21);
                set_u64(b, 72, 21)
            }),
            |e| {
                matches!(
                    e,
                    E::BadField {
                        field: "positions",
                        value: 21,
                        ..
                    }
                )
            },
        ),
        (
            "token out of the vocabulary",
            sealed(&|b| set_u32(b, 80 + 4 * 3, 1 << 30)),
            |e| {
                matches!(
                    e,
                    E::BadField {
                        field: "token",
                        value: 0x4000_0000,
                        ..
                    }
                )
            },
        ),
    ]
}

#[test]
fn corrupted_state_files_are_refused_with_their_error() {
    let Some(dir) = common::fixtures() else {
        return;
    };
    let model = open(&dir, "q4_0");
    let other = open(&dir, "q8_0");
    let options = SessionOptions {
        kv: KvCacheConfig {
            capacity: 64,
            n_sink: 4,
            dtype: KvType::F16,
            ..KvCacheConfig::default()
        },
    };
    let p = prompt(20);
    let good_path = temp("good");
    let mut s = model.new_session(options).expect("session");
    s.eval(&p).expect("eval");
    s.save(&good_path).expect("save");
    let foreign_path = temp("foreign");
    let mut f = other.new_session(options).expect("session");
    f.eval(&p).expect("eval");
    f.save(&foreign_path).expect("save");
    let good = std::fs::read(&good_path).expect("read");
    let foreign = std::fs::read(&foreign_path).expect("read");
    let gguf = std::fs::read(dir.join("tiny-gqa-q4_0.gguf")).expect("read");

    // A live session that every failed restore must leave as it was.
    let mut live = model.new_session(options).expect("session");
    live.eval(&prompt(9)).expect("eval");
    let live_logits = live.logits().to_vec();

    let table = corruptions(&good, &foreign, &gguf[..4096]);
    assert!(table.len() >= 15);
    let bad_path = temp("bad");
    for (name, bytes, expected) in table {
        std::fs::write(&bad_path, &bytes).expect("write");
        for result in [
            model.restore_session(&bad_path).map(|_| ()),
            live.restore(&bad_path),
        ] {
            match result {
                Err(Error::SessionFile { ref path, ref kind }) => {
                    assert_eq!(path, &bad_path, "{name}");
                    assert!(expected(kind), "{name}: unexpected error {kind:?}");
                    // The message names the file and says what is wrong.
                    let msg = result.as_ref().unwrap_err().to_string();
                    assert!(msg.contains("session file"), "{name}: {msg}");
                }
                Err(e) => panic!("{name}: wrong error type {e:?}"),
                Ok(()) => panic!("{name}: restored a corrupted file"),
            }
        }
        assert_eq!(live.position(), 9, "{name}");
        assert_eq!(live.tokens(), &prompt(9)[..], "{name}");
        assert_eq!(live.logits(), &live_logits[..], "{name}");
    }
    // The good file itself restores, in place too.
    std::fs::write(&bad_path, &good).expect("write");
    live.restore(&bad_path).expect("good file");
    assert_eq!(live.tokens(), &p[..]);
    // A memory limit of its own does not matter, only the cache layout.
    let mut limited = model
        .new_session(SessionOptions {
            kv: KvCacheConfig {
                max_session_bytes: 1 << 30,
                ..options.kv
            },
        })
        .expect("session");
    limited
        .restore(&good_path)
        .expect("same layout, other limit");
    assert_eq!(limited.tokens(), &p[..]);
    // Other KV settings: refused in place, accepted as a new session.
    let mut small = model
        .new_session(SessionOptions {
            kv: KvCacheConfig {
                capacity: 32,
                ..options.kv
            },
        })
        .expect("session");
    match small.restore(&good_path) {
        Err(Error::SessionFile {
            kind: SessionFileError::KvConfigMismatch { .. },
            ..
        }) => {}
        other => panic!("expected KvConfigMismatch, got {:?}", other.err()),
    }
    for path in [good_path, foreign_path, bad_path] {
        std::fs::remove_file(path).ok();
    }
}

#[test]
fn single_byte_header_changes_are_refused_without_panic() {
    let Some(dir) = common::fixtures() else {
        return;
    };
    let model = open(&dir, "q4_0");
    let mut s = model
        .new_session(SessionOptions::default())
        .expect("session");
    s.eval(&prompt(5)).expect("eval");
    let path = temp("header-sweep");
    s.save(&path).expect("save");
    let good = std::fs::read(&path).expect("read");
    for at in 0..80 {
        for sealed in [false, true] {
            if sealed && (48..64).contains(&at) {
                // Capacity and sinks are the saver's choice: another
                // consistent pair is a valid file (of a different cache).
                continue;
            }
            let mut b = good.clone();
            b[at] ^= 0xa5;
            if sealed {
                reseal(&mut b);
            }
            std::fs::write(&path, &b).expect("write");
            assert!(
                matches!(model.restore_session(&path), Err(Error::SessionFile { .. })),
                "byte {at} (resealed: {sealed}) was accepted"
            );
        }
    }
    std::fs::remove_file(&path).ok();
}

#[test]
fn missing_file_is_an_io_error_and_save_is_atomic() {
    let Some(dir) = common::fixtures() else {
        return;
    };
    let model = open(&dir, "q4_0");
    let absent = temp("absent");
    assert!(matches!(
        model.restore_session(&absent),
        Err(Error::Io { ref path, .. }) if path == &absent
    ));
    // Saving into a directory that does not exist fails and leaves no file.
    let s = model
        .new_session(SessionOptions::default())
        .expect("session");
    let nowhere = temp("no-such-dir").join("state");
    assert!(matches!(s.save(&nowhere), Err(Error::Io { .. })));
    assert!(!nowhere.exists());
    // A save over an existing file replaces it whole, with no temporary left.
    let path = temp("replace");
    std::fs::write(&path, b"old").expect("write");
    s.save(&path).expect("save");
    assert_eq!(&std::fs::read(&path).expect("read")[..4], b"ELSS");
    let leftovers: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .expect("temp dir")
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name().to_string_lossy().starts_with(&format!(
                "edge-llama-state-{}-replace.tmp",
                std::process::id()
            ))
        })
        .collect();
    assert!(leftovers.is_empty());
    std::fs::remove_file(&path).ok();
}
