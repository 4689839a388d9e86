//! Thread-count independence where the row split has remainders: 1, 3 and 5
//! threads give bit-identical logits on models whose row counts are not
//! multiples of the 8-row tiles (vocabulary 300 = 37·8 + 4, key/value
//! projections of 36 rows) or of the per-thread chunks.

use edge_llama::kernels::GgmlType;
use edge_llama::synthetic::SyntheticSpec;
use edge_llama::{Model, ModelOptions, SessionOptions};

/// Logits of a batched prompt (every position) followed by three single
/// tokens, so that both the batched (8×4 tile) and the single-token (8×1
/// tile, two-row) products run.
fn logits(spec: &SyntheticSpec, threads: usize) -> Vec<f32> {
    let path = std::env::temp_dir().join(format!(
        "edge-llama-threads-{}-{}-{}.gguf",
        spec.weight_type,
        spec.dim,
        std::process::id()
    ));
    spec.write(&path).expect("write synthetic model");
    let model = Model::open_with(
        &path,
        ModelOptions {
            threads,
            ..Default::default()
        },
    )
    .expect("open");
    let _ = std::fs::remove_file(&path);
    let mut s = model
        .new_session(SessionOptions::default())
        .expect("session");
    let prompt: Vec<u32> = (0..11u32).map(|i| (i * 41 + 7) % 300).collect();
    let mut all = s.eval_all(&prompt).expect("eval prompt");
    for t in [299u32, 3, 150] {
        all.extend_from_slice(s.eval(&[t]).expect("eval token"));
    }
    all
}

/// The specs: the tiny model (dim 64, vocabulary 300) and an odd-sized one
/// (dim 288 = 8 heads of 36, one key/value head of 36 rows, ffn 416).
fn specs(t: GgmlType) -> Vec<SyntheticSpec> {
    let tiny = SyntheticSpec::tiny(t);
    let odd = SyntheticSpec {
        dim: 288,
        n_heads: 8,
        n_kv_heads: 1,
        ffn_dim: 416,
        ..SyntheticSpec::tiny(t)
    };
    vec![tiny, odd]
}

#[test]
fn one_three_and_five_threads_give_the_same_bits() {
    for t in [
        GgmlType::Q4_0,
        GgmlType::Q8_0,
        GgmlType::Q4_1,
        GgmlType::F16,
    ] {
        for spec in specs(t) {
            assert_eq!(
                spec.n_vocab % 8,
                4,
                "the vocabulary leaves a tile remainder"
            );
            let one = logits(&spec, 1);
            assert_eq!(one.len(), 14 * spec.n_vocab);
            assert!(one.iter().all(|v| v.is_finite()));
            for threads in [3, 5] {
                let many = logits(&spec, threads);
                let differing = one
                    .iter()
                    .zip(&many)
                    .enumerate()
                    .filter(|(_, (a, b))| a.to_bits() != b.to_bits())
                    .map(|(i, _)| (i / spec.n_vocab, i % spec.n_vocab))
                    .collect::<Vec<_>>();
                assert!(
                    differing.is_empty(),
                    "{t} dim {}: {threads} threads differ from 1 at {} (position, row) pairs, first {:?}",
                    spec.dim,
                    differing.len(),
                    &differing[..differing.len().min(5)]
                );
            }
        }
    }
}
