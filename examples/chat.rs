//! Interactive chat on stdin/stdout in the model's chat format (Llama 2 or
//! ChatML). One user message per line; `/reset` forgets the conversation,
//! `/quit` (or end of input) exits. Works with stdin as a pipe.
//!
//! `cargo run --release --example chat -- --model M [--system TEXT] [--temp T] [--seed S] [-n N] [--stop TEXT]... [--show-tokens]`

mod common;

use common::{die, threads_line, Args};
use edge_llama::{Chat, Model, ModelOptions, SamplerConfig, SessionOptions};
use std::io::{BufRead, Write};

const USAGE: &str = "chat --model M.gguf [--system TEXT] [--temp T] [--seed S] [-n MAX_REPLY_TOKENS] [--threads N] [--ctx CAPACITY] [--stop TEXT]... [--show-tokens]";

fn main() {
    let args = Args::parse(USAGE, &["--show-tokens"]);
    args.only(
        USAGE,
        &[
            "--model",
            "--system",
            "--temp",
            "--seed",
            "-n",
            "--threads",
            "--ctx",
            "--stop",
        ],
    );
    let path = args.required(USAGE, "--model");
    let threads: usize = args.get(USAGE, "--threads", 0);
    let defaults = SamplerConfig::default();
    let sampler = SamplerConfig {
        temperature: args.get(USAGE, "--temp", defaults.temperature),
        seed: args.get(USAGE, "--seed", defaults.seed),
        ..defaults
    };
    let mut session = SessionOptions::default();
    session.kv.capacity = args.get(USAGE, "--ctx", session.kv.capacity);
    let show_tokens = args.flag("--show-tokens");

    let model = Model::open_with(
        &path,
        ModelOptions {
            threads,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| die(e));
    common::report_realigned(&model);
    let mut chat =
        Chat::new(&model, session, sampler, args.opt("--system")).unwrap_or_else(|e| die(e));
    chat.max_reply_tokens = args.get(USAGE, "-n", 512);
    chat.stop_strings = args.all("--stop");
    eprintln!(
        "chat with {path} ({:?} format; kernels {}, {}). /reset to start over, /quit to exit.",
        chat.format(),
        model.kernel_path(),
        threads_line(&model, threads)
    );
    let capacity = chat.session().kv_config().capacity;
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    for line in stdin.lock().lines() {
        let line = line.unwrap_or_else(|e| die(format!("stdin: {e}")));
        let line = line.trim();
        match line {
            "" => continue,
            "/quit" => break,
            "/reset" => {
                chat.reset();
                eprintln!("[conversation reset]");
                continue;
            }
            _ => {}
        }
        let reply = chat
            .send(line, |text| {
                print!("{text}");
                let _ = stdout.flush();
            })
            .unwrap_or_else(|e| die(e));
        println!();
        if show_tokens {
            let ids: Vec<String> = reply.prompt_tokens.iter().map(|t| t.to_string()).collect();
            eprintln!("tokens: {}", ids.join(" "));
        }
        let secs = reply.generation_time.as_secs_f64();
        eprintln!(
            "[{} tokens, {:.2} tokens/s] [ctx {}/{}]",
            reply.reply_tokens.len(),
            reply.reply_tokens.len() as f64 / secs.max(1e-9),
            chat.session().position().min(capacity),
            capacity
        );
    }
}
