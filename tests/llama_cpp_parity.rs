//! The forward pass against llama.cpp's logits for the tiny-gqa fixtures
//! (see ../shared/fixtures/README.md for how they were made).

mod common;

use common::{compare, fixtures, ids, read_f32, read_json};
use edge_llama::gguf::{GgufFile, GgufWriter, OwnedValue};
use edge_llama::kernels::{GgmlType, KernelPath, Numerics};
use edge_llama::{Model, ModelOptions, Sampler, SamplerConfig, SessionOptions};
use std::path::Path;

/// The model at `path` in llama.cpp's numerics (bit-for-bit checks).
fn open(path: &Path, threads: usize) -> Model {
    open_in(path, threads, Numerics::LlamaCpp, None)
}

fn open_in(
    path: &Path,
    threads: usize,
    numerics: Numerics,
    kernel_path: Option<KernelPath>,
) -> Model {
    Model::open_with(
        path,
        ModelOptions {
            threads,
            numerics: Some(numerics),
            kernel_path,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Checks one fixture variant against llama.cpp's logits: within the
/// bounds (mean |Δ| ≤ `max_rel_mean` × std, argmax agreement ≥
/// `min_agree`) and, in llama.cpp's numerics, bit for bit.
fn check_variant(variant: &str, max_rel_mean: f64, min_agree: f64) {
    check_variant_in(variant, max_rel_mean, min_agree, Numerics::LlamaCpp)
}

fn check_variant_in(variant: &str, max_rel_mean: f64, min_agree: f64, numerics: Numerics) {
    let Some(dir) = fixtures() else { return };
    let reference = read_json(&dir.join(format!("tiny-gqa-{variant}.ref.json")));
    let model = open_in(
        &dir.join(format!("tiny-gqa-{variant}.gguf")),
        2,
        numerics,
        None,
    );
    let prompt = reference["prompt"].as_str().expect("prompt");
    let expected_ids = ids(&reference["tokens"]);
    let ours = model.tokenizer().encode(prompt, true);
    assert_eq!(ours, expected_ids, "token ids differ from llama.cpp's");

    let mut session = model
        .new_session(SessionOptions::default())
        .expect("session");
    let logits = session.eval_all(&ours).expect("eval");
    let llama = read_f32(&dir.join(format!("tiny-gqa-{variant}.logits.f32")));
    let c = compare(&logits, &llama, model.config().n_vocab);
    println!(
        "{variant} ({numerics:?}): {c:?}, mean/std = {:.5}",
        c.mean_abs / c.ref_std
    );
    assert_eq!(c.rows, ours.len());
    assert!(
        c.mean_abs <= max_rel_mean * c.ref_std,
        "{variant}: mean |Δ| {} > {max_rel_mean} × std {}",
        c.mean_abs,
        c.ref_std
    );
    assert!(
        c.argmax_agree >= min_agree,
        "{variant}: argmax agrees at {} of positions, need {min_agree}",
        c.argmax_agree
    );
    if numerics != Numerics::LlamaCpp {
        return;
    }
    // Beyond the bounds: in llama.cpp's numerics we follow its CPU
    // arithmetic operation by operation, so every logit must be its logit,
    // bit for bit.
    let n = model.config().n_vocab;
    for (p, (a, b)) in logits
        .chunks_exact(n)
        .zip(llama.chunks_exact(n))
        .enumerate()
    {
        let same = a
            .iter()
            .zip(b)
            .filter(|(x, y)| x.to_bits() == y.to_bits())
            .count();
        assert_eq!(
            same, n,
            "{variant}: position {p}: {same} of {n} logits equal llama.cpp's"
        );
    }
}

#[test]
fn f16_matches_llama_cpp() {
    check_variant("f16", 0.003, 1.0);
}

#[test]
fn q8_0_matches_llama_cpp() {
    check_variant("q8_0", 0.04, 0.85);
}

#[test]
fn q4_0_matches_llama_cpp() {
    check_variant("q4_0", 0.04, 0.85);
}

/// The default numerics stay within the bounds of llama.cpp's
/// logits: F16 mean |Δ| ≤ 0.003 × std with the same argmax everywhere,
/// quantized mean |Δ| ≤ 0.04 × std with argmax agreement ≥ 85%.
#[test]
fn default_numerics_within_bounds_of_llama_cpp() {
    check_variant_in("f16", 0.003, 1.0, Numerics::Default);
    check_variant_in("q8_0", 0.04, 0.85, Numerics::Default);
    check_variant_in("q4_0", 0.04, 0.85, Numerics::Default);
}

/// In the default numerics, every kernel path this CPU runs and every
/// thread count give the same logits, bit for bit (prompt batch and
/// single-token steps).
#[test]
fn default_numerics_same_bits_on_every_path_and_thread_count() {
    let Some(dir) = fixtures() else { return };
    let paths: Vec<KernelPath> = edge_llama::kernels::available()
        .iter()
        .filter_map(|n| KernelPath::from_name(n))
        .collect();
    assert!(paths.contains(&KernelPath::Scalar));
    let tokens: Vec<u32> = vec![1, 9038, 2501, 263, 931, 29892, 297];
    for variant in ["f16", "q8_0", "q4_0"] {
        let path = dir.join(format!("tiny-gqa-{variant}.gguf"));
        let run = |kp: KernelPath, threads: usize| {
            let model = open_in(&path, threads, Numerics::Default, Some(kp));
            let mut s = model
                .new_session(SessionOptions::default())
                .expect("session");
            // A batch, then single tokens.
            let mut out = s.eval_all(&tokens[..5]).expect("eval");
            for &t in &tokens[5..] {
                out.extend(s.eval_all(&[t]).expect("eval"));
            }
            out
        };
        let want = run(KernelPath::Scalar, 1);
        for &kp in &paths {
            for threads in [1, 2, 3] {
                let got = run(kp, threads);
                assert_eq!(got.len(), want.len());
                let same = got
                    .iter()
                    .zip(&want)
                    .filter(|(a, b)| a.to_bits() == b.to_bits())
                    .count();
                assert_eq!(
                    same,
                    want.len(),
                    "{variant}: {kp} with {threads} threads: {same} of {} logits equal scalar's",
                    want.len()
                );
            }
        }
    }
}

/// llama.cpp's 24-token greedy continuation of the fixture's prompt.
fn check_greedy(variant: &str) {
    let Some(dir) = fixtures() else { return };
    let reference = read_json(&dir.join(format!("tiny-gqa-{variant}.ref.json")));
    let model = open(&dir.join(format!("tiny-gqa-{variant}.gguf")), 2);
    let prompt = ids(&reference["tokens"]);
    let greedy = ids(&reference["greedy"]);
    let mut session = model
        .new_session(SessionOptions::default())
        .expect("session");
    let mut sampler =
        Sampler::new(SamplerConfig::greedy(), model.config().n_vocab).expect("sampler");
    let got: Vec<u32> = session
        .generate(&prompt, &mut sampler, greedy.len())
        .expect("generate")
        .map(|t| t.expect("token").id)
        .collect();
    assert_eq!(
        got, greedy,
        "{variant}: greedy continuation differs from llama.cpp's"
    );
}

#[test]
fn f16_greedy_continuation_matches() {
    check_greedy("f16");
}

#[test]
fn q8_0_greedy_continuation_matches() {
    check_greedy("q8_0");
}

#[test]
fn q4_0_greedy_continuation_matches() {
    check_greedy("q4_0");
}

/// Writes an F32 copy of the f16 fixture with our writer; its logits must
/// match the float64 reference pass.
#[test]
fn f32_copy_matches_exact_reference() {
    let Some(dir) = fixtures() else { return };
    let src = GgufFile::open(dir.join("tiny-gqa-f16.gguf")).expect("open");
    let mut w = GgufWriter::new();
    for (k, v) in src.metadata() {
        if k != "general.alignment" {
            w.add_metadata(k, v.to_owned_value()).expect("metadata");
        }
    }
    w.set_metadata("general.file_type", OwnedValue::U32(0));
    for t in src.tensors() {
        let mut vals = vec![0f32; t.n_elements() as usize];
        match t.dtype {
            GgmlType::F16 => {
                for (o, c) in vals.iter_mut().zip(t.data.chunks_exact(2)) {
                    *o = half::f16::from_le_bytes([c[0], c[1]]).to_f32();
                }
            }
            GgmlType::F32 => {
                for (o, c) in vals.iter_mut().zip(t.data.chunks_exact(4)) {
                    *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                }
            }
            other => panic!("unexpected type {other}"),
        }
        let bytes: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        w.add_tensor(t.name, GgmlType::F32, t.shape, bytes)
            .expect("tensor");
    }
    let out = std::env::temp_dir().join(format!("edge-llama-f32-{}.gguf", std::process::id()));
    w.write_to_path(&out).expect("write");
    let model = open(&out, 1);
    let reference = read_json(&dir.join("tiny-gqa-f16.ref.json"));
    let tokens = ids(&reference["tokens"]);
    let mut session = model
        .new_session(SessionOptions::default())
        .expect("session");
    let logits = session.eval_all(&tokens).expect("eval");
    let _ = std::fs::remove_file(&out);
    let exact = read_f32(&dir.join("tiny-gqa.exact.f32"));
    let c = compare(&logits, &exact, model.config().n_vocab);
    println!("f32 vs exact: {c:?}");
    assert!(
        c.mean_abs <= 0.002 * c.ref_std,
        "mean |Δ| {} > 0.002 × std {}",
        c.mean_abs,
        c.ref_std
    );
}

/// Each row is computed by exactly one thread: logits are bit-identical for
/// any thread count.
#[test]
fn logits_do_not_depend_on_thread_count() {
    let Some(dir) = fixtures() else { return };
    for variant in ["f16", "q8_0", "q4_0"] {
        let path = dir.join(format!("tiny-gqa-{variant}.gguf"));
        let tokens: Vec<u32> = vec![1, 9038, 2501, 263, 931, 29892, 297];
        let run = |threads| {
            let model = open_in(&path, threads, Numerics::LlamaCpp, None);
            let mut s = model
                .new_session(SessionOptions::default())
                .expect("session");
            s.eval_all(&tokens).expect("eval")
        };
        let one = run(1);
        let two = run(2);
        assert!(
            one.iter()
                .zip(&two)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{variant}: logits differ between 1 and 2 threads"
        );
    }
}

#[test]
#[ignore = "diagnostic: prints per-position differences"]
fn per_position_differences() {
    let Some(dir) = fixtures() else { return };
    for variant in ["f16", "q8_0", "q4_0"] {
        let reference = read_json(&dir.join(format!("tiny-gqa-{variant}.ref.json")));
        let model = open(&dir.join(format!("tiny-gqa-{variant}.gguf")), 1);
        let tokens = ids(&reference["tokens"]);
        let mut s = model
            .new_session(SessionOptions::default())
            .expect("session");
        let ours = s.eval_all(&tokens).expect("eval");
        let llama = read_f32(&dir.join(format!("tiny-gqa-{variant}.logits.f32")));
        let n = model.config().n_vocab;
        let rows: Vec<String> = (0..tokens.len())
            .map(|r| {
                let d = ours[r * n..(r + 1) * n]
                    .iter()
                    .zip(&llama[r * n..(r + 1) * n])
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                format!("{d:.4}")
            })
            .collect();
        println!("{variant} max |Δ| per position: {}", rows.join(" "));
    }
}
