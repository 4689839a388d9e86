//! Tokens per second, like llama-bench: a prompt of `-p` tokens evaluated on
//! a fresh session (pp), then `-n` tokens generated greedily one at a time
//! (tg), repeated `--reps` times; one line per test with mean ± sd.
//!
//! `cargo run --release --example bench -- --model M.gguf [-p 512] [-n 128] [--threads T] [--reps R]`
//!
//! `--write-synthetic q4_0|q8_0` first writes a TinyLlama-1.1B-shaped model
//! with random weights to `--model` (Q4_0 gets a Q6_K output head, as
//! llama.cpp writes it), then benchmarks it.

mod common;

use common::{die, fail, Args};
use edge_llama::kernels::GgmlType;
use edge_llama::synthetic::SyntheticSpec;
use edge_llama::{Model, ModelOptions, SessionOptions};
use std::collections::HashMap;
use std::time::Instant;

const USAGE: &str = "bench --model M.gguf [-p PROMPT_TOKENS] [-n GEN_TOKENS] [--threads T] [--reps R] [--write-synthetic q4_0|q8_0]";

/// Mean and sample standard deviation.
fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

fn argmax(v: &[f32]) -> u32 {
    let mut best = 0usize;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best as u32
}

fn main() {
    let args = Args::parse(USAGE, &[]);
    args.only(
        USAGE,
        &[
            "--model",
            "-p",
            "-n",
            "--threads",
            "--reps",
            "--write-synthetic",
        ],
    );
    let path = args.required(USAGE, "--model");
    let n_prompt: usize = args.get(USAGE, "-p", 512);
    let n_gen: usize = args.get(USAGE, "-n", 128);
    let threads: usize = args.get(USAGE, "--threads", 0);
    let reps: usize = args.get(USAGE, "--reps", 3).max(1);

    if let Some(t) = args.opt("--write-synthetic") {
        let ty = match t.to_ascii_lowercase().as_str() {
            "q4_0" => GgmlType::Q4_0,
            "q8_0" => GgmlType::Q8_0,
            _ => fail(USAGE, &format!("--write-synthetic: unsupported type {t:?}")),
        };
        let start = Instant::now();
        SyntheticSpec::tinyllama(ty)
            .write(&path)
            .unwrap_or_else(|e| die(e));
        eprintln!("wrote {path} in {:.1} s", start.elapsed().as_secs_f64());
    }

    println!("kernels: {}", edge_llama::kernels::active());
    let model = Model::open_with(
        &path,
        ModelOptions {
            threads,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| die(e));
    let size: u64 = model.gguf().tensors().map(|t| t.data.len() as u64).sum();
    // Dominant weight type: the one holding the most bytes.
    let mut by_type: HashMap<String, u64> = HashMap::new();
    for t in model.gguf().tensors() {
        *by_type.entry(t.dtype.to_string()).or_default() += t.data.len() as u64;
    }
    let dtype = by_type
        .into_iter()
        .max_by_key(|(_, b)| *b)
        .map(|(t, _)| t)
        .unwrap_or_default();
    let n_vocab = model.config().n_vocab as u32;
    let mut opts = SessionOptions::default();
    opts.kv.capacity = opts.kv.capacity.max(n_prompt + n_gen + 1);
    let file = std::path::Path::new(&path)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.clone());

    println!(
        "| {:<28} | {:>9} | {:<6} | {:>7} | {:>6} | {:>16} |",
        "model", "size GiB", "type", "threads", "test", "t/s"
    );
    let line = |test: &str, v: &[f64]| {
        let (m, sd) = mean_sd(v);
        println!(
            "| {:<28} | {:>9.2} | {:<6} | {:>7} | {:>6} | {:>8.2} ± {:<5.2} |",
            file,
            size as f64 / (1u64 << 30) as f64,
            dtype,
            model.threads(),
            test,
            m,
            sd
        );
    };

    // Warm-up: touch the weights once (page cache, thread pool).
    {
        let mut s = model.new_session(opts).unwrap_or_else(|e| die(e));
        s.eval(&[1]).unwrap_or_else(|e| die(e));
    }

    if n_prompt > 0 {
        let prompt: Vec<u32> = (0..n_prompt as u32)
            .map(|i| 3 + i % (n_vocab - 3))
            .collect();
        let mut tps = Vec::new();
        for _ in 0..reps {
            let mut s = model.new_session(opts).unwrap_or_else(|e| die(e));
            let t = Instant::now();
            s.eval(&prompt).unwrap_or_else(|e| die(e));
            tps.push(n_prompt as f64 / t.elapsed().as_secs_f64());
        }
        line(&format!("pp{n_prompt}"), &tps);
    }
    if n_gen > 0 {
        let mut tps = Vec::new();
        for _ in 0..reps {
            let mut s = model.new_session(opts).unwrap_or_else(|e| die(e));
            let mut tok = 1u32; // BOS
            let t = Instant::now();
            for _ in 0..n_gen {
                let logits = s.eval(&[tok]).unwrap_or_else(|e| die(e));
                tok = argmax(logits);
            }
            tps.push(n_gen as f64 / t.elapsed().as_secs_f64());
        }
        line(&format!("tg{n_gen}"), &tps);
    }
}
