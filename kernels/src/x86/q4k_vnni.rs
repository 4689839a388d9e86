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
//! Integer part: a 64-byte load of levels gives two 512-bit registers (low
//! nibbles: sub-blocks 4h and 4h + 2; high nibbles: 4h + 1 and 4h + 3),
//! the activation is paired to match once per super-block ([`load_x`]) and
//! the scales are picked by `vpshufb` from one broadcast; `vpmaddubsw`
//! (levels 0..15 × i8: pair sums ≤ 2·15·128, no saturation) then
//! `vpdpwssd` with the sub-block scales.
//! `dot4` unpacks each weight super-block once for its four activation
//! rows.

use crate::blocks::BlockQ8K;
use crate::quants::q4_k::BlockQ4K;
use std::arch::x86_64::*;

/// A Q4_K super-block unpacked for the integer sums, in the order of a
/// 64-byte load of its levels: register 2h holds the low nibbles of
/// `qs[64h..64h + 64]` (sub-block 4h in the low 256 bits, 4h + 2 in the
/// high ones), register 2h + 1 their high nibbles (sub-blocks 4h + 1 and
/// 4h + 3); [`load_x`] puts the activation in the same order.
#[derive(Clone, Copy)]
pub(super) struct Prep {
    /// The levels (0..15), as above.
    q: [__m512i; 4],
    /// The matching i16 sub-block scales, one per 256-bit half.
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
    // Two 64-bit moves (four 32-bit inserts measured slower).
    _mm256_cvtepu8_epi16(_mm_set_epi64x(
        ((t[3] as u64) << 32 | t[2] as u64) as i64,
        ((t[1] as u64) << 32 | t[0] as u64) as i64,
    ))
}

/// `vpshufb` controls putting i16 scale `a` in the low 256 bits and `b` in
/// the high ones, from the eight scales broadcast to each 128-bit lane.
const fn scale_pick(a: u8, b: u8) -> [u8; 64] {
    let mut c = [0u8; 64];
    let mut i = 0;
    while i < 64 {
        let s = if i < 32 { a } else { b };
        c[i] = 2 * s + (i as u8 & 1);
        i += 1;
    }
    c
}

/// The sub-block scales of each [`Prep`] register.
const PICKS: [[u8; 64]; 4] = [
    scale_pick(0, 2),
    scale_pick(1, 3),
    scale_pick(4, 6),
    scale_pick(5, 7),
];

/// Unpacks one super-block (see [`Prep`]): two 64-byte loads of levels,
/// the scales picked by `vpshufb` from one broadcast.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
pub(super) fn prep(w: &BlockQ4K) -> Prep {
    let sm = scales_mins_i16(&w.scales);
    let scales = _mm512_broadcast_i32x4(_mm256_castsi256_si128(sm));
    let m4 = _mm512_set1_epi8(0xF);
    // Plain loops (closures would not inline into `target_feature` code).
    let mut q = [_mm512_setzero_si512(); 4];
    let mut sc = [_mm512_setzero_si512(); 4];
    for h in 0..2 {
        // SAFETY: qs has 128 bytes; a 64-byte load at 64h (h < 2).
        let raw = unsafe { _mm512_loadu_si512(w.qs.as_ptr().add(64 * h).cast()) };
        q[2 * h] = _mm512_and_si512(raw, m4);
        q[2 * h + 1] = _mm512_and_si512(_mm512_srli_epi16::<4>(raw), m4);
    }
    for (j, s) in sc.iter_mut().enumerate() {
        // SAFETY: PICKS[j] holds 64 bytes.
        let pick = unsafe { _mm512_loadu_si512(PICKS[j].as_ptr().cast()) };
        *s = _mm512_shuffle_epi8(scales, pick);
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

/// The activation's 256 bytes in [`Prep`]'s order: register 2h holds the
/// elements of sub-blocks 4h and 4h + 2, register 2h + 1 those of 4h + 1
/// and 4h + 3. Built once per super-block for every weight row it meets.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
pub(super) fn load_x(x: &BlockQ8K) -> [__m512i; 4] {
    let p = x.qs.as_ptr();
    // SAFETY: qs has 256 bytes; 32-byte loads at multiples of 32 below 256.
    let h = |k: usize| unsafe { _mm256_loadu_si256(p.add(32 * k).cast()) };
    let pair = |a: __m256i, b: __m256i| _mm512_inserti64x4::<1>(_mm512_castsi256_si512(a), b);
    [
        pair(h(0), h(2)),
        pair(h(1), h(3)),
        pair(h(4), h(6)),
        pair(h(5), h(7)),
    ]
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
