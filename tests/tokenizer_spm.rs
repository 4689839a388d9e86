//! The Llama SentencePiece tokenizer against llama.cpp's test vectors for the
//! real Llama 2 vocabulary (`../shared/fixtures/ggml-vocab-llama-spm.gguf*`).

mod common;

use std::path::PathBuf;

use edge_llama::gguf::{GgufFile, GgufWriter, OwnedValue};
use edge_llama::{Error, Tokenizer};

fn fixtures() -> PathBuf {
    common::fixtures_dir()
}

/// The tokenizer of the Llama 2 vocabulary file, or `None` (after printing
/// why) when the fixtures are absent.
fn llama_tokenizer() -> Option<Tokenizer> {
    let path = common::fixture_file("ggml-vocab-llama-spm.gguf")?;
    let file = GgufFile::open(&path).expect("open the vocabulary GGUF");
    Some(Tokenizer::from_gguf(&file).expect("tokenizer from GGUF metadata"))
}

/// The (text, expected ids) pairs of llama.cpp's test file.
fn cases() -> Vec<(String, Vec<u32>)> {
    let dir = fixtures();
    let inp = std::fs::read_to_string(dir.join("ggml-vocab-llama-spm.gguf.inp"))
        .expect("read .inp fixture");
    let out = std::fs::read_to_string(dir.join("ggml-vocab-llama-spm.gguf.out"))
        .expect("read .out fixture");
    let texts: Vec<&str> = inp.split("\n__ggml_vocab_test__\n").collect();
    let ids: Vec<&str> = out.split('\n').collect();
    assert_eq!(texts.len(), 47, "number of test strings");
    assert_eq!(ids.len(), 47, "number of expected lines");
    texts
        .iter()
        .zip(&ids)
        .map(|(t, line)| {
            let v = line
                .split_whitespace()
                .map(|x| x.parse::<u32>().expect("token id in .out"))
                .collect();
            (t.to_string(), v)
        })
        .collect()
}

#[test]
fn llama_cpp_test_vectors() {
    let Some(tok) = llama_tokenizer() else { return };
    let mut failures = Vec::new();
    for (i, (text, expected)) in cases().iter().enumerate() {
        let got = tok.encode(text, false);
        if &got != expected {
            failures.push(format!(
                "case {i} {text:?}:\n  expected {expected:?}\n  got      {got:?}"
            ));
        }
        let back = tok.decode(&got).expect("decode");
        if &back != text {
            failures.push(format!(
                "case {i}: decode(encode(s)) = {back:?} != {text:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn metadata() {
    let Some(tok) = llama_tokenizer() else { return };
    assert_eq!(tok.n_vocab(), 32000);
    assert_eq!(tok.bos_id(), Some(1));
    assert_eq!(tok.eos_id(), Some(2));
    assert!(tok.add_bos());
    assert!(!tok.add_eos());
    assert!(tok.is_eog(2));
    assert!(!tok.is_eog(1));
    assert_eq!(tok.token_text(1).unwrap(), "<s>");
    assert_eq!(tok.token_text(2).unwrap(), "</s>");
    // Control tokens contribute no text; byte tokens their byte; ▁ a space.
    assert!(tok.token_bytes(1).unwrap().is_empty());
    assert_eq!(tok.token_bytes(3 + 0x0A).unwrap().as_ref(), b"\n");
    let hello = tok.encode("Hello", false);
    assert_eq!(tok.token_text(hello[0]).unwrap(), "▁Hello");
    assert_eq!(tok.token_bytes(hello[0]).unwrap().as_ref(), b" Hello");
    // With BOS first.
    let ids = tok.encode("Hello", true);
    assert_eq!(ids[0], 1);
    assert_eq!(&ids[1..], &hello[..]);
    assert_eq!(tok.decode(&ids).unwrap(), "Hello");
}

#[test]
fn special_text_is_not_special() {
    let Some(tok) = llama_tokenizer() else { return };
    for text in ["<s>", "</s>", "a<s>b</s>", "<unk>", "<0x41>"] {
        let ids = tok.encode(text, false);
        assert!(
            !ids.iter().any(|&id| id <= 2),
            "{text:?} gave control/unknown ids: {ids:?}"
        );
        assert_eq!(tok.decode(&ids).unwrap(), text);
    }
    // "<0x41>" must be spelled out, not turned into the byte token for 'A'.
    assert!(!tok.encode("<0x41>", false).contains(&(3 + 0x41)));
}

#[test]
fn out_of_range_ids_are_errors() {
    let Some(tok) = llama_tokenizer() else { return };
    for id in [32000, 32001, u32::MAX] {
        assert!(matches!(
            tok.token_text(id),
            Err(Error::TokenOutOfRange { n_vocab: 32000, .. })
        ));
        assert!(matches!(
            tok.token_bytes(id),
            Err(Error::TokenOutOfRange { .. })
        ));
        assert!(matches!(
            tok.decode(&[1, 15043, id]),
            Err(Error::TokenOutOfRange { .. })
        ));
        let mut d = tok.stream_decoder();
        assert!(matches!(d.push(id), Err(Error::TokenOutOfRange { .. })));
    }
}

#[test]
fn stream_decode_equals_decode() {
    let Some(tok) = llama_tokenizer() else { return };
    // Characters that the Llama vocabulary lacks go through byte fallback:
    // their UTF-8 bytes arrive in separate tokens.
    let text = "Emoji 🦙🦀 and 𝄞 music, 🤖\u{10FFFD} done 🐑";
    let ids = tok.encode(text, true);
    let n_bytes = ids
        .iter()
        .filter(|&&id| tok.token_text(id).unwrap().starts_with("<0x"))
        .count();
    assert!(n_bytes >= 8, "expected byte-fallback tokens in {ids:?}");
    let whole = tok.decode(&ids).unwrap();
    assert_eq!(whole, text);

    let mut d = tok.stream_decoder();
    let mut streamed = String::new();
    for &id in &ids {
        let piece = d.push(id).unwrap();
        // Every piece is whole characters of the text (never U+FFFD).
        assert!(!piece.contains('\u{FFFD}'), "split character in {piece:?}");
        streamed.push_str(&piece);
        assert!(whole.starts_with(&streamed));
    }
    streamed.push_str(&d.finish());
    assert_eq!(streamed, whole);
}

#[test]
fn stream_decode_truncated_character_is_lossy() {
    let Some(tok) = llama_tokenizer() else { return };
    let ids = tok.encode("🦙", false);
    // Drop the last byte token: the incomplete character flushes as U+FFFD.
    let cut = &ids[..ids.len() - 1];
    let mut d = tok.stream_decoder();
    let mut s = String::new();
    for &id in cut {
        s.push_str(&d.push(id).unwrap());
    }
    s.push_str(&d.finish());
    assert_eq!(s, tok.decode(cut).unwrap());
    assert!(s.ends_with('\u{FFFD}'));
}

#[test]
fn tokenizer_is_send_sync_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<Tokenizer>();
    check::<edge_llama::Sampler>();
}

/// A GGUF (no tensors) with a small SPM vocabulary; `edit` changes the
/// metadata before it is written.
fn small_vocab_file(edit: impl FnOnce(&mut Vec<(&'static str, OwnedValue)>)) -> GgufFile {
    let mut tokens = vec!["<unk>".to_string(), "<s>".into(), "</s>".into()];
    let mut types = vec![2, 3, 3];
    for b in 0..=255u8 {
        tokens.push(format!("<0x{b:02X}>"));
        types.push(6);
    }
    for t in ["▁", "h", "i", "▁h", "hi", "▁hi"] {
        tokens.push(t.to_string());
        types.push(1);
    }
    let n = tokens.len();
    let scores: Vec<f32> = (0..n).map(|i| -(i as f32)).collect();
    let mut kv: Vec<(&'static str, OwnedValue)> = vec![
        ("tokenizer.ggml.model", OwnedValue::from("llama")),
        ("tokenizer.ggml.tokens", OwnedValue::string_array(tokens)),
        ("tokenizer.ggml.scores", OwnedValue::f32_array(scores)),
        ("tokenizer.ggml.token_type", OwnedValue::i32_array(types)),
        ("tokenizer.ggml.bos_token_id", OwnedValue::from(1u32)),
        ("tokenizer.ggml.eos_token_id", OwnedValue::from(2u32)),
        ("tokenizer.ggml.unknown_token_id", OwnedValue::from(0u32)),
    ];
    edit(&mut kv);
    let mut w = GgufWriter::new();
    for (k, v) in kv {
        w.add_metadata(k, v).unwrap();
    }
    let mut bytes = Vec::new();
    w.write(&mut bytes).unwrap();
    GgufFile::from_bytes(bytes).unwrap()
}

fn set(kv: &mut Vec<(&'static str, OwnedValue)>, key: &'static str, v: OwnedValue) {
    kv.retain(|(k, _)| *k != key);
    kv.push((key, v));
}

fn tokenizer_error(file: &GgufFile) -> String {
    match Tokenizer::from_gguf(file) {
        Err(Error::Tokenizer(msg)) => msg,
        Err(e) => panic!("expected Error::Tokenizer, got {e:?}"),
        Ok(_) => panic!("expected an error"),
    }
}

#[test]
fn from_gguf_flags_and_defaults() {
    let f = small_vocab_file(|_| {});
    let tok = Tokenizer::from_gguf(&f).unwrap();
    assert_eq!(tok.n_vocab(), 3 + 256 + 6);
    assert!(tok.add_bos() && !tok.add_eos());
    let hi = tok.encode("hi", false);
    assert_eq!(tok.token_text(hi[0]).unwrap(), "▁hi");
    assert_eq!(hi.len(), 1);

    // Without the space prefix: "hi" → "hi"; flags are read.
    let f = small_vocab_file(|kv| {
        set(
            kv,
            "tokenizer.ggml.add_space_prefix",
            OwnedValue::from(false),
        );
        set(kv, "tokenizer.ggml.add_bos_token", OwnedValue::from(false));
        set(kv, "tokenizer.ggml.add_eos_token", OwnedValue::from(true));
        set(kv, "tokenizer.ggml.eot_token_id", OwnedValue::from(260u32));
    });
    let tok = Tokenizer::from_gguf(&f).unwrap();
    assert!(!tok.add_bos() && tok.add_eos());
    assert!(tok.is_eog(2) && tok.is_eog(260) && !tok.is_eog(1));
    let hi = tok.encode("hi", false);
    assert_eq!(tok.token_text(hi[0]).unwrap(), "hi");
    assert_eq!(tok.decode(&tok.encode(" hi", false)).unwrap(), " hi");
    // Characters outside the vocabulary fall back to bytes.
    let ids = tok.encode("h\u{e9}", false);
    assert_eq!(&ids[1..], &[3 + 0xC3, 3 + 0xA9]);
}

#[test]
fn from_gguf_rejects_bad_metadata() {
    let f = small_vocab_file(|kv| set(kv, "tokenizer.ggml.model", OwnedValue::from("bert")));
    let msg = tokenizer_error(&f);
    assert!(
        msg.contains("bert") && msg.contains("tokenizer.ggml.model"),
        "{msg}"
    );

    let f =
        small_vocab_file(|kv| set(kv, "tokenizer.ggml.scores", OwnedValue::f32_array([0.0; 5])));
    let msg = tokenizer_error(&f);
    assert!(msg.contains("tokenizer.ggml.scores"), "{msg}");

    let f = small_vocab_file(|kv| {
        set(
            kv,
            "tokenizer.ggml.token_type",
            OwnedValue::i32_array([1; 7]),
        )
    });
    let msg = tokenizer_error(&f);
    assert!(msg.contains("tokenizer.ggml.token_type"), "{msg}");

    let f = small_vocab_file(|kv| {
        set(
            kv,
            "tokenizer.ggml.token_type",
            OwnedValue::i32_array([9; 265]),
        )
    });
    let msg = tokenizer_error(&f);
    assert!(msg.contains("tokenizer.ggml.token_type"), "{msg}");

    for key in [
        "tokenizer.ggml.bos_token_id",
        "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.unknown_token_id",
        "tokenizer.ggml.padding_token_id",
        "tokenizer.ggml.eot_token_id",
    ] {
        let f = small_vocab_file(|kv| set(kv, key, OwnedValue::from(265u32)));
        let msg = tokenizer_error(&f);
        assert!(msg.contains(key) && msg.contains("265"), "{msg}");
    }

    let f = small_vocab_file(|kv| kv.retain(|(k, _)| *k != "tokenizer.ggml.tokens"));
    assert!(matches!(
        Tokenizer::from_gguf(&f),
        Err(Error::MissingKey(_))
    ));
}
