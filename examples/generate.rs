//! Generates text from a prompt, streaming it, then prints tokens/s.
//!
//! `cargo run --release --example generate -- --model M --prompt TEXT -n 64`

mod common;

use common::{die, Args};
use edge_llama::{Model, ModelOptions, Sampler, SamplerConfig, SessionOptions};
use std::io::Write;
use std::time::Instant;

const USAGE: &str = "generate --model M.gguf --prompt TEXT [-n TOKENS] [--temp T] [--top-k K] [--top-p P] [--repeat-penalty R] [--seed S] [--threads N] [--ctx CAPACITY]";

fn main() {
    let args = Args::parse(USAGE, &[]);
    args.only(
        USAGE,
        &[
            "--model",
            "--prompt",
            "-n",
            "--temp",
            "--top-k",
            "--top-p",
            "--repeat-penalty",
            "--seed",
            "--threads",
            "--ctx",
        ],
    );
    let path = args.required(USAGE, "--model");
    let prompt = args.required(USAGE, "--prompt");
    let n: usize = args.get(USAGE, "-n", 64);
    let defaults = SamplerConfig::default();
    let sampler_config = SamplerConfig {
        temperature: args.get(USAGE, "--temp", defaults.temperature),
        top_k: args.get(USAGE, "--top-k", defaults.top_k),
        top_p: args.get(USAGE, "--top-p", defaults.top_p),
        repeat_penalty: args.get(USAGE, "--repeat-penalty", defaults.repeat_penalty),
        seed: args.get(USAGE, "--seed", defaults.seed),
        ..defaults
    };
    let threads: usize = args.get(USAGE, "--threads", 0);
    let mut session_options = SessionOptions::default();
    session_options.kv.capacity = args.get(USAGE, "--ctx", session_options.kv.capacity);

    let model = Model::open_with(
        &path,
        ModelOptions {
            threads,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| die(e));
    eprintln!(
        "model {path}: {} layers, dim {}, vocab {}; kernels {}, {} threads",
        model.config().n_layers,
        model.config().dim,
        model.config().n_vocab,
        model.kernel_path(),
        model.threads()
    );
    let tokens = model
        .tokenizer()
        .encode(&prompt, model.tokenizer().add_bos());
    let mut sampler =
        Sampler::new(sampler_config, model.config().n_vocab).unwrap_or_else(|e| die(e));
    let mut session = model
        .new_session(session_options)
        .unwrap_or_else(|e| die(e));

    print!("{prompt}");
    let _ = std::io::stdout().flush();
    let t0 = Instant::now();
    let gen = session
        .generate(&tokens, &mut sampler, n)
        .unwrap_or_else(|e| die(e));
    let t_prompt = t0.elapsed();
    let t1 = Instant::now();
    let mut produced = 0usize;
    for tok in gen {
        let tok = tok.unwrap_or_else(|e| die(e));
        produced += 1;
        print!("{}", tok.text);
        let _ = std::io::stdout().flush();
    }
    let t_gen = t1.elapsed();
    println!();
    eprintln!(
        "prompt: {} tokens in {:.3} s ({:.2} tokens/s); generation: {} tokens in {:.3} s ({:.2} tokens/s)",
        tokens.len(),
        t_prompt.as_secs_f64(),
        tokens.len() as f64 / t_prompt.as_secs_f64(),
        produced,
        t_gen.as_secs_f64(),
        produced as f64 / t_gen.as_secs_f64()
    );
}
