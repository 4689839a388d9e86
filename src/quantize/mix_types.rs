//! The block types the mixes add (Q2_K, Q3_K, Q4_K, Q5_K, Q5_0, Q5_1,
//! IQ4_NL): encoding f32 rows with their reference quantizers and decoding
//! them with their reference dequantizers (`edge_llama_kernels::quants`,
//! llama.cpp's `quantize_row_*_ref` and `quantize_iq4_nl`, byte for byte).

use crate::error::{Error, Result};
use edge_llama_kernels::quants::{iq4_nl, q2_k, q3_k, q4_k, q5_0, q5_1, q5_k};
use edge_llama_kernels::{block_bytes, cast_blocks, Block, GgmlType};

/// The types this module handles.
pub const MIX_TYPES: [GgmlType; 7] = [
    GgmlType::Q2K,
    GgmlType::Q3K,
    GgmlType::Q4K,
    GgmlType::Q5K,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::IQ4NL,
];

fn encode<B: Block>(values: &[f32], zero: B, f: fn(&[f32], &mut [B])) -> Vec<u8> {
    let mut blocks = vec![zero; values.len() / B::ELEMS];
    f(values, &mut blocks);
    block_bytes(&blocks).to_vec()
}

/// `values` (a whole number of blocks) as bytes of `dtype`; `None` when
/// `dtype` is not one of [`MIX_TYPES`].
pub fn quantize(dtype: GgmlType, values: &[f32]) -> Option<Vec<u8>> {
    Some(match dtype {
        GgmlType::Q2K => encode(values, q2_k::BlockQ2K::ZERO, q2_k::quantize_row_q2_k),
        GgmlType::Q3K => encode(values, q3_k::BlockQ3K::ZERO, q3_k::quantize_row_q3_k),
        GgmlType::Q4K => encode(values, q4_k::BlockQ4K::ZERO, q4_k::quantize_row_q4_k),
        GgmlType::Q5K => encode(values, q5_k::BlockQ5K::ZERO, q5_k::quantize_row_q5_k),
        GgmlType::Q5_0 => encode(values, q5_0::BlockQ5_0::ZERO, q5_0::quantize_row_q5_0),
        GgmlType::Q5_1 => encode(values, q5_1::BlockQ5_1::ZERO, q5_1::quantize_row_q5_1),
        GgmlType::IQ4NL => encode(
            values,
            iq4_nl::BlockIq4Nl::ZERO,
            iq4_nl::quantize_row_iq4_nl,
        ),
        _ => return None,
    })
}

fn decode<B: Block>(
    name: &str,
    bytes: &[u8],
    n: usize,
    f: fn(&[B], &mut [f32]),
) -> Result<Vec<f32>> {
    let bad = |reason: String| Error::BadTensor {
        name: name.to_string(),
        reason,
    };
    let size = std::mem::size_of::<B>();
    if !bytes.len().is_multiple_of(size) || bytes.len() / size * B::ELEMS != n {
        return Err(bad(format!(
            "{} bytes do not hold {n} elements in blocks of {size} bytes",
            bytes.len()
        )));
    }
    let copied: Vec<B>;
    let blocks: &[B] = match cast_blocks::<B>(bytes) {
        Some(b) => b,
        None => {
            copied = bytes
                .chunks_exact(size)
                .map(|c| {
                    // SAFETY: `c` holds exactly `size_of::<B>()` bytes; `B:
                    // Block` accepts every bit pattern and has no padding;
                    // `read_unaligned` has no alignment requirement.
                    unsafe { std::ptr::read_unaligned(c.as_ptr().cast::<B>()) }
                })
                .collect();
            &copied
        }
    };
    let mut out = vec![0f32; n];
    f(blocks, &mut out);
    Ok(out)
}

/// The `n` elements of tensor `name` stored as `bytes` of `dtype`,
/// dequantized; `None` when `dtype` is not one of [`MIX_TYPES`]. Error when
/// the byte count does not hold `n` elements.
pub fn dequantize(name: &str, dtype: GgmlType, bytes: &[u8], n: usize) -> Option<Result<Vec<f32>>> {
    Some(match dtype {
        GgmlType::Q2K => decode(name, bytes, n, q2_k::dequantize_row_q2_k),
        GgmlType::Q3K => decode(name, bytes, n, q3_k::dequantize_row_q3_k),
        GgmlType::Q4K => decode(name, bytes, n, q4_k::dequantize_row_q4_k),
        GgmlType::Q5K => decode(name, bytes, n, q5_k::dequantize_row_q5_k),
        GgmlType::Q5_0 => decode(name, bytes, n, q5_0::dequantize_row_q5_0),
        GgmlType::Q5_1 => decode(name, bytes, n, q5_1::dequantize_row_q5_1),
        GgmlType::IQ4NL => decode(name, bytes, n, iq4_nl::dequantize_row_iq4_nl),
        _ => return None,
    })
}
