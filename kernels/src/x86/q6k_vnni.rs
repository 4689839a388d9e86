//! Q6_K × Q8_K with AVX-512 (F, BW, VL) and VNNI: one row and one row × 4
//! activation rows, and the per-block pieces of the 8-row single-token
//! product (`gemv_q6k`). No 8-row tile
//! yet: one that unpacked each super-block once for 8 rows and reduced
//! each row's lanes measured slower than `dot4` (3.3 against 2.6 ns per
//! super-block pair on Zen 4); a transposed tile as Q4_K's is the next step.
//!
//! Every kernel computes each super-block's exact integer sum
//! sumi = Σ_g sc_g·Σ (q − 32)·x (g = groups of 16) and then the scalar
//! reference's float step acc = fma(f32(sumi)·d_w, d_x, acc), in scalar
//! code or in the lanes of a vector (one lane per weight row), so every
//! result has the bits of [`crate::scalar::dot_q6k_q8k`].
//!
//! Integer part: sumi = Σ_g sc_g·Σ q·x − 32·Σ_g sc_g·bsums_g, using the
//! activation's group sums (which the Q8_K quantizer always fills). Each
//! 64-element chunk is one 512-bit register: `vpmaddubsw` (levels 0..63 ×
//! i8: pair sums ≤ 2·63·128, no saturation), then `vpdpwssd` with the
//! group scales (|Σ| ≤ 256·63·128·128 < 2^31). `dot4` unpacks each weight
//! super-block once for its four activation rows.

use crate::blocks::{BlockQ6K, BlockQ8K};
use std::arch::x86_64::*;

/// A Q6_K super-block unpacked for the integer sums.
#[derive(Clone, Copy)]
pub(super) struct Prep {
    /// Levels (0..63) of elements 64k..64k + 64, in element order.
    q: [__m512i; 4],
    /// The matching i16 group scales (i16 lane m: group 4k + m/8).
    sc: [__m512i; 4],
    /// The sixteen group scales as i16.
    sc16: __m256i,
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
pub(super) fn prep(w: &BlockQ6K) -> Prep {
    // SAFETY: `scales` has 16 bytes.
    let s8 = unsafe { _mm_loadu_si128(w.scales.as_ptr().cast()) };
    let sc16 = _mm256_cvtepi8_epi16(s8);
    let s512 = _mm512_castsi256_si512(sc16);
    // A plain loop (closures would not inline into `target_feature` code).
    let mut sc = [_mm512_setzero_si512(); 4];
    for (k, s) in sc.iter_mut().enumerate() {
        let g = 4 * k as i16;
        let idx = _mm512_inserti64x4::<1>(
            _mm512_castsi256_si512(_mm256_set_m128i(_mm_set1_epi16(g + 1), _mm_set1_epi16(g))),
            _mm256_set_m128i(_mm_set1_epi16(g + 3), _mm_set1_epi16(g + 2)),
        );
        *s = _mm512_permutexvar_epi16(idx, s512);
    }
    let m4 = _mm512_set1_epi8(0xF);
    let m30 = _mm512_set1_epi8(0x30);
    // Shift counts per 16-bit lane: low half (first group of the pair) and
    // high half (second group).
    let two_halves = |a: i16, b: i16| {
        _mm512_inserti64x4::<1>(
            _mm512_castsi256_si512(_mm256_set1_epi16(a)),
            _mm256_set1_epi16(b),
        )
    };
    let (shl_a, shr_b) = (two_halves(4, 2), two_halves(0, 2));
    let mut q = [_mm512_setzero_si512(); 4];
    for h in 0..2 {
        // SAFETY: ql has 128 bytes (64h + 64 ≤ 128), qh 64 (32h + 32 ≤ 64).
        let (ql, qh) = unsafe {
            (
                _mm512_loadu_si512(w.ql.as_ptr().add(64 * h).cast()),
                _mm256_loadu_si256(w.qh.as_ptr().add(32 * h).cast()),
            )
        };
        let qh = _mm512_broadcast_i64x4(qh);
        // Groups 4h, 4h + 1: low nibbles of ql, bits (0, 1) and (2, 3) of
        // qh moved to bits 4, 5; groups 4h + 2, 4h + 3: high nibbles, bits
        // (4, 5) and (6, 7). 16-bit shifts: the mask drops what crosses a
        // byte boundary.
        q[2 * h] = _mm512_or_si512(
            _mm512_and_si512(ql, m4),
            _mm512_and_si512(_mm512_sllv_epi16(qh, shl_a), m30),
        );
        q[2 * h + 1] = _mm512_or_si512(
            _mm512_and_si512(_mm512_srli_epi16::<4>(ql), m4),
            _mm512_and_si512(_mm512_srlv_epi16(qh, shr_b), m30),
        );
    }
    Prep { q, sc, sc16 }
}

impl Prep {
    /// The levels (0..63) of elements 64k..64k + 64, k = 0..4.
    pub(super) fn levels(&self) -> &[__m512i; 4] {
        &self.q
    }
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

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
pub(super) fn load_bsums(x: &BlockQ8K) -> __m256i {
    // SAFETY: bsums has 16 i16 = 32 bytes.
    unsafe { _mm256_loadu_si256(x.bsums.as_ptr().cast()) }
}

/// Eight i32 lanes adding up to one super-block pair's sumi (exact).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
pub(super) fn lanes(p: &Prep, x: &[__m512i; 4], bsums: __m256i) -> __m256i {
    let mut acc = _mm512_setzero_si512();
    for ((q, xv), sc) in p.q.iter().zip(x).zip(&p.sc) {
        acc = _mm512_dpwssd_epi32(acc, _mm512_maddubs_epi16(*q, *xv), *sc);
    }
    let s8 = _mm256_add_epi32(
        _mm512_castsi512_si256(acc),
        _mm512_extracti64x4_epi64::<1>(acc),
    );
    let off = _mm256_madd_epi16(p.sc16, bsums);
    _mm256_sub_epi32(s8, _mm256_slli_epi32::<5>(off))
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn hsum(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01>(s));
    _mm_cvtsi128_si32(s)
}

/// The reference's float step for one super-block.
#[inline(always)]
fn step(acc: f32, xd: f32, d: f32, sumi: i32) -> f32 {
    (sumi as f32 * d).mul_add(xd, acc)
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn dot(w: &[BlockQ6K], x: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), x.len());
    let mut acc = 0f32;
    for (wb, xb) in w.iter().zip(x) {
        let s = hsum(lanes(&prep(wb), &load_x(xb), load_bsums(xb)));
        acc = step(acc, xb.d, wb.d.to_f32(), s);
    }
    acc
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn dot4(w: &[BlockQ6K], x: &[BlockQ8K], out: &mut [f32; 4]) {
    let n = w.len();
    assert_eq!(x.len(), 4 * n, "dot4: activation is not 4 rows");
    let mut acc = [0f32; 4];
    for (i, wb) in w.iter().enumerate() {
        let p = prep(wb);
        let d = wb.d.to_f32();
        for (v, a) in acc.iter_mut().enumerate() {
            let xb = &x[v * n + i];
            *a = step(*a, xb.d, d, hsum(lanes(&p, &load_x(xb), load_bsums(xb))));
        }
    }
    *out = acc;
}

// Safe wrappers: placed in a kernel table only by `x86::q6k::avx512_vnni`,
// which takes the `Avx512Vnni` detection token.

pub(super) fn vnni_dot(w: &[BlockQ6K], x: &[BlockQ8K]) -> f32 {
    // SAFETY: handed out only by a constructor taking an `Avx512Vnni` token.
    unsafe { dot(w, x) }
}
pub(super) fn vnni_dot4(w: &[BlockQ6K], x: &[BlockQ8K], out: &mut [f32; 4]) {
    // SAFETY: handed out only by a constructor taking an `Avx512Vnni` token.
    unsafe { dot4(w, x, out) }
}
