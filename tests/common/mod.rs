//! Shared helpers for the integration tests: locating the reference fixtures
//! and the SmolLM2 demo model, and skipping (or, in CI, failing) when they
//! are missing.
//!
//! `EDGE_LLAMA_REQUIRE_DATA=1` (set by `.ci/run`) turns every "skipped:
//! data missing" into a test failure naming what was missing. Without it a
//! test whose data is missing returns early and writes `skipped: …` straight
//! to the terminal (not through the captured `println!`), so the skip is
//! visible in a plain `cargo test` run.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

/// The switch that turns missing test data into failures.
pub const REQUIRE_DATA_VAR: &str = "EDGE_LLAMA_REQUIRE_DATA";

/// True when `EDGE_LLAMA_REQUIRE_DATA` is set to anything but empty or `0`.
pub fn data_required() -> bool {
    std::env::var(REQUIRE_DATA_VAR).is_ok_and(|v| !v.trim().is_empty() && v.trim() != "0")
}

/// Reports that a test cannot run because `what` is missing: panics (fails
/// the test) under `EDGE_LLAMA_REQUIRE_DATA=1`, otherwise prints a visible
/// `skipped:` line. Callers return right after.
pub fn skip_missing(what: &str) {
    if data_required() {
        panic!("{what}; {REQUIRE_DATA_VAR} is set, so missing test data is a failure");
    }
    // Written to the process's stderr directly: libtest captures only the
    // print macros, and a skip must be seen.
    let _ = writeln!(
        std::io::stderr().lock(),
        "skipped: {what} (set {REQUIRE_DATA_VAR}=1 to make this a failure)"
    );
}

/// True (after a visible note) when `EDGE_LLAMA_SKIP_SLOW` is set, e.g.
/// under emulation. A deliberate skip, not missing data: allowed even under
/// `EDGE_LLAMA_REQUIRE_DATA`.
pub fn slow_tests_skipped() -> bool {
    if std::env::var_os("EDGE_LLAMA_SKIP_SLOW").is_some() {
        let _ = writeln!(
            std::io::stderr().lock(),
            "skipped: EDGE_LLAMA_SKIP_SLOW is set (e.g. under emulation)"
        );
        true
    } else {
        false
    }
}

/// Path of `../shared/fixtures`, whether or not it exists.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures")
}

/// `../shared/fixtures` next to the repository, or `None` (after
/// [`skip_missing`]) when it is absent, e.g. in a user's fresh clone.
pub fn fixtures() -> Option<PathBuf> {
    let dir = fixtures_dir();
    if dir.is_dir() {
        Some(dir)
    } else {
        skip_missing(&format!(
            "reference fixtures not found at {} (../shared beside the checkout)",
            dir.display()
        ));
        None
    }
}

/// One file under `../shared/fixtures`, or `None` (after [`skip_missing`])
/// when it is absent.
pub fn fixture_file(relative: &str) -> Option<PathBuf> {
    let path = fixtures_dir().join(relative);
    if path.is_file() {
        Some(path)
    } else {
        skip_missing(&format!("fixture {} not found", path.display()));
        None
    }
}

/// The SmolLM2-135M-Instruct Q4_1 demo model: `EDGE_LLAMA_SMOLLM2` when
/// set, else `models/SmolLM2-135M-Instruct.Q4_1.gguf`; `None` (after
/// [`skip_missing`]) when the file is absent.
pub fn smollm2_model() -> Option<PathBuf> {
    let path = std::env::var_os("EDGE_LLAMA_SMOLLM2")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("models/SmolLM2-135M-Instruct.Q4_1.gguf")
        });
    if path.is_file() {
        Some(path)
    } else {
        skip_missing(&format!(
            "SmolLM2 model {} not found; run scripts/fetch-demo-model.sh (or set EDGE_LLAMA_SMOLLM2)",
            path.display()
        ));
        None
    }
}

/// Reads a little-endian f32 file.
pub fn read_f32(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Parses a JSON file.
pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A JSON array of integers as token ids.
pub fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .expect("array of ids")
        .iter()
        .map(|x| x.as_u64().expect("id") as u32)
        .collect()
}

/// Statistics comparing our logits with a reference, row by row.
#[derive(Debug)]
pub struct Comparison {
    pub mean_abs: f64,
    pub max_abs: f64,
    pub ref_std: f64,
    pub argmax_agree: f64,
    pub rows: usize,
}

pub fn argmax(x: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = i;
        }
    }
    best
}

pub fn compare(ours: &[f32], reference: &[f32], n_vocab: usize) -> Comparison {
    assert_eq!(ours.len(), reference.len(), "logit counts differ");
    let n = reference.len() as f64;
    let mean = reference.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = reference
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    let mut sum_abs = 0.0;
    let mut max_abs: f64 = 0.0;
    for (&a, &b) in ours.iter().zip(reference) {
        let d = (a as f64 - b as f64).abs();
        sum_abs += d;
        max_abs = max_abs.max(d);
    }
    let rows = reference.len() / n_vocab;
    let agree = (0..rows)
        .filter(|&r| {
            let s = r * n_vocab..(r + 1) * n_vocab;
            argmax(&ours[s.clone()]) == argmax(&reference[s])
        })
        .count();
    Comparison {
        mean_abs: sum_abs / n,
        max_abs,
        ref_std: var.sqrt(),
        argmax_agree: agree as f64 / rows as f64,
        rows,
    }
}
