//! The Llama SentencePiece tokenizer against llama.cpp's test vectors for the
//! real Llama 2 vocabulary (`../shared/fixtures/ggml-vocab-llama-spm.gguf*`).

use std::path::PathBuf;

use edge_llama::gguf::GgufFile;
use edge_llama::{Error, Tokenizer};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures")
}

/// The tokenizer of the Llama 2 vocabulary file, or `None` (after printing
/// why) when the fixtures are absent.
fn llama_tokenizer() -> Option<Tokenizer> {
    let path = fixtures().join("ggml-vocab-llama-spm.gguf");
    if !path.exists() {
        println!("skipped: {} not found", path.display());
        return None;
    }
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
            failures.push(format!("case {i}: decode(encode(s)) = {back:?} != {text:?}"));
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
        assert!(matches!(tok.token_bytes(id), Err(Error::TokenOutOfRange { .. })));
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
