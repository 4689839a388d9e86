//! Q5_0 × Q8_0 on x86_64 with AVX2 (also run by the AVX-512 path without
//! VNNI) and AVX-512 VNNI, single rows, 4 activation rows and 2 weight rows,
//! in the lane order of [`crate::quants::q5_0::dot_q5_0_q8_0`]: eight i32
//! lanes of four consecutive products per block, one FMA per lane and block,
//! the horizontal sum of [`crate::scalar::hsum8`]. Same bits as the scalar.
//! Also holds the helpers the other 32-element types share.

use crate::blocks::BlockQ8_0;
use crate::quants::q5_0::BlockQ5_0;
use std::arch::x86_64::*;

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

/// Eight i32 lanes as [`lanes_i8`] with one VNNI `vpdpbusd` (|w| times x
/// with w's sign; exact for x in [−127, 127]).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(crate) fn vnni_lanes_i8(w: __m256i, x: __m256i) -> __m256i {
    _mm256_dpbusd_epi32(
        _mm256_setzero_si256(),
        _mm256_sign_epi8(w, w),
        _mm256_sign_epi8(x, w),
    )
}

/// Eight i32 lanes as [`lanes_u8`] with one VNNI `vpdpbusd`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(crate) fn vnni_lanes_u8(w: __m256i, x: __m256i) -> __m256i {
    _mm256_dpbusd_epi32(_mm256_setzero_si256(), w, x)
}

/// The 32 levels − 16 of a Q5_0 block.
#[target_feature(enable = "avx2")]
fn levels(b: &BlockQ5_0) -> __m256i {
    let q = _mm256_or_si256(nibbles(&b.qs), fifth_bits(b.qh));
    _mm256_sub_epi8(q, _mm256_set1_epi8(16))
}

super::block_macros::blocks8_kernels!(
    BlockQ5_0,
    BlockQ8_0,
    crate::scalar::quantize_act_q8_0,
    levels,
    lanes_i8,
    vnni_lanes_i8
);
