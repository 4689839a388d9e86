//! What each quantization costs in accuracy and buys in speed and memory, on
//! your model and your text, in one command.
//!
//! `cargo run --release --example quant_bench -- --model BASE.gguf --text FILE [--types f16,q8_0,q4_0] [--ctx 512] [--chunks N] [--threads T] [--gen 64] [--reps 1] [--pure] [--keep] [--out DIR]`
//!
//! Evaluates BASE once to store its log-probs on the scored positions of the
//! text (`DIR/baseline.logprobs`), then measures BASE itself (the first row,
//! `base (TYPE)` with TYPE its dominant weight type) and, one after the
//! other, each type (a llama.cpp mix such as `q4_k_m`, quantized from BASE
//! into `DIR/STEM-TYPE.gguf`) in a child
//! process (this binary re-run with `--measure-one base|TYPE`, so each peak
//! resident set is that model's own): prompt tokens/s (one `ctx`-token
//! window), generation tokens/s (`--gen` greedy tokens after BOS), both the
//! median over `--reps` runs, peak RSS (VmHWM after those runs: the mapped
//! weights touched, the KV cache, the scratch), then perplexity, KL
//! divergence, top-1 agreement and max |Δp| against BASE (llama-perplexity's
//! windows: see `edge_llama::eval`). Prints a markdown table and writes
//! `DIR/report.md`, `DIR/report.json` and `DIR/accuracy_vs_speed.svg`
//! (x: generation tokens/s, y: mean KLD on a log axis, the Pareto front
//! marked).
//!
//! Intermediate files — each quantized model and `baseline.logprobs`
//! (4 bytes × scored positions × vocabulary) — are deleted once no longer
//! needed (each model right after it is measured, so at most one is on disk
//! at a time), also when the run fails, unless `--keep` is given. With
//! `--keep` they stay, and a later run reuses a kept model that is newer than
//! BASE.
//!
//! BASE may itself be quantized (weights of a type the quantizer can
//! dequantize, see `edge_llama::quantize::REQUANTIZABLE`): the types
//! are then made by requantization (dequantize, quantize again; tensors
//! already of their output type are copied), and the accuracy figures are
//! relative to that quantized baseline, not to the original float weights.

#[path = "../common/mod.rs"]
mod common;
mod plot;

use common::{die, fail, Args};
use edge_llama::eval::{compare_with_file, write_baseline, Comparison, Windows};
use edge_llama::gguf::GgufFile;
use edge_llama::kernels::GgmlType;
use edge_llama::quantize::{quantize_file_with_progress, QuantTarget, QuantizeOptions};
use edge_llama::{KvCacheConfig, Model, ModelOptions, Sampler, SamplerConfig, SessionOptions};
use indicatif::{ProgressBar, ProgressStyle};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const USAGE: &str = "quant_bench --model BASE.gguf --text FILE [--types f16,q8_0,q4_0] [--ctx 512] [--chunks N] [--threads T] [--gen 64] [--reps 1] [--pure] [--keep] [--out DIR]\n  TYPES (comma-separated): f32 f16 q8_0 q6_k q5_k_m q5_k_s q5_1 q5_0 q4_k_m q4_k_s q4_1 iq4_nl q4_0 q3_k_l q3_k_m q3_k_s q2_k";
const OPTIONS: &[&str] = &[
    "--model",
    "--text",
    "--types",
    "--ctx",
    "--chunks",
    "--threads",
    "--gen",
    "--reps",
    "--out",
    "--measure-one",
];

/// The label of the base model's row and its `--measure-one` argument.
const BASE: &str = "base";

/// The settings shared by the parent and its children.
struct Settings {
    model: String,
    text: String,
    types: Vec<QuantTarget>,
    ctx: usize,
    chunks: Option<usize>,
    threads: usize,
    gen: usize,
    reps: usize,
    pure: bool,
    keep: bool,
    out: PathBuf,
}

impl Settings {
    fn parse(args: &Args) -> Settings {
        let types = args
            .opt("--types")
            .unwrap_or_else(|| "f16,q8_0,q4_0".into())
            .split(',')
            .map(|s| {
                s.trim()
                    .parse()
                    .unwrap_or_else(|e: edge_llama::Error| fail(USAGE, &e.to_string()))
            })
            .collect::<Vec<QuantTarget>>();
        if types.is_empty() {
            fail(USAGE, "--types is empty");
        }
        let chunks: usize = args.get(USAGE, "--chunks", 0);
        let s = Settings {
            model: args.required(USAGE, "--model"),
            text: args.required(USAGE, "--text"),
            types,
            ctx: args.get(USAGE, "--ctx", 512),
            chunks: (chunks > 0).then_some(chunks),
            threads: args.get(USAGE, "--threads", 0),
            gen: args.get(USAGE, "--gen", 64),
            reps: args.get(USAGE, "--reps", 1),
            pure: args.flag("--pure"),
            keep: args.flag("--keep"),
            out: PathBuf::from(
                args.opt("--out")
                    .unwrap_or_else(|| "quant_bench_out".into()),
            ),
        };
        if s.gen == 0 || s.reps == 0 {
            fail(USAGE, "--gen and --reps must be at least 1");
        }
        s
    }

    fn quantized_path(&self, t: QuantTarget) -> PathBuf {
        let stem = Path::new(&self.model)
            .file_stem()
            .map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned());
        let pure = if self.pure { "-pure" } else { "" };
        self.out.join(format!("{stem}-{t}{pure}.gguf"))
    }

    fn baseline_path(&self) -> PathBuf {
        self.out.join("baseline.logprobs")
    }

    fn windows(&self, model: &Model) -> Windows {
        let text = std::fs::read_to_string(&self.text)
            .unwrap_or_else(|e| die(format!("{}: {e}", self.text)));
        Windows::from_text(model, &text, self.ctx, self.chunks).unwrap_or_else(|e| die(e))
    }
}

fn bar(len: usize, what: &str) -> ProgressBar {
    let b = ProgressBar::new(len as u64);
    b.set_style(
        ProgressStyle::with_template(
            "{spinner} {prefix:>14} [{bar:30}] {pos}/{len} {msg} ({elapsed})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    b.set_prefix(what.to_string());
    b
}

/// Peak resident set size of this process in KiB (VmHWM), when the OS tells.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// One type's measurements, from the child process.
#[derive(Clone, Debug, Default)]
struct Measured {
    values: Vec<(String, f64)>,
    kernel: String,
}

impl Measured {
    fn get(&self, k: &str) -> f64 {
        self.values
            .iter()
            .find(|(n, _)| n == k)
            .map_or(f64::NAN, |(_, v)| *v)
    }
}

/// The median of `v` (NaN when empty).
fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Child mode: measures BASE (`ty` = "base") or one type and prints
/// `RESULT key=value …` on stdout.
fn measure_one(s: &Settings, ty: &str) {
    let path = if ty == BASE {
        PathBuf::from(&s.model)
    } else {
        let target: QuantTarget = ty.parse().unwrap_or_else(|e: edge_llama::Error| die(e));
        s.quantized_path(target)
    };
    let model = Model::open_with(
        &path,
        ModelOptions {
            threads: s.threads,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| die(e));
    let windows = s.windows(&model);
    let bos = model.tokenizer().bos_id().unwrap_or(windows.windows[0][0]);
    let capacity = s.ctx.max(s.gen + 1).max(8);
    let options = SessionOptions {
        kv: KvCacheConfig {
            capacity,
            ..KvCacheConfig::default()
        },
    };
    let mut session = model.new_session(options).unwrap_or_else(|e| die(e));

    // Warm-up: fault in the mapped weights once.
    session
        .eval(&windows.windows[0][..4.min(s.ctx)])
        .unwrap_or_else(|e| die(e));

    let prompt = &windows.windows[0];
    let (mut pp_tps, mut tg_tps, mut tg_total) = (Vec::new(), Vec::new(), 0usize);
    for _ in 0..s.reps {
        session.reset();
        let t0 = Instant::now();
        session.eval(prompt).unwrap_or_else(|e| die(e));
        pp_tps.push(prompt.len() as f64 / t0.elapsed().as_secs_f64());

        session.reset();
        let mut sampler = Sampler::new(SamplerConfig::greedy(), model.config().n_vocab)
            .unwrap_or_else(|e| die(e));
        let gen = session
            .generate(&[bos], &mut sampler, s.gen)
            .unwrap_or_else(|e| die(e));
        let t1 = Instant::now();
        let mut tg_tokens = 0usize;
        for tok in gen {
            tok.unwrap_or_else(|e| die(e));
            tg_tokens += 1;
        }
        tg_tps.push(tg_tokens as f64 / t1.elapsed().as_secs_f64());
        tg_total += tg_tokens;
    }
    let rss = peak_rss_kib().map_or(-1.0, |k| k as f64);
    drop(session);

    let pb = bar(windows.windows.len(), &format!("{ty} vs base"));
    let cmp: Comparison = compare_with_file(&model, &windows, s.baseline_path(), &mut |d, _| {
        pb.set_position(d as u64)
    })
    .unwrap_or_else(|e| die(e));
    pb.finish_and_clear();

    let fields = [
        ("ppl", cmp.perplexity.ppl),
        ("ppl_err", cmp.perplexity.ppl_stderr),
        ("n_scored", cmp.perplexity.n_scored as f64),
        ("kld_mean", cmp.kld.mean),
        ("kld_median", cmp.kld.median),
        ("kld_p99", cmp.kld.p99),
        ("kld_max", cmp.kld.max),
        ("top1", cmp.top1),
        ("max_dp", cmp.max_abs_dp),
        ("pp_tokens", prompt.len() as f64),
        ("pp_tps", median(pp_tps)),
        ("tg_tokens", tg_total as f64 / s.reps as f64),
        ("tg_tps", median(tg_tps)),
        ("rss_kib", rss),
        ("threads", model.threads() as f64),
    ];
    let mut line = format!("RESULT kernel={}", model.kernel_path());
    for (k, v) in fields {
        let _ = write!(line, " {k}={v:e}");
    }
    println!("{line}");
}

fn parse_result(stdout: &str) -> Option<Measured> {
    let line = stdout.lines().find_map(|l| l.strip_prefix("RESULT "))?;
    let mut m = Measured::default();
    for kv in line.split_whitespace() {
        let (k, v) = kv.split_once('=')?;
        if k == "kernel" {
            m.kernel = v.to_string();
        } else {
            m.values.push((k.to_string(), v.parse().ok()?));
        }
    }
    Some(m)
}

/// Quantizes BASE to `t` unless a valid file newer than BASE is cached;
/// `requantize`: BASE is quantized, allow requantization.
fn ensure_quantized(s: &Settings, t: QuantTarget, requantize: bool) -> Result<PathBuf, String> {
    let path = s.quantized_path(t);
    let newer = |p: &Path| -> Option<bool> {
        let base = std::fs::metadata(&s.model).ok()?.modified().ok()?;
        Some(std::fs::metadata(p).ok()?.modified().ok()? >= base)
    };
    let valid = || {
        GgufFile::open(&path)
            .ok()
            .and_then(|f| f.get_u32("general.file_type").ok())
            == Some(t.file_type())
    };
    if newer(&path) == Some(true) && valid() {
        eprintln!("{t}: using kept {}", path.display());
        return Ok(path);
    }
    let opts = QuantizeOptions {
        target: t,
        pure: s.pure,
        threads: s.threads,
        allow_requantize: requantize,
        ..QuantizeOptions::default()
    };
    let pb = bar(0, &format!("quantize {t}"));
    quantize_file_with_progress(&s.model, &path, &opts, &mut |p| {
        pb.set_length(p.total as u64);
        pb.set_position(p.done as u64);
        if let Some(tp) = p.tensor {
            pb.set_message(tp.name.clone());
        }
    })
    .map_err(|e| format!("quantizing to {t}: {e}"))?;
    pb.finish_and_clear();
    eprintln!("{t}: wrote {}", path.display());
    Ok(path)
}

/// File size in bytes and bits per weight (tensor data bits / elements).
fn size_and_bpw(path: &Path) -> Result<(u64, f64), String> {
    let f = GgufFile::open(path).map_err(|e| e.to_string())?;
    let (bytes, elems) = f.tensors().fold((0u64, 0u64), |(b, n), t| {
        (b + t.data.len() as u64, n + t.n_elements())
    });
    Ok((
        f.as_bytes().len() as u64,
        8.0 * bytes as f64 / elems.max(1) as f64,
    ))
}

/// The weight type holding most of BASE's 2-D weight elements (its name for
/// the table), and whether any of its quantizable 2-D weights is quantized.
fn base_type(path: &str) -> (String, bool) {
    let f = GgufFile::open(path).unwrap_or_else(|e| die(e));
    let mut by_type: Vec<(GgmlType, u64)> = Vec::new();
    let mut quantized = false;
    for t in f.tensors().filter(|t| t.shape.len() >= 2) {
        quantized |= !matches!(t.dtype, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16);
        match by_type.iter_mut().find(|(d, _)| *d == t.dtype) {
            Some((_, n)) => *n += t.n_elements(),
            None => by_type.push((t.dtype, t.n_elements())),
        }
    }
    let name = by_type
        .iter()
        .max_by_key(|(_, n)| *n)
        .map_or_else(|| "?".to_string(), |(d, _)| d.name().to_string());
    (name, quantized)
}

struct Row {
    /// `base (TYPE)` or the target type's name.
    label: String,
    path: PathBuf,
    file_bytes: u64,
    bpw: f64,
    m: Measured,
}

fn fmt_rss(kib: f64) -> String {
    if kib < 0.0 {
        "n/a".into()
    } else {
        format!("{:.1}", kib / 1024.0)
    }
}

fn table(rows: &[Row]) -> String {
    let mut t = String::from(
        "| type | size (MiB) | bits/weight | perplexity | KLD mean | KLD median | KLD p99 | top-1 | max \\|Δp\\| | pp t/s | tg t/s | peak RSS (MiB) |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let m = &r.m;
        let _ = writeln!(
            t,
            "| {} | {:.2} | {:.2} | {:.4} ± {:.4} | {:.6} | {:.6} | {:.6} | {:.2}% | {:.4} | {:.1} | {:.1} | {} |",
            r.label,
            r.file_bytes as f64 / 1048576.0,
            r.bpw,
            m.get("ppl"),
            m.get("ppl_err"),
            m.get("kld_mean"),
            m.get("kld_median"),
            m.get("kld_p99"),
            100.0 * m.get("top1"),
            m.get("max_dp"),
            m.get("pp_tps"),
            m.get("tg_tps"),
            fmt_rss(m.get("rss_kib")),
        );
    }
    t
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_num(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        "null".into()
    }
}

fn json_report(
    s: &Settings,
    windows: &Windows,
    base_ppl: f64,
    base_quantized: bool,
    rows: &[Row],
) -> String {
    let mut j = String::from("{\n");
    let _ = writeln!(j, "  \"model\": {},", json_str(&s.model));
    let _ = writeln!(j, "  \"text\": {},", json_str(&s.text));
    let _ = writeln!(j, "  \"ctx\": {},", s.ctx);
    let _ = writeln!(j, "  \"windows\": {},", windows.windows.len());
    let _ = writeln!(j, "  \"scored_tokens\": {},", windows.n_scored());
    let _ = writeln!(j, "  \"pure\": {},", s.pure);
    let _ = writeln!(j, "  \"intermediate_files_kept\": {},", s.keep);
    let _ = writeln!(j, "  \"baseline_quantized\": {base_quantized},");
    let _ = writeln!(j, "  \"baseline_perplexity\": {},", json_num(base_ppl));
    j.push_str("  \"types\": [\n");
    for (i, r) in rows.iter().enumerate() {
        let _ = write!(
            j,
            "    {{\"type\": {}, \"file\": {}, \"file_bytes\": {}, \"bits_per_weight\": {}, \"kernel\": {}",
            json_str(&r.label),
            json_str(&r.path.to_string_lossy()),
            r.file_bytes,
            json_num(r.bpw),
            json_str(&r.m.kernel)
        );
        for (k, v) in &r.m.values {
            let _ = write!(j, ", {}: {}", json_str(k), json_num(*v));
        }
        j.push('}');
        j.push_str(if i + 1 < rows.len() { ",\n" } else { "\n" });
    }
    j.push_str("  ]\n}\n");
    j
}

/// The run's intermediate files (quantized models, baseline log-probs):
/// removed when no longer needed and on failure, unless `--keep`.
struct Scratch {
    keep: bool,
    files: Vec<PathBuf>,
}

impl Scratch {
    /// Registers `p` as intermediate (before it is written, so a failed
    /// write is cleaned up too).
    fn add(&mut self, p: &Path) {
        if !self.files.iter().any(|f| f == p) {
            self.files.push(p.to_path_buf());
        }
    }

    /// Removes `p` now (unless `--keep`).
    fn done_with(&mut self, p: &Path) {
        if self.keep {
            return;
        }
        self.files.retain(|f| f != p);
        remove_reporting(p);
    }

    /// Removes every registered file (unless `--keep`).
    fn clean(&mut self) {
        if self.keep {
            return;
        }
        for f in std::mem::take(&mut self.files) {
            remove_reporting(&f);
        }
    }

    /// Cleans up, then exits with `msg` as [`die`] does.
    fn die(&mut self, msg: impl std::fmt::Display) -> ! {
        self.clean();
        die(msg)
    }
}

fn remove_reporting(p: &Path) {
    match std::fs::remove_file(p) {
        Ok(()) => eprintln!("removed {}", p.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => eprintln!("warning: could not remove {}: {e}", p.display()),
    }
}

/// Runs this binary as `--measure-one ARG` and parses its result line.
fn measure_in_child(s: &Settings, arg: &str) -> Result<Measured, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let mut cmd = Command::new(&exe);
    cmd.args(["--measure-one", arg, "--model", &s.model, "--text", &s.text])
        .args([
            "--ctx",
            &s.ctx.to_string(),
            "--threads",
            &s.threads.to_string(),
        ])
        .args(["--gen", &s.gen.to_string(), "--reps", &s.reps.to_string()])
        .arg("--out")
        .arg(&s.out)
        .stderr(std::process::Stdio::inherit());
    if let Some(c) = s.chunks {
        cmd.args(["--chunks", &c.to_string()]);
    }
    if s.pure {
        cmd.arg("--pure");
    }
    let out = cmd
        .output()
        .map_err(|e| format!("running {}: {e}", exe.display()))?;
    if !out.status.success() {
        return Err(format!("measuring {arg} failed ({})", out.status));
    }
    parse_result(&String::from_utf8_lossy(&out.stdout))
        .ok_or_else(|| format!("measuring {arg}: no result line"))
}

fn main() {
    let args = Args::parse(USAGE, &["--pure", "--keep"]);
    args.only(USAGE, OPTIONS);
    let s = Settings::parse(&args);
    if let Some(ty) = args.opt("--measure-one") {
        measure_one(&s, &ty);
        return;
    }
    std::fs::create_dir_all(&s.out).unwrap_or_else(|e| die(format!("{}: {e}", s.out.display())));
    let mut scratch = Scratch {
        keep: s.keep,
        files: Vec::new(),
    };

    let (base_name, base_quantized) = base_type(&s.model);
    let base_note = if base_quantized {
        format!(
            "The baseline is itself quantized ({base_name}): the other types are \
             requantized from it (dequantized, quantized again; tensors already of \
             their output type copied), and KLD, top-1 and Δp measure the distance \
             to that quantized model, not to the original float weights."
        )
    } else {
        String::new()
    };
    if base_quantized {
        eprintln!("note: {base_note}");
    }

    // 1. The baseline's log-probs on the scored positions.
    let base = Model::open_with(
        &s.model,
        ModelOptions {
            threads: s.threads,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| die(e));
    let windows = s.windows(&base);
    eprintln!(
        "text {}: {} windows of {} tokens, {} scored positions; kernels {}, {} threads",
        s.text,
        windows.windows.len(),
        s.ctx,
        windows.n_scored(),
        base.kernel_path(),
        base.threads()
    );
    let pb = bar(windows.windows.len(), "baseline");
    scratch.add(&s.baseline_path());
    let base_ppl = write_baseline(&base, &windows, s.baseline_path(), &mut |d, _| {
        pb.set_position(d as u64)
    })
    .unwrap_or_else(|e| scratch.die(e));
    pb.finish_and_clear();
    eprintln!(
        "baseline perplexity {:.4} ± {:.4}",
        base_ppl.ppl, base_ppl.ppl_stderr
    );
    drop(base);

    // 2. The base, then each type: quantize, measure in a child process,
    // remove the quantized file unless --keep.
    let mut rows = Vec::new();
    let jobs = std::iter::once(None).chain(s.types.iter().copied().map(Some));
    for target in jobs {
        let (arg, label, path) = match target {
            None => (
                BASE.to_string(),
                format!("{BASE} ({base_name})"),
                PathBuf::from(&s.model),
            ),
            Some(t) => {
                scratch.add(&s.quantized_path(t));
                let path =
                    ensure_quantized(&s, t, base_quantized).unwrap_or_else(|e| scratch.die(e));
                (t.name().to_string(), t.name().to_string(), path)
            }
        };
        eprintln!("{label}: measuring…");
        let m = measure_in_child(&s, &arg).unwrap_or_else(|e| scratch.die(e));
        let (file_bytes, bpw) =
            size_and_bpw(&path).unwrap_or_else(|e| scratch.die(format!("{}: {e}", path.display())));
        if target.is_some() {
            scratch.done_with(&path);
        }
        eprintln!(
            "{label}: ppl {:.4}, KLD {:.6}, top-1 {:.2}%, pp {:.1} t/s, tg {:.1} t/s",
            m.get("ppl"),
            m.get("kld_mean"),
            100.0 * m.get("top1"),
            m.get("pp_tps"),
            m.get("tg_tps")
        );
        rows.push(Row {
            label,
            path,
            file_bytes,
            bpw,
            m,
        });
    }
    scratch.clean();

    // 3. Reports.
    let table = table(&rows);
    println!("{table}");
    let kernel = rows.first().map_or("?", |r| r.m.kernel.as_str());
    let threads = rows.first().map_or(0.0, |r| r.m.get("threads"));
    let gen = rows.first().map_or(0.0, |r| r.m.get("tg_tokens"));
    let kept = if s.keep {
        "The quantized models and `baseline.logprobs` were kept (`--keep`)."
    } else {
        "The quantized models and `baseline.logprobs` were deleted after use (keep them with `--keep`)."
    };
    let md = format!(
        "# Quantization: accuracy vs speed\n\n\
         Model `{}`, text `{}`: {} windows of {} tokens, {} scored positions \
         (llama-perplexity's method). Baseline (the input file, {base_name}) perplexity {:.4} ± {:.4}. \
         KLD, top-1 and Δp are against the baseline's next-token distribution. {base_note}\n\n\
         pp: one {}-token prompt; tg: {} greedy tokens after BOS; tokens/s are the median of {} runs; \
         kernels `{kernel}`, {threads} threads. \
         Peak RSS: VmHWM of a process that loaded the model and ran pp and tg. {kept}\n\n{table}\n\
         ![accuracy vs speed](accuracy_vs_speed.svg)\n\n\
         In the plot, KLD is on a log axis; the base (KLD 0) sits on a floor line below it. \
         Filled points joined by the dashed line are the Pareto front: no other file is both \
         faster and closer to the base.\n",
        s.model,
        s.text,
        windows.windows.len(),
        s.ctx,
        windows.n_scored(),
        base_ppl.ppl,
        base_ppl.ppl_stderr,
        s.ctx,
        gen,
        s.reps,
    );
    let write = |name: &str, text: &str| {
        let p = s.out.join(name);
        std::fs::write(&p, text).unwrap_or_else(|e| die(format!("{}: {e}", p.display())));
        eprintln!("wrote {}", p.display());
    };
    write("report.md", &md);
    write(
        "report.json",
        &json_report(&s, &windows, base_ppl.ppl, base_quantized, &rows),
    );
    let model_name = Path::new(&s.model)
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let points: Vec<plot::Point> = rows
        .iter()
        .map(|r| plot::Point {
            label: r.label.clone(),
            bpw: r.bpw,
            tg_tps: r.m.get("tg_tps"),
            kld: r.m.get("kld_mean"),
        })
        .collect();
    let title = format!(
        "Accuracy vs speed: {model_name} (ctx {}, {threads} thread{})",
        s.ctx,
        if threads == 1.0 { "" } else { "s" }
    );
    write("accuracy_vs_speed.svg", &plot::svg(&title, &points));
}
