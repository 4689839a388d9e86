//! AVX-512 bodies of the attention's tile kernels
//! ([`crate::float_ops::scores16`], [`crate::float_ops::value_sum16_f16`]):
//! the same fused multiply-adds and adds in the same order as the
//! reference, so the same bits, with one 16-lane register per row chunk.

use crate::float_ops::{self as f, KEY_TILE};
use core::arch::x86_64::*;
use half::f16;

/// [`f::scores16`] on AVX-512F.
pub(crate) fn scores16(kt: &[f32], q: &[f32], scale: f32, out: &mut [f32], stride: usize) {
    // SAFETY: placed only in the AVX-512 tables, built with an `Avx512`
    // token (AVX-512F, AVX2, FMA and F16C detected).
    unsafe { imp::scores16(kt, q, scale, out, stride) }
}

/// [`f::value_sum16_f16`] on AVX-512F.
pub(crate) fn value_sum16_f16(out: &mut [f32], w: &[f32], v: &[f16], stride: usize) {
    // SAFETY: as for `scores16`.
    unsafe { imp::value_sum16_f16(out, w, v, stride) }
}

mod imp {
    use super::*;

    /// # Safety
    /// The CPU must support AVX-512F and F16C.
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    pub(super) unsafe fn value_sum16_f16(out: &mut [f32], w: &[f32], v: &[f16], stride: usize) {
        let hd = out.len();
        assert!(
            w.is_empty() || v.len() >= stride * (w.len() - 1) + hd,
            "value_sum16_f16: values too short"
        );
        let mut c = 0;
        while c + 64 <= hd {
            // SAFETY: c + 64 ≤ hd; rows i < w.len() hold hd values at
            // i·stride (checked above).
            unsafe { sum_chunk::<4>(&mut out[c..c + 64], w, v, stride, c) };
            c += 64;
        }
        while c + 16 <= hd {
            // SAFETY: as above, c + 16 ≤ hd.
            unsafe { sum_chunk::<1>(&mut out[c..c + 16], w, v, stride, c) };
            c += 16;
        }
        if c < hd {
            // The last hd mod 16 elements (rows still start at i·stride).
            let tail = &v[c.min(v.len())..];
            f::value_sum16_f16(&mut out[c..], w, tail, stride);
        }
    }

    /// Elements `c..c + 16·D` of [`f::value_sum16_f16`] into `out`
    /// (`16·D` values): lanes (j, j + 8) two chains at a time, each of `D`
    /// registers, combined in `reduce16`'s tree as they complete.
    ///
    /// # Safety
    /// AVX-512F and F16C; every row i < w.len() has 16·D readable values
    /// at `i·stride + c` in `v`.
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    #[inline]
    unsafe fn sum_chunk<const D: usize>(
        out: &mut [f32],
        w: &[f32],
        v: &[f16],
        stride: usize,
        c: usize,
    ) {
        let (vp, n) = (v.as_ptr(), w.len());
        // Lane chain pair (j, j + 8) summed: t8_j = lane j+8 + lane j.
        let t8 = |j: usize| -> [__m512; D] {
            let mut lo = [_mm512_setzero_ps(); D];
            let mut hi = [_mm512_setzero_ps(); D];
            let mut i = j;
            while i < n {
                let wi = _mm512_set1_ps(w[i]);
                for (k, lo) in lo.iter_mut().enumerate() {
                    // SAFETY: row i < n holds 16·D values at i·stride + c.
                    let x = unsafe { load_f16x16(vp.add(i * stride + c + 16 * k)) };
                    *lo = _mm512_fmadd_ps(wi, x, *lo);
                }
                i += 8;
                if i < n {
                    let wi = _mm512_set1_ps(w[i]);
                    for (k, hi) in hi.iter_mut().enumerate() {
                        // SAFETY: as above, row i < n.
                        let x = unsafe { load_f16x16(vp.add(i * stride + c + 16 * k)) };
                        *hi = _mm512_fmadd_ps(wi, x, *hi);
                    }
                }
                i += 8;
            }
            std::array::from_fn(|k| _mm512_add_ps(hi[k], lo[k]))
        };
        let add = |a: [__m512; D], b: [__m512; D]| -> [__m512; D] {
            std::array::from_fn(|k| _mm512_add_ps(a[k], b[k]))
        };
        // t4_j = t8_{j+4} + t8_j; sum = (t4_0 + t4_2) + (t4_1 + t4_3).
        let t4_0 = add(t8(4), t8(0));
        let t4_2 = add(t8(6), t8(2));
        let s02 = add(t4_0, t4_2);
        let t4_1 = add(t8(5), t8(1));
        let t4_3 = add(t8(7), t8(3));
        let sum = add(s02, add(t4_1, t4_3));
        for (k, s) in sum.iter().enumerate() {
            // SAFETY: `out` holds 16·D values.
            unsafe { _mm512_storeu_ps(out.as_mut_ptr().add(16 * k), *s) };
        }
    }

    /// Sixteen f16 values at `p` as f32 (exact).
    ///
    /// # Safety
    /// AVX-512F; 32 readable bytes at `p`.
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    #[inline]
    unsafe fn load_f16x16(p: *const f16) -> __m512 {
        // SAFETY: the caller guarantees 32 readable bytes at `p`.
        _mm512_cvtph_ps(unsafe { _mm256_loadu_si256(p.cast()) })
    }

    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(super) unsafe fn scores16(
        kt: &[f32],
        q: &[f32],
        scale: f32,
        out: &mut [f32],
        stride: usize,
    ) {
        // The reference's checks (and its result for no rows).
        if q.is_empty() || !kt.len().is_multiple_of(16 * KEY_TILE) {
            return f::scores16(kt, q, scale, out, stride);
        }
        let hd = kt.len() / KEY_TILE;
        assert!(
            q.len().is_multiple_of(hd),
            "scores16: queries are not whole rows"
        );
        let rows = q.len() / hd;
        assert!(
            out.len() >= stride * (rows - 1) + KEY_TILE,
            "scores16: output too short"
        );
        let mut r = 0;
        while r + 2 <= rows {
            // SAFETY: rows r, r + 1 exist in `q`; their outputs end at
            // stride·(r + 1) + 16 ≤ out.len().
            unsafe {
                rows_r::<2>(
                    kt,
                    q.as_ptr().add(r * hd),
                    hd,
                    scale,
                    out,
                    r * stride,
                    stride,
                )
            };
            r += 2;
        }
        if r < rows {
            // SAFETY: as above, for the last row.
            unsafe {
                rows_r::<1>(
                    kt,
                    q.as_ptr().add(r * hd),
                    hd,
                    scale,
                    out,
                    r * stride,
                    stride,
                )
            };
        }
    }

    /// Scores of `R` consecutive query rows at `q` against the key tile,
    /// written at `out[at + stride·i..][..16]`; each key vector is loaded
    /// once for the `R` rows.
    ///
    /// # Safety
    /// AVX-512F; `q` points to `R·hd` readable values, `kt.len() = 16·hd`
    /// with `hd` a multiple of 16, `at + stride·(R − 1) + 16 ≤ out.len()`.
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    unsafe fn rows_r<const R: usize>(
        kt: &[f32],
        q: *const f32,
        hd: usize,
        scale: f32,
        out: &mut [f32],
        at: usize,
        stride: usize,
    ) {
        let k = kt.as_ptr();
        let mut t8 = [[_mm512_setzero_ps(); 8]; R];
        for j in 0..8 {
            let mut lo = [_mm512_setzero_ps(); R];
            let mut hi = [_mm512_setzero_ps(); R];
            for c in 0..hd / 16 {
                // SAFETY: 16c + j + 8 < hd: key rows (16c + j [+ 8]) of 16
                // values lie in `kt`, the query values in row i < R.
                unsafe {
                    let kl = _mm512_loadu_ps(k.add((16 * c + j) * KEY_TILE));
                    let kh = _mm512_loadu_ps(k.add((16 * c + j + 8) * KEY_TILE));
                    for i in 0..R {
                        let qi = q.add(i * hd + 16 * c + j);
                        lo[i] = _mm512_fmadd_ps(kl, _mm512_set1_ps(*qi), lo[i]);
                        hi[i] = _mm512_fmadd_ps(kh, _mm512_set1_ps(*qi.add(8)), hi[i]);
                    }
                }
            }
            for i in 0..R {
                t8[i][j] = _mm512_add_ps(hi[i], lo[i]);
            }
        }
        let s = _mm512_set1_ps(scale);
        for (i, t8) in t8.iter().enumerate() {
            let t4: [__m512; 4] = std::array::from_fn(|j| _mm512_add_ps(t8[j + 4], t8[j]));
            let sum = _mm512_add_ps(_mm512_add_ps(t4[0], t4[2]), _mm512_add_ps(t4[1], t4[3]));
            let o = &mut out[at + stride * i..][..KEY_TILE];
            // SAFETY: `o` holds 16 values.
            unsafe { _mm512_storeu_ps(o.as_mut_ptr(), _mm512_mul_ps(sum, s)) };
        }
    }
}
