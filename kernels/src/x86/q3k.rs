//! Q3_K × Q8_K on x86_64 (default numerics): AVX2 (also run by the AVX-512
//! path without VNNI) and AVX-512 VNNI, single rows and 4 activation rows,
//! from the shared core of [`super::kq_rows`]: exact integer block sums,
//! then the scalar reference's per-block float sequence
//! ([`crate::quants::q3_k::dot_q3k_q8k`]): the scalar bits. The levels are
//! taken unsigned, u = q + 4 (0..7), so Σ q·x = Σ u·x − 4·bsum per
//! sub-block.

use super::kq_rows::{kq_kernels, Unpacked};
use super::q2k::two_bit_levels;
use crate::blocks::BlockQ8K;
use crate::quants::q3_k::BlockQ3K;
use std::arch::x86_64::*;

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
    let sc: [i16; 16] = std::array::from_fn(|s| i16::from(w.scale(s)));
    // SAFETY: `sc` holds 16 i16 = 32 bytes; unaligned load.
    let sc = unsafe { _mm256_loadu_si256(sc.as_ptr().cast()) };
    Unpacked { q, sc, m: sc }
}

/// acc + (d_x·d_w)·f32(Σ u·x − 4·Σ sc·bsum), the reference's step.
#[inline(always)]
fn step(acc: f32, w: &BlockQ3K, x: &BlockQ8K, (a, b): (i32, i32)) -> f32 {
    acc + x.d * w.d.to_f32() * (a - 4 * b) as f32
}

kq_kernels!(BlockQ3K, unpack, step);
