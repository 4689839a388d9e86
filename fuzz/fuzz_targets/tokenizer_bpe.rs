//! The byte-level BPE tokenizer (SmolLM2's vocabulary): encode arbitrary
//! text, decode arbitrary ids (out of range: an error naming the id), round
//! trip for text whose bytes all have tokens. Input layout: see
//! `edge_llama_fuzz::exercise_tokenizer`.
#![no_main]

use edge_llama_fuzz::{bpe_byte_table, bpe_tokenizer, exercise_tokenizer, RoundTrip};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    exercise_tokenizer(
        bpe_tokenizer(),
        data,
        RoundTrip::BytesInVocab(bpe_byte_table()),
    );
});
