//! Shared helpers for the kernels crate's integration tests: the reference
//! fixtures, skipped when absent or, under `EDGE_LLAMA_REQUIRE_DATA=1` (set
//! by `.ci/run`), a failure naming what is missing. Mirrors the root crate's
//! `tests/common/mod.rs`.
#![allow(dead_code)]

pub mod gguf;
pub mod kq_paths;
pub mod kq_rows;
pub mod rng;
pub mod row_kernels;

use std::io::Write;
use std::path::PathBuf;

/// The switch that turns missing test data into failures.
pub const REQUIRE_DATA_VAR: &str = "EDGE_LLAMA_REQUIRE_DATA";

/// True when `EDGE_LLAMA_REQUIRE_DATA` is set to anything but empty or `0`.
pub fn data_required() -> bool {
    std::env::var(REQUIRE_DATA_VAR).is_ok_and(|v| !v.trim().is_empty() && v.trim() != "0")
}

/// Reports that a test cannot run because `what` is missing: panics under
/// `EDGE_LLAMA_REQUIRE_DATA=1`, otherwise writes a `skipped:` line straight
/// to stderr (libtest captures only the print macros). Callers return after.
pub fn skip_missing(what: &str) {
    if data_required() {
        panic!("{what}; {REQUIRE_DATA_VAR} is set, so missing test data is a failure");
    }
    let _ = writeln!(
        std::io::stderr().lock(),
        "skipped: {what} (set {REQUIRE_DATA_VAR}=1 to make this a failure)"
    );
}

/// `../shared/fixtures` beside the repository (holding the tiny-gqa
/// models), or `None` after [`skip_missing`].
pub fn fixtures() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures");
    if dir.join("tiny-gqa-f16.gguf").is_file() {
        Some(dir)
    } else {
        skip_missing(&format!(
            "reference fixtures not found at {} (../shared beside the checkout)",
            dir.display()
        ));
        None
    }
}
