//! Generates text from a prompt, streaming it, then prints tokens/s.
//!
//! `cargo run --release --example generate -- --model M --prompt TEXT -n 64`
//!
//! `--stop TEXT` (repeatable) ends the text at the first stop string (not
//! printed). `--prompt-cache FILE` works as llama.cpp's: when FILE holds a
//! saved session of this model whose tokens begin the prompt, it is
//! restored and only the rest of the prompt is evaluated; when FILE does not
//! exist, the prompt's state is saved to it; when it is corrupted or from
//! another model, the example stops with an error and leaves it as it was.
//!
//! `--reread` drops the model file's unmapped cached pages before mapping it
//! so that they are read again into 2 MiB pages (Linux; generation runs
//! ~20% faster from them, see `MapOptions::reread_in_huge_pages`).

mod common;

use common::{die, threads_line, Args};
use edge_llama::gguf::MapOptions;
use edge_llama::{Model, ModelOptions, Sampler, SamplerConfig, Session, SessionOptions};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

const USAGE: &str = "generate --model M.gguf --prompt TEXT [-n TOKENS] [--temp T] [--top-k K] [--top-p P] [--repeat-penalty R] [--seed S] [--threads N] [--ctx CAPACITY] [--stop TEXT]... [--prompt-cache FILE] [--reread]";

fn main() {
    let args = Args::parse(USAGE, &["--reread"]);
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
            "--stop",
            "--prompt-cache",
            "--reread",
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
    let stops = args.all("--stop");
    let prompt_cache = args.opt("--prompt-cache");

    let model = Model::open_with(
        &path,
        ModelOptions {
            threads,
            map: MapOptions {
                reread_in_huge_pages: args.flag("--reread"),
            },
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| die(e));
    common::report_realigned(&model);
    eprintln!(
        "model {path}: {} layers, dim {}, vocab {}; kernels {}, {}",
        model.config().n_layers,
        model.config().dim,
        model.config().n_vocab,
        model.kernel_path(),
        threads_line(&model, threads)
    );
    let tokens = model
        .tokenizer()
        .encode(&prompt, model.tokenizer().add_bos());
    let mut sampler =
        Sampler::new(sampler_config, model.config().n_vocab).unwrap_or_else(|e| die(e));

    let t0 = Instant::now();
    let (mut session, cached) = match &prompt_cache {
        Some(file) => from_prompt_cache(&model, Path::new(file), &tokens, session_options),
        None => (
            model
                .new_session(session_options)
                .unwrap_or_else(|e| die(e)),
            0,
        ),
    };
    if cached < tokens.len() {
        session.eval(&tokens[cached..]).unwrap_or_else(|e| die(e));
        if let Some(file) = &prompt_cache {
            session.save(file).unwrap_or_else(|e| die(e));
            eprintln!("prompt cache {file}: saved {} tokens", tokens.len());
        }
    }
    for &t in &tokens {
        sampler.accept(t);
    }
    let t_prompt = t0.elapsed();
    let evaluated = tokens.len() - cached;
    print!("{prompt}");
    let _ = std::io::stdout().flush();
    let t1 = Instant::now();
    let mut produced = 0usize;
    let gen = session
        .generate(&[], &mut sampler, n)
        .unwrap_or_else(|e| die(e))
        .stop_at(stops);
    for tok in gen {
        let tok = tok.unwrap_or_else(|e| die(e));
        produced += 1;
        print!("{}", tok.text);
        let _ = std::io::stdout().flush();
    }
    let t_gen = t1.elapsed();
    println!();
    eprintln!(
        "prompt: {} tokens ({} from the prompt cache) in {:.3} s ({:.2} tokens/s evaluated); generation: {} tokens in {:.3} s ({:.2} tokens/s)",
        tokens.len(),
        cached,
        t_prompt.as_secs_f64(),
        evaluated as f64 / t_prompt.as_secs_f64(),
        produced,
        t_gen.as_secs_f64(),
        produced as f64 / t_gen.as_secs_f64()
    );
}

/// The session to continue from with `--prompt-cache FILE`, and how many
/// leading prompt tokens it already holds. A file that cannot be restored
/// (corrupted, another model, unreadable) ends the program, untouched.
fn from_prompt_cache(
    model: &Model,
    file: &Path,
    tokens: &[u32],
    options: SessionOptions,
) -> (Session, usize) {
    let shown = file.display();
    if !file.exists() {
        eprintln!("prompt cache {shown}: absent; the prompt's state will be saved to it");
        let session = model.new_session(options).unwrap_or_else(|e| die(e));
        return (session, 0);
    }
    let mut session = model
        .restore_session(file)
        .unwrap_or_else(|e| die(format!("--prompt-cache: {e}")));
    let layout = |c: edge_llama::KvCacheConfig| (c.capacity, c.n_sink, c.dtype);
    if layout(session.kv_config()) != layout(options.kv) {
        eprintln!(
            "prompt cache {shown}: using its KV cache settings {:?}",
            session.kv_config()
        );
    }
    let saved = session.position();
    let common = session
        .tokens()
        .iter()
        .zip(tokens)
        .take_while(|(a, b)| a == b)
        .count();
    // The logits of the last prompt token are needed to generate: when the
    // cache holds the whole prompt without them, evaluate the last again.
    let mut keep = common;
    if keep > 0 && keep == tokens.len() && (keep < saved || session.logits().is_empty()) {
        keep -= 1;
    }
    if keep < saved && session.truncate(keep).is_err() {
        eprintln!(
            "prompt cache {shown}: its ring has wrapped and the prompt differs; evaluating the prompt"
        );
        let session = model
            .new_session(SessionOptions {
                kv: session.kv_config(),
            })
            .unwrap_or_else(|e| die(e));
        return (session, 0);
    }
    if common == saved {
        eprintln!(
            "prompt cache {shown}: restored {keep} of {} prompt tokens",
            tokens.len()
        );
    } else {
        eprintln!(
            "prompt cache {shown}: holds {saved} tokens, the prompt matches the first {common}; reusing {keep}"
        );
    }
    (session, keep)
}
