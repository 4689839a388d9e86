//! The shared core of the x86 kernels of Q2_K, Q3_K and Q5_K (default
//! numerics): one super-block unpacked once ([`Unpacked`]: unsigned levels,
//! one i16 scale per 16-element sub-block, one i16 weight per activation
//! `bsums` entry), then per activation row the two exact integer sums
//! (a, b) = (Σ_s sc_s·Σ u·x, Σ_s m_s·bsums[s]) — with AVX2 (`maddubs`,
//! `madd`) or AVX-512 VNNI (`maddubs` on 64 bytes, `vpdpwssd` with the
//! scales) — and the type's float step, the scalar reference's, per block.
//! [`kq_kernels`] writes out the single dots and the 4-activation-row dots
//! (each weight block unpacked once for the four rows, each row keeping the
//! single dot's sequence: the same bits) and the constructors.
//!
//! Exactness: levels u ≤ 31 and activations ≥ −128 keep every `maddubs`
//! pair within i16 (2·31·128); the i32 sums stay far below 2^31.

use super::avx2::imp::f16_to_f32;
use super::q4k::hsum_i32;
use crate::blocks::BlockQ8K;
use half::f16;
use std::arch::x86_64::*;

/// A K-quant super-block unpacked for the integer sums.
#[derive(Clone, Copy)]
pub(super) struct Unpacked {
    /// Unsigned levels of elements 32g..32g + 32 in element order.
    pub q: [__m256i; 8],
    /// Word s: the i16 scale of sub-block s (elements 16s..16s + 16).
    pub sc: __m256i,
    /// Word s: the i16 factor of the activation's bsums[s] in the second sum.
    pub m: __m256i,
}

/// [`Unpacked`] with the scales spread for the AVX2 sums.
#[derive(Clone, Copy)]
pub(super) struct Prep2 {
    q: [__m256i; 8],
    /// Group g: sc_2g in the low 128 bits, sc_2g+1 in the high ones.
    sc: [__m256i; 8],
    m: __m256i,
}

/// Spreads the scales of `u` (see [`Prep2`]).
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn prep_avx2(u: Unpacked) -> Prep2 {
    // Byte shuffle control selecting word k of each 128-bit lane.
    let word = |k: i16| _mm_set1_epi16((2 * k) | ((2 * k + 1) << 8));
    let halves = [
        _mm256_broadcastsi128_si256(_mm256_castsi256_si128(u.sc)),
        _mm256_broadcastsi128_si256(_mm256_extracti128_si256::<1>(u.sc)),
    ];
    let mut sc = [_mm256_setzero_si256(); 8];
    for (g, s) in sc.iter_mut().enumerate() {
        let k = (2 * g % 8) as i16;
        *s = _mm256_shuffle_epi8(halves[g / 4], _mm256_set_m128i(word(k + 1), word(k)));
    }
    Prep2 { q: u.q, sc, m: u.m }
}

/// The lanes of Σ_s m_s·bsums[s] (exact: |m_s| ≤ 63, |bsums| ≤ 16·128).
#[target_feature(enable = "avx2")]
#[inline]
fn min_lanes(m: __m256i, x: &BlockQ8K) -> __m256i {
    // SAFETY: bsums holds 16 i16 = 32 bytes; unaligned load.
    let b = unsafe { _mm256_loadu_si256(x.bsums.as_ptr().cast()) };
    _mm256_madd_epi16(m, b)
}

/// The sums (a, b) of one super-block pair as eight i32 lanes each
/// (exact; their lane totals are a and b), AVX2.
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn lanes_avx2(p: &Prep2, x: &BlockQ8K) -> (__m256i, __m256i) {
    let mut acc = _mm256_setzero_si256();
    for g in 0..8 {
        // SAFETY: x.qs holds 256 bytes; a 32-byte load at 32g (< 256).
        let xv = unsafe { _mm256_loadu_si256(x.qs.as_ptr().add(32 * g).cast()) };
        let s = _mm256_madd_epi16(_mm256_maddubs_epi16(p.q[g], xv), p.sc[g]);
        acc = _mm256_add_epi32(acc, s);
    }
    (acc, min_lanes(p.m, x))
}

/// The exact sums (a, b) of one super-block pair from its lanes.
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn totals((a, b): (__m256i, __m256i)) -> (i32, i32) {
    (hsum_i32(a), hsum_i32(b))
}

/// [`Unpacked`] in 512-bit registers for the VNNI sums.
#[derive(Clone, Copy)]
pub(super) struct Prep5 {
    /// Elements 64c..64c + 64 (groups 2c and 2c + 1).
    q: [__m512i; 4],
    /// The matching i16 scales (word k of chunk c: sub-block 4c + k/8).
    sc: [__m512i; 4],
    m: __m256i,
}

/// Joins the levels of `u` in pairs of groups and spreads its scales.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
pub(super) fn prep_vnni(u: Unpacked) -> Prep5 {
    let sc16 = _mm512_castsi256_si512(u.sc);
    let mut q = [_mm512_setzero_si512(); 4];
    let mut sc = [_mm512_setzero_si512(); 4];
    for c in 0..4 {
        q[c] = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(u.q[2 * c]), u.q[2 * c + 1]);
        let s = 4 * c as i16;
        let lo = _mm256_set_m128i(_mm_set1_epi16(s + 1), _mm_set1_epi16(s));
        let hi = _mm256_set_m128i(_mm_set1_epi16(s + 3), _mm_set1_epi16(s + 2));
        let idx = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi);
        sc[c] = _mm512_permutexvar_epi16(idx, sc16);
    }
    Prep5 { q, sc, m: u.m }
}

/// The sums (a, b) of one super-block pair as eight i32 lanes each, AVX-512
/// VNNI.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
pub(super) fn lanes_vnni(p: &Prep5, x: &BlockQ8K) -> (__m256i, __m256i) {
    let mut acc = _mm512_setzero_si512();
    for c in 0..4 {
        // SAFETY: x.qs holds 256 bytes; a 64-byte load at 64c (< 256).
        let xv = unsafe { _mm512_loadu_si512(x.qs.as_ptr().add(64 * c).cast()) };
        acc = _mm512_dpwssd_epi32(acc, _mm512_maddubs_epi16(p.q[c], xv), p.sc[c]);
    }
    let a = _mm256_add_epi32(
        _mm512_castsi512_si256(acc),
        _mm512_extracti64x4_epi64::<1>(acc),
    );
    (a, min_lanes(p.m, x))
}

/// The float step of the types with minimums (Q2_K, Q5_K; the scalar
/// reference's): acc + ((d_x·d_w)·f32(a) − (d_x·dmin_w)·f32(b)).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(super) fn min_step(acc: f32, xd: f32, d: f16, dmin: f16, (a, b): (i32, i32)) -> f32 {
    acc + (xd * f16_to_f32(d) * a as f32 - xd * f16_to_f32(dmin) * b as f32)
}

/// [`min_step`] for eight weight rows (lane = row), the same IEEE operations
/// in the same order: acc + ((d_x·d_w)·f32(a) − (d_x·dmin_w)·f32(b)).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(super) fn min_step8(
    acc: __m256,
    [d, dmin]: &[__m256; 2],
    xd: f32,
    (a, b): (__m256i, __m256i),
) -> __m256 {
    let xd = _mm256_set1_ps(xd);
    let p = _mm256_mul_ps(_mm256_mul_ps(xd, *d), _mm256_cvtepi32_ps(a));
    let q = _mm256_mul_ps(_mm256_mul_ps(xd, *dmin), _mm256_cvtepi32_ps(b));
    _mm256_add_ps(acc, _mm256_sub_ps(p, q))
}

/// Writes out a single dot and a 4-activation-row dot from a prepare and a
/// sums function (one instruction set).
macro_rules! kq_dots {
    ($dot:ident, $dot4:ident, $feat:literal, $wt:ty, $unpack:ident, $prep:path, $lanes:path, $step:ident) => {
        #[target_feature(enable = $feat)]
        fn $dot(w: &[$wt], x: &[BlockQ8K]) -> f32 {
            assert_eq!(w.len(), x.len());
            let mut acc = 0f32;
            for (wb, xb) in w.iter().zip(x) {
                acc = $step(acc, wb, xb, totals($lanes(&$prep($unpack(wb)), xb)));
            }
            acc
        }

        #[target_feature(enable = $feat)]
        fn $dot4(w: &[$wt], x: &[BlockQ8K], out: &mut [f32; 4]) {
            let n = w.len();
            assert_eq!(x.len(), 4 * n, "dot4: activation is not 4 rows");
            let mut acc = [0f32; 4];
            for (i, wb) in w.iter().enumerate() {
                let p = $prep($unpack(wb));
                for (v, a) in acc.iter_mut().enumerate() {
                    let xb = &x[v * n + i];
                    *a = $step(*a, wb, xb, totals($lanes(&p, xb)));
                }
            }
            *out = acc;
        }
    };
}
pub(super) use kq_dots;

/// Writes out an 8-row × `V` tile from a prepare and a lanes function (one
/// instruction set): each weight block of the 8 rows unpacked once for the
/// `V` activation rows (one row at a time), the eight rows' sums then
/// reduced side by side (lane = row) and
/// the type's float step for the eight rows at once (`$step8`, the scalar
/// step's operations in the lanes), so lane r of `out[v]` has the bits of
/// the single dot on (w_r, x_v).
macro_rules! kq_tile {
    ($name:ident, $feat:literal, $wt:ty, $unpack:ident, $prep:path, $lanes:path, $scales8:ident, $step8:path) => {
        #[target_feature(enable = $feat)]
        fn $name<const V: usize>(w: &[$wt], x: &[BlockQ8K], out: &mut [[f32; 8]; V]) {
            use $crate::x86::avx2::imp::reduce8;
            let n = x.len() / V;
            assert!(x.len() == V * n && w.len() == 8 * n, "tile8: bad shapes");
            let mut acc = [_mm256_setzero_ps(); V];
            for i in 0..n {
                let wb: [&$wt; 8] = std::array::from_fn(|r| &w[r * n + i]);
                let mut la = [[_mm256_setzero_si256(); 8]; V];
                let mut lb = [[_mm256_setzero_si256(); 8]; V];
                for r in 0..8 {
                    let p = $prep($unpack(wb[r]));
                    for v in 0..V {
                        (la[v][r], lb[v][r]) = $lanes(&p, &x[v * n + i]);
                    }
                }
                let ds = $scales8(wb);
                for (v, a) in acc.iter_mut().enumerate() {
                    let sums = (reduce8(la[v]), reduce8(lb[v]));
                    *a = $step8(*a, &ds, x[v * n + i].d, sums);
                }
            }
            for (o, a) in out.iter_mut().zip(acc) {
                // SAFETY: `o` holds 8 f32.
                unsafe { _mm256_storeu_ps(o.as_mut_ptr(), a) };
            }
        }
    };
}
pub(super) use kq_tile;

/// Generates, for a K-quant weight type, the AVX2 and AVX-512 VNNI single
/// dots, 4-activation-row dots and 8-row × 1 and × 4 tiles (default
/// numerics) from `$unpack` (a block's [`Unpacked`]), `$step` (the
/// reference's float step per super-block, `fn(acc, &W, &BlockQ8K, (a, b))
/// -> f32`), `$scales8` (the f32 scales of 8 blocks, lane = row) and
/// `$step8` (`$step` in the lanes), their safe wrappers and the
/// constructors `avx2(Avx2)` and `avx512_vnni(Avx512Vnni)`.
macro_rules! kq_kernels {
    ($wt:ty, $unpack:ident, $step:ident, $scales8:ident, $step8:path) => {
        mod rows {
            use super::*;
            use $crate::blocks::BlockQ8K;
            use $crate::x86::kq_rows::{
                kq_dots, kq_tile, lanes_avx2, lanes_vnni, prep_avx2, prep_vnni, totals,
            };

            kq_dots!(
                dot_avx2,
                dot4_avx2,
                "avx2,fma,f16c",
                $wt,
                $unpack,
                prep_avx2,
                lanes_avx2,
                $step
            );
            kq_tile!(
                tile_avx2,
                "avx2,fma,f16c",
                $wt,
                $unpack,
                prep_avx2,
                lanes_avx2,
                $scales8,
                $step8
            );
            kq_dots!(
                dot_vnni,
                dot4_vnni,
                "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c",
                $wt,
                $unpack,
                prep_vnni,
                lanes_vnni,
                $step
            );
            kq_tile!(
                tile_vnni,
                "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c",
                $wt,
                $unpack,
                prep_vnni,
                lanes_vnni,
                $scales8,
                $step8
            );

            // Safe wrappers: the `avx2_*` ones are handed out only by `avx2`
            // (which takes an `Avx2` token), the `vnni_*` ones only by
            // `avx512_vnni` (an `Avx512Vnni` token).
            pub(super) fn avx2_dot(w: &[$wt], x: &[BlockQ8K]) -> f32 {
                // SAFETY: see above (AVX2 detected).
                unsafe { dot_avx2(w, x) }
            }
            pub(super) fn avx2_dot4(w: &[$wt], x: &[BlockQ8K], out: &mut [f32; 4]) {
                // SAFETY: see above (AVX2 detected).
                unsafe { dot4_avx2(w, x, out) }
            }
            pub(super) fn avx2_tile8x1(w: &[$wt], x: &[BlockQ8K], out: &mut [[f32; 8]; 1]) {
                // SAFETY: see above (AVX2 detected).
                unsafe { tile_avx2::<1>(w, x, out) }
            }
            pub(super) fn avx2_tile8x4(w: &[$wt], x: &[BlockQ8K], out: &mut [[f32; 8]; 4]) {
                // SAFETY: see above (AVX2 detected).
                unsafe { tile_avx2::<4>(w, x, out) }
            }
            pub(super) fn vnni_dot(w: &[$wt], x: &[BlockQ8K]) -> f32 {
                // SAFETY: see above (AVX-512 VNNI detected).
                unsafe { dot_vnni(w, x) }
            }
            pub(super) fn vnni_dot4(w: &[$wt], x: &[BlockQ8K], out: &mut [f32; 4]) {
                // SAFETY: see above (AVX-512 VNNI detected).
                unsafe { dot4_vnni(w, x, out) }
            }
            pub(super) fn vnni_tile8x1(w: &[$wt], x: &[BlockQ8K], out: &mut [[f32; 8]; 1]) {
                // SAFETY: see above (AVX-512 VNNI detected).
                unsafe { tile_vnni::<1>(w, x, out) }
            }
            pub(super) fn vnni_tile8x4(w: &[$wt], x: &[BlockQ8K], out: &mut [[f32; 8]; 4]) {
                // SAFETY: see above (AVX-512 VNNI detected).
                unsafe { tile_vnni::<4>(w, x, out) }
            }
        }

        /// The AVX2 kernels (default numerics; also the AVX-512 path
        /// without VNNI): single rows, 4 activation rows, 8-row tiles (no
        /// `rows2`: single tokens run eight rows at a time).
        pub(crate) fn avx2(
            _proof: $crate::cpu::Avx2,
        ) -> $crate::quant::RowKernels<$wt, $crate::blocks::BlockQ8K> {
            $crate::quant::RowKernels {
                quantize_act: $crate::scalar::quantize_row_q8_k,
                dot: rows::avx2_dot,
                dot4: Some(rows::avx2_dot4),
                rows2: None,
                tile8x1: Some(rows::avx2_tile8x1),
                tile8x4: Some(rows::avx2_tile8x4),
            }
        }

        /// The AVX-512 VL + VNNI kernels (default numerics), the same set.
        pub(crate) fn avx512_vnni(
            _proof: $crate::cpu::Avx512Vnni,
        ) -> $crate::quant::RowKernels<$wt, $crate::blocks::BlockQ8K> {
            $crate::quant::RowKernels {
                quantize_act: $crate::scalar::quantize_row_q8_k,
                dot: rows::vnni_dot,
                dot4: Some(rows::vnni_dot4),
                rows2: None,
                tile8x1: Some(rows::vnni_tile8x1),
                tile8x4: Some(rows::vnni_tile8x4),
            }
        }
    };
}
pub(super) use kq_kernels;

/// [`kq_kernels`] for a type with minimums (fields `d` and `dmin`: Q2_K,
/// Q5_K): its float steps are [`min_step`] and [`min_step8`].
macro_rules! kq_kernels_with_mins {
    ($wt:ty, $unpack:ident) => {
        #[target_feature(enable = "avx2,fma,f16c")]
        #[inline]
        fn step(acc: f32, w: &$wt, x: &$crate::blocks::BlockQ8K, s: (i32, i32)) -> f32 {
            $crate::x86::kq_rows::min_step(acc, x.d, w.d, w.dmin, s)
        }

        /// d and dmin of eight blocks (lane = row).
        #[target_feature(enable = "avx2,fma,f16c")]
        #[inline]
        fn scales8(w: [&$wt; 8]) -> [core::arch::x86_64::__m256; 2] {
            use $crate::x86::avx2::imp::f16x8;
            [
                f16x8(std::array::from_fn(|r| w[r].d)),
                f16x8(std::array::from_fn(|r| w[r].dmin)),
            ]
        }

        $crate::x86::kq_rows::kq_kernels!(
            $wt,
            $unpack,
            step,
            scales8,
            $crate::x86::kq_rows::min_step8
        );
    };
}
pub(super) use kq_kernels_with_mins;
