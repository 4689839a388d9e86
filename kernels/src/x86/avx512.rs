//! AVX-512 (F + BW) kernels, in two builds: with VNNI (`vpdpbusd`) when the
//! CPU has `avx512vnni`, and without. See [`crate::x86`] for the exactness
//! contract.
//!
//! The block dots put two 32-element blocks in one 512-bit register. The
//! quantizers and the Q6_K dot reuse the AVX2 code (every AVX-512 CPU we
//! select has AVX2, FMA and F16C; those routines are not bandwidth-critical
//! or are already limited by the exact lane layout ggml prescribes).

use crate::blocks::*;
use crate::scalar;
use crate::x86::avx2;
use crate::Kernels;
use core::arch::x86_64::*;
use half::f16;

/// True when this CPU can run the AVX-512 path (F + BW, plus the AVX2 set).
pub(crate) fn detected() -> bool {
    avx2::detected() && is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw")
}

/// True when the AVX-512 VNNI build can run.
pub(crate) fn detected_vnni() -> bool {
    detected() && is_x86_feature_detected!("avx512vnni")
}

/// The best AVX-512 table: VNNI when available, else plain F+BW; `None`
/// without AVX-512 F+BW.
pub(crate) fn table() -> Option<Kernels> {
    if detected_vnni() {
        Some(table_with(true))
    } else if detected() {
        Some(table_with(false))
    } else {
        None
    }
}

/// The AVX-512 table without VNNI (`"avx512-novnni"`), so that build can be
/// tested on VNNI machines too.
pub(crate) fn table_novnni() -> Option<Kernels> {
    detected().then(|| table_with(false))
}

fn table_with(vnni: bool) -> Kernels {
    macro_rules! pick {
        ($f:ident) => {
            if vnni {
                wrap_vnni::$f
            } else {
                wrap_plain::$f
            }
        };
    }
    Kernels {
        name: if vnni { "avx512" } else { "avx512-novnni" },
        quantize_q8_0: avx2::quantize_q8_0,
        quantize_q8_1: avx2::quantize_q8_1,
        quantize_q8_k: avx2::quantize_q8_k,
        dot_q4_0_q8_0: pick!(dot_q4_0_q8_0),
        dot_q4_1_q8_1: pick!(dot_q4_1_q8_1),
        dot_q8_0_q8_0: pick!(dot_q8_0_q8_0),
        dot_q6k_q8k: avx2::dot_q6k_q8k,
        dot_f16_f32: pick!(dot_f16_f32),
        dot_f32_f32: pick!(dot_f32_f32),
    }
}

macro_rules! wrappers {
    ($wrap:ident, $imp:ident, $why:literal) => {
        mod $wrap {
            use super::*;
            pub(crate) fn dot_q4_0_q8_0(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 {
                // SAFETY: these wrappers are placed in a table only after the
                // detection named in the `wrappers!` invocation succeeded.
                unsafe { $imp::dot_q4_0_q8_0(w, x) }
            }
            pub(crate) fn dot_q4_1_q8_1(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f32 {
                // SAFETY: as above.
                unsafe { $imp::dot_q4_1_q8_1(w, x) }
            }
            pub(crate) fn dot_q8_0_q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 {
                // SAFETY: as above.
                unsafe { $imp::dot_q8_0_q8_0(w, x) }
            }
            pub(crate) fn dot_f16_f32(w: &[f16], x: &[f32]) -> f32 {
                // SAFETY: as above.
                unsafe { $imp::dot_f16_f32(w, x) }
            }
            pub(crate) fn dot_f32_f32(w: &[f32], x: &[f32]) -> f32 {
                // SAFETY: as above.
                unsafe { $imp::dot_f32_f32(w, x) }
            }
        }
    };
}
wrappers!(wrap_vnni, imp_vnni, "detected_vnni()");
wrappers!(wrap_plain, imp_plain, "detected()");

/// Generates one build of the AVX-512 dots. `$feat` is the target-feature
/// list; `$dp` accumulates Σ of four u8·i8 products per i32 lane (pair sums
/// must fit i16 in the non-VNNI build); `$dot_i8` gives 16 lanes of partial
/// sums of w·x for two Q8_0 block pairs.
macro_rules! avx512_impl {
    ($m:ident, $feat:literal,
     fn dp($acc:ident, $a:ident, $b:ident) $dp:block
     fn dot_i8($w:ident, $x:ident) $doti8:block) => {
        pub(crate) mod $m {
            use super::*;
            use crate::x86::avx2::imp::{add_in_order, f16x4, hsum4_epi32, unpack_nibbles};

            #[target_feature(enable = $feat)]
            #[inline]
            fn dp($acc: __m512i, $a: __m512i, $b: __m512i) -> __m512i $dp

            #[target_feature(enable = $feat)]
            #[inline]
            fn dot_i8($w: __m512i, $x: __m512i) -> __m512i $doti8

            #[target_feature(enable = $feat)]
            #[inline]
            fn join(lo: __m256i, hi: __m256i) -> __m512i {
                _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi)
            }

            #[target_feature(enable = $feat)]
            #[inline]
            fn q8x2(a: &[i8; QK], b: &[i8; QK]) -> __m512i {
                join(avx2::imp::load_i8x32(a), avx2::imp::load_i8x32(b))
            }

            /// Per-block sums of two 2-block registers, in block order.
            #[target_feature(enable = $feat)]
            #[inline]
            fn sums4(s01: __m512i, s23: __m512i) -> __m128i {
                hsum4_epi32(
                    _mm512_castsi512_si256(s01),
                    _mm512_extracti64x4_epi64::<1>(s01),
                    _mm512_castsi512_si256(s23),
                    _mm512_extracti64x4_epi64::<1>(s23),
                )
            }

            /// Σ (nibble − 8)·q for two Q4_0·Q8_0 block pairs (16 lanes).
            #[target_feature(enable = $feat)]
            #[inline]
            fn pair_q4_0(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> __m512i {
                let n = join(unpack_nibbles(&w[0].qs), unpack_nibbles(&w[1].qs));
                let q = q8x2(&x[0].qs, &x[1].qs);
                let z = _mm512_setzero_si512();
                _mm512_sub_epi32(dp(z, n, q), dp(z, _mm512_set1_epi8(8), q))
            }

            /// AVX-512 Q4_0·Q8_0, bit-identical to [`scalar::dot_q4_0_q8_0`].
            ///
            /// # Safety
            /// The CPU must support the features of this build.
            #[target_feature(enable = $feat)]
            pub(crate) unsafe fn dot_q4_0_q8_0(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 {
                assert_eq!(w.len(), x.len());
                let mut sumf = 0.0f32;
                let mut wc = w.chunks_exact(4);
                let mut xc = x.chunks_exact(4);
                for (w4, x4) in (&mut wc).zip(&mut xc) {
                    let s = sums4(pair_q4_0(&w4[..2], &x4[..2]), pair_q4_0(&w4[2..], &x4[2..]));
                    let dw = f16x4(w4[0].d, w4[1].d, w4[2].d, w4[3].d);
                    let dx = f16x4(x4[0].d, x4[1].d, x4[2].d, x4[3].d);
                    let t = _mm_mul_ps(_mm_mul_ps(_mm_cvtepi32_ps(s), dw), dx);
                    let mut a = [0f32; 4];
                    // SAFETY: `a` holds 4 f32.
                    unsafe { _mm_storeu_ps(a.as_mut_ptr(), t) };
                    add_in_order(&mut sumf, a);
                }
                for (wb, xb) in wc.remainder().iter().zip(xc.remainder()) {
                    sumf += scalar::block_sumi_q4_0(wb, xb) as f32 * wb.d.to_f32() * xb.d.to_f32();
                }
                sumf
            }

            /// Σ nibble·q for two Q4_1·Q8_1 block pairs (16 lanes).
            #[target_feature(enable = $feat)]
            #[inline]
            fn pair_q4_1(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> __m512i {
                let n = join(unpack_nibbles(&w[0].qs), unpack_nibbles(&w[1].qs));
                let q = q8x2(&x[0].qs, &x[1].qs);
                dp(_mm512_setzero_si512(), n, q)
            }

            /// AVX-512 Q4_1·Q8_1, bit-identical to [`scalar::dot_q4_1_q8_1`].
            ///
            /// # Safety
            /// The CPU must support the features of this build.
            #[target_feature(enable = $feat)]
            pub(crate) unsafe fn dot_q4_1_q8_1(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f32 {
                assert_eq!(w.len(), x.len());
                let mut sumf = 0.0f32;
                let mut wc = w.chunks_exact(4);
                let mut xc = x.chunks_exact(4);
                for (w4, x4) in (&mut wc).zip(&mut xc) {
                    let s = sums4(pair_q4_1(&w4[..2], &x4[..2]), pair_q4_1(&w4[2..], &x4[2..]));
                    let dw = f16x4(w4[0].d, w4[1].d, w4[2].d, w4[3].d);
                    let dx = f16x4(x4[0].d, x4[1].d, x4[2].d, x4[3].d);
                    let mw = f16x4(w4[0].m, w4[1].m, w4[2].m, w4[3].m);
                    let sx = f16x4(x4[0].s, x4[1].s, x4[2].s, x4[3].s);
                    let t = _mm_add_ps(_mm_mul_ps(_mm_mul_ps(dw, dx), _mm_cvtepi32_ps(s)), _mm_mul_ps(mw, sx));
                    let mut a = [0f32; 4];
                    // SAFETY: `a` holds 4 f32.
                    unsafe { _mm_storeu_ps(a.as_mut_ptr(), t) };
                    add_in_order(&mut sumf, a);
                }
                for (wb, xb) in wc.remainder().iter().zip(xc.remainder()) {
                    let sumi = scalar::block_sumi_q4_1(wb, xb);
                    sumf += (wb.d.to_f32() * xb.d.to_f32()) * sumi as f32 + wb.m.to_f32() * xb.s.to_f32();
                }
                sumf
            }

            /// AVX-512 Q8_0·Q8_0, bit-identical to [`scalar::dot_q8_0_q8_0`]
            /// (the non-VNNI build requires activations without −128).
            ///
            /// # Safety
            /// The CPU must support the features of this build.
            #[target_feature(enable = $feat)]
            pub(crate) unsafe fn dot_q8_0_q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 {
                assert_eq!(w.len(), x.len());
                let mut sumf = 0.0f32;
                let mut wc = w.chunks_exact(4);
                let mut xc = x.chunks_exact(4);
                for (w4, x4) in (&mut wc).zip(&mut xc) {
                    let s01 = dot_i8(q8x2(&w4[0].qs, &w4[1].qs), q8x2(&x4[0].qs, &x4[1].qs));
                    let s23 = dot_i8(q8x2(&w4[2].qs, &w4[3].qs), q8x2(&x4[2].qs, &x4[3].qs));
                    let s = sums4(s01, s23);
                    let dw = f16x4(w4[0].d, w4[1].d, w4[2].d, w4[3].d);
                    let dx = f16x4(x4[0].d, x4[1].d, x4[2].d, x4[3].d);
                    let t = _mm_mul_ps(_mm_cvtepi32_ps(s), _mm_mul_ps(dw, dx));
                    let mut a = [0f32; 4];
                    // SAFETY: `a` holds 4 f32.
                    unsafe { _mm_storeu_ps(a.as_mut_ptr(), t) };
                    add_in_order(&mut sumf, a);
                }
                for (wb, xb) in wc.remainder().iter().zip(xc.remainder()) {
                    sumf += scalar::block_sumi_q8_0(wb, xb) as f32 * (wb.d.to_f32() * xb.d.to_f32());
                }
                sumf
            }

            /// AVX-512 f16·f32 dot: four 16-lane FMA accumulators.
            ///
            /// # Safety
            /// The CPU must support the features of this build.
            #[target_feature(enable = $feat)]
            pub(crate) unsafe fn dot_f16_f32(w: &[f16], x: &[f32]) -> f32 {
                assert_eq!(w.len(), x.len());
                let n = w.len() / 64 * 64;
                let (wp, xp) = (w.as_ptr().cast::<u16>(), x.as_ptr());
                let mut acc = [_mm512_setzero_ps(); 4];
                let mut i = 0;
                while i < n {
                    for (k, a) in acc.iter_mut().enumerate() {
                        // SAFETY: i + 16k + 16 ≤ n ≤ len of both slices.
                        let (wv, xv) = unsafe {
                            (
                                _mm512_cvtph_ps(_mm256_loadu_si256(wp.add(i + 16 * k).cast())),
                                _mm512_loadu_ps(xp.add(i + 16 * k)),
                            )
                        };
                        *a = _mm512_fmadd_ps(wv, xv, *a);
                    }
                    i += 64;
                }
                let acc = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
                let mut sum = _mm512_reduce_add_ps(acc);
                for (a, b) in w[n..].iter().zip(&x[n..]) {
                    sum += a.to_f32() * b;
                }
                sum
            }

            /// AVX-512 f32·f32 dot: four 16-lane FMA accumulators.
            ///
            /// # Safety
            /// The CPU must support the features of this build.
            #[target_feature(enable = $feat)]
            pub(crate) unsafe fn dot_f32_f32(w: &[f32], x: &[f32]) -> f32 {
                assert_eq!(w.len(), x.len());
                let n = w.len() / 64 * 64;
                let (wp, xp) = (w.as_ptr(), x.as_ptr());
                let mut acc = [_mm512_setzero_ps(); 4];
                let mut i = 0;
                while i < n {
                    for (k, a) in acc.iter_mut().enumerate() {
                        // SAFETY: i + 16k + 16 ≤ n ≤ len of both slices.
                        let (wv, xv) = unsafe { (_mm512_loadu_ps(wp.add(i + 16 * k)), _mm512_loadu_ps(xp.add(i + 16 * k))) };
                        *a = _mm512_fmadd_ps(wv, xv, *a);
                    }
                    i += 64;
                }
                let acc = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
                let mut sum = _mm512_reduce_add_ps(acc);
                for (a, b) in w[n..].iter().zip(&x[n..]) {
                    sum += a * b;
                }
                sum
            }
        }
    };
}

avx512_impl!(
    imp_vnni,
    "avx512f,avx512bw,avx512vnni,avx2,fma,f16c",
    fn dp(acc, a, b) {
        _mm512_dpbusd_epi32(acc, a, b)
    }
    fn dot_i8(w, x) {
        // (w + 128)·x − 128·x, both as exact u8·i8 dot products: exact for
        // every i8 value on both sides.
        let k80 = _mm512_set1_epi8(-128);
        let z = _mm512_setzero_si512();
        _mm512_sub_epi32(_mm512_dpbusd_epi32(z, _mm512_xor_si512(w, k80), x), _mm512_dpbusd_epi32(z, k80, x))
    }
);

avx512_impl!(
    imp_plain,
    "avx512f,avx512bw,avx2,fma,f16c",
    fn dp(acc, a, b) {
        _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(a, b), _mm512_set1_epi16(1)))
    }
    fn dot_i8(w, x) {
        // |w| as u8 times x negated where w < 0 (exact unless x = −128).
        let neg = _mm512_movepi8_mask(w);
        let sx = _mm512_mask_sub_epi8(x, neg, _mm512_setzero_si512(), x);
        _mm512_madd_epi16(_mm512_maddubs_epi16(_mm512_abs_epi8(w), sx), _mm512_set1_epi16(1))
    }
);
