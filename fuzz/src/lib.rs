//! Shared pieces of the edge-llama fuzz targets: the tokenizers they run
//! (loaded once per process) and the checks several targets make.
//!
//! Tokenizers come from the project's fixtures when present
//! (`../shared/fixtures/ggml-vocab-llama-spm.gguf` for SPM, the SmolLM2 demo
//! model for BPE; override with `EDGE_LLAMA_FIXTURES` / `EDGE_LLAMA_SMOLLM2`)
//! and fall back to small built-in vocabularies otherwise, so every target
//! runs without data files.

use std::path::PathBuf;
use std::sync::OnceLock;

use edge_llama::gguf::{GgufFile, Value};
use edge_llama::tokenizer::bpe::{BpeSpecial, BpeTokenizer};
use edge_llama::tokenizer::{SpmSpecial, SpmTokenizer, TokenType};
use edge_llama::{Error, Tokenizer};

/// Directory of the reference fixtures.
pub fn fixtures_dir() -> PathBuf {
    match std::env::var_os("EDGE_LLAMA_FIXTURES") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures"),
    }
}

/// Path of the SmolLM2 demo model (its BPE vocabulary is what we fuzz).
pub fn smollm2_path() -> PathBuf {
    match std::env::var_os("EDGE_LLAMA_SMOLLM2") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../models/SmolLM2-135M-Instruct.Q4_1.gguf"),
    }
}

fn tokenizer_from(path: PathBuf) -> Option<Tokenizer> {
    let file = GgufFile::open(&path).ok()?;
    let tok = Tokenizer::from_gguf(&file).ok()?;
    eprintln!("fuzz: tokenizer from {}", path.display());
    Some(tok)
}

/// The Llama 2 SPM tokenizer (32000 tokens) or a byte-fallback toy.
pub fn spm_tokenizer() -> &'static Tokenizer {
    static TOK: OnceLock<Tokenizer> = OnceLock::new();
    TOK.get_or_init(|| {
        tokenizer_from(fixtures_dir().join("ggml-vocab-llama-spm.gguf")).unwrap_or_else(toy_spm)
    })
}

/// The SmolLM2 BPE tokenizer (49152 tokens) or a byte-level toy.
pub fn bpe_tokenizer() -> &'static Tokenizer {
    static TOK: OnceLock<Tokenizer> = OnceLock::new();
    TOK.get_or_init(|| tokenizer_from(smollm2_path()).unwrap_or_else(toy_bpe))
}

/// `<unk>`, `<s>`, `</s>`, the 256 byte tokens and a few words.
fn toy_spm() -> Tokenizer {
    eprintln!("fuzz: SPM fixture missing, using the built-in toy vocabulary");
    let mut tokens = vec!["<unk>".to_string(), "<s>".into(), "</s>".into()];
    let mut types = vec![TokenType::Unknown, TokenType::Control, TokenType::Control];
    for b in 0..=255u8 {
        tokens.push(format!("<0x{b:02X}>"));
        types.push(TokenType::Byte);
    }
    for t in [
        "▁", "a", "▁a", "▁the", "he", "▁[", "INST", "]", "/", "<<", "SYS", ">>",
    ] {
        tokens.push(t.into());
        types.push(TokenType::Normal);
    }
    let scores = (0..tokens.len()).map(|i| -(i as f32)).collect();
    let special = SpmSpecial {
        bos: Some(1),
        eos: Some(2),
        unk: Some(0),
        ..SpmSpecial::default()
    };
    match SpmTokenizer::new(tokens, scores, types, special) {
        Ok(t) => Tokenizer::from_spm(t),
        Err(e) => panic!("built-in SPM vocabulary rejected: {e}"),
    }
}

/// GPT-2's byte-to-character map: printable Latin-1 bytes stand for
/// themselves, the other 68 bytes map to U+0100.. in byte order.
fn gpt2_byte_chars() -> Vec<char> {
    let printable = |b: u32| (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || b >= 0xae;
    let mut next = 256;
    (0..256u32)
        .map(|b| {
            if printable(b) {
                char::from_u32(b).unwrap_or('?')
            } else {
                next += 1;
                char::from_u32(next - 1).unwrap_or('?')
            }
        })
        .collect()
}

/// The 256 byte tokens, a few merges and ChatML's two control tokens.
fn toy_bpe() -> Tokenizer {
    eprintln!("fuzz: SmolLM2 model missing, using the built-in toy BPE vocabulary");
    let mut tokens: Vec<String> = vec![
        "<|endoftext|>".into(),
        "<|im_start|>".into(),
        "<|im_end|>".into(),
    ];
    let mut types = vec![3, 3, 3];
    for c in gpt2_byte_chars() {
        tokens.push(c.to_string());
        types.push(1);
    }
    let merges = ["Ġ t", "h e", "Ġt he", "i n", "Ġ a"];
    for m in merges {
        tokens.push(m.replace(' ', ""));
        types.push(1);
    }
    let token_refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
    let special = BpeSpecial {
        bos: Some(1),
        eos: Some(2),
        ..BpeSpecial::default()
    };
    match BpeTokenizer::from_parts(&token_refs, Some(&types), &merges, None, special) {
        Ok(t) => Tokenizer::from_bpe(t),
        Err(e) => panic!("built-in BPE vocabulary rejected: {e}"),
    }
}

/// Whether the tokenizer promises `decode(encode(text)) == text`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoundTrip {
    /// SPM: for plain text, i.e. text without U+2581 (`▁`, which the
    /// vocabulary uses for a space and decodes to one) and without
    /// user-defined tokens (the Llama 2 vocabulary has none).
    SpmPlainText,
    /// Byte-level BPE: for text whose every byte has a single-byte token
    /// (`table[b]`). A byte without one is dropped by the encoder, as
    /// llama.cpp does (SmolLM2's vocabulary lacks a few control bytes,
    /// e.g. 0x04), so no id sequence could give it back.
    BytesInVocab(&'static [bool; 256]),
}

/// Which bytes have a token of their own (`token_bytes(id) == [b]`).
pub fn single_byte_tokens(tok: &Tokenizer) -> [bool; 256] {
    let mut table = [false; 256];
    for id in 0..tok.n_vocab() as u32 {
        if let Ok(b) = tok.token_bytes(id) {
            if let [b] = b[..] {
                table[b as usize] = true;
            }
        }
    }
    table
}

/// [`single_byte_tokens`] of [`bpe_tokenizer`], computed once.
pub fn bpe_byte_table() -> &'static [bool; 256] {
    static TABLE: OnceLock<[bool; 256]> = OnceLock::new();
    TABLE.get_or_init(|| single_byte_tokens(bpe_tokenizer()))
}

/// Runs one tokenizer input. The first byte picks the mode: bit 0 clear =
/// encode the rest as text (lossy UTF-8), bit 1 = with BOS; bit 0 set =
/// decode the rest as little-endian u32 ids (bit 1: ids wrapped to slightly
/// past the vocabulary, so most are valid).
pub fn exercise_tokenizer(tok: &Tokenizer, data: &[u8], promise: RoundTrip) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let n_vocab = tok.n_vocab();
    if mode & 1 == 0 {
        let text = String::from_utf8_lossy(rest);
        let add_bos = mode & 2 != 0;
        let ids = tok.encode(&text, add_bos);
        if let Some(&bad) = ids.iter().find(|&&id| id as usize >= n_vocab) {
            panic!("encode produced id {bad} outside the vocabulary of {n_vocab}");
        }
        if text.is_empty() {
            let bos: Vec<u32> = tok.bos_id().filter(|_| add_bos).into_iter().collect();
            assert_eq!(ids, bos, "the empty string gives only the optional BOS");
        }
        let decoded = match tok.decode(&ids) {
            Ok(d) => d,
            Err(e) => panic!("decoding encoder output failed: {e}"),
        };
        check_stream_matches(tok, &ids, &decoded);
        let promised = match promise {
            RoundTrip::BytesInVocab(table) => text.bytes().all(|b| table[b as usize]),
            RoundTrip::SpmPlainText => !text.contains('\u{2581}'),
        };
        if promised {
            assert_eq!(decoded, text, "round trip failed for ids {ids:?}");
        }
    } else {
        let wrap = mode & 2 != 0;
        let ids: Vec<u32> = rest
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .map(|id| if wrap { id % (n_vocab as u32 + 4) } else { id })
            .collect();
        let first_bad = ids.iter().copied().find(|&id| id as usize >= n_vocab);
        match (tok.decode(&ids), first_bad) {
            (Ok(text), None) => check_stream_matches(tok, &ids, &text),
            (Err(Error::TokenOutOfRange { id, .. }), Some(bad)) => {
                assert_eq!(id, bad, "error names the wrong id")
            }
            (Ok(_), Some(bad)) => panic!("decode accepted out-of-range id {bad}"),
            (Err(e), _) => panic!("unexpected decode error: {e}"),
        }
        for &id in &ids {
            let in_range = (id as usize) < n_vocab;
            assert_eq!(tok.token_text(id).is_ok(), in_range, "token_text({id})");
            assert_eq!(tok.token_bytes(id).is_ok(), in_range, "token_bytes({id})");
        }
    }
}

/// The stream decoder's pieces must concatenate to `decode`'s text.
fn check_stream_matches(tok: &Tokenizer, ids: &[u32], expected: &str) {
    let mut d = tok.stream_decoder();
    let mut text = String::new();
    for &id in ids {
        match d.push(id) {
            Ok(piece) => text.push_str(&piece),
            Err(e) => panic!("stream decoder rejected id {id}: {e}"),
        }
    }
    text.push_str(&d.finish());
    assert_eq!(text, expected, "stream decoder differs from decode");
}

/// Visits every metadata value of `file` (arrays element by element, nested
/// ones too) and every tensor view, checking what the reader promises.
pub fn walk_gguf(file: &GgufFile) {
    let mut n = 0;
    for (key, value) in file.metadata() {
        n += 1;
        visit_value(&value, 0);
        match file.get(key) {
            Some(v) => assert_eq!(v.value_type(), value.value_type(), "get({key:?})"),
            None => panic!("metadata key {key:?} listed but not found"),
        }
    }
    assert_eq!(n, file.metadata_len());
    for t in file.tensors() {
        assert!(
            (1..=4).contains(&t.shape.len()),
            "tensor {:?} has {} dims",
            t.name,
            t.shape.len()
        );
        let n_elems = t.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
        let expected = n_elems.and_then(|n| {
            let row = t.dtype.row_bytes(t.shape[0])?;
            let rows = n.checked_div(t.shape[0]).unwrap_or(0);
            row.checked_mul(rows)
        });
        assert_eq!(
            expected,
            Some(t.data.len() as u64),
            "tensor {:?} byte size",
            t.name
        );
        let _ = (t.row_len(), t.n_rows(), t.row_bytes(), t.n_elements());
        // Dequantize small tensors (keeps each run fast); unsupported types
        // are a typed error.
        if t.data.len() <= 1 << 16 {
            match t.to_f32_vec() {
                Ok(v) => assert_eq!(v.len() as u64, t.n_elements()),
                Err(Error::UnsupportedTensorType { .. }) => {}
                Err(e) => panic!("tensor {:?}: {e}", t.name),
            }
        }
        match file.tensor(t.name) {
            Some(found) => assert_eq!(found.data.as_ptr(), t.data.as_ptr()),
            None => panic!("tensor {:?} listed but not found", t.name),
        }
        let offset = file.tensor_offset(t.name);
        assert!(
            offset.is_some_and(|o| o % file.alignment() == 0),
            "offset of {:?}",
            t.name
        );
    }
}

fn visit_value(v: &Value<'_>, depth: usize) {
    let _ = (
        format!("{v:?}"),
        v.as_u64(),
        v.as_i64(),
        v.as_f64(),
        v.as_str(),
        v.as_bool(),
    );
    let _ = v.to_owned_value();
    if let Some(a) = v.as_array() {
        assert!(
            depth < edge_llama::gguf::MAX_ARRAY_DEPTH,
            "arrays nested too deep"
        );
        let mut count = 0;
        for e in a.iter() {
            assert_eq!(e.value_type(), a.elem_type());
            visit_value(&e, depth + 1);
            count += 1;
        }
        assert_eq!(count, a.len(), "array iterator length");
        let _ = (a.strings(), a.to_f32_vec(), a.to_i64_vec());
    }
}

/// The model the `session_state` target restores sessions into: Q8_0
/// weights, head dimension 32 (so q8_0 caches are allowed), 1 layer.
/// `fuzz/seedgen` saves its seed sessions from the same spec; keep the two
/// equal, or the seeds fail the model-identity check.
pub fn session_model_spec() -> edge_llama::synthetic::SyntheticSpec {
    edge_llama::synthetic::SyntheticSpec {
        dim: 64,
        n_layers: 1,
        n_heads: 2,
        n_kv_heads: 1,
        ffn_dim: 64,
        n_vocab: 260,
        weight_type: edge_llama_kernels::GgmlType::Q8_0,
        output_type: Some(edge_llama_kernels::GgmlType::Q8_0),
        seed: 11,
    }
}
