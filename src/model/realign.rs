//! Weight data the file does not align for its type, copied into aligned
//! memory once when the model is opened.
//!
//! GGUF lets `general.alignment` be any power of two, 1 and 2 included; in
//! such a file a tensor's data may start at an address its blocks cannot be
//! read from in place (an f32 matrix needs 4 bytes, every block type 2).
//! Only those tensors are copied; every other one stays zero-copy in the
//! map. The copies are listed by [`crate::Model::realigned_tensors`] so an
//! application can log them (the library itself prints nothing).

use edge_llama_kernels::GgmlType;
use std::fmt;
use std::sync::Arc;

/// Byte alignment the matrix-vector products need for data of `dtype`
/// (the kernels' `block_align`: 4 for f32, 2 for f16 and the f16-scaled
/// block types).
pub(crate) fn required_alignment(dtype: GgmlType) -> usize {
    edge_llama_kernels::quant::block_align(dtype)
}

/// True when `data` cannot be read in place as `dtype` blocks.
pub(crate) fn is_misaligned(data: &[u8], dtype: GgmlType) -> bool {
    !(data.as_ptr() as usize).is_multiple_of(required_alignment(dtype))
}

/// A tensor's bytes copied into 8-byte aligned memory (shared by clones).
#[derive(Clone)]
pub(crate) struct AlignedCopy {
    words: Arc<[u64]>,
    len: usize,
}

impl AlignedCopy {
    /// Copies `bytes` (any length) into fresh 8-byte aligned storage.
    pub fn new(bytes: &[u8]) -> AlignedCopy {
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        for (w, chunk) in words.iter_mut().zip(bytes.chunks(8)) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            *w = u64::from_ne_bytes(b);
        }
        AlignedCopy {
            words: words.into(),
            len: bytes.len(),
        }
    }

    /// The copied bytes; the slice starts on an 8-byte boundary.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `words` holds `words.len() * 8 >= len` initialized bytes
        // (u64 has no padding, and u8 has alignment 1 and no invalid values),
        // and the returned slice borrows `self`, which keeps the Arc alive.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr().cast::<u8>(), self.len) }
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.len
    }
}

impl fmt::Debug for AlignedCopy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AlignedCopy({} bytes)", self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_keeps_bytes_and_is_aligned() {
        let src: Vec<u8> = (0..37u8).collect();
        for start in 0..4 {
            let c = AlignedCopy::new(&src[start..]);
            assert_eq!(c.bytes(), &src[start..]);
            assert_eq!(c.len(), 37 - start);
            assert!((c.bytes().as_ptr() as usize).is_multiple_of(8));
        }
        assert!(AlignedCopy::new(&[]).bytes().is_empty());
    }

    #[test]
    fn alignment_rule() {
        let words = [0u32; 4];
        // SAFETY: viewing 16 initialized bytes of a u32 array as u8.
        let bytes = unsafe { std::slice::from_raw_parts(words.as_ptr().cast::<u8>(), 16) };
        assert!(!is_misaligned(&bytes[0..], GgmlType::F32));
        assert!(is_misaligned(&bytes[2..], GgmlType::F32));
        assert!(!is_misaligned(&bytes[2..], GgmlType::Q4_0));
        assert!(is_misaligned(&bytes[1..], GgmlType::F16));
    }
}
