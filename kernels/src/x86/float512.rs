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
pub(crate) fn value_sum16_f16(
    out: &mut [f32],
    rows: usize,
    w: &[f32],
    ws: usize,
    n: usize,
    v: &[f16],
    vs: usize,
) {
    // SAFETY: as for `scores16`.
    unsafe { imp::value_sum16_f16(out, rows, w, ws, n, v, vs) }
}

/// [`f::softmax`] on AVX-512F: llama.cpp's own vector form of it.
pub(crate) fn softmax(x: &mut [f32]) {
    // SAFETY: as for `scores16`.
    unsafe { imp::softmax(x) }
}

/// [`f::round_f16`] on AVX-512F (`vcvtps2ph` to nearest even and back).
pub(crate) fn round_f16(x: &mut [f32]) {
    // SAFETY: as for `scores16`.
    unsafe { imp::round_f16(x) }
}

mod imp {
    use super::*;

    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    pub(super) unsafe fn round_f16(x: &mut [f32]) {
        let (len, p) = (x.len(), x.as_mut_ptr());
        for i in (0..len).step_by(16) {
            let m: __mmask16 = if len - i >= 16 {
                0xffff
            } else {
                (1u16 << (len - i)) - 1
            };
            // SAFETY: the mask covers elements i..len only.
            unsafe {
                let v = _mm512_maskz_loadu_ps(m, p.add(i));
                let h = _mm512_cvtps_ph::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(v);
                _mm512_mask_storeu_ps(p.add(i), m, _mm512_cvtph_ps(h));
            }
        }
    }

    /// [`f::exp_approx`] of 16 lanes, the same operations (`scalef` is the
    /// single rounding that `scale_pow2` reproduces).
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    fn exp16(x: __m512) -> __m512 {
        let c = |b: u32| _mm512_set1_ps(f32::from_bits(b));
        let r = c(0x4b40_0000);
        let z = _mm512_fmadd_ps(x, c(0x3fb8_aa3b), r);
        let n = _mm512_sub_ps(z, r);
        let b = _mm512_fnmadd_ps(n, c(0x35bf_be8e), _mm512_fnmadd_ps(n, c(0x3f31_7200), x));
        let u = _mm512_mul_ps(b, b);
        let j = _mm512_fmadd_ps(
            _mm512_fmadd_ps(
                _mm512_fmadd_ps(c(0x3c07_2010), b, c(0x3d2b_9f17)),
                u,
                _mm512_fmadd_ps(c(0x3e2a_af33), b, c(0x3eff_fedb)),
            ),
            u,
            _mm512_fmadd_ps(c(0x3f7f_fff6), b, _mm512_set1_ps(1.0)),
        );
        let res = _mm512_scalef_ps(j, n);
        let far = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(_mm512_abs_ps(n), _mm512_set1_ps(192.0));
        if far == 0 {
            return res;
        }
        let up = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(n, _mm512_setzero_ps());
        let alt = _mm512_maskz_mov_ps(up, _mm512_set1_ps(f32::INFINITY));
        _mm512_mask_blend_ps(far, res, alt)
    }

    /// [`f::reduce16`] of a register: j + j+8, then j + j+4, then
    /// (0 + 2) + (1 + 3).
    #[target_feature(enable = "avx512f,avx2,fma")]
    #[inline]
    fn reduce16(v: __m512) -> f32 {
        let lo = _mm512_castps512_ps256(v);
        let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
        let t8 = _mm256_add_ps(hi, lo);
        let t4 = _mm_add_ps(_mm256_extractf128_ps::<1>(t8), _mm256_castps256_ps128(t8));
        let t2 = _mm_add_ps(t4, _mm_movehl_ps(t4, t4));
        _mm_cvtss_f32(_mm_add_ss(t2, _mm_movehdup_ps(t2)))
    }

    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(super) unsafe fn softmax(x: &mut [f32]) {
        let len = x.len();
        let p = x.as_mut_ptr();
        let mask = |i: usize| -> __mmask16 {
            if len - i >= 16 {
                0xffff
            } else {
                (1u16 << (len - i)) - 1
            }
        };
        let mut mx = _mm512_set1_ps(f32::NEG_INFINITY);
        for i in (0..len).step_by(16) {
            // SAFETY: the mask covers elements i..len only.
            let v = unsafe { _mm512_mask_loadu_ps(mx, mask(i), p.add(i)) };
            mx = _mm512_max_ps(mx, v);
        }
        let max = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
        let mut sum = 0f64;
        for i in (0..len).step_by(16) {
            let m = mask(i);
            // SAFETY: the mask covers elements i..len only.
            unsafe {
                let v = _mm512_maskz_loadu_ps(m, p.add(i));
                let e = _mm512_maskz_mov_ps(m, exp16(_mm512_sub_ps(v, max)));
                _mm512_mask_storeu_ps(p.add(i), m, e);
                sum += f64::from(reduce16(e));
            }
        }
        let inv = _mm512_set1_ps((1.0 / sum) as f32);
        for i in (0..len).step_by(16) {
            let m = mask(i);
            // SAFETY: the mask covers elements i..len only.
            unsafe {
                let v = _mm512_maskz_loadu_ps(m, p.add(i));
                _mm512_mask_storeu_ps(p.add(i), m, _mm512_mul_ps(v, inv));
            }
        }
    }

    /// # Safety
    /// The CPU must support AVX-512F and F16C.
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    pub(super) unsafe fn value_sum16_f16(
        out: &mut [f32],
        rows: usize,
        w: &[f32],
        ws: usize,
        n: usize,
        v: &[f16],
        vs: usize,
    ) {
        if rows == 0 {
            return;
        }
        f::check_value_sum(out.len(), rows, w.len(), ws, n, v.len(), vs);
        let hd = out.len() / rows;
        if n == 0 || !hd.is_multiple_of(16) {
            return f::value_sum16_f16(out, rows, w, ws, n, v, vs);
        }
        let mut r = 0;
        while r < rows {
            let o = out[r * hd..].as_mut_ptr();
            let wr = w[r * ws..].as_ptr();
            for c in (0..hd).step_by(16) {
                // SAFETY: the checks above: rows r.. of `w` hold n weights
                // at stride ws, rows i < n of `v` hold hd values at i·vs,
                // `out` holds rows r.. of hd values, c + 16 ≤ hd.
                unsafe {
                    match rows - r {
                        8.. => sum_rows::<8>(o.add(c), hd, wr, ws, n, v.as_ptr().add(c), vs),
                        4.. => sum_rows::<4>(o.add(c), hd, wr, ws, n, v.as_ptr().add(c), vs),
                        _ => sum_rows::<1>(o.add(c), hd, wr, ws, n, v.as_ptr().add(c), vs),
                    }
                }
            }
            r += match rows - r {
                8.. => 8,
                4.. => 4,
                _ => 1,
            };
        }
    }

    /// Elements `0..16` (relative to `out`, `v`) of `R` rows of
    /// [`f::value_sum16_f16`]: lanes (j, j + 8) as two chains per row at a
    /// time, each value converted once for the `R` rows, the pairs
    /// combined in `reduce16`'s tree as they complete.
    ///
    /// # Safety
    /// AVX-512F and F16C; `R` rows of `n ≥ 1` weights at `w` (stride
    /// `ws`), `n` rows of 16 readable values at `v` (stride `vs`), `R` rows
    /// of 16 writable values at `out` (stride `hd`).
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    #[inline]
    unsafe fn sum_rows<const R: usize>(
        out: *mut f32,
        hd: usize,
        w: *const f32,
        ws: usize,
        n: usize,
        v: *const f16,
        vs: usize,
    ) {
        // SAFETY (for every access below): i < n and r < R, within the
        // caller's bounds.
        let t8 = |j: usize| -> [__m512; R] {
            let mut lo = [_mm512_setzero_ps(); R];
            let mut hi = [_mm512_setzero_ps(); R];
            let mut i = j;
            while i + 8 < n {
                // SAFETY: rows i and i + 8 < n.
                unsafe {
                    let x = load_f16x16(v.add(i * vs));
                    let y = load_f16x16(v.add((i + 8) * vs));
                    for r in 0..R {
                        lo[r] = _mm512_fmadd_ps(_mm512_set1_ps(*w.add(r * ws + i)), x, lo[r]);
                        hi[r] = _mm512_fmadd_ps(_mm512_set1_ps(*w.add(r * ws + i + 8)), y, hi[r]);
                    }
                }
                i += 16;
            }
            if i < n {
                // SAFETY: row i < n.
                unsafe {
                    let x = load_f16x16(v.add(i * vs));
                    for (r, lo) in lo.iter_mut().enumerate() {
                        *lo = _mm512_fmadd_ps(_mm512_set1_ps(*w.add(r * ws + i)), x, *lo);
                    }
                }
            }
            std::array::from_fn(|r| _mm512_add_ps(hi[r], lo[r]))
        };
        let sum = tree8(t8);
        for (r, s) in sum.iter().enumerate() {
            // SAFETY: row r < R of `out` holds 16 values.
            unsafe { _mm512_storeu_ps(out.add(r * hd), *s) };
        }
    }

    /// The last three levels of reduce16's tree over eight partial sums
    /// `t8(0..8)` of R rows: t4_j = t8(j + 4) + t8(j), then
    /// (t4_0 + t4_2) + (t4_1 + t4_3); pairs are taken as they complete so
    /// few values are live.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn tree8<const R: usize>(mut t8: impl FnMut(usize) -> [__m512; R]) -> [__m512; R] {
        let add = |a: [__m512; R], b: [__m512; R]| -> [__m512; R] {
            std::array::from_fn(|r| _mm512_add_ps(a[r], b[r]))
        };
        let t4_0 = add(t8(4), t8(0));
        let t4_2 = add(t8(6), t8(2));
        let s02 = add(t4_0, t4_2);
        let t4_1 = add(t8(5), t8(1));
        let t4_3 = add(t8(7), t8(3));
        add(s02, add(t4_1, t4_3))
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
        while r < rows {
            let step = match rows - r {
                4.. => 4,
                2 | 3 => 2,
                _ => 1,
            };
            let qr = q[r * hd..].as_ptr();
            // SAFETY: rows r..r + step exist in `q`; their outputs end at
            // stride·(r + step − 1) + 16 ≤ out.len().
            unsafe {
                match step {
                    4 => rows_r::<4>(kt, qr, hd, scale, out, r * stride, stride),
                    2 => rows_r::<2>(kt, qr, hd, scale, out, r * stride, stride),
                    _ => rows_r::<1>(kt, qr, hd, scale, out, r * stride, stride),
                }
            }
            r += step;
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
        // t8_j = lane j+8 + lane j of each row's 16 dots.
        let t8 = |j: usize| -> [__m512; R] {
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
            std::array::from_fn(|i| _mm512_add_ps(hi[i], lo[i]))
        };
        let sum = tree8(t8);
        let s = _mm512_set1_ps(scale);
        for (i, sum) in sum.iter().enumerate() {
            let o = &mut out[at + stride * i..][..KEY_TILE];
            // SAFETY: `o` holds 16 values.
            unsafe { _mm512_storeu_ps(o.as_mut_ptr(), _mm512_mul_ps(*sum, s)) };
        }
    }
}
