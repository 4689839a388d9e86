//! Q2_K × Q8_K on x86_64 (default numerics): AVX2 (also run by the AVX-512
//! path without VNNI) and AVX-512 VNNI: single rows, 4 activation rows and
//! 8-row tiles, from the shared core of [`super::kq_rows`]: exact integer
//! block sums, then the scalar reference's per-block float sequence
//! ([`crate::quants::q2_k::dot_q2k_q8k`]): the scalar bits.

use super::kq_rows::{kq_kernels_with_mins, Unpacked};
use crate::quants::q2_k::BlockQ2K;
use std::arch::x86_64::*;

/// The 2-bit levels of the two 32-byte halves of `qs` (element
/// 128h + 32j + l in bits 2j..2j+1 of byte 32h + l), group 4h + j.
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn two_bit_levels(qs: &[u8; 64]) -> [__m256i; 8] {
    let m3 = _mm256_set1_epi8(3);
    let mut q = [_mm256_setzero_si256(); 8];
    for h in 0..2 {
        // SAFETY: qs holds 64 bytes; a 32-byte load at 32h (< 64).
        let raw = unsafe { _mm256_loadu_si256(qs.as_ptr().add(32 * h).cast()) };
        for j in 0..4 {
            let s = _mm256_srl_epi16(raw, _mm_cvtsi32_si128(2 * j as i32));
            q[4 * h + j] = _mm256_and_si256(s, m3);
        }
    }
    q
}

/// The levels, 4-bit scales and 4-bit minimums of a block.
#[target_feature(enable = "avx2")]
#[inline]
fn unpack(w: &BlockQ2K) -> Unpacked {
    // SAFETY: scales holds 16 bytes; unaligned load.
    let s = unsafe { _mm_loadu_si128(w.scales.as_ptr().cast()) };
    let m4 = _mm_set1_epi8(0xF);
    Unpacked {
        q: two_bit_levels(&w.qs),
        sc: _mm256_cvtepu8_epi16(_mm_and_si128(s, m4)),
        m: _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16::<4>(s), m4)),
    }
}

kq_kernels_with_mins!(BlockQ2K, unpack);
