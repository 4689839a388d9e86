//! A typed, borrowed view of one tensor in a mapped GGUF file.

use crate::error::{Error, Result};
use edge_llama_kernels::{cast_blocks, Block, GgmlType};

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
}
