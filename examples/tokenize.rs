//! Reads UTF-8 text on stdin and prints its token ids, space-separated.
//!
//! `echo "Hello world" | cargo run --release --example tokenize -- --model M [--bos]`

mod common;

use common::{die, Args};
use edge_llama::gguf::GgufFile;
use edge_llama::Tokenizer;
use std::io::Read;

const USAGE: &str = "tokenize --model M.gguf [--bos] < text";

fn main() {
    let args = Args::parse(USAGE, &["--bos"]);
    args.only(USAGE, &["--model"]);
    let path = args.required(USAGE, "--model");
    // Only the vocabulary is needed: works on tensor-less vocabulary files too.
    let file = GgufFile::open(&path).unwrap_or_else(|e| die(e));
    let tokenizer = Tokenizer::from_gguf(&file).unwrap_or_else(|e| die(e));
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .unwrap_or_else(|e| die(format!("stdin: {e}")));
    let ids = tokenizer.encode(&text, args.flag("--bos"));
    let ids: Vec<String> = ids.iter().map(|t| t.to_string()).collect();
    println!("{}", ids.join(" "));
}
