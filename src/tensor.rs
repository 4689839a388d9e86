//! A typed, borrowed view of one tensor in a mapped GGUF file.

use crate::error::{Error, Result};
use edge_llama_kernels::{cast_blocks, with_quant_type, Block, GgmlType, QuantType, QuantVisitor};
use half::{bf16, f16};

/// One tensor of a GGUF file: its type, shape and bytes, borrowed from the map.
///
/// Invariants (checked when the file is opened): `shape.len()` is 1..=4,
/// `shape[0]` (the row length, contiguous) is a multiple of the type's block
/// size, and `data.len()` equals the byte size the type and shape imply.
#[derive(Clone, Copy, Debug)]
pub struct TensorView<'a> {
    /// Tensor name, e.g. `"blk.0.attn_q.weight"`.
    pub name: &'a str,
    /// Element type.
    pub dtype: GgmlType,
    /// Dimensions in GGUF order: `shape[0]` is the contiguous (row) length.
    pub shape: &'a [u64],
    /// The raw bytes in the file.
    pub data: &'a [u8],
}

impl<'a> TensorView<'a> {
    /// Total number of elements.
    pub fn n_elements(&self) -> u64 {
        self.shape.iter().product()
    }

    /// Elements per row (`shape[0]`).
    pub fn row_len(&self) -> usize {
        self.shape.first().copied().unwrap_or(1) as usize
    }

    /// Number of rows (product of `shape[1..]`).
    pub fn n_rows(&self) -> usize {
        self.shape.iter().skip(1).product::<u64>() as usize
    }

    /// Bytes per row.
    pub fn row_bytes(&self) -> usize {
        self.data.len() / self.n_rows().max(1)
    }

    /// The data as blocks of `B`, checking the type and the alignment.
    pub fn blocks<B: Block>(&self, expected: GgmlType) -> Result<&'a [B]> {
        if self.dtype != expected {
            return Err(Error::BadTensor {
                name: self.name.to_string(),
                reason: format!("expected type {expected}, found {}", self.dtype),
            });
        }
        cast_blocks::<B>(self.data).ok_or_else(|| Error::BadTensor {
            name: self.name.to_string(),
            reason: format!(
                "data of {} bytes is not a whole number of aligned {} blocks",
                self.data.len(),
                self.dtype
            ),
        })
    }

    /// Row `row` (of [`Self::row_len`] elements) converted to f32 into
    /// `out` (`out.len()` = row length); an error when the row is out of
    /// range or the type cannot be dequantized.
    pub fn dequantize_row(&self, row: usize, out: &mut [f32]) -> Result<()> {
        let rb = self.row_bytes();
        let bytes = self
            .data
            .get(row * rb..(row + 1) * rb)
            .ok_or_else(|| Error::BadTensor {
                name: self.name.to_string(),
                reason: format!("row {row} out of range"),
            })?;
        dequantize(self.name, self.dtype, bytes, out)
    }

    /// All elements converted to f32 (see [`dequantize`]).
    pub fn to_f32_vec(&self) -> Result<Vec<f32>> {
        let n = usize::try_from(self.n_elements()).map_err(|_| Error::BadTensor {
            name: self.name.to_string(),
            reason: "too many elements for this platform".into(),
        })?;
        let mut out = vec![0.0; n];
        dequantize(self.name, self.dtype, self.data, &mut out)?;
        Ok(out)
    }
}

/// Dequantizes `bytes` (holding exactly `out.len()` elements of `dtype`)
/// into `out`, for f32, f16, bf16 and every quantized type of
/// [`edge_llama_kernels::QUANT_TYPES`] (by its reference dequantizer).
/// `name` names the tensor in errors. Block data need not be aligned.
pub fn dequantize(name: &str, dtype: GgmlType, bytes: &[u8], out: &mut [f32]) -> Result<()> {
    let expected = dtype.row_bytes(out.len() as u64);
    if expected != Some(bytes.len() as u64) {
        return Err(Error::BadTensor {
            name: name.to_string(),
            reason: format!(
                "{} bytes do not hold {} {dtype} elements",
                bytes.len(),
                out.len()
            ),
        });
    }
    match dtype {
        GgmlType::F32 => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        }
        GgmlType::F16 => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = f16::from_le_bytes([c[0], c[1]]).to_f32();
            }
        }
        GgmlType::BF16 => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = bf16::from_le_bytes([c[0], c[1]]).to_f32();
            }
        }
        other => {
            let job = Dequantize { bytes, out };
            if with_quant_type(other, job).is_none() {
                return Err(Error::UnsupportedTensorType {
                    name: name.to_string(),
                    ty: other.to_string(),
                    context: "for dequantization".into(),
                });
            }
        }
    }
    Ok(())
}

/// Dequantizes `bytes` (length already checked) into `out` by the
/// reference dequantizer of the type visited.
struct Dequantize<'a> {
    bytes: &'a [u8],
    out: &'a mut [f32],
}

impl QuantVisitor for Dequantize<'_> {
    type Output = ();
    fn visit<T: QuantType>(self) {
        with_blocks::<T>(self.bytes, self.out, T::dequantize)
    }
}

/// Runs `f` over `bytes` viewed as blocks of `B`; copies the blocks first
/// when `bytes` is not aligned for `B`. The caller checked the length.
fn with_blocks<B: Block>(bytes: &[u8], out: &mut [f32], f: fn(&[B], &mut [f32])) {
    match cast_blocks::<B>(bytes) {
        Some(blocks) => f(blocks, out),
        None => {
            let blocks: Vec<B> = bytes
                .chunks_exact(std::mem::size_of::<B>())
                .map(|c| {
                    // SAFETY: `c` holds exactly `size_of::<B>()` bytes;
                    // `B: Block` accepts every bit pattern and has no
                    // padding; `read_unaligned` has no alignment requirement.
                    unsafe { std::ptr::read_unaligned(c.as_ptr().cast::<B>()) }
                })
                .collect();
            f(&blocks, out)
        }
    }
}
