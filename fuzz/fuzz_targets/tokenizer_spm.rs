//! The Llama 2 SentencePiece tokenizer: encode arbitrary text, decode
//! arbitrary ids (out of range: an error naming the id), round trip for
//! plain text. Input layout: see `edge_llama_fuzz::exercise_tokenizer`.
#![no_main]

use edge_llama_fuzz::{exercise_tokenizer, spm_tokenizer, RoundTrip};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    exercise_tokenizer(spm_tokenizer(), data, RoundTrip::SpmPlainText);
});
