//! Every supported weight type runs end to end: a model written with the same
//! random values in each type gives logits close to the F32 model's, closer
//! for the more precise types.

use edge_llama::gguf::GgufFile;
use edge_llama::kernels::GgmlType;
use edge_llama::synthetic::SyntheticSpec;
use edge_llama::{Model, ModelOptions, SessionOptions};

fn logits(t: GgmlType, output: Option<GgmlType>) -> Vec<f32> {
    let mut spec = SyntheticSpec::tiny(t);
    // Row length 256 so that Q6_K (256-element super-blocks) fits too.
    spec.dim = 256;
    spec.ffn_dim = 512;
    spec.output_type = output;
    let path =
        std::env::temp_dir().join(format!("edge-llama-types-{}-{t}.gguf", std::process::id()));
    spec.write(&path).expect("write");
    let model = Model::open_with(
        &path,
        ModelOptions {
            threads: 1,
            ..Default::default()
        },
    )
    .expect("open");
    let _ = std::fs::remove_file(&path);
    let mut s = model
        .new_session(SessionOptions::default())
        .expect("session");
    s.eval_all(&[1, 280, 281, 282, 40, 41]).expect("eval")
}

fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    (num / den).sqrt()
}

#[test]
fn every_weight_type_tracks_f32() {
    let reference = logits(GgmlType::F32, Some(GgmlType::F32));
    let mut errs = Vec::new();
    for (t, max) in [
        (GgmlType::F16, 0.01),
        // BF16 keeps 8 significant bits, 3 fewer than F16, so its error is
        // about 8× F16's (measured 0.0078 against F16's 0.0011).
        (GgmlType::BF16, 0.015),
        (GgmlType::Q8_0, 0.05),
        (GgmlType::Q4_1, 0.5),
        (GgmlType::Q4_0, 0.5),
    ] {
        let e = rel_err(&logits(t, Some(t)), &reference);
        println!("{t}: relative error {e:.5}");
        assert!(e < max, "{t}: relative error {e} ≥ {max}");
        errs.push(e);
    }
    // A wrong 4-bit decoding (nibble order, offset) gives errors above 1;
    // random weights quantized to 4 bits give about 0.3.
    // Precision ordering: f16 < bf16 < q8_0 < q4_0.
    assert!(
        errs[0] < errs[1] && errs[1] < errs[2] && errs[2] < errs[4],
        "{errs:?}"
    );
    // Q6_K output head and a tied head (no output.weight).
    let e = rel_err(&logits(GgmlType::F32, Some(GgmlType::Q6K)), &reference);
    println!("q6_K head: relative error {e:.5}");
    assert!(e < 0.1, "q6_K head: {e}");
    let tied = logits(GgmlType::F32, None);
    assert!(
        rel_err(&tied, &reference) > 0.1,
        "a tied head must use the embedding, not output.weight"
    );
}

/// Logits of `spec` written as is, and of the same file with an explicit
/// `output.weight` holding exactly `token_embd.weight`'s bytes.
fn tied_and_explicit(spec: &SyntheticSpec) -> (Vec<f32>, Vec<f32>) {
    let dir = std::env::temp_dir();
    let tag = format!("{}-{}", spec.weight_type, std::process::id());
    let tied_path = dir.join(format!("edge-llama-tied-{tag}.gguf"));
    spec.write(&tied_path).expect("write");
    let file = GgufFile::open(&tied_path).expect("open");
    assert!(file.tensor("output.weight").is_none());
    let embd = file.tensor("token_embd.weight").expect("embedding");
    let mut w = spec.build().expect("build");
    w.add_tensor(
        "output.weight",
        embd.dtype,
        &[spec.dim as u64, spec.n_vocab as u64],
        embd.data.to_vec(),
    )
    .expect("add output.weight");
    let explicit_path = dir.join(format!("edge-llama-untied-{tag}.gguf"));
    w.write_to_path(&explicit_path).expect("write");
    let run = |path: &std::path::Path| {
        let model = Model::open_with(
            path,
            ModelOptions {
                threads: 1,
                ..Default::default()
            },
        )
        .expect("open");
        let mut s = model
            .new_session(SessionOptions::default())
            .expect("session");
        s.eval_all(&[1, 280, 281, 282, 40, 41]).expect("eval")
    };
    let out = (run(&tied_path), run(&explicit_path));
    let _ = std::fs::remove_file(&tied_path);
    let _ = std::fs::remove_file(&explicit_path);
    out
}

#[test]
fn tied_head_equals_the_embedding_as_output_weight() {
    for t in [GgmlType::F32, GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_0] {
        let spec = SyntheticSpec {
            output_type: None,
            ..SyntheticSpec::tiny(t)
        };
        let (tied, explicit) = tied_and_explicit(&spec);
        assert_eq!(tied.len(), 6 * spec.n_vocab);
        let same = tied
            .iter()
            .zip(&explicit)
            .filter(|(a, b)| a.to_bits() == b.to_bits())
            .count();
        assert_eq!(
            same,
            tied.len(),
            "{t}: the tied head differs from output.weight = token_embd.weight"
        );
    }
}
