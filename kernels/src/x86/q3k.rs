//! Q3_K × Q8_K on x86_64 (default numerics): AVX2 (also run by the AVX-512
//! path without VNNI) and AVX-512 VNNI: single rows, 4 activation rows and
//! 8-row tiles, from the shared core of [`super::kq_rows`]: exact integer
//! block sums, then the scalar reference's per-block float sequence
//! ([`crate::quants::q3_k::dot_q3k_q8k`]): the scalar bits. The levels are
//! taken unsigned, u = q + 4 (0..7), so Σ q·x = Σ u·x − 4·bsum per
//! sub-block.

use super::avx2::imp::{f16_to_f32, f16x8};
use super::kq_rows::{kq_kernels, Unpacked};
use super::q2k::two_bit_levels;
use crate::blocks::BlockQ8K;
use crate::quants::q3_k::BlockQ3K;
use std::arch::x86_64::*;

/// The sixteen signed scales (−32..=31) of [`BlockQ3K::scale`] as i16:
/// low nibbles from bytes 0..8 (sub-blocks 0..8 low, 8..16 high), the two
/// high bits of sub-block s from byte 8 + s mod 4 at bit 2·(s / 4).
#[target_feature(enable = "avx2")]
#[inline]
fn scales(w: &BlockQ3K) -> __m256i {
    const AT: usize = core::mem::offset_of!(BlockQ3K, scales);
    const { assert!(AT >= 4) };
    // SAFETY: 16 bytes from AT − 4 end with the 12 scale bytes, inside the
    // block (the pointer comes from the whole block); unaligned load.
    let v = unsafe { _mm_loadu_si128((w as *const BlockQ3K).cast::<u8>().add(AT - 4).cast()) };
    // Bytes 0..12: the scales; 12..16: zero.
    let v = _mm_srli_si128::<4>(v);
    let m4 = _mm_set1_epi8(0xF);
    let low = _mm_unpacklo_epi64(
        _mm_and_si128(v, m4),
        _mm_and_si128(_mm_srli_epi16::<4>(v), m4),
    );
    // Byte s = packed[8 + s % 4], shifted right by 2·(s / 4).
    let t = _mm_shuffle_epi8(v, _mm_set1_epi32(0x0B0A_0908));
    let t = _mm_blend_epi32::<0b0010>(t, _mm_srli_epi16::<2>(t));
    let t = _mm_blend_epi32::<0b0100>(t, _mm_srli_epi16::<4>(t));
    let t = _mm_blend_epi32::<0b1000>(t, _mm_srli_epi16::<6>(t));
    let high = _mm_slli_epi16::<4>(_mm_and_si128(t, _mm_set1_epi8(3)));
    let sc = _mm_sub_epi8(_mm_or_si128(low, high), _mm_set1_epi8(32));
    _mm256_cvtepi8_epi16(sc)
}

/// The unsigned levels u = q + 4 (the high bit of `hmask` adds 4) and the
/// signed scales (also the factors of the bsums correction).
#[target_feature(enable = "avx2")]
#[inline]
fn unpack(w: &BlockQ3K) -> Unpacked {
    // SAFETY: hmask holds 32 bytes; unaligned load.
    let hm = unsafe { _mm256_loadu_si256(w.hmask.as_ptr().cast()) };
    let one = _mm256_set1_epi8(1);
    let mut q = two_bit_levels(&w.qs);
    for (g, qg) in q.iter_mut().enumerate() {
        let bit = _mm256_and_si256(_mm256_srl_epi16(hm, _mm_cvtsi32_si128(g as i32)), one);
        *qg = _mm256_or_si256(*qg, _mm256_slli_epi16::<2>(bit));
    }
    let sc = scales(w);
    Unpacked { q, sc, m: sc }
}

/// acc + (d_x·d_w)·f32(Σ u·x − 4·Σ sc·bsum), the reference's step.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn step(acc: f32, w: &BlockQ3K, x: &BlockQ8K, (a, b): (i32, i32)) -> f32 {
    acc + x.d * f16_to_f32(w.d) * (a - 4 * b) as f32
}

/// d of eight blocks (lane = row); the second vector is unused.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn scales8(w: [&BlockQ3K; 8]) -> [__m256; 2] {
    [f16x8(std::array::from_fn(|r| w[r].d)), _mm256_setzero_ps()]
}

/// [`step`] for eight weight rows (lane = row), the same IEEE operations in
/// the same order.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn step8(acc: __m256, [d, _]: &[__m256; 2], xd: f32, (a, b): (__m256i, __m256i)) -> __m256 {
    let sumi = _mm256_sub_epi32(a, _mm256_slli_epi32::<2>(b));
    let p = _mm256_mul_ps(
        _mm256_mul_ps(_mm256_set1_ps(xd), *d),
        _mm256_cvtepi32_ps(sumi),
    );
    _mm256_add_ps(acc, p)
}

kq_kernels!(BlockQ3K, unpack, step, scales8, step8);
