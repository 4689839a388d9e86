//! Restoring a saved session against evaluating its prompt again: medians
//! over `--reps` runs of (1) a new session evaluating `-p` prompt tokens,
//! (2) saving that state, (3) `Model::restore_session`, (4)
//! `Session::restore` into an existing session. The restored logits are
//! checked bit for bit against the evaluated ones. `new_session` alone (the
//! allocation `restore_session` includes) is timed too. Then, `--reps`
//! times, the prompt's evaluation is cancelled from another thread and the
//! time from `cancel()` to `eval` returning is printed. The state file is read
//! from the page cache (written just before).
//!
//! `cargo run --release --example session_bench -- --model M.gguf [-p 1000] [--reps 3] [--threads T] [--write-synthetic q4_0|q8_0]`
//!
//! `--write-synthetic` first writes a TinyLlama-1.1B-shaped random-weight
//! model to `--model`.

mod common;

use common::{die, fail, threads_line, Args};
use edge_llama::kernels::GgmlType;
use edge_llama::synthetic::SyntheticSpec;
use edge_llama::{Error, Model, ModelOptions, SessionOptions};
use std::time::{Duration, Instant};

const USAGE: &str = "session_bench --model M.gguf [-p PROMPT_TOKENS] [--reps R] [--threads T] [--state FILE] [--write-synthetic q4_0|q8_0]";

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn show(v: &[f64]) -> String {
    v.iter()
        .map(|s| format!("{:.4}", s))
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() {
    let args = Args::parse(USAGE, &[]);
    args.only(
        USAGE,
        &[
            "--model",
            "-p",
            "--reps",
            "--threads",
            "--state",
            "--write-synthetic",
        ],
    );
    let path = args.required(USAGE, "--model");
    let n_prompt: usize = args.get(USAGE, "-p", 1000);
    let reps: usize = args.get(USAGE, "--reps", 3).max(1);
    let threads: usize = args.get(USAGE, "--threads", 0);
    if let Some(t) = args.opt("--write-synthetic") {
        let ty = match t.as_str() {
            "q4_0" => GgmlType::Q4_0,
            "q8_0" => GgmlType::Q8_0,
            _ => fail(USAGE, "--write-synthetic takes q4_0 or q8_0"),
        };
        eprintln!("writing a TinyLlama-shaped {t} model to {path}");
        SyntheticSpec::tinyllama(ty)
            .write(&path)
            .unwrap_or_else(|e| die(e));
    }
    let state = args
        .opt("--state")
        .unwrap_or_else(|| format!("{path}.session-bench.elss"));
    let model = Model::open_with(
        &path,
        ModelOptions {
            threads,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| die(e));
    eprintln!(
        "model {path}: {} layers, dim {}, vocab {}; kernels {}, {}",
        model.config().n_layers,
        model.config().dim,
        model.config().n_vocab,
        model.kernel_path(),
        threads_line(&model, threads)
    );
    let n_vocab = model.config().n_vocab as u32;
    let prompt: Vec<u32> = (0..n_prompt as u32)
        .map(|i| 3 + (i * 7919 + 13) % (n_vocab - 3))
        .collect();
    let options = SessionOptions::default();
    let (mut eval, mut save, mut restore, mut in_place) = (vec![], vec![], vec![], vec![]);
    let mut fresh = vec![];
    let mut target = model.new_session(options).unwrap_or_else(|e| die(e));
    for rep in 0..reps {
        let t = Instant::now();
        drop(model.new_session(options).unwrap_or_else(|e| die(e)));
        fresh.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let mut s = model.new_session(options).unwrap_or_else(|e| die(e));
        let logits: Vec<u32> = s
            .eval(&prompt)
            .unwrap_or_else(|e| die(e))
            .iter()
            .map(|x| x.to_bits())
            .collect();
        eval.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        s.save(&state).unwrap_or_else(|e| die(e));
        save.push(t.elapsed().as_secs_f64());
        drop(s);
        let t = Instant::now();
        let r = model.restore_session(&state).unwrap_or_else(|e| die(e));
        restore.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        target.restore(&state).unwrap_or_else(|e| die(e));
        in_place.push(t.elapsed().as_secs_f64());
        let same = |l: &[f32]| l.iter().map(|x| x.to_bits()).eq(logits.iter().copied());
        if !same(r.logits()) || !same(target.logits()) {
            die("restored logits differ from the evaluated ones");
        }
        eprintln!(
            "rep {}: eval {:.3} s, save {:.4} s, restore {:.4} s, restore in place {:.4} s",
            rep + 1,
            eval[rep],
            save[rep],
            restore[rep],
            in_place[rep]
        );
    }
    let bytes = std::fs::metadata(&state).map(|m| m.len()).unwrap_or(0);
    println!(
        "prompt tokens: {n_prompt}; state file: {:.1} MB ({state})",
        bytes as f64 / 1e6
    );
    println!("evaluate the prompt : {}", show(&eval));
    println!("save                : {}", show(&save));
    println!("restore_session     : {}", show(&restore));
    println!("restore in place    : {}", show(&in_place));
    println!("new_session alone   : {}", show(&fresh));
    let (e, r, i) = (
        median(&mut eval),
        median(&mut restore),
        median(&mut in_place),
    );
    println!(
        "medians: evaluate {e:.3} s, save {:.4} s, restore_session {r:.4} s ({:.0}x faster; a new session alone takes {:.4} s), restore in place {i:.4} s ({:.0}x faster)",
        median(&mut save),
        e / r,
        median(&mut fresh),
        e / i
    );
    std::fs::remove_file(&state).ok();

    // Cancellation latency: cancel the prompt's evaluation from another
    // thread after a while; time from cancel() to eval returning.
    let mut latency = vec![];
    for rep in 0..reps {
        let mut s = model.new_session(options).unwrap_or_else(|e| die(e));
        let handle = s.cancel_handle();
        let delay = Duration::from_millis(500 + 300 * rep as u64);
        let canceller = std::thread::spawn(move || {
            std::thread::sleep(delay);
            handle.cancel();
            Instant::now()
        });
        let result = s.eval(&prompt).map(|_| ());
        let returned = Instant::now();
        let cancelled_at = canceller.join().unwrap_or_else(|_| die("canceller thread"));
        match result {
            Err(Error::Cancelled) => {
                let l = returned
                    .saturating_duration_since(cancelled_at)
                    .as_secs_f64();
                eprintln!(
                    "cancel {}: returned {:.1} ms after cancel(), {} tokens kept",
                    rep + 1,
                    l * 1e3,
                    s.position()
                );
                latency.push(l);
            }
            Ok(()) => eprintln!("cancel {}: the prompt finished first", rep + 1),
            Err(e) => die(e),
        }
    }
    if !latency.is_empty() {
        println!(
            "cancel latency (ms): {}; median {:.1} ms",
            latency
                .iter()
                .map(|l| format!("{:.1}", l * 1e3))
                .collect::<Vec<_>>()
                .join(" "),
            median(&mut latency) * 1e3
        );
    }
}
