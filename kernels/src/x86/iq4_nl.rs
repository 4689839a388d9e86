//! IQ4_NL × Q8_0 on x86_64 with AVX2 (also run by the AVX-512 paths), in
//! the order of [`crate::quants::iq4_nl::dot_iq4_nl_q8_0`]: same bits as
//! the scalar.

use super::q5_0::{hsum8, lanes_i8, load32, nibbles};
use crate::blocks::BlockQ8_0;
use crate::quants::iq4_nl::{BlockIq4Nl, IQ4_NL_LEVELS};
use std::arch::x86_64::*;

#[target_feature(enable = "avx2,fma")]
fn dot_avx2(w: &[BlockIq4Nl], x: &[BlockQ8_0]) -> f32 {
    assert_eq!(w.len(), x.len());
    // SAFETY: the table holds 16 bytes; unaligned load.
    let t = unsafe { _mm_loadu_si128(IQ4_NL_LEVELS.as_ptr().cast()) };
    let lut = _mm256_set_m128i(t, t);
    let mut acc = _mm256_setzero_ps();
    for (wb, xb) in w.iter().zip(x) {
        let q = _mm256_shuffle_epi8(lut, nibbles(&wb.qs));
        let d = _mm256_set1_ps(wb.d.to_f32() * xb.d.to_f32());
        let l = _mm256_cvtepi32_ps(lanes_i8(q, load32(&xb.qs)));
        acc = _mm256_fmadd_ps(d, l, acc);
    }
    hsum8(acc)
}

/// Σ w·x over an IQ4_NL row and a Q8_0 row, the bits of the scalar
/// reference. Placed only in kernel tables built after AVX2 + FMA detection.
pub(crate) fn dot_iq4_nl_q8_0(w: &[BlockIq4Nl], x: &[BlockQ8_0]) -> f32 {
    // SAFETY: only handed out by constructors that take the AVX2 detection
    // token.
    unsafe { dot_avx2(w, x) }
}
