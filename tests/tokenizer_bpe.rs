//! Byte-level BPE tokenizer of SmolLM2-135M-Instruct against llama.cpp.
//!
//! Needs the model (`scripts/fetch-demo-model.sh`, or `EDGE_LLAMA_SMOLLM2`
//! pointing at the GGUF) and the fixtures in `../shared/fixtures/smollm2/`;
//! without either, each test prints why it was skipped and passes, or fails
//! under `EDGE_LLAMA_REQUIRE_DATA=1` (see `tests/common/mod.rs`).

mod common;

use edge_llama::gguf::GgufFile;
use edge_llama::tokenizer::bpe::{BpeTokenizer, PreTokenizer};
use edge_llama::tokenizer::Tokenizer;

fn fixture(name: &str) -> Option<serde_json::Value> {
    let p = common::fixture_file(&format!("smollm2/{name}"))?;
    Some(common::read_json(&p))
}

fn ids_of(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .expect("ids array")
        .iter()
        .map(|x| u32::try_from(x.as_u64().expect("id")).expect("id fits u32"))
        .collect()
}

fn load() -> Option<(GgufFile, BpeTokenizer)> {
    let path = common::smollm2_model()?;
    let file = GgufFile::open(&path).expect("open SmolLM2 GGUF");
    let tok = BpeTokenizer::from_gguf(&file).expect("BPE tokenizer from SmolLM2");
    Some((file, tok))
}

fn decode_bytes(tok: &BpeTokenizer, ids: &[u32]) -> Vec<u8> {
    let mut out = Vec::new();
    for &id in ids {
        out.extend_from_slice(&tok.token_bytes(id).expect("id in range"));
    }
    out
}

#[test]
fn smollm2_vocab_metadata() {
    let Some((_file, tok)) = load() else { return };
    assert_eq!(tok.n_vocab(), 49152);
    assert_eq!(tok.pre_tokenizer(), PreTokenizer::DigitsThenGpt2);
    assert!(!tok.add_bos(), "SmolLM2 prompts have no BOS");
    // Special tokens exist in the vocabulary as control tokens...
    let im_start = tok.token_id("<|im_start|>").expect("<|im_start|> in vocab");
    assert!(tok.is_control(im_start));
    assert!(tok.token_bytes(im_start).unwrap().is_empty());
    // ...but plain encoding never produces them.
    let ids = tok.encode("<|im_start|>user");
    assert!(!ids.contains(&im_start), "{ids:?}");
    assert_eq!(decode_bytes(&tok, &ids), b"<|im_start|>user");
    // Out-of-range ids are errors.
    assert!(matches!(
        tok.token_bytes(49152),
        Err(edge_llama::Error::TokenOutOfRange {
            id: 49152,
            n_vocab: 49152
        })
    ));
}

#[test]
fn smollm2_matches_llama_cpp_on_all_cases() {
    let Some(cases) = fixture("tokenizer-cases.json") else {
        return;
    };
    let Some((_file, tok)) = load() else { return };
    let cases = cases.as_array().expect("array of cases");
    // The 47 parts of the SPM test file, less the trailing empty one.
    assert_eq!(cases.len(), 46);
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let text = case["text"].as_str().expect("text");
        let want = ids_of(&case["ids"]);
        let got = tok.encode(text);
        if got != want {
            failures.push(format!(
                "case {i} {text:?}:\n  want {want:?}\n  got  {got:?}"
            ));
        }
        // Round trip: concatenated token bytes give back the text.
        assert_eq!(
            decode_bytes(&tok, &got),
            text.as_bytes(),
            "case {i} {text:?} does not round-trip"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn smollm2_prompt_ids_match_reference() {
    let Some(reference) = fixture("smollm2-q4_1.ref.json") else {
        return;
    };
    let Some((_file, tok)) = load() else { return };
    let prompt = reference["prompt"].as_str().expect("prompt");
    let want = ids_of(&reference["tokens"]);
    assert_eq!(tok.encode(prompt), want);
    let greedy = ids_of(&reference["greedy"]);
    let text = String::from_utf8(decode_bytes(&tok, &greedy)).expect("utf-8");
    assert_eq!(
        text,
        reference["greedy_text"].as_str().expect("greedy_text")
    );
}

#[test]
fn smollm2_through_the_tokenizer_wrapper() {
    let Some(reference) = fixture("smollm2-q4_1.ref.json") else {
        return;
    };
    let Some((file, _)) = load() else { return };
    let tok = Tokenizer::from_gguf(&file).expect("wrapper picks BPE for model gpt2");
    assert_eq!(tok.n_vocab(), 49152);
    assert!(!tok.add_bos());
    let prompt = reference["prompt"].as_str().expect("prompt");
    let ids = tok.encode(prompt, tok.add_bos());
    assert_eq!(ids, ids_of(&reference["tokens"]));
    // No leading-space strip for BPE: decode gives the text back exactly.
    assert_eq!(tok.decode(&ids).unwrap(), prompt);
    let greedy = ids_of(&reference["greedy"]);
    let want = reference["greedy_text"].as_str().expect("greedy_text");
    assert_eq!(tok.decode(&greedy).unwrap(), want);
    let mut d = tok.stream_decoder();
    let mut streamed = String::new();
    for &id in &greedy {
        streamed.push_str(&d.push(id).unwrap());
    }
    streamed.push_str(&d.finish());
    assert_eq!(streamed, want);
    for s in [" leading space", "  two", "\n\nx", "é 🦙 12345"] {
        let ids = tok.encode(s, false);
        assert_eq!(tok.decode(&ids).unwrap(), s);
    }
}
