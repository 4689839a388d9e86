//! Q5_K × Q8_K on x86_64 (default numerics): AVX2 (also run by the AVX-512
//! path without VNNI) and AVX-512 VNNI: single rows, 4 activation rows and
//! 8-row tiles, from the shared core of [`super::kq_rows`]: exact integer
//! block sums, then the scalar reference's per-block float sequence
//! ([`crate::quants::q5_k::dot_q5k_q8k`]): the scalar bits.

use super::kq_rows::{kq_kernels_with_mins, Unpacked};
use super::q4k_vnni::scales_mins_i16;
use crate::quants::q5_k::BlockQ5K;
use std::arch::x86_64::*;

/// The 256 levels (0..=31), the scales and the minimums of a block (each
/// 32-element scale and minimum serves two 16-element sub-blocks).
#[target_feature(enable = "avx2")]
#[inline]
fn unpack(w: &BlockQ5K) -> Unpacked {
    let m4 = _mm256_set1_epi8(0xF);
    let one = _mm256_set1_epi8(1);
    // SAFETY: qh holds 32 bytes; unaligned load.
    let qh = unsafe { _mm256_loadu_si256(w.qh.as_ptr().cast()) };
    let fifth = |bit: i32| {
        let b = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(bit)), one);
        _mm256_slli_epi16::<4>(b)
    };
    let mut q = [_mm256_setzero_si256(); 8];
    for c in 0..4 {
        // SAFETY: qs holds 128 bytes; a 32-byte load at 32c (< 128).
        let raw = unsafe { _mm256_loadu_si256(w.qs.as_ptr().add(32 * c).cast()) };
        q[2 * c] = _mm256_or_si256(_mm256_and_si256(raw, m4), fifth(2 * c as i32));
        let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(raw), m4);
        q[2 * c + 1] = _mm256_or_si256(hi, fifth(2 * c as i32 + 1));
    }
    let sm = scales_mins_i16(&w.scales);
    let twice = |v: __m128i| _mm256_set_m128i(_mm_unpackhi_epi16(v, v), _mm_unpacklo_epi16(v, v));
    Unpacked {
        q,
        sc: twice(_mm256_castsi256_si128(sm)),
        m: twice(_mm256_extracti128_si256::<1>(sm)),
    }
}

kq_kernels_with_mins!(BlockQ5K, unpack);
