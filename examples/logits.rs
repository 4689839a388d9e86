//! Evaluates a prompt and writes every position's logits as little-endian
//! f32, row-major `[n_tokens][n_vocab]`; prints the token ids on stdout.
//!
//! `cargo run --release --example logits -- --model M (--prompt TEXT | --tokens 1,2,3) --out FILE`

mod common;

use common::{die, fail, Args};
use edge_llama::{Model, ModelOptions, SessionOptions};

const USAGE: &str =
    "logits --model M.gguf (--prompt TEXT | --tokens 1,2,3) --out FILE [--threads N]";

fn main() {
    let args = Args::parse(USAGE, &[]);
    args.only(
        USAGE,
        &["--model", "--prompt", "--tokens", "--out", "--threads"],
    );
    let path = args.required(USAGE, "--model");
    let out = args.required(USAGE, "--out");
    let threads: usize = args.get(USAGE, "--threads", 0);
    let model = Model::open_with(
        &path,
        ModelOptions {
            threads,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| die(e));
    eprintln!(
        "kernels {}, {} threads",
        model.kernel_path(),
        model.threads()
    );
    let tokens: Vec<u32> = match (args.opt("--prompt"), args.opt("--tokens")) {
        (Some(p), None) => model.tokenizer().encode(&p, true),
        (None, Some(t)) => t
            .split(',')
            .map(|s| {
                s.trim()
                    .parse()
                    .unwrap_or_else(|_| fail(USAGE, &format!("invalid token id {s:?}")))
            })
            .collect(),
        _ => fail(USAGE, "give exactly one of --prompt and --tokens"),
    };
    let mut session = model
        .new_session(SessionOptions::default())
        .unwrap_or_else(|e| die(e));
    let logits = session.eval_all(&tokens).unwrap_or_else(|e| die(e));
    let bytes: Vec<u8> = logits.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&out, bytes).unwrap_or_else(|e| die(format!("{out}: {e}")));
    let ids: Vec<String> = tokens.iter().map(|t| t.to_string()).collect();
    println!("{}", ids.join(" "));
}
