//! The same logits on every architecture: default-numerics logits of the
//! fixture models (Q4_0, Q8_0, F16 and every K-quant mix and fallback type
//! in `../shared/fixtures/kquants`), on every kernel path this CPU offers,
//! hashed bit for bit and compared with the hashes recorded on x86-64.
//!
//! `scripts/test-aarch64.sh` runs this file under QEMU (Cortex-A72: NEON;
//! Cortex-A76: NEON + dotprod), so it compares the aarch64 logits with the
//! x86 ones: "the same output on your laptop and on your Pi" (issue 10).
//! Any change to the default numerics changes these hashes on purpose; the
//! failure message prints the new hash to record (after checking that every
//! path and both architectures agree on it).

mod common;

use common::fixture_file;
use edge_llama::kernels::{KernelPath, Numerics};
use edge_llama::{Model, ModelOptions, SessionOptions};

/// (fixture, FNV-1a 64 of the logits' bits, recorded on x86-64).
const RECORDED: [(&str, u64); 10] = [
    ("tiny-gqa-f16.gguf", 0xb53c_a7f8_df22_4211),
    ("tiny-gqa-q8_0.gguf", 0xe1ab_7e83_dc64_f85e),
    ("tiny-gqa-q4_0.gguf", 0x6db0_ac8f_18c2_1614),
    ("kquants/tiny-gqa-q4_k_m.gguf", 0xdb70_a134_0b6b_fbf1),
    ("kquants/tiny-gqa-q5_k_m.gguf", 0x60a4_a302_7e2e_e0d3),
    ("kquants/tiny-gqa-q3_k_m.gguf", 0x3859_725c_6c33_eda5),
    ("kquants/tiny-gqa-q2_k.gguf", 0xc155_674d_bdc0_5a1a),
    ("kquants/tiny-gqa-q5_0.gguf", 0x2713_6f7c_413f_3470),
    ("kquants/tiny-gqa-q5_1.gguf", 0xf921_08ea_c43e_2d53),
    ("kquants/tiny-gqa-iq4_nl.gguf", 0xe363_89ae_41ec_aa90),
];

/// Token ids fed as one batch of 9 (4-row kernels or tiles, plus a single
/// row), then one at a time (single-row kernels).
const TOKENS: [u32; 12] = [
    1, 9038, 2501, 263, 931, 29892, 297, 278, 3186, 310, 263, 2217,
];

fn fnv1a(logits: &[f32]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for v in logits {
        for b in v.to_bits().to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

fn logits(path: &std::path::Path, kernel_path: KernelPath) -> Vec<f32> {
    let options = ModelOptions {
        threads: 2,
        numerics: Some(Numerics::Default),
        kernel_path: Some(kernel_path),
        ..Default::default()
    };
    let model =
        Model::open_with(path, options).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut s = model
        .new_session(SessionOptions::default())
        .expect("session");
    let mut out = s.eval_all(&TOKENS[..9]).expect("eval");
    for &t in &TOKENS[9..] {
        out.extend(s.eval_all(&[t]).expect("eval"));
    }
    out
}

#[test]
fn default_logits_equal_the_x86_ones_on_every_path() {
    let paths: Vec<KernelPath> = edge_llama::kernels::available()
        .into_iter()
        .filter_map(KernelPath::from_name)
        .collect();
    let mut failures = Vec::new();
    for (name, want) in RECORDED {
        let Some(file) = fixture_file(name) else {
            return;
        };
        for &p in &paths {
            let got = fnv1a(&logits(&file, p));
            println!("{name} on {p}: {got:#018x}");
            if got != want {
                failures.push(format!(
                    "{name} on {p}: hash {got:#018x}, recorded {want:#018x}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "default-numerics logits differ from the x86-64 ones:\n{}",
        failures.join("\n")
    );
}
