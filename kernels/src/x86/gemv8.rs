//! Pieces shared by the 8-row single-token kernels (`gemv_*.rs`): the
//! prefetch of the next 8 rows, the loads of the 8 rows' scales and a
//! broadcast horizontal sum.

use core::arch::x86_64::*;

/// The first byte of 8 weight rows of `n` blocks each, stored back to back
/// in `w`, and the bytes of one row.
///
/// # Panics
/// When `w` is not 8 rows of `n` blocks.
#[inline]
pub(crate) fn rows8<W>(w: &[W], n: usize) -> (*const u8, usize) {
    assert_eq!(
        w.len(),
        8 * n,
        "dot8: weights are not 8 rows of the activation's length"
    );
    (w.as_ptr().cast(), n * std::mem::size_of::<W>())
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

/// The 4 bytes at `first + r · row_bytes` for each of the 8 rows, lane r.
/// Eight scalar loads: on Zen 4 they measured faster than one
/// `vpgatherdd` (Q4_0: 0.45 against 0.54 ns per row and block in cache).
///
/// # Safety
/// Each `first + r · row_bytes` (r < 8) must be valid for a 4-byte read;
/// the CPU must support AVX2.
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) unsafe fn load_words(first: *const u8, row_bytes: usize) -> __m256i {
    // SAFETY: the caller guarantees every 4-byte read is in bounds.
    let w = |r: usize| unsafe { first.add(r * row_bytes).cast::<i32>().read_unaligned() };
    _mm256_setr_epi32(w(0), w(1), w(2), w(3), w(4), w(5), w(6), w(7))
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
/// `first + r · row_bytes`, as f32.
///
/// # Safety
/// Each `first + r · row_bytes` (r < 8) must be valid for a 2-byte read;
/// the CPU must support AVX2 and F16C.
#[target_feature(enable = "avx2,f16c")]
#[inline]
pub(crate) unsafe fn load_scales(first: *const u8, row_bytes: usize) -> __m256 {
    // SAFETY: the caller guarantees every 2-byte read is in bounds.
    let h = |r: usize| unsafe { first.add(r * row_bytes).cast::<i16>().read_unaligned() };
    _mm256_cvtph_ps(_mm_setr_epi16(
        h(0),
        h(1),
        h(2),
        h(3),
        h(4),
        h(5),
        h(6),
        h(7),
    ))
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
