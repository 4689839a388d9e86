//! Q5_1 × Q8_1 on x86_64 with AVX2 (also run by the AVX-512 paths), in the
//! order of [`crate::quants::q5_1::dot_q5_1_q8_1`]: same bits as the scalar.

use super::q5_0::{fifth_bits, hsum8, lanes_u8, load32, nibbles};
use crate::blocks::BlockQ8_1;
use crate::quants::q5_1::BlockQ5_1;
use std::arch::x86_64::*;

#[target_feature(enable = "avx2,fma")]
fn dot_avx2(w: &[BlockQ5_1], x: &[BlockQ8_1]) -> f32 {
    assert_eq!(w.len(), x.len());
    let mut acc = _mm256_setzero_ps();
    let mut summs = 0f32;
    for (wb, xb) in w.iter().zip(x) {
        summs = wb.m.to_f32().mul_add(xb.s.to_f32(), summs);
        let q = _mm256_or_si256(nibbles(&wb.qs), fifth_bits(wb.qh));
        let d = _mm256_set1_ps(wb.d.to_f32() * xb.d.to_f32());
        let l = _mm256_cvtepi32_ps(lanes_u8(q, load32(&xb.qs)));
        acc = _mm256_fmadd_ps(d, l, acc);
    }
    hsum8(acc) + summs
}

/// Σ w·x over a Q5_1 row and a Q8_1 row, the bits of the scalar reference.
/// Placed only in kernel tables built after AVX2 + FMA detection.
pub(crate) fn dot_q5_1_q8_1(w: &[BlockQ5_1], x: &[BlockQ8_1]) -> f32 {
    // SAFETY: only handed out by constructors that take the AVX2 detection
    // token.
    unsafe { dot_avx2(w, x) }
}
