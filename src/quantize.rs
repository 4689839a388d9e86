//! Converting f32 weights into GGUF tensor bytes of a given type, with the
//! reference (llama.cpp-identical) block arithmetic of `edge_llama_kernels::scalar`.

use crate::error::{Error, Result};
use edge_llama_kernels::{block_bytes, scalar, Block, BlockQ4_0, BlockQ4_1, BlockQ6K, BlockQ8_0, GgmlType};
use half::{bf16, f16};

fn quantize_blocks<B: Block>(values: &[f32], zero: B, f: fn(&[f32], &mut [B])) -> Vec<u8> {
    let mut blocks = vec![zero; values.len() / B::ELEMS];
    f(values, &mut blocks);
    block_bytes(&blocks).to_vec()
}

/// Encodes `values` (rows of `row_len` elements, row-major) as tensor bytes of
/// type `dtype`. Supported: f32, f16, bf16, q4_0, q4_1, q8_0, q6_K; the row
/// length must be a multiple of the type's block size.
pub fn quantize_values(name: &str, values: &[f32], row_len: usize, dtype: GgmlType) -> Result<Vec<u8>> {
    if row_len == 0 || values.len() % row_len != 0 || row_len % dtype.block_elems() != 0 {
        return Err(Error::BadTensor {
            name: name.to_string(),
            reason: format!(
                "{} values in rows of {row_len} cannot be stored as {dtype} (block of {})",
                values.len(),
                dtype.block_elems()
            ),
        });
    }
    let zero_h = f16::ZERO;
    Ok(match dtype {
        GgmlType::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        GgmlType::F16 => values.iter().flat_map(|&v| f16::from_f32(v).to_le_bytes()).collect(),
        GgmlType::BF16 => values.iter().flat_map(|&v| bf16::from_f32(v).to_le_bytes()).collect(),
        GgmlType::Q4_0 => quantize_blocks(values, BlockQ4_0 { d: zero_h, qs: [0; 16] }, scalar::quantize_row_q4_0),
        GgmlType::Q4_1 => quantize_blocks(
            values,
            BlockQ4_1 { d: zero_h, m: zero_h, qs: [0; 16] },
            scalar::quantize_row_q4_1,
        ),
        GgmlType::Q8_0 => quantize_blocks(values, BlockQ8_0 { d: zero_h, qs: [0; 32] }, scalar::quantize_row_q8_0),
        GgmlType::Q6K => quantize_blocks(
            values,
            BlockQ6K { ql: [0; 128], qh: [0; 64], scales: [0; 16], d: zero_h },
            scalar::quantize_row_q6k,
        ),
        other => {
            return Err(Error::UnsupportedTensorType {
                name: name.to_string(),
                ty: other.to_string(),
                context: "as a quantization target (supported: f32, f16, bf16, q4_0, q4_1, q8_0, q6_K)".into(),
            })
        }
    })
}
