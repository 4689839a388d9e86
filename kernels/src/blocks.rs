//! Quantized block formats, laid out exactly as in GGUF files (`#[repr(C)]`).

use half::f16;

/// Elements per Q8_0 / Q4_0 / Q4_1 / Q8_1 block.
pub const QK: usize = 32;
/// Elements per K-quant super-block (Q6_K, Q8_K).
pub const QK_K: usize = 256;

/// A block format stored in weights or activations.
///
/// # Safety
/// Implementors must be `#[repr(C)]`, contain no padding and accept every bit
/// pattern, so that a byte slice of the right length and alignment can be
/// viewed as a slice of blocks.
pub unsafe trait Block: Copy + 'static {
    /// Number of f32 elements one block encodes.
    const ELEMS: usize;

    /// The all-zero block (a valid value: every bit pattern is).
    fn zeroed() -> Self {
        // SAFETY: implementors accept every bit pattern (the trait's
        // contract), so all-zero bytes are a valid value.
        unsafe { std::mem::zeroed() }
    }
}

/// Q8_0: 32 signed bytes with one f16 scale. value = d · q.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ8_0 {
    /// Scale.
    pub d: f16,
    /// Quantized values, in [-127, 127] when produced by our quantizer.
    pub qs: [i8; QK],
}

/// Q4_0: 32 4-bit values with one f16 scale. Element j (0..16) is the low
/// nibble of `qs[j]`, element j+16 the high nibble; value = d · (nibble − 8).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ4_0 {
    /// Scale.
    pub d: f16,
    /// Packed nibbles.
    pub qs: [u8; QK / 2],
}

/// Q4_1: like Q4_0 with a minimum: value = d · nibble + m.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ4_1 {
    /// Scale.
    pub d: f16,
    /// Minimum.
    pub m: f16,
    /// Packed nibbles (same order as Q4_0).
    pub qs: [u8; QK / 2],
}

/// Q8_1: Q8_0 plus `s = d · Σq` (the activation partner of Q4_1).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ8_1 {
    /// Scale.
    pub d: f16,
    /// d times the sum of `qs`.
    pub s: f16,
    /// Quantized values.
    pub qs: [i8; QK],
}

/// Q6_K: 256 6-bit values in 16 sub-blocks of 16, each with an i8 scale,
/// and one f16 super-block scale. value = d · scale(sub) · (q − 32).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ6K {
    /// Lower 4 bits of each value.
    pub ql: [u8; QK_K / 2],
    /// Upper 2 bits of each value.
    pub qh: [u8; QK_K / 4],
    /// Sub-block scales.
    pub scales: [i8; QK_K / 16],
    /// Super-block scale.
    pub d: f16,
}

/// Q8_K: the activation partner of K-quants: f32 scale, 256 i8 values and
/// the sums of each group of 16 values.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ8K {
    /// Scale.
    pub d: f32,
    /// Quantized values, in [-127, 127].
    pub qs: [i8; QK_K],
    /// Sum of `qs[16*i .. 16*i+16]`.
    pub bsums: [i16; QK_K / 16],
}

// SAFETY: all of these are repr(C), made of integers and f16 (a u16), laid out
// without padding (checked by the size assertions below), and every bit
// pattern is a valid value.
unsafe impl Block for BlockQ8_0 {
    const ELEMS: usize = QK;
}
// SAFETY: see above.
unsafe impl Block for BlockQ4_0 {
    const ELEMS: usize = QK;
}
// SAFETY: see above.
unsafe impl Block for BlockQ4_1 {
    const ELEMS: usize = QK;
}
// SAFETY: see above.
unsafe impl Block for BlockQ8_1 {
    const ELEMS: usize = QK;
}
// SAFETY: see above.
unsafe impl Block for BlockQ6K {
    const ELEMS: usize = QK_K;
}
// SAFETY: see above.
unsafe impl Block for BlockQ8K {
    const ELEMS: usize = QK_K;
}
// SAFETY: see above.
unsafe impl Block for f16 {
    const ELEMS: usize = 1;
}
// SAFETY: see above.
unsafe impl Block for half::bf16 {
    const ELEMS: usize = 1;
}
// SAFETY: see above.
unsafe impl Block for f32 {
    const ELEMS: usize = 1;
}

const _: () = assert!(std::mem::size_of::<BlockQ8_0>() == 34);
const _: () = assert!(std::mem::size_of::<BlockQ4_0>() == 18);
const _: () = assert!(std::mem::size_of::<BlockQ4_1>() == 20);
const _: () = assert!(std::mem::size_of::<BlockQ8_1>() == 36);
const _: () = assert!(std::mem::size_of::<BlockQ6K>() == 210);
const _: () = assert!(std::mem::size_of::<BlockQ8K>() == 292);

/// Views `bytes` as a slice of blocks. `None` when the length is not a
/// multiple of the block size or the start is not aligned for `B`.
pub fn cast_blocks<B: Block>(bytes: &[u8]) -> Option<&[B]> {
    let size = std::mem::size_of::<B>();
    if !bytes.len().is_multiple_of(size)
        || !(bytes.as_ptr() as usize).is_multiple_of(std::mem::align_of::<B>())
    {
        return None;
    }
    // SAFETY: length and alignment were checked above; `B: Block` guarantees
    // every bit pattern is valid and there is no padding; the lifetime is tied
    // to `bytes`.
    Some(unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<B>(), bytes.len() / size) })
}

/// Views `bytes` as a mutable slice of blocks; `None` as [`cast_blocks`].
pub fn cast_blocks_mut<B: Block>(bytes: &mut [u8]) -> Option<&mut [B]> {
    let size = std::mem::size_of::<B>();
    if !bytes.len().is_multiple_of(size)
        || !(bytes.as_ptr() as usize).is_multiple_of(std::mem::align_of::<B>())
    {
        return None;
    }
    // SAFETY: as in `cast_blocks`; the exclusive borrow of `bytes` is moved
    // into the result, and any bytes written through it are a valid `u8`.
    Some(unsafe {
        std::slice::from_raw_parts_mut(bytes.as_mut_ptr().cast::<B>(), bytes.len() / size)
    })
}

/// Views a slice of blocks as its raw bytes.
pub fn block_bytes<B: Block>(blocks: &[B]) -> &[u8] {
    // SAFETY: `B: Block` has no padding, so every byte is initialized; u8 has
    // alignment 1 and the length is the slice's size in bytes.
    unsafe {
        std::slice::from_raw_parts(blocks.as_ptr().cast::<u8>(), std::mem::size_of_val(blocks))
    }
}
