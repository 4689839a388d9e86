//! Pieces shared by the 8-row single-token kernels (`gemv_*.rs`): the
//! rows' byte offsets for gathers, the prefetch of the next 8 rows, the
//! scale gather and a broadcast horizontal sum.

use core::arch::x86_64::*;

/// Lane r = r · `row_bytes`: the offsets of 8 rows stored back to back,
/// for 32-bit gathers.
///
/// # Panics
/// When the offsets do not fit in i32 (rows of over 300 MB).
#[target_feature(enable = "avx2")]
pub(crate) fn row_offsets(row_bytes: usize) -> __m256i {
    let rb = i32::try_from(row_bytes)
        .ok()
        .filter(|rb| rb.checked_mul(7).is_some());
    let Some(rb) = rb else {
        panic!("dot8: row of {row_bytes} bytes too long for the gather");
    };
    _mm256_setr_epi32(0, rb, 2 * rb, 3 * rb, 4 * rb, 5 * rb, 6 * rb, 7 * rb)
}

/// Prefetches `LINES` cache lines at `base + tile_bytes + 8 · step_bytes`:
/// called at each block position i with `step_bytes` = i · block bytes, it
/// sweeps the next 8 rows (which follow these in the map) at 8 blocks per
/// step, so they are in cache when this tile ends; eight interleaved row
/// streams defeat the hardware prefetcher. A prefetch never faults, so an
/// address past the weights is harmless.
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) fn prefetch_next_rows<const LINES: usize>(
    base: *const u8,
    tile_bytes: usize,
    step_bytes: usize,
) {
    let next = base.wrapping_add(tile_bytes + 8 * step_bytes).cast::<i8>();
    for line in 0..LINES {
        _mm_prefetch::<_MM_HINT_T0>(next.wrapping_add(64 * line));
    }
}

/// The 4 bytes at `first + offsets[r]` for each of the 8 rows (one
/// gather).
///
/// # Safety
/// Each `first + offsets[r]` must be valid for a 4-byte read; the CPU must
/// support AVX2.
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) unsafe fn gather_words(first: *const u8, offsets: __m256i) -> __m256i {
    // SAFETY: the caller guarantees every 4-byte read is in bounds.
    unsafe { _mm256_i32gather_epi32::<1>(first.cast(), offsets) }
}

/// The f16 in the low (`HIGH` = false) or high half of each 32-bit lane,
/// as f32.
#[target_feature(enable = "avx512f,avx512vl,avx2,f16c")]
#[inline]
pub(crate) fn f16_halves<const HIGH: bool>(words: __m256i) -> __m256 {
    let w = if HIGH {
        _mm256_srli_epi32::<16>(words)
    } else {
        words
    };
    _mm256_cvtph_ps(_mm256_cvtepi32_epi16(w))
}

/// The 8 rows' f16 scales, each the first 2 bytes of its block at
/// `first + offsets[r]`, as f32.
///
/// # Safety
/// Each `first + offsets[r]` must be valid for a 4-byte read (a block of
/// more than 4 bytes starts there); the CPU must support AVX-512 F/VL and
/// F16C.
#[target_feature(enable = "avx512f,avx512vl,avx2,f16c")]
#[inline]
pub(crate) unsafe fn gather_scales(first: *const u8, offsets: __m256i) -> __m256 {
    // SAFETY: the caller guarantees every 4-byte read is in bounds.
    f16_halves::<false>(unsafe { gather_words(first, offsets) })
}

/// Σ of the 8 i32 lanes of `v`, in every lane (exact, wrapping).
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) fn hsum_broadcast(v: __m256i) -> __m256i {
    let t = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let t = _mm_add_epi32(t, _mm_shuffle_epi32::<0x4E>(t));
    let t = _mm_add_epi32(t, _mm_shuffle_epi32::<0xB1>(t));
    _mm256_broadcastd_epi32(t)
}
