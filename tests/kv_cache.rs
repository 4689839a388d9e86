//! The ring-buffer KV cache: past capacity, attention sees exactly the sink
//! positions plus the most recent ones, with their original RoPE positions.
//! Checked against a straightforward float forward pass written here.

mod common;

use edge_llama::gguf::GgufFile;
use edge_llama::kernels::GgmlType;
use edge_llama::synthetic::SyntheticSpec;
use edge_llama::{KvCacheConfig, KvType, Model, ModelOptions, SessionOptions};
use std::path::PathBuf;

fn temp_model(name: &str, spec: &SyntheticSpec) -> PathBuf {
    let path = std::env::temp_dir().join(format!("edge-llama-{name}-{}.gguf", std::process::id()));
    spec.write(&path).expect("write synthetic model");
    path
}

/// Weights of the synthetic F32 model as plain vectors.
struct RefModel {
    dim: usize,
    n_heads: usize,
    n_kv: usize,
    hd: usize,
    eps: f64,
    tensors: std::collections::HashMap<String, Vec<f32>>,
}

impl RefModel {
    fn load(path: &PathBuf) -> RefModel {
        let f = GgufFile::open(path).expect("open");
        let mut tensors = std::collections::HashMap::new();
        for t in f.tensors() {
            assert_eq!(t.dtype, GgmlType::F32);
            let v: Vec<f32> = t
                .data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            tensors.insert(t.name.to_string(), v);
        }
        let dim = f.get_u64("llama.embedding_length").unwrap() as usize;
        let n_heads = f.get_u64("llama.attention.head_count").unwrap() as usize;
        RefModel {
            dim,
            n_heads,
            n_kv: f.get_u64("llama.attention.head_count_kv").unwrap() as usize,
            hd: dim / n_heads,
            eps: f.get_f32("llama.attention.layer_norm_rms_epsilon").unwrap() as f64,
            tensors,
        }
    }

    fn t(&self, name: &str) -> &[f32] {
        &self.tensors[name]
    }

    /// y = W x for W stored as rows of len(x).
    fn mv(&self, name: &str, x: &[f64]) -> Vec<f64> {
        let w = self.t(name);
        w.chunks_exact(x.len())
            .map(|row| row.iter().zip(x).map(|(&a, &b)| a as f64 * b).sum())
            .collect()
    }

    fn norm(&self, name: &str, x: &[f64]) -> Vec<f64> {
        let ms = x.iter().map(|v| v * v).sum::<f64>() / x.len() as f64;
        let s = 1.0 / (ms + self.eps).sqrt();
        x.iter()
            .zip(self.t(name))
            .map(|(v, &w)| v * s * w as f64)
            .collect()
    }

    fn rope(&self, x: &mut [f64], pos: usize) {
        for head in x.chunks_exact_mut(self.hd) {
            for i in 0..self.hd / 2 {
                let theta = pos as f64 * 10000f64.powf(-2.0 * i as f64 / self.hd as f64);
                let (s, c) = theta.sin_cos();
                let (a, b) = (head[2 * i], head[2 * i + 1]);
                head[2 * i] = a * c - b * s;
                head[2 * i + 1] = a * s + b * c;
            }
        }
    }
}

/// Keeps every position's keys and values forever; `visible` decides which
/// positions a query attends to.
struct RefRun<'a> {
    m: &'a RefModel,
    n_layers: usize,
    keys: Vec<Vec<Vec<f64>>>,
    values: Vec<Vec<Vec<f64>>>,
}

impl RefRun<'_> {
    fn step(&mut self, token: u32, pos: usize, visible: &[usize]) -> Vec<f64> {
        let m = self.m;
        let emb = m.t("token_embd.weight");
        let mut x: Vec<f64> = emb[token as usize * m.dim..][..m.dim]
            .iter()
            .map(|&v| v as f64)
            .collect();
        for l in 0..self.n_layers {
            let n = |s: &str| format!("blk.{l}.{s}.weight");
            let xb = m.norm(&n("attn_norm"), &x);
            let mut q = m.mv(&n("attn_q"), &xb);
            let mut k = m.mv(&n("attn_k"), &xb);
            let v = m.mv(&n("attn_v"), &xb);
            m.rope(&mut q, pos);
            m.rope(&mut k, pos);
            self.keys[l].push(k);
            self.values[l].push(v);
            let mut att = vec![0.0; m.dim];
            for h in 0..m.n_heads {
                let kvh = h / (m.n_heads / m.n_kv);
                let qh = &q[h * m.hd..(h + 1) * m.hd];
                let scores: Vec<f64> = visible
                    .iter()
                    .map(|&p| {
                        let kh = &self.keys[l][p][kvh * m.hd..(kvh + 1) * m.hd];
                        qh.iter().zip(kh).map(|(a, b)| a * b).sum::<f64>() / (m.hd as f64).sqrt()
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::MIN, f64::max);
                let e: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let sum: f64 = e.iter().sum();
                for (&p, w) in visible.iter().zip(&e) {
                    let vh = &self.values[l][p][kvh * m.hd..(kvh + 1) * m.hd];
                    for i in 0..m.hd {
                        att[h * m.hd + i] += w / sum * vh[i];
                    }
                }
            }
            let o = m.mv(&n("attn_output"), &att);
            x.iter_mut().zip(&o).for_each(|(a, b)| *a += b);
            let xb = m.norm(&n("ffn_norm"), &x);
            let g = m.mv(&n("ffn_gate"), &xb);
            let u = m.mv(&n("ffn_up"), &xb);
            let hmid: Vec<f64> = g
                .iter()
                .zip(&u)
                .map(|(g, u)| g / (1.0 + (-g).exp()) * u)
                .collect();
            let d = m.mv(&n("ffn_down"), &hmid);
            x.iter_mut().zip(&d).for_each(|(a, b)| *a += b);
        }
        let xb = m.norm("output_norm.weight", &x);
        m.mv("output.weight", &xb)
    }
}

#[test]
fn sliding_window_attends_to_sinks_and_recent_positions() {
    let spec = SyntheticSpec::tiny(GgmlType::F32);
    let path = temp_model("ring", &spec);
    let model = Model::open_with(
        &path,
        ModelOptions {
            threads: 1,
            ..Default::default()
        },
    )
    .expect("open");
    let reference = RefModel::load(&path);
    let _ = std::fs::remove_file(&path);
    let (capacity, n_sink) = (16, 4);
    let mut session = model
        .new_session(SessionOptions {
            kv: KvCacheConfig {
                capacity,
                n_sink,
                dtype: KvType::F32,
                ..KvCacheConfig::default()
            },
        })
        .expect("session");
    let mut run = RefRun {
        m: &reference,
        n_layers: spec.n_layers,
        keys: vec![Vec::new(); spec.n_layers],
        values: vec![Vec::new(); spec.n_layers],
    };
    let tokens: Vec<u32> = (0..48)
        .map(|i| (i * 37 + 5) % spec.n_vocab as u32)
        .collect();
    for (pos, &t) in tokens.iter().enumerate() {
        // Independent rule: everything while it fits; afterwards the first
        // n_sink positions plus the most recent capacity - n_sink.
        let visible: Vec<usize> = if pos < capacity {
            (0..=pos).collect()
        } else {
            (0..n_sink)
                .chain(pos + 1 - (capacity - n_sink)..=pos)
                .collect()
        };
        let expected = run.step(t, pos, &visible);
        let ours = session.eval(&[t]).expect("eval").to_vec();
        let max_err = ours
            .iter()
            .zip(&expected)
            .map(|(a, b)| (*a as f64 - b).abs())
            .fold(0.0, f64::max);
        assert!(max_err < 1e-3, "position {pos}: max |Δ| {max_err}");
        // A wrong window would move logits far more than this: check that
        // attending to everything gives a visibly different answer.
        if pos == capacity + 8 {
            let all: Vec<usize> = (0..=pos).collect();
            let mut other = RefRun {
                m: &reference,
                n_layers: spec.n_layers,
                keys: run.keys.iter().map(|k| k[..pos].to_vec()).collect(),
                values: run.values.iter().map(|v| v[..pos].to_vec()).collect(),
            };
            let full = other.step(t, pos, &all);
            let diff = full
                .iter()
                .zip(&expected)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(diff > 1e-2, "window and full attention agree too closely ({diff}) for the test to mean anything");
        }
    }
    assert_eq!(session.position(), tokens.len());
}

#[test]
fn large_capacity_gives_identical_logits() {
    let Some(dir) = common::fixtures() else {
        return;
    };
    let model = Model::open_with(
        dir.join("tiny-gqa-q4_0.gguf"),
        ModelOptions {
            threads: 1,
            ..Default::default()
        },
    )
    .expect("open");
    let tokens: Vec<u32> = (0..40).map(|i| 100 + i * 7).collect();
    let run = |capacity| {
        let mut s = model
            .new_session(SessionOptions {
                kv: KvCacheConfig {
                    capacity,
                    ..Default::default()
                },
            })
            .expect("session");
        s.eval_all(&tokens).expect("eval")
    };
    let a = run(4096);
    let b = run(40);
    assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()));
}

#[test]
fn cache_types_match_llama_cpp_and_q8_0_is_small() {
    let Some(dir) = common::fixtures() else {
        return;
    };
    for variant in ["f16", "q8_0", "q4_0"] {
        let reference = common::read_json(&dir.join(format!("tiny-gqa-{variant}.ref.json")));
        let tokens = common::ids(&reference["tokens"]);
        let llama = common::read_f32(&dir.join(format!("tiny-gqa-{variant}.logits.f32")));
        let model = Model::open_with(
            dir.join(format!("tiny-gqa-{variant}.gguf")),
            ModelOptions {
                threads: 1,
                ..Default::default()
            },
        )
        .expect("open");
        let mut bytes = Vec::new();
        for dtype in [KvType::F16, KvType::Q8_0, KvType::F32] {
            let mut s = model
                .new_session(SessionOptions {
                    kv: KvCacheConfig {
                        dtype,
                        ..Default::default()
                    },
                })
                .expect("session");
            bytes.push(s.kv_bytes());
            let logits = s.eval_all(&tokens).expect("eval");
            let c = common::compare(&logits, &llama, model.config().n_vocab);
            println!("{variant} cache {dtype:?}: {c:?}");
            let (tol, agree) = if variant == "f16" && dtype != KvType::Q8_0 {
                (0.003, 1.0)
            } else {
                (0.04, 0.85)
            };
            assert!(
                c.mean_abs <= tol * c.ref_std,
                "{variant}/{dtype:?}: mean |Δ| {}",
                c.mean_abs
            );
            assert!(
                c.argmax_agree >= agree,
                "{variant}/{dtype:?}: argmax {}",
                c.argmax_agree
            );
        }
        assert!(
            bytes[1] as f64 <= 0.55 * bytes[0] as f64,
            "q8_0 {} vs f16 {} bytes",
            bytes[1],
            bytes[0]
        );
        assert_eq!(bytes[2], 2 * bytes[0]);
    }
}

#[test]
fn truncate_and_reset() {
    let spec = SyntheticSpec::tiny(GgmlType::Q8_0);
    let path = temp_model("trunc", &spec);
    let model = Model::open_with(
        &path,
        ModelOptions {
            threads: 1,
            ..Default::default()
        },
    )
    .expect("open");
    let _ = std::fs::remove_file(&path);
    let opts = SessionOptions {
        kv: KvCacheConfig {
            capacity: 8,
            n_sink: 2,
            dtype: KvType::F16,
            ..KvCacheConfig::default()
        },
    };
    let mut s = model.new_session(opts).expect("session");
    let a = s.eval(&[5, 6, 7, 8]).expect("eval").to_vec();
    s.eval(&[9, 10]).expect("eval");
    s.truncate(3).expect("truncate before wrap");
    assert_eq!(s.position(), 3);
    let b = s.eval(&[8]).expect("eval").to_vec();
    assert_eq!(
        a, b,
        "after truncate the same token at the same position gives the same logits"
    );
    s.reset();
    assert_eq!(s.position(), 0);
    s.eval(&(0..12).map(|i| i + 3).collect::<Vec<u32>>())
        .expect("eval past capacity");
    assert!(
        s.truncate(2).is_err(),
        "truncate after the ring wrapped must fail"
    );
    assert!(
        s.eval(&[spec.n_vocab as u32]).is_err(),
        "token id out of range"
    );
}

/// The independent visibility rule: everything while it fits, afterwards the
/// first `n_sink` positions plus the most recent `capacity - n_sink`.
fn visible_positions(pos: usize, capacity: usize, n_sink: usize) -> Vec<usize> {
    if pos < capacity {
        (0..=pos).collect()
    } else {
        (0..n_sink)
            .chain(pos + 1 - (capacity - n_sink)..=pos)
            .collect()
    }
}

/// Largest |a − b| over two logit rows.
fn max_diff(a: &[f32], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn batches_crossing_the_capacity_match_token_by_token_and_reference() {
    let spec = SyntheticSpec::tiny(GgmlType::F32);
    let path = temp_model("ring-batches", &spec);
    let model = Model::open_with(
        &path,
        ModelOptions {
            threads: 1,
            ..Default::default()
        },
    )
    .expect("open");
    let reference = RefModel::load(&path);
    let _ = std::fs::remove_file(&path);
    let (capacity, n_sink) = (16, 4);
    let opts = SessionOptions {
        kv: KvCacheConfig {
            capacity,
            n_sink,
            dtype: KvType::F32,
            ..KvCacheConfig::default()
        },
    };
    let n_vocab = spec.n_vocab;
    let tokens: Vec<u32> = (0..capacity as u32 + 5)
        .map(|i| (i * 53 + 11) % n_vocab as u32)
        .collect();

    // The reference: every position's logits by the independent f64 pass.
    let reference_logits = |tokens: &[u32]| -> Vec<Vec<f64>> {
        let mut run = RefRun {
            m: &reference,
            n_layers: spec.n_layers,
            keys: vec![Vec::new(); spec.n_layers],
            values: vec![Vec::new(); spec.n_layers],
        };
        tokens
            .iter()
            .enumerate()
            .map(|(pos, &t)| run.step(t, pos, &visible_positions(pos, capacity, n_sink)))
            .collect()
    };
    let expected = reference_logits(&tokens);

    // Token by token.
    let mut one = model.new_session(opts).expect("session");
    let by_token: Vec<f32> = tokens
        .iter()
        .flat_map(|&t| one.eval(&[t]).expect("eval").to_vec())
        .collect();

    // Batches: one call for everything, and splits whose second batch ends
    // exactly at the capacity or crosses it.
    let splits: [&[usize]; 4] = [&[21], &[7, 9, 5], &[10, 11], &[16, 5]];
    for split in splits {
        let mut s = model.new_session(opts).expect("session");
        let mut got = Vec::new();
        let mut at = 0;
        for &n in split {
            got.extend(s.eval_all(&tokens[at..at + n]).expect("eval_all"));
            at += n;
            if at == capacity {
                assert_eq!(s.position(), capacity, "exactly full");
            }
        }
        assert_eq!(s.position(), tokens.len());
        for pos in 0..tokens.len() {
            let row = &got[pos * n_vocab..(pos + 1) * n_vocab];
            let tok_row = &by_token[pos * n_vocab..(pos + 1) * n_vocab];
            let vs_ref = max_diff(row, &expected[pos]);
            assert!(
                vs_ref < 1e-3,
                "split {split:?} position {pos}: max |Δ| vs reference {vs_ref}"
            );
            // Batched and single-token attention sum in different orders;
            // both are f32 passes of the same arithmetic.
            let vs_tok = row
                .iter()
                .zip(tok_row)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(
                vs_tok < 1e-4,
                "split {split:?} position {pos}: max |Δ| vs token by token {vs_tok}"
            );
        }
        // `logits()` is the last row.
        assert_eq!(s.logits(), &got[got.len() - n_vocab..]);
    }

    // Exactly full, then truncate at pos == capacity (allowed: nothing was
    // overwritten yet) and continue with other tokens past the capacity.
    let mut s = model.new_session(opts).expect("session");
    let full = s.eval_all(&tokens[..capacity]).expect("fill");
    assert_eq!(s.position(), capacity);
    let last_full = &full[(capacity - 1) * n_vocab..];
    assert!(max_diff(last_full, &expected[capacity - 1]) < 1e-3);
    s.truncate(capacity)
        .expect("truncate to the same position at capacity");
    s.truncate(12).expect("truncate at pos == capacity");
    assert_eq!(s.position(), 12);
    let mut other = tokens[..12].to_vec();
    other.extend((0..9u32).map(|i| (i * 29 + 260) % n_vocab as u32));
    let expected_other = reference_logits(&other);
    let got = s.eval_all(&other[12..]).expect("continue past capacity");
    for (i, row) in got.chunks_exact(n_vocab).enumerate() {
        let d = max_diff(row, &expected_other[12 + i]);
        assert!(d < 1e-3, "after truncate, position {}: max |Δ| {d}", 12 + i);
    }
    assert!(
        s.truncate(capacity).is_err(),
        "truncate after the ring wrapped must fail"
    );
}
