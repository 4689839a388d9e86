//! Q5_K × Q8_K on x86_64 with AVX2 (also run by the AVX-512 paths): exact
//! integer block sums with vector instructions, then the scalar reference's
//! per-block float sequence ([`crate::quants::q5_k::dot_q5k_q8k`]): the
//! scalar bits.

use super::q4k::hsum_i32;
use crate::blocks::BlockQ8K;
use crate::quants::q5_k::BlockQ5K;
use crate::quants::scale_min_k4;
use std::arch::x86_64::*;

/// Exact (Σ_j sc_j·Σ q·x, Σ_j m_j·bsum_j) of one super-block pair
/// (`maddubs` pairs stay within i16: 2·31·127).
#[target_feature(enable = "avx2")]
fn block_sums(w: &BlockQ5K, x: &BlockQ8K) -> (i32, i32) {
    let m4 = _mm256_set1_epi8(0xF);
    let one = _mm256_set1_epi8(1);
    // SAFETY: qh holds 32 bytes; unaligned load.
    let qh = unsafe { _mm256_loadu_si256(w.qh.as_ptr().cast()) };
    let mut acc = _mm256_setzero_si256();
    let mut summ = 0i32;
    for c in 0..4 {
        let (s0, m0) = scale_min_k4(2 * c, &w.scales);
        let (s1, m1) = scale_min_k4(2 * c + 1, &w.scales);
        summ += i32::from(m0) * (i32::from(x.bsums[4 * c]) + i32::from(x.bsums[4 * c + 1]));
        summ += i32::from(m1) * (i32::from(x.bsums[4 * c + 2]) + i32::from(x.bsums[4 * c + 3]));
        // SAFETY: qs holds 128 bytes and x.qs 256; loads of 32 bytes at
        // 32c (< 128) and 64c, 64c + 32 (< 256); unaligned.
        let (q, x0, x1) = unsafe {
            (
                _mm256_loadu_si256(w.qs.as_ptr().add(32 * c).cast()),
                _mm256_loadu_si256(x.qs.as_ptr().add(64 * c).cast()),
                _mm256_loadu_si256(x.qs.as_ptr().add(64 * c + 32).cast()),
            )
        };
        let h0 = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * c as i32)), one);
        let h1 = _mm256_and_si256(
            _mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * c as i32 + 1)),
            one,
        );
        let lo = _mm256_or_si256(_mm256_and_si256(q, m4), _mm256_slli_epi16::<4>(h0));
        let hi = _mm256_or_si256(
            _mm256_and_si256(_mm256_srli_epi16::<4>(q), m4),
            _mm256_slli_epi16::<4>(h1),
        );
        let p0 = _mm256_madd_epi16(
            _mm256_maddubs_epi16(lo, x0),
            _mm256_set1_epi16(i16::from(s0)),
        );
        let p1 = _mm256_madd_epi16(
            _mm256_maddubs_epi16(hi, x1),
            _mm256_set1_epi16(i16::from(s1)),
        );
        acc = _mm256_add_epi32(acc, _mm256_add_epi32(p0, p1));
    }
    (hsum_i32(acc), summ)
}

#[target_feature(enable = "avx2,fma")]
fn dot_avx2(w: &[BlockQ5K], x: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), x.len());
    let mut acc = 0f32;
    for (wb, xb) in w.iter().zip(x) {
        let (sumi, summ) = block_sums(wb, xb);
        acc += xb.d * wb.d.to_f32() * sumi as f32 - xb.d * wb.dmin.to_f32() * summ as f32;
    }
    acc
}

/// Σ w·x over a Q5_K row and a Q8_K row, the bits of the scalar reference.
/// Placed only in kernel tables built after AVX2 + FMA detection.
pub(crate) fn dot_q5k_q8k(w: &[BlockQ5K], x: &[BlockQ8K]) -> f32 {
    // SAFETY: only handed out by constructors that take the AVX2 detection
    // token.
    unsafe { dot_avx2(w, x) }
}
