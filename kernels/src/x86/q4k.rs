//! Q4_K × Q8_K on x86_64 with AVX2 (also run by the AVX-512 paths): the
//! exact integer sums of each super-block with vector instructions, then the
//! scalar reference's per-block float sequence, so every result has the
//! scalar bits ([`crate::quants::q4_k::dot_q4k_q8k`]).

use super::{gemv_q4k, q4k_tile, q4k_vnni};
use crate::blocks::{BlockQ8K, QK_K};
use crate::cpu::{Avx2, Avx512, Avx512Vnni};
use crate::quant::RowKernels;
use crate::quants::q4_k::BlockQ4K;
use crate::quants::scale_min_k4;
use std::arch::x86_64::*;

/// Σ of the eight i32 lanes of `v`.
#[target_feature(enable = "avx2")]
pub(crate) fn hsum_i32(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01>(s));
    _mm_cvtsi128_si32(s)
}

/// The per-sub-block scales (as i16, broadcast) and the exact minimum sum
/// Σ_j m_j·(bsums[2j] + bsums[2j+1]) of one block pair.
#[inline]
fn scales_and_min_sum(w: &BlockQ4K, x: &BlockQ8K) -> ([i16; 8], i32) {
    let mut sc = [0i16; 8];
    let mut summ = 0i32;
    for (j, s) in sc.iter_mut().enumerate() {
        let (a, m) = scale_min_k4(j, &w.scales);
        *s = i16::from(a);
        summ += i32::from(m) * (i32::from(x.bsums[2 * j]) + i32::from(x.bsums[2 * j + 1]));
    }
    (sc, summ)
}

/// Exact Σ_j sc_j·Σ q·x of one super-block pair (sc from
/// [`scales_and_min_sum`]): `maddubs` pairs stay within i16 (2·15·127).
#[target_feature(enable = "avx2")]
fn block_sumi(w: &BlockQ4K, xq: &[i8; QK_K], sc: &[i16; 8]) -> __m256i {
    let m4 = _mm256_set1_epi8(0xF);
    let mut acc = _mm256_setzero_si256();
    for c in 0..4 {
        // SAFETY: qs has 128 bytes and xq 256; each load reads 32 bytes at
        // offsets 32c (< 128) and 64c, 64c + 32 (< 256); unaligned loads.
        let (q, x0, x1) = unsafe {
            (
                _mm256_loadu_si256(w.qs.as_ptr().add(32 * c).cast()),
                _mm256_loadu_si256(xq.as_ptr().add(64 * c).cast()),
                _mm256_loadu_si256(xq.as_ptr().add(64 * c + 32).cast()),
            )
        };
        let lo = _mm256_and_si256(q, m4);
        let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(q), m4);
        let p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, x0), _mm256_set1_epi16(sc[2 * c]));
        let p1 = _mm256_madd_epi16(
            _mm256_maddubs_epi16(hi, x1),
            _mm256_set1_epi16(sc[2 * c + 1]),
        );
        acc = _mm256_add_epi32(acc, _mm256_add_epi32(p0, p1));
    }
    acc
}

#[target_feature(enable = "avx2,fma")]
fn dot_avx2(w: &[BlockQ4K], x: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), x.len());
    let mut acc = 0f32;
    for (wb, xb) in w.iter().zip(x) {
        let (sc, summ) = scales_and_min_sum(wb, xb);
        let sumi = hsum_i32(block_sumi(wb, &xb.qs, &sc));
        acc += xb.d * wb.d.to_f32() * sumi as f32 - xb.d * wb.dmin.to_f32() * summ as f32;
    }
    acc
}

#[target_feature(enable = "avx2,fma")]
fn dot4_avx2(w: &[BlockQ4K], x: &[BlockQ8K], out: &mut [f32; 4]) {
    let n = w.len();
    assert_eq!(x.len(), 4 * n);
    let m4 = _mm256_set1_epi8(0xF);
    let mut acc = [0f32; 4];
    for (i, wb) in w.iter().enumerate() {
        let mut sc = [_mm256_setzero_si256(); 8];
        let mut mins = [0i32; 8];
        for j in 0..8 {
            let (a, m) = scale_min_k4(j, &wb.scales);
            sc[j] = _mm256_set1_epi16(i16::from(a));
            mins[j] = i32::from(m);
        }
        // The 256 levels, unpacked once for the four activation rows:
        // group 2c holds the low nibbles of qs[32c..], 2c + 1 the high ones.
        let mut q = [_mm256_setzero_si256(); 8];
        for c in 0..4 {
            // SAFETY: qs holds 128 bytes; a 32-byte load at 32c (< 128).
            let raw = unsafe { _mm256_loadu_si256(wb.qs.as_ptr().add(32 * c).cast()) };
            q[2 * c] = _mm256_and_si256(raw, m4);
            q[2 * c + 1] = _mm256_and_si256(_mm256_srli_epi16::<4>(raw), m4);
        }
        let (d, dmin) = (wb.d.to_f32(), wb.dmin.to_f32());
        for (v, a) in acc.iter_mut().enumerate() {
            let xb = &x[v * n + i];
            let summ: i32 = (0..8)
                .map(|j| mins[j] * (i32::from(xb.bsums[2 * j]) + i32::from(xb.bsums[2 * j + 1])))
                .sum();
            let mut s = _mm256_setzero_si256();
            for g in 0..8 {
                // SAFETY: xb.qs holds 256 bytes; a 32-byte load at 32g (< 256).
                let xv = unsafe { _mm256_loadu_si256(xb.qs.as_ptr().add(32 * g).cast()) };
                s = _mm256_add_epi32(s, _mm256_madd_epi16(_mm256_maddubs_epi16(q[g], xv), sc[g]));
            }
            let sumi = hsum_i32(s);
            *a += xb.d * d * sumi as f32 - xb.d * dmin * summ as f32;
        }
    }
    *out = acc;
}

/// Σ w·x over a Q4_K row and a Q8_K row, the bits of the scalar reference.
/// Placed only in kernel tables built after AVX2 + FMA detection.
pub(crate) fn dot_q4k_q8k(w: &[BlockQ4K], x: &[BlockQ8K]) -> f32 {
    // SAFETY: only handed out by constructors that take the AVX2 detection
    // token (or, before kernels v2, tables built after AVX2/FMA detection).
    unsafe { dot_avx2(w, x) }
}

/// One Q4_K row × 4 Q8_K rows back to back in `x`; `out[v]` has the bits of
/// [`dot_q4k_q8k`] on (w, x_v). Same placement rule.
pub(crate) fn dot4_q4k_q8k(w: &[BlockQ4K], x: &[BlockQ8K], out: &mut [f32; 4]) {
    // SAFETY: as in `dot_q4k_q8k`.
    unsafe { dot4_avx2(w, x, out) }
}

/// The AVX2 kernels (default numerics).
pub(crate) fn avx2(_proof: Avx2) -> RowKernels<BlockQ4K, BlockQ8K> {
    RowKernels {
        quantize_act: super::avx2::quantize_q8_k,
        dot: dot_q4k_q8k,
        dot4: Some(dot4_q4k_q8k),
        rows2: None,
        tile8x1: None,
        tile8x4: None,
    }
}

/// The AVX-512 F + BW kernels (the AVX2 code: same bits).
pub(crate) fn avx512(proof: Avx512) -> RowKernels<BlockQ4K, BlockQ8K> {
    avx2(proof.avx2())
}

/// The AVX-512 VL + VNNI kernels (default numerics): one row and 4
/// activation rows from [`q4k_vnni`], the 8-row × 4 tile of [`q4k_tile`],
/// and the 8-row single-token product of [`gemv_q4k`] (no `rows2`: single
/// tokens run eight rows at a time through it).
pub(crate) fn avx512_vnni(proof: Avx512Vnni) -> RowKernels<BlockQ4K, BlockQ8K> {
    RowKernels {
        quantize_act: avx512(proof.avx512()).quantize_act,
        dot: q4k_vnni::vnni_dot,
        dot4: Some(q4k_vnni::vnni_dot4),
        rows2: None,
        tile8x1: Some(gemv_q4k::vnni_gemv8),
        tile8x4: Some(q4k_tile::vnni_tile8x4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quants::q4_k::{dot_q4k_q8k as reference, quantize_row_q4_k};
    use crate::scalar::quantize_row_q8_k;

    #[test]
    fn avx2_has_the_scalar_bits() {
        if !(is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")) {
            eprintln!("skipped: no AVX2/FMA");
            return;
        }
        let mut s = 0x1234_5678_9abc_def1u64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        };
        let n = 4 * QK_K;
        let wf: Vec<f32> = (0..n).map(|i| next() * (1.0 + (i % 7) as f32)).collect();
        let mut w = vec![BlockQ4K::ZERO; n / QK_K];
        quantize_row_q4_k(&wf, &mut w);
        // Extreme levels and scales too: every bit pattern is a valid block.
        w[3].qs = [0xFF; QK_K / 2];
        w[3].scales = [0xFF; 12];
        let xf: Vec<f32> = (0..4 * n).map(|_| next()).collect();
        let zero = BlockQ8K {
            d: 0.0,
            qs: [0; QK_K],
            bsums: [0; QK_K / 16],
        };
        let mut x = vec![zero; 4 * n / QK_K];
        quantize_row_q8_k(&xf, &mut x);
        let nb = w.len();
        let mut out = [0f32; 4];
        dot4_q4k_q8k(&w, &x, &mut out);
        for v in 0..4 {
            let xv = &x[v * nb..(v + 1) * nb];
            let r = reference(&w, xv);
            assert_eq!(dot_q4k_q8k(&w, xv).to_bits(), r.to_bits(), "dot, row {v}");
            assert_eq!(out[v].to_bits(), r.to_bits(), "dot4, row {v}");
        }
    }
}
