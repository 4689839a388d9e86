//! Q5_0 × Q8_0 on x86_64 with AVX2 (also run by the AVX-512 paths), in
//! the lane order of [`crate::quants::q5_0::dot_q5_0_q8_0`]: eight i32 lanes
//! of four consecutive products per block, one FMA per lane and block, the
//! horizontal sum of [`crate::scalar::hsum8`]. Same bits as the scalar.
//! Also holds the helpers the other 32-element types share.

use crate::blocks::BlockQ8_0;
use crate::quants::q5_0::BlockQ5_0;
use std::arch::x86_64::*;

/// [`crate::scalar::hsum8`] of the lanes of `v`: (l0+l4, l1+l5, l2+l6,
/// l3+l7), then (t0+t2) + (t1+t3).
#[target_feature(enable = "avx2")]
pub(crate) fn hsum8(v: __m256) -> f32 {
    let t = _mm_add_ps(_mm256_extractf128_ps::<1>(v), _mm256_castps256_ps128(v));
    let t = _mm_add_ps(t, _mm_movehl_ps(t, t));
    let t = _mm_add_ss(t, _mm_movehdup_ps(t));
    _mm_cvtss_f32(t)
}

/// Eight i32 lanes, lane L = Σ of the products of bytes 4L..4L+3 of the
/// signed vectors `w` and `x` (exact: |w| ≤ 127 and |x| ≤ 127 keep the
/// `maddubs` pairs within i16).
#[target_feature(enable = "avx2")]
pub(crate) fn lanes_i8(w: __m256i, x: __m256i) -> __m256i {
    let p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
    _mm256_madd_epi16(p, _mm256_set1_epi16(1))
}

/// Eight i32 lanes as [`lanes_i8`] for unsigned `w` (≤ 31).
#[target_feature(enable = "avx2")]
pub(crate) fn lanes_u8(w: __m256i, x: __m256i) -> __m256i {
    _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), _mm256_set1_epi16(1))
}

/// The 32 nibbles of `qs` in element order (low nibbles, then high).
#[target_feature(enable = "avx2")]
pub(crate) fn nibbles(qs: &[u8; 16]) -> __m256i {
    // SAFETY: `qs` holds 16 bytes; unaligned load.
    let t = unsafe { _mm_loadu_si128(qs.as_ptr().cast()) };
    let both = _mm256_set_m128i(_mm_srli_epi16::<4>(t), t);
    _mm256_and_si256(both, _mm256_set1_epi8(0xF))
}

/// 0x10 in byte j where bit j of `qh` (little-endian) is set, else 0.
#[target_feature(enable = "avx2")]
pub(crate) fn fifth_bits(qh: [u8; 4]) -> __m256i {
    let bits = u32::from_le_bytes(qh) as i32;
    let shuf = _mm256_set_epi64x(
        0x0303_0303_0303_0303,
        0x0202_0202_0202_0202,
        0x0101_0101_0101_0101,
        0,
    );
    let bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(bits), shuf);
    let mask = _mm256_set1_epi64x(0x8040_2010_0804_0201u64 as i64);
    let set = _mm256_cmpeq_epi8(_mm256_and_si256(bytes, mask), mask);
    _mm256_and_si256(set, _mm256_set1_epi8(0x10))
}

/// The 32 activation bytes of a block.
#[target_feature(enable = "avx2")]
pub(crate) fn load32(qs: &[i8; 32]) -> __m256i {
    // SAFETY: `qs` holds 32 bytes; unaligned load.
    unsafe { _mm256_loadu_si256(qs.as_ptr().cast()) }
}

/// The 32 levels − 16 of a Q5_0 block.
#[target_feature(enable = "avx2")]
fn levels(b: &BlockQ5_0) -> __m256i {
    let q = _mm256_or_si256(nibbles(&b.qs), fifth_bits(b.qh));
    _mm256_sub_epi8(q, _mm256_set1_epi8(16))
}

#[target_feature(enable = "avx2,fma")]
fn dot_avx2(w: &[BlockQ5_0], x: &[BlockQ8_0]) -> f32 {
    assert_eq!(w.len(), x.len());
    let mut acc = _mm256_setzero_ps();
    for (wb, xb) in w.iter().zip(x) {
        let d = _mm256_set1_ps(wb.d.to_f32() * xb.d.to_f32());
        let l = _mm256_cvtepi32_ps(lanes_i8(levels(wb), load32(&xb.qs)));
        acc = _mm256_fmadd_ps(d, l, acc);
    }
    hsum8(acc)
}

/// Σ w·x over a Q5_0 row and a Q8_0 row, the bits of the scalar reference.
/// Placed only in kernel tables built after AVX2 + FMA detection.
pub(crate) fn dot_q5_0_q8_0(w: &[BlockQ5_0], x: &[BlockQ8_0]) -> f32 {
    // SAFETY: only handed out by constructors that take the AVX2 detection
    // token.
    unsafe { dot_avx2(w, x) }
}
