//! The model's tensors, located in the mapped file and checked against the config.

use super::config::Config;
use crate::error::{Error, Result};
use crate::gguf::GgufFile;
use crate::tensor::TensorView;
use edge_llama_kernels::GgmlType;

/// Where one 2-D weight matrix lives in the map. `rows` outputs of `cols`
/// inputs each; row r occupies `row_bytes` bytes at `offset + r * row_bytes`.
#[derive(Clone, Debug)]
pub(crate) struct Weight {
    pub name: String,
    pub dtype: GgmlType,
    pub rows: usize,
    pub cols: usize,
    pub offset: usize,
    pub len: usize,
    /// The data, copied when the file does not align it (see `realign`).
    pub copy: Option<super::realign::AlignedCopy>,
}

impl Weight {
    /// The weight's bytes inside `map` (the bytes of the file it came from),
    /// or its aligned copy.
    pub fn bytes<'a>(&'a self, map: &'a [u8]) -> &'a [u8] {
        if let Some(c) = &self.copy {
            return c.bytes();
        }
        map.get(self.offset..self.offset + self.len).unwrap_or(&[])
    }

    /// Bytes of one row.
    pub fn row_bytes(&self) -> usize {
        self.len / self.rows
    }
}

/// Weights of one decoder block.
#[derive(Clone, Debug)]
pub(crate) struct LayerWeights {
    pub attn_norm: Vec<f32>,
    pub wq: Weight,
    pub wk: Weight,
    pub wv: Weight,
    pub wo: Weight,
    pub ffn_norm: Vec<f32>,
    pub w_gate: Weight,
    pub w_up: Weight,
    pub w_down: Weight,
}

/// Every weight of the model.
#[derive(Clone, Debug)]
pub(crate) struct Weights {
    pub token_embd: Weight,
    pub layers: Vec<LayerWeights>,
    pub output_norm: Vec<f32>,
    /// The output head: `output.weight`, or `token_embd.weight` when absent.
    pub output: Weight,
}

/// Types a matrix-vector product supports: the float types and every
/// quantized type the kernels implement.
fn matvec_type_supported(t: GgmlType) -> bool {
    edge_llama_kernels::quant::matmul_types().any(|s| s == t)
}

fn tensor<'a>(file: &'a GgufFile, name: &str) -> Result<TensorView<'a>> {
    file.tensor(name)
        .ok_or_else(|| Error::MissingTensor(name.to_string()))
}

fn check_shape(t: &TensorView<'_>, expected: &[u64]) -> Result<()> {
    if t.shape != expected {
        return Err(Error::ShapeMismatch {
            name: t.name.to_string(),
            expected: expected.to_vec(),
            found: t.shape.to_vec(),
        });
    }
    Ok(())
}

/// A 2-D weight `[cols, rows]` in GGUF order.
fn matrix(file: &GgufFile, name: &str, cols: usize, rows: usize) -> Result<Weight> {
    let t = tensor(file, name)?;
    check_shape(&t, &[cols as u64, rows as u64])?;
    if !matvec_type_supported(t.dtype) {
        return Err(Error::UnsupportedTensorType {
            name: name.to_string(),
            ty: t.dtype.to_string(),
            context: format!(
                "for matrix-vector products (supported: {})",
                edge_llama_kernels::quant::matmul_type_names()
            ),
        });
    }
    let base = file.as_bytes().as_ptr() as usize;
    let offset = t.data.as_ptr() as usize - base;
    // Data the file does not align for its type (legal with
    // general.alignment 1 or 2) is copied once into aligned memory.
    let copy = super::realign::is_misaligned(t.data, t.dtype)
        .then(|| super::realign::AlignedCopy::new(t.data));
    Ok(Weight {
        name: name.to_string(),
        dtype: t.dtype,
        rows,
        cols,
        offset,
        len: t.data.len(),
        copy,
    })
}

/// A 1-D norm weight of length `n`, converted to f32 (it is tiny).
fn vector(file: &GgufFile, name: &str, n: usize) -> Result<Vec<f32>> {
    let t = tensor(file, name)?;
    check_shape(&t, &[n as u64])?;
    let mut out = vec![0.0f32; n];
    t.dequantize_row(0, &mut out)?;
    Ok(out)
}

impl Weights {
    /// Finds and checks every tensor the config requires.
    pub fn from_gguf(file: &GgufFile, c: &Config) -> Result<Weights> {
        let (dim, kv, ffn, vocab) = (c.dim, c.kv_dim(), c.ffn_dim, c.n_vocab);
        let token_embd = matrix(file, "token_embd.weight", dim, vocab)?;
        let output = match file.tensor("output.weight") {
            Some(_) => matrix(file, "output.weight", dim, vocab)?,
            None => token_embd.clone(),
        };
        let output_norm = vector(file, "output_norm.weight", dim)?;
        let mut layers = Vec::with_capacity(c.n_layers);
        for i in 0..c.n_layers {
            let n = |s: &str| format!("blk.{i}.{s}.weight");
            layers.push(LayerWeights {
                attn_norm: vector(file, &n("attn_norm"), dim)?,
                wq: matrix(file, &n("attn_q"), dim, c.n_heads * c.head_dim)?,
                wk: matrix(file, &n("attn_k"), dim, kv)?,
                wv: matrix(file, &n("attn_v"), dim, kv)?,
                wo: matrix(file, &n("attn_output"), c.n_heads * c.head_dim, dim)?,
                ffn_norm: vector(file, &n("ffn_norm"), dim)?,
                w_gate: matrix(file, &n("ffn_gate"), dim, ffn)?,
                w_up: matrix(file, &n("ffn_up"), dim, ffn)?,
                w_down: matrix(file, &n("ffn_down"), ffn, dim)?,
            });
        }
        Ok(Weights {
            token_embd,
            layers,
            output_norm,
            output,
        })
    }
}
