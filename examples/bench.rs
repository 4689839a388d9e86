//! Tokens per second, like llama-bench: a prompt of `-p` tokens evaluated on
//! a fresh session (pp), then `-n` tokens generated greedily one at a time
//! (tg), repeated `--reps` times; one line per test with mean ± sd.
//!
//! `cargo run --release --example bench -- --model M.gguf [-p 512] [-n 128] [--threads T] [--reps R]`
//!
//! After the table it prints the roofline of generation: the weight bytes
//! one token reads × tokens/s, next to a plain read of those same mapped
//! bytes on the same threads (what the memory system delivers to a loop
//! that does nothing but load), and the peak resident memory (VmHWM, Linux)
//! against the bound file + KV cache + 64 MiB.
//!
//! It also reports how much of the mapped file sits in 2 MiB pages (Linux):
//! generation from 4 KiB pages runs ~20% slower. `--reread` drops the
//! file's unmapped cached pages first so that they are read again into
//! 2 MiB pages (see `MapOptions::reread_in_huge_pages`).
//!
//! `--write-synthetic q4_0|q8_0` first writes a model with random weights to
//! `--model`, shaped as `--shape tinyllama` (TinyLlama-1.1B, the default) or
//! `--shape llama2-7b` (Llama-2-7B, about 3.8 GB in Q4_0); Q4_0 gets a Q6_K
//! output head, as llama.cpp writes it. Then it benchmarks it.

mod common;

use common::{die, fail, Args};
use edge_llama::gguf::MapOptions;
use edge_llama::kernels::GgmlType;
use edge_llama::synthetic::SyntheticSpec;
use edge_llama::{Model, ModelOptions, SessionOptions};
use std::collections::HashMap;
use std::time::Instant;

const USAGE: &str = "bench --model M.gguf [-p PROMPT_TOKENS] [-n GEN_TOKENS] [--threads T] [--reps R] [--reread] [--write-synthetic q4_0|q8_0 [--shape tinyllama|llama2-7b]]";

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
    let args = Args::parse(USAGE, &["--reread"]);
    args.only(
        USAGE,
        &[
            "--model",
            "-p",
            "-n",
            "--threads",
            "--reps",
            "--write-synthetic",
            "--shape",
            "--reread",
        ],
    );
    let path = args.required(USAGE, "--model");
    let n_prompt: usize = args.get(USAGE, "-p", 512);
    let n_gen: usize = args.get(USAGE, "-n", 128);
    let threads: usize = args.get(USAGE, "--threads", 0);
    let reps: usize = args.get(USAGE, "--reps", 3).max(1);

    if args.opt("--shape").is_some() && args.opt("--write-synthetic").is_none() {
        fail(USAGE, "--shape only applies with --write-synthetic");
    }
    if let Some(t) = args.opt("--write-synthetic") {
        let ty = match t.to_ascii_lowercase().as_str() {
            "q4_0" => GgmlType::Q4_0,
            "q8_0" => GgmlType::Q8_0,
            _ => fail(USAGE, &format!("--write-synthetic: unsupported type {t:?}")),
        };
        let shape = args.opt("--shape").unwrap_or_else(|| "tinyllama".into());
        let spec = SyntheticSpec::named(&shape, ty)
            .unwrap_or_else(|| fail(USAGE, &format!("--shape: unknown shape {shape:?}")));
        let start = Instant::now();
        spec.write(&path).unwrap_or_else(|e| die(e));
        eprintln!("wrote {path} in {:.1} s", start.elapsed().as_secs_f64());
    }

    println!("kernels: {}", edge_llama::kernels::active());
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
    let mut kv_bytes = 0;
    let mut tg_mean = None;
    if n_gen > 0 {
        let mut tps = Vec::new();
        for _ in 0..reps {
            let mut s = model.new_session(opts).unwrap_or_else(|e| die(e));
            kv_bytes = s.kv_bytes();
            let mut tok = 1u32; // BOS
            let t = Instant::now();
            for _ in 0..n_gen {
                let logits = s.eval(&[tok]).unwrap_or_else(|e| die(e));
                tok = argmax(logits);
            }
            tps.push(n_gen as f64 / t.elapsed().as_secs_f64());
        }
        line(&format!("tg{n_gen}"), &tps);
        tg_mean = Some(mean_sd(&tps).0);
    }
    if kv_bytes == 0 {
        kv_bytes = model
            .new_session(opts)
            .unwrap_or_else(|e| die(e))
            .kv_bytes();
    }
    // Read before the roofline pass (which only reads pages already counted).
    let peak_rss = peak_rss_bytes();

    let gb = |bytes: f64| bytes / 1e9;
    let per_token = weight_bytes_per_token(&model);
    let read = read_bandwidth(&model, model.threads());
    println!(
        "memory read: {:.1} GB/s (a plain read of the {:.1} MB of weights in the map, on {} thread(s))",
        gb(read),
        per_token as f64 / 1e6,
        model.threads()
    );
    if let Some(tg) = tg_mean {
        let moved = per_token as f64 * tg;
        println!(
            "generation: {:.1} GB/s of weights ({:.1} MB per token × {:.1} tokens/s) = {:.0}% of the read",
            gb(moved),
            per_token as f64 / 1e6,
            tg,
            100.0 * moved / read
        );
    }
    let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
    if let Some(r) = model.gguf().page_report() {
        println!(
            "pages: {:.0} of the {:.0} MiB resident in the map are in 2 MiB pages{}",
            mib(r.huge_page_bytes),
            mib(r.resident_bytes),
            if r.huge_page_bytes * 2 < r.resident_bytes {
                " (mostly 4 KiB pages: generation runs slower; --reread re-reads the file into 2 MiB pages)"
            } else {
                ""
            }
        );
    }
    let file_bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let bound = file_bytes + kv_bytes as u64 + (64 << 20);
    match peak_rss {
        Some(rss) => println!(
            "peak RSS: {:.1} MiB; bound file + KV + 64 MiB = {:.1} + {:.1} + 64 = {:.1} MiB: {}",
            mib(rss),
            mib(file_bytes),
            mib(kv_bytes as u64),
            mib(bound),
            if rss <= bound { "within" } else { "EXCEEDED" }
        ),
        None => println!(
            "peak RSS: not available on this system; bound file + KV + 64 MiB = {:.1} MiB",
            mib(bound)
        ),
    }
}

/// Bytes of weights one generated token reads: every tensor except the
/// token embedding, of which it reads one row, unless the embedding is
/// also the output head (no `output.weight`), which reads all of it.
fn weight_bytes_per_token(model: &Model) -> u64 {
    let tied = model.gguf().tensor("output.weight").is_none();
    model
        .gguf()
        .tensors()
        .map(|t| {
            if t.name == "token_embd.weight" && !tied {
                t.row_bytes() as u64
            } else {
                t.data.len() as u64
            }
        })
        .sum()
}

/// Bytes per second of a plain read (wrapping sum of 8-byte words) of the
/// same weight bytes generation reads, split into `threads` contiguous
/// parts as the products split their rows; the best of a few passes.
fn read_bandwidth(model: &Model, threads: usize) -> f64 {
    let tied = model.gguf().tensor("output.weight").is_none();
    let parts: Vec<&[u8]> = model
        .gguf()
        .tensors()
        .filter(|t| tied || t.name != "token_embd.weight")
        .map(|t| t.data)
        .collect();
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let threads = threads.max(1);
    // One pass: every thread reads its share of every tensor.
    let pass = || {
        std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|i| {
                    let parts = &parts;
                    s.spawn(move || {
                        let mut sum = 0u64;
                        for p in parts {
                            let share = p.len().div_ceil(threads);
                            let mine = p.get(i * share..p.len().min((i + 1) * share));
                            sum = sum.wrapping_add(read_sum(mine.unwrap_or(&[])));
                        }
                        sum
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap_or(0))
                .fold(0u64, u64::wrapping_add)
        })
    };
    std::hint::black_box(pass()); // warm-up
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        std::hint::black_box(pass());
        best = best.min(t.elapsed().as_secs_f64());
    }
    total as f64 / best
}

/// Wrapping sum of `bytes` as little-endian 8-byte words (the tail bytes
/// ignored), in eight independent lanes so the loop is bound by loads.
fn read_sum(bytes: &[u8]) -> u64 {
    let mut lanes = [0u64; 8];
    let mut chunks = bytes.chunks_exact(64);
    for c in &mut chunks {
        for (l, w) in lanes.iter_mut().zip(c.chunks_exact(8)) {
            let word: [u8; 8] = w.try_into().unwrap_or([0; 8]);
            *l = l.wrapping_add(u64::from_le_bytes(word));
        }
    }
    lanes.iter().fold(0u64, |a, &b| a.wrapping_add(b))
}

/// Peak resident set size of this process (VmHWM in /proc/self/status), in
/// bytes; `None` where that file does not exist.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
