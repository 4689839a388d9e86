//! Q4_K × Q8_K with AVX-512 (F, BW, VL) and VNNI, in the default numerics:
//! one row and one row × 4 activation rows, and the per-block pieces the
//! 8-row single-token product (`gemv_q4k`) is made of (the 8-row × 4 tile is
//! in `q4k_tile`).
//!
//! Every kernel computes, per super-block and (weight row, activation row)
//! pair, the two exact integer sums of the scalar reference
//! ([`crate::quants::q4_k::block_sums_q4k`]) — sumi = Σ_j sc_j·Σ q·x and
//! summ = Σ_j m_j·(bsums[2j] + bsums[2j+1]) — and then the reference's float
//! sequence acc += (d_x·d_w)·f32(sumi) − (d_x·dmin_w)·f32(summ), in scalar
//! code or in the lanes of a vector (one lane per weight row, the same
//! IEEE operations in the same order). So every result has the bits of
//! [`crate::quants::q4_k::dot_q4k_q8k`].
//!
//! Integer part: each 64-element chunk is one 512-bit register (sub-block
//! 2c in the low half, 2c + 1 in the high half, matching the activation's
//! bytes 64c..64c + 64); `vpmaddubsw` (levels 0..15 × i8: pair sums ≤
//! 2·15·128, no saturation) then `vpdpwssd` with the sub-block scales.
//! `dot4` unpacks each weight super-block once for its four activation
//! rows.

use crate::blocks::BlockQ8K;
use crate::quants::q4_k::BlockQ4K;
use std::arch::x86_64::*;

/// A Q4_K super-block unpacked for the integer sums.
#[derive(Clone, Copy)]
pub(super) struct Prep {
    /// Levels (0..15) of chunk c: sub-block 2c in the low 256 bits, 2c + 1
    /// in the high ones, in element order.
    q: [__m512i; 4],
    /// The matching i16 scales (sc_2c in the low half, sc_2c+1 in the high).
    sc: [__m512i; 4],
    /// The eight minimums m_j as i16.
    mins: __m128i,
}

/// The eight 6-bit scales (bytes 0..8) and minimums (bytes 8..16) of a
/// K-quant `scales` field, as [`crate::quants::scale_min_k4`] reads them
/// (llama.cpp's `utmp` shuffle).
#[inline]
pub(super) fn scales_mins_k4(s: &[u8; 12]) -> [u32; 4] {
    const K1: u32 = 0x3f3f_3f3f;
    const K2: u32 = 0x0f0f_0f0f;
    const K3: u32 = 0x0303_0303;
    let u = |i: usize| u32::from_le_bytes([s[4 * i], s[4 * i + 1], s[4 * i + 2], s[4 * i + 3]]);
    let (u0, u1, u2) = (u(0), u(1), u(2));
    [
        u0 & K1,
        (u2 & K2) | (((u0 >> 6) & K3) << 4),
        u1 & K1,
        ((u2 >> 4) & K2) | (((u1 >> 6) & K3) << 4),
    ]
}

/// The eight scales (words 0..8) and minimums (words 8..16) of a K-quant
/// `scales` field as i16 ([`scales_mins_k4`]).
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn scales_mins_i16(s: &[u8; 12]) -> __m256i {
    let t = scales_mins_k4(s);
    _mm256_cvtepu8_epi16(_mm_setr_epi32(
        t[0] as i32,
        t[1] as i32,
        t[2] as i32,
        t[3] as i32,
    ))
}

/// Unpacks one super-block (see [`Prep`]).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
pub(super) fn prep(w: &BlockQ4K) -> Prep {
    let sm = scales_mins_i16(&w.scales);
    let sm512 = _mm512_castsi256_si512(sm);
    let m4 = _mm512_set1_epi8(0xF);
    // Plain loops (closures would not inline into `target_feature` code).
    let mut q = [_mm512_setzero_si512(); 4];
    let mut sc = [_mm512_setzero_si512(); 4];
    for c in 0..4 {
        // SAFETY: qs has 128 bytes; a 32-byte load at 32c (c < 4).
        let raw = unsafe { _mm256_loadu_si256(w.qs.as_ptr().add(32 * c).cast()) };
        let z = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(raw), _mm256_srli_epi16::<4>(raw));
        q[c] = _mm512_and_si512(z, m4);
        let (lo, hi) = (2 * c as i16, 2 * c as i16 + 1);
        let idx = _mm512_inserti64x4::<1>(
            _mm512_castsi256_si512(_mm256_set1_epi16(lo)),
            _mm256_set1_epi16(hi),
        );
        sc[c] = _mm512_permutexvar_epi16(idx, sm512);
    }
    Prep {
        q,
        sc,
        mins: _mm256_extracti128_si256::<1>(sm),
    }
}

/// The activation's pair sums bsums[2j] + bsums[2j + 1] (j = 0..8) as i16
/// (each |sum| ≤ 32·128: no overflow).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
pub(super) fn pair_bsums(x: &BlockQ8K) -> __m128i {
    // SAFETY: bsums has 16 i16 = 32 bytes.
    let b = unsafe { _mm256_loadu_si256(x.bsums.as_ptr().cast()) };
    _mm_hadd_epi16(_mm256_castsi256_si128(b), _mm256_extracti128_si256::<1>(b))
}

/// The activation's 256 bytes as four 512-bit registers.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
pub(super) fn load_x(x: &BlockQ8K) -> [__m512i; 4] {
    let p = x.qs.as_ptr();
    // SAFETY: qs has 256 bytes; 64-byte loads at 0, 64, 128, 192.
    unsafe {
        [
            _mm512_loadu_si512(p.cast()),
            _mm512_loadu_si512(p.add(64).cast()),
            _mm512_loadu_si512(p.add(128).cast()),
            _mm512_loadu_si512(p.add(192).cast()),
        ]
    }
}

/// Partial sums of one super-block pair: lanes 0..4 add up to sumi, lanes
/// 4..8 to summ (all exact).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
pub(super) fn lanes(p: &Prep, x: &[__m512i; 4], q8s: __m128i) -> __m256i {
    let mut acc = _mm512_setzero_si512();
    for ((q, xv), sc) in p.q.iter().zip(x).zip(&p.sc) {
        acc = _mm512_dpwssd_epi32(acc, _mm512_maddubs_epi16(*q, *xv), *sc);
    }
    fold_lanes(acc, p.mins, q8s)
}

/// Folds a super-block's scaled level sums (`acc`, 16 i32 lanes) to 4
/// lanes and puts the minimums' sums (`mins` · `q8s`, i16 pairs) in lanes
/// 4..8: lanes 0..4 add up to sumi, lanes 4..8 to summ (all exact).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
pub(super) fn fold_lanes(acc: __m512i, mins: __m128i, q8s: __m128i) -> __m256i {
    let s8 = _mm256_add_epi32(
        _mm512_castsi512_si256(acc),
        _mm512_extracti64x4_epi64::<1>(acc),
    );
    let s4 = _mm_add_epi32(
        _mm256_castsi256_si128(s8),
        _mm256_extracti128_si256::<1>(s8),
    );
    let m4 = _mm_madd_epi16(mins, q8s);
    _mm256_inserti128_si256::<1>(_mm256_castsi128_si256(s4), m4)
}

/// (sumi, summ) of one super-block pair.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn sums(p: &Prep, x: &BlockQ8K) -> (i32, i32) {
    let l = lanes(p, &load_x(x), pair_bsums(x));
    let h = _mm256_hadd_epi32(l, l);
    let h = _mm256_hadd_epi32(h, h);
    (
        _mm256_cvtsi256_si32(h),
        _mm_cvtsi128_si32(_mm256_extracti128_si256::<1>(h)),
    )
}

/// The reference's float step for one super-block.
#[inline(always)]
fn step(acc: f32, xd: f32, d: f32, dmin: f32, (sumi, summ): (i32, i32)) -> f32 {
    acc + (xd * d * sumi as f32 - xd * dmin * summ as f32)
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn dot(w: &[BlockQ4K], x: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), x.len());
    let mut acc = 0f32;
    for (wb, xb) in w.iter().zip(x) {
        let s = sums(&prep(wb), xb);
        acc = step(acc, xb.d, wb.d.to_f32(), wb.dmin.to_f32(), s);
    }
    acc
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn dot4(w: &[BlockQ4K], x: &[BlockQ8K], out: &mut [f32; 4]) {
    let n = w.len();
    assert_eq!(x.len(), 4 * n, "dot4: activation is not 4 rows");
    let mut acc = [0f32; 4];
    for (i, wb) in w.iter().enumerate() {
        let p = prep(wb);
        let (d, dmin) = (wb.d.to_f32(), wb.dmin.to_f32());
        for (v, a) in acc.iter_mut().enumerate() {
            let xb = &x[v * n + i];
            *a = step(*a, xb.d, d, dmin, sums(&p, xb));
        }
    }
    *out = acc;
}

// Safe wrappers: placed in a kernel table only by `x86::q4k::avx512_vnni`,
// which takes the `Avx512Vnni` detection token.

pub(super) fn vnni_dot(w: &[BlockQ4K], x: &[BlockQ8K]) -> f32 {
    // SAFETY: handed out only by a constructor taking an `Avx512Vnni` token.
    unsafe { dot(w, x) }
}
pub(super) fn vnni_dot4(w: &[BlockQ4K], x: &[BlockQ8K], out: &mut [f32; 4]) {
    // SAFETY: handed out only by a constructor taking an `Avx512Vnni` token.
    unsafe { dot4(w, x, out) }
}
