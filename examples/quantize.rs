//! Quantizes an f32/f16/bf16 GGUF model into one of llama.cpp's mixes (Q4_K_M,
//! Q5_K_M, Q3_K_M, Q2_K, Q6_K, Q8_0, Q4_0, … — the tensor types chosen by
//! llama.cpp's rules, in its file layout) or converts it to f16/f32, as
//! llama.cpp's `llama-quantize` does, with a progress bar.
//! `--allow-requantize` also accepts an already quantized model (Q4_0, Q4_1,
//! Q8_0, Q6_K tensors), dequantizing each tensor and quantizing it again;
//! tensors already of their output type are copied unchanged.
//!
//! `cargo run --release --example quantize -- --model IN.gguf --type q4_k_m --out OUT.gguf [--pure] [--allow-requantize] [--threads N]`

mod common;

use common::{die, fail, Args};
use edge_llama::quantize::{quantize_file_with_progress, QuantTarget, QuantizeOptions};
use indicatif::{ProgressBar, ProgressStyle};
use std::time::Instant;

const USAGE: &str = "quantize --model IN.gguf --type TYPE --out OUT.gguf [--pure] [--allow-requantize] [--threads N]\n  TYPE: f32 f16 q8_0 q6_k q5_k_m q5_k_s q5_1 q5_0 q4_k_m q4_k_s q4_1 iq4_nl q4_0 q3_k_l q3_k_m q3_k_s q2_k";

fn main() {
    let args = Args::parse(USAGE, &["--pure", "--allow-requantize"]);
    args.only(USAGE, &["--model", "--type", "--out", "--threads"]);
    let input = args.required(USAGE, "--model");
    let output = args.required(USAGE, "--out");
    let ty = args.required(USAGE, "--type");
    let target: QuantTarget = ty
        .parse()
        .unwrap_or_else(|e: edge_llama::Error| fail(USAGE, &e.to_string()));
    let opts = QuantizeOptions {
        target,
        pure: args.flag("--pure"),
        threads: args.get(USAGE, "--threads", 0),
        allow_requantize: args.flag("--allow-requantize"),
        ..QuantizeOptions::default()
    };

    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:40}] {pos}/{len} tensors {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let t0 = Instant::now();
    let report = quantize_file_with_progress(&input, &output, &opts, &mut |p| {
        bar.set_length(p.total as u64);
        bar.set_position(p.done as u64);
        match p.tensor {
            Some(t) => bar.set_message(format!("{} {} → {}", t.name, t.from, t.to)),
            None => bar.set_message(format!("writing {output}")),
        }
    })
    .unwrap_or_else(|e| {
        bar.abandon();
        die(e)
    });
    bar.finish_and_clear();

    let mut counts: Vec<(String, usize)> = Vec::new();
    for t in &report.tensors {
        let key = format!("{} → {}", t.from, t.to);
        match counts.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += 1,
            None => counts.push((key, 1)),
        }
    }
    for (k, n) in &counts {
        eprintln!("{n:4} tensors {k}");
    }
    eprintln!(
        "{input} → {output} ({target}{}): {:.2} MiB → {:.2} MiB of tensor data, {:.2} bits per weight, {:.2} s",
        match (opts.pure, opts.allow_requantize) {
            (true, true) => ", pure, requantize allowed",
            (true, false) => ", pure",
            (false, true) => ", requantize allowed",
            (false, false) => "",
        },
        report.bytes_in as f64 / 1048576.0,
        report.bytes_out as f64 / 1048576.0,
        report.bits_per_weight(),
        t0.elapsed().as_secs_f64()
    );
}
