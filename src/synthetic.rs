//! Random-weight Llama models written with our GGUF writer, for tests and
//! benchmarks when no trained model of the wanted shape is at hand.

use crate::error::Result;
use crate::gguf::{GgufWriter, OwnedValue, ValueType};
use crate::quantize::quantize_values;
use edge_llama_kernels::GgmlType;
use std::path::Path;

/// Shape, types and seed of a synthetic model.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntheticSpec {
    /// Embedding width.
    pub dim: usize,
    /// Decoder blocks.
    pub n_layers: usize,
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads.
    pub n_kv_heads: usize,
    /// Feed-forward hidden width.
    pub ffn_dim: usize,
    /// Vocabulary size (≥ 259: 3 control tokens and 256 byte tokens come first).
    pub n_vocab: usize,
    /// Type of the 2-D weights (token embedding included).
    pub weight_type: GgmlType,
    /// Type of `output.weight` (`None`: no output tensor, the head is tied to the embedding).
    pub output_type: Option<GgmlType>,
    /// Seed of the weights.
    pub seed: u64,
}

impl SyntheticSpec {
    /// A TinyLlama-1.1B-shaped model: dim 2048, 22 layers, 32 heads, 4 kv
    /// heads, ffn 5632, vocab 32000. For Q4_0 the output head is Q6_K, as
    /// llama.cpp writes it.
    pub fn tinyllama(weight_type: GgmlType) -> Self {
        SyntheticSpec {
            dim: 2048,
            n_layers: 22,
            n_heads: 32,
            n_kv_heads: 4,
            ffn_dim: 5632,
            n_vocab: 32000,
            weight_type,
            output_type: Some(if weight_type == GgmlType::Q4_0 {
                GgmlType::Q6K
            } else {
                weight_type
            }),
            seed: 42,
        }
    }

    /// A Llama-2-7B-shaped model: dim 4096, 32 layers, 32 heads, 32 kv
    /// heads, ffn 11008, vocab 32000 (about 3.8 GB in Q4_0). For Q4_0 the
    /// output head is Q6_K, as llama.cpp writes it.
    pub fn llama2_7b(weight_type: GgmlType) -> Self {
        SyntheticSpec {
            dim: 4096,
            n_layers: 32,
            n_heads: 32,
            n_kv_heads: 32,
            ffn_dim: 11008,
            n_vocab: 32000,
            ..SyntheticSpec::tinyllama(weight_type)
        }
    }

    /// The spec named `shape` ("tinyllama" or "llama2-7b", as `bench
    /// --shape` spells them) with 2-D weights of `weight_type`; `None` for
    /// an unknown name.
    pub fn named(shape: &str, weight_type: GgmlType) -> Option<Self> {
        match shape {
            "tinyllama" => Some(SyntheticSpec::tinyllama(weight_type)),
            "llama2-7b" => Some(SyntheticSpec::llama2_7b(weight_type)),
            _ => None,
        }
    }

    /// A very small model (dim 64, 2 layers) for fast tests.
    pub fn tiny(weight_type: GgmlType) -> Self {
        SyntheticSpec {
            dim: 64,
            n_layers: 2,
            n_heads: 4,
            n_kv_heads: 2,
            ffn_dim: 128,
            n_vocab: 300,
            weight_type,
            output_type: Some(weight_type),
            seed: 7,
        }
    }

    /// Builds the GGUF file contents: metadata, vocabulary and random weights.
    pub fn build(&self) -> Result<GgufWriter<'static>> {
        let mut w = GgufWriter::new();
        let s = |v: &str| OwnedValue::String(v.to_string());
        w.add_metadata("general.architecture", s("llama"))?;
        w.add_metadata("general.name", s("edge-llama synthetic"))?;
        let u = |v: usize| OwnedValue::U32(v as u32);
        w.add_metadata("llama.context_length", u(4096))?;
        w.add_metadata("llama.embedding_length", u(self.dim))?;
        w.add_metadata("llama.block_count", u(self.n_layers))?;
        w.add_metadata("llama.feed_forward_length", u(self.ffn_dim))?;
        w.add_metadata("llama.attention.head_count", u(self.n_heads))?;
        w.add_metadata("llama.attention.head_count_kv", u(self.n_kv_heads))?;
        w.add_metadata("llama.rope.dimension_count", u(self.dim / self.n_heads))?;
        w.add_metadata(
            "llama.attention.layer_norm_rms_epsilon",
            OwnedValue::F32(1e-5),
        )?;
        let (tokens, scores, types) = vocabulary(self.n_vocab);
        w.add_metadata("tokenizer.ggml.model", s("llama"))?;
        w.add_metadata(
            "tokenizer.ggml.tokens",
            OwnedValue::Array(
                ValueType::String,
                tokens.into_iter().map(OwnedValue::String).collect(),
            ),
        )?;
        w.add_metadata(
            "tokenizer.ggml.scores",
            OwnedValue::Array(
                ValueType::F32,
                scores.into_iter().map(OwnedValue::F32).collect(),
            ),
        )?;
        w.add_metadata(
            "tokenizer.ggml.token_type",
            OwnedValue::Array(
                ValueType::I32,
                types.into_iter().map(OwnedValue::I32).collect(),
            ),
        )?;
        w.add_metadata("tokenizer.ggml.bos_token_id", u(1))?;
        w.add_metadata("tokenizer.ggml.eos_token_id", u(2))?;
        w.add_metadata("tokenizer.ggml.unknown_token_id", u(0))?;

        let mut rng = Rng(self.seed ^ 0x9E37_79B9_7F4A_7C15);
        let head_dim = self.dim / self.n_heads;
        let kv = self.n_kv_heads * head_dim;
        let mut add = |w: &mut GgufWriter<'static>,
                       name: &str,
                       cols: usize,
                       rows: usize,
                       t: GgmlType|
         -> Result<()> {
            // Norm weights near 1; matrices scaled so activations keep their size.
            let values: Vec<f32> = if rows == 1 {
                (0..cols).map(|_| 1.0 + 0.1 * rng.normal()).collect()
            } else {
                let scale = 1.0 / (cols as f32).sqrt();
                (0..cols * rows).map(|_| rng.normal() * scale).collect()
            };
            let bytes = quantize_values(name, &values, cols, t)?;
            let shape: Vec<u64> = if rows == 1 {
                vec![cols as u64]
            } else {
                vec![cols as u64, rows as u64]
            };
            w.add_tensor(name, t, &shape, bytes)
        };
        let wt = self.weight_type;
        add(&mut w, "token_embd.weight", self.dim, self.n_vocab, wt)?;
        for i in 0..self.n_layers {
            let n = |s: &str| format!("blk.{i}.{s}.weight");
            add(&mut w, &n("attn_norm"), self.dim, 1, GgmlType::F32)?;
            add(&mut w, &n("attn_q"), self.dim, self.dim, wt)?;
            add(&mut w, &n("attn_k"), self.dim, kv, wt)?;
            add(&mut w, &n("attn_v"), self.dim, kv, wt)?;
            add(&mut w, &n("attn_output"), self.dim, self.dim, wt)?;
            add(&mut w, &n("ffn_norm"), self.dim, 1, GgmlType::F32)?;
            add(&mut w, &n("ffn_gate"), self.dim, self.ffn_dim, wt)?;
            add(&mut w, &n("ffn_up"), self.dim, self.ffn_dim, wt)?;
            add(&mut w, &n("ffn_down"), self.ffn_dim, self.dim, wt)?;
        }
        add(&mut w, "output_norm.weight", self.dim, 1, GgmlType::F32)?;
        if let Some(t) = self.output_type {
            add(&mut w, "output.weight", self.dim, self.n_vocab, t)?;
        }
        Ok(w)
    }

    /// Builds the model and writes it to `path` (atomically).
    pub fn write(&self, path: impl AsRef<Path>) -> Result<()> {
        self.build()?.write_to_path(path)
    }
}

/// `<unk>`, `<s>`, `</s>`, the 256 byte tokens, then `▁a`-style filler.
fn vocabulary(n: usize) -> (Vec<String>, Vec<f32>, Vec<i32>) {
    let mut tokens = vec!["<unk>".to_string(), "<s>".to_string(), "</s>".to_string()];
    let mut types = vec![2, 3, 3];
    for b in 0..256 {
        tokens.push(format!("<0x{b:02X}>"));
        types.push(6);
    }
    let letters: Vec<char> = "abcdefghijklmnopqrstuvwxyz".chars().collect();
    let mut i = 0usize;
    while tokens.len() < n {
        let mut t = String::from("\u{2581}");
        let mut k = i;
        loop {
            t.push(letters[k % 26]);
            k /= 26;
            if k == 0 {
                break;
            }
        }
        tokens.push(t);
        types.push(1);
        i += 1;
    }
    tokens.truncate(n);
    types.truncate(n);
    let scores = (0..tokens.len()).map(|i| -(i as f32)).collect();
    (tokens, scores, types)
}

/// xorshift64* with a Box–Muller-free approximate normal (sum of uniforms).
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Approximately standard normal (Irwin–Hall with 4 terms).
    fn normal(&mut self) -> f32 {
        let s: f32 = (0..4).map(|_| self.uniform()).sum();
        (s - 2.0) * (3.0f32).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes of the 2-D weights a spec writes (norms left out: they are tiny).
    fn matrix_bytes(s: &SyntheticSpec) -> u64 {
        let row = |t: GgmlType| t.row_bytes(s.dim as u64).unwrap_or(0);
        let ffn_row = s.weight_type.row_bytes(s.ffn_dim as u64).unwrap_or(0);
        let kv = (s.n_kv_heads * (s.dim / s.n_heads)) as u64;
        let wt = s.weight_type;
        let layer =
            row(wt) * (2 * s.dim as u64 + 2 * kv + 2 * s.ffn_dim as u64) + ffn_row * s.dim as u64;
        let head = s.output_type.map_or(0, |t| row(t) * s.n_vocab as u64);
        row(wt) * s.n_vocab as u64 + s.n_layers as u64 * layer + head
    }

    #[test]
    fn llama2_7b_shape_is_a_3_8_gb_q4_0_file() {
        let s = SyntheticSpec::named("llama2-7b", GgmlType::Q4_0).expect("known shape");
        assert_eq!(
            (
                s.dim,
                s.n_layers,
                s.n_heads,
                s.n_kv_heads,
                s.ffn_dim,
                s.n_vocab
            ),
            (4096, 32, 32, 32, 11008, 32000)
        );
        assert_eq!(s.output_type, Some(GgmlType::Q6K));
        let gb = matrix_bytes(&s) as f64 / 1e9;
        assert!((3.7..3.9).contains(&gb), "{gb} GB");
    }

    #[test]
    fn shape_names() {
        assert_eq!(
            SyntheticSpec::named("tinyllama", GgmlType::Q8_0),
            Some(SyntheticSpec::tinyllama(GgmlType::Q8_0))
        );
        assert_eq!(SyntheticSpec::named("llama3", GgmlType::Q8_0), None);
    }
}
