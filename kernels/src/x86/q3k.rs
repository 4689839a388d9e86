//! Q3_K and Q2_K × Q8_K on x86_64 with AVX2 (also run by the AVX-512
//! paths): exact integer block sums with vector instructions, then the
//! scalar reference's per-block float sequence
//! ([`crate::quants::q3_k::dot_q3k_q8k`], [`crate::quants::q2_k::dot_q2k_q8k`]):
//! the scalar bits. Both share the 2-bit packing (element 128h + 32j + l
//! in bits 2j..2j+1 of byte 32h + l) and 16-element sub-blocks.

use super::q4k::hsum_i32;
use crate::blocks::BlockQ8K;
use crate::quants::q2_k::BlockQ2K;
use crate::quants::q3_k::BlockQ3K;
use std::arch::x86_64::*;

/// i16 scale vector for one 32-element group: `a` for the first 16
/// elements, `b` for the next 16.
#[target_feature(enable = "avx2")]
fn pair_scales(a: i16, b: i16) -> __m256i {
    _mm256_set_m128i(_mm_set1_epi16(b), _mm_set1_epi16(a))
}

/// Σ over the 8 groups of 32 of scale·Σ u·x, with u the unsigned levels
/// given by `levels(h, j)` (group 4h + j) and scales from `scale(s)`
/// (sub-block s of 16). Exact: u ≤ 7 keeps `maddubs` pairs within i16.
#[target_feature(enable = "avx2")]
fn grouped_sum(
    qs: &[u8; 64],
    x: &BlockQ8K,
    extra: impl Fn(usize, usize) -> __m256i,
    scale: impl Fn(usize) -> i16,
) -> i32 {
    let m3 = _mm256_set1_epi8(3);
    let mut acc = _mm256_setzero_si256();
    for h in 0..2 {
        // SAFETY: qs holds 64 bytes; a 32-byte load at 32h (< 64).
        let q = unsafe { _mm256_loadu_si256(qs.as_ptr().add(32 * h).cast()) };
        for j in 0..4 {
            let g = 4 * h + j;
            let low = _mm256_and_si256(_mm256_srl_epi16(q, _mm_cvtsi32_si128(2 * j as i32)), m3);
            let u = _mm256_or_si256(low, extra(h, j));
            // SAFETY: x.qs holds 256 bytes; a 32-byte load at 32g (< 256).
            let xv = unsafe { _mm256_loadu_si256(x.qs.as_ptr().add(32 * g).cast()) };
            let p = _mm256_maddubs_epi16(u, xv);
            let s = pair_scales(scale(2 * g), scale(2 * g + 1));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, s));
        }
    }
    hsum_i32(acc)
}

/// Exact Σ_s scale_s·Σ q·x of a Q3_K block pair: with u = q + 4 (0..7),
/// Σ q·x = Σ u·x − 4·bsum.
#[target_feature(enable = "avx2")]
fn block_sum_q3k(w: &BlockQ3K, x: &BlockQ8K) -> i32 {
    // SAFETY: hmask holds 32 bytes; unaligned load.
    let hm = unsafe { _mm256_loadu_si256(w.hmask.as_ptr().cast()) };
    let one = _mm256_set1_epi8(1);
    let sc: [i16; 16] = std::array::from_fn(|s| i16::from(w.scale(s)));
    let high = |h: usize, j: usize| {
        let bit = _mm256_and_si256(
            _mm256_srl_epi16(hm, _mm_cvtsi32_si128((4 * h + j) as i32)),
            one,
        );
        _mm256_slli_epi16::<2>(bit)
    };
    let sum_u = grouped_sum(&w.qs, x, high, |s| sc[s]);
    let corr: i32 = (0..16)
        .map(|s| i32::from(sc[s]) * i32::from(x.bsums[s]))
        .sum();
    sum_u - 4 * corr
}

#[target_feature(enable = "avx2,fma")]
fn dot_q3k_avx2(w: &[BlockQ3K], x: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), x.len());
    let mut acc = 0f32;
    for (wb, xb) in w.iter().zip(x) {
        acc += xb.d * wb.d.to_f32() * block_sum_q3k(wb, xb) as f32;
    }
    acc
}

#[target_feature(enable = "avx2,fma")]
fn dot_q2k_avx2(w: &[BlockQ2K], x: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), x.len());
    let mut acc = 0f32;
    for (wb, xb) in w.iter().zip(x) {
        let zero = |_: usize, _: usize| _mm256_setzero_si256();
        let sumi = grouped_sum(&wb.qs, xb, zero, |s| i16::from(wb.scales[s] & 0xF));
        let summ: i32 = (0..16)
            .map(|s| i32::from(wb.scales[s] >> 4) * i32::from(xb.bsums[s]))
            .sum();
        acc += xb.d * wb.d.to_f32() * sumi as f32 - xb.d * wb.dmin.to_f32() * summ as f32;
    }
    acc
}

/// Σ w·x over a Q3_K row and a Q8_K row, the bits of the scalar reference.
/// Placed only in kernel tables built after AVX2 + FMA detection.
pub(crate) fn dot_q3k_q8k(w: &[BlockQ3K], x: &[BlockQ8K]) -> f32 {
    // SAFETY: only handed out by constructors that take the AVX2 detection
    // token.
    unsafe { dot_q3k_avx2(w, x) }
}

/// Σ w·x over a Q2_K row and a Q8_K row, the bits of the scalar reference.
/// Same placement rule.
pub(crate) fn dot_q2k_q8k(w: &[BlockQ2K], x: &[BlockQ8K]) -> f32 {
    // SAFETY: as in `dot_q3k_q8k`.
    unsafe { dot_q2k_avx2(w, x) }
}
