//! Shared helpers for the integration tests: locating the reference fixtures.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// `../shared/fixtures` next to the repository, or `None` (with a printed
/// note) when it is absent, e.g. in a user's fresh clone.
pub fn fixtures() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("skipped: fixtures not found at {}", dir.display());
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
