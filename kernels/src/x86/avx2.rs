//! AVX2 + FMA + F16C kernels. See the module docs of [`crate::x86`] for the
//! exactness contract.

use crate::blocks::*;
use crate::scalar;
use crate::Kernels;
use core::arch::x86_64::*;
use half::f16;

/// True when this CPU can run the AVX2 path.
pub(crate) fn detected() -> bool {
    is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c")
}

/// The AVX2 table, or `None` when the CPU lacks AVX2, FMA or F16C.
pub(crate) fn table() -> Option<Kernels> {
    if !detected() {
        return None;
    }
    Some(Kernels {
        name: "avx2",
        quantize_q8_0,
        quantize_q8_1,
        quantize_q8_k,
        dot_q4_0_q8_0,
        dot_q4_1_q8_1,
        dot_q8_0_q8_0,
        dot_q6k_q8k,
        dot_f16_f32,
        dot_f32_f32,
    })
}

// ---------------------------------------------------------------------------
// Safe wrappers. They are only reachable through a table built by `table()`
// (or by the AVX-512 table, whose detection implies AVX2+FMA+F16C).

macro_rules! wrappers {
    ($( $name:ident ( $a:ident : $ta:ty, $b:ident : $tb:ty ) $(-> $r:ty)? ; )*) => {$(
        pub(crate) fn $name($a: $ta, $b: $tb) $(-> $r)? {
            // SAFETY: these wrappers are placed only in tables built after
            // `detected()` returned true (AVX2, FMA and F16C present).
            unsafe { imp::$name($a, $b) }
        }
    )*};
}

wrappers! {
    quantize_q8_0(x: &[f32], y: &mut [BlockQ8_0]);
    quantize_q8_1(x: &[f32], y: &mut [BlockQ8_1]);
    quantize_q8_k(x: &[f32], y: &mut [BlockQ8K]);
    dot_q4_0_q8_0(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32;
    dot_q4_1_q8_1(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f32;
    dot_q8_0_q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32;
    dot_q6k_q8k(w: &[BlockQ6K], x: &[BlockQ8K]) -> f32;
    dot_f16_f32(w: &[f16], x: &[f32]) -> f32;
    dot_f32_f32(w: &[f32], x: &[f32]) -> f32;
}

#[inline]
fn check_len(elems: usize, blocks: usize, per_block: usize) {
    assert_eq!(
        elems,
        blocks * per_block,
        "row length {elems} does not match {blocks} blocks of {per_block}"
    );
}

pub(crate) mod imp {
    use super::*;

    // ----- helpers (safe target-feature functions, inlined into callers) --

    /// Horizontal max of 8 f32.
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    pub(crate) fn hmax_ps(v: __m256) -> f32 {
        let m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        let m = _mm_max_ss(m, _mm_movehdup_ps(m));
        _mm_cvtss_f32(m)
    }

    /// Horizontal sum of 8 i32 (exact, wrapping never happens for our ranges).
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    pub(crate) fn hsum_epi32(v: __m256i) -> i32 {
        let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
        let s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01>(s));
        _mm_cvtsi128_si32(s)
    }

    /// Sum of each of four 8×i32 vectors: `[Σa, Σb, Σc, Σd]`.
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    pub(crate) fn hsum4_epi32(a: __m256i, b: __m256i, c: __m256i, d: __m256i) -> __m128i {
        let ab = _mm256_hadd_epi32(a, b);
        let cd = _mm256_hadd_epi32(c, d);
        let abcd = _mm256_hadd_epi32(ab, cd);
        _mm_add_epi32(
            _mm256_castsi256_si128(abcd),
            _mm256_extracti128_si256::<1>(abcd),
        )
    }

    /// Four f16 values to f32.
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    pub(crate) fn f16x4(a: f16, b: f16, c: f16, d: f16) -> __m128 {
        _mm_cvtph_ps(_mm_setr_epi16(
            a.to_bits() as i16,
            b.to_bits() as i16,
            c.to_bits() as i16,
            d.to_bits() as i16,
            0,
            0,
            0,
            0,
        ))
    }

    /// f32 → f16 bits, round to nearest even (same as `half::f16::from_f32`).
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    pub(crate) fn to_f16(v: f32) -> f16 {
        let h = _mm_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm_set_ss(v));
        f16::from_bits(_mm_extract_epi16::<0>(h) as u16)
    }

    /// Adds the four lanes of `t` to `sum` in lane order (the scalar order).
    #[inline(always)]
    pub(crate) fn add_in_order(sum: &mut f32, t: [f32; 4]) {
        *sum += t[0];
        *sum += t[1];
        *sum += t[2];
        *sum += t[3];
    }

    /// `roundf` on 8 lanes: round half away from zero, exact (trunc, then
    /// step away from zero when the dropped fraction is ≥ 0.5).
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    pub(crate) fn round_away(v: __m256) -> __m256 {
        let t = _mm256_round_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(v);
        let sign = _mm256_set1_ps(-0.0);
        let frac = _mm256_andnot_ps(sign, _mm256_sub_ps(v, t));
        let ge = _mm256_cmp_ps::<_CMP_GE_OQ>(frac, _mm256_set1_ps(0.5));
        let one = _mm256_or_ps(_mm256_set1_ps(1.0), _mm256_and_ps(v, sign));
        _mm256_add_ps(t, _mm256_and_ps(ge, one))
    }

    /// Packs 4×8 i32 (each in i8 range) to 32 i8 in order.
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    pub(crate) fn pack_i32x32_to_i8(a: __m256i, b: __m256i, c: __m256i, d: __m256i) -> __m256i {
        let ab = _mm256_packs_epi32(a, b); // a0-3 b0-3 | a4-7 b4-7
        let cd = _mm256_packs_epi32(c, d);
        let abcd = _mm256_packs_epi16(ab, cd); // a0-3 b0-3 c0-3 d0-3 | a4-7 b4-7 c4-7 d4-7
        _mm256_permutevar8x32_epi32(abcd, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7))
    }

    /// Shared Q8_0/Q8_1 block quantizer: returns (d, qs, Σq).
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    fn quantize_block_q8(x: &[f32; QK], qs: &mut [i8; QK]) -> (f32, i32) {
        let p = x.as_ptr();
        // SAFETY: `x` has 32 f32, read as four unaligned 8-lane loads.
        let v = unsafe {
            [
                _mm256_loadu_ps(p),
                _mm256_loadu_ps(p.add(8)),
                _mm256_loadu_ps(p.add(16)),
                _mm256_loadu_ps(p.add(24)),
            ]
        };
        let sign = _mm256_set1_ps(-0.0);
        let m = _mm256_max_ps(
            _mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_andnot_ps(sign, v[1])),
            _mm256_max_ps(_mm256_andnot_ps(sign, v[2]), _mm256_andnot_ps(sign, v[3])),
        );
        let amax = hmax_ps(m);
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let idv = _mm256_set1_ps(id);
        let q = v.map(|v| _mm256_cvttps_epi32(round_away(_mm256_mul_ps(v, idv))));
        let sum = hsum_epi32(_mm256_add_epi32(
            _mm256_add_epi32(q[0], q[1]),
            _mm256_add_epi32(q[2], q[3]),
        ));
        let packed = pack_i32x32_to_i8(q[0], q[1], q[2], q[3]);
        // SAFETY: `qs` has 32 bytes.
        unsafe { _mm256_storeu_si256(qs.as_mut_ptr().cast(), packed) };
        (d, sum)
    }

    // ----- quantizers ------------------------------------------------------

    /// AVX2 Q8_0 quantizer, bit-identical to [`scalar::quantize_row_q8_0`].
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA and F16C.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn quantize_q8_0(x: &[f32], y: &mut [BlockQ8_0]) {
        check_len(x.len(), y.len(), QK);
        for (xb, yb) in x.chunks_exact(QK).zip(y.iter_mut()) {
            let xb: &[f32; QK] = xb.try_into().unwrap_or_else(|_| unreachable!());
            let (d, _) = quantize_block_q8(xb, &mut yb.qs);
            yb.d = to_f16(d);
        }
    }

    /// AVX2 Q8_1 quantizer, bit-identical to [`scalar::quantize_row_q8_1`].
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA and F16C.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn quantize_q8_1(x: &[f32], y: &mut [BlockQ8_1]) {
        check_len(x.len(), y.len(), QK);
        for (xb, yb) in x.chunks_exact(QK).zip(y.iter_mut()) {
            let xb: &[f32; QK] = xb.try_into().unwrap_or_else(|_| unreachable!());
            let (d, sum) = quantize_block_q8(xb, &mut yb.qs);
            yb.d = to_f16(d);
            yb.s = to_f16(sum as f32 * d);
        }
    }

    /// AVX2 Q8_K quantizer, bit-identical to [`scalar::quantize_row_q8_k`].
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA and F16C.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn quantize_q8_k(x: &[f32], y: &mut [BlockQ8K]) {
        check_len(x.len(), y.len(), QK_K);
        let sign = _mm256_set1_ps(-0.0);
        for (xb, yb) in x.chunks_exact(QK_K).zip(y.iter_mut()) {
            let p = xb.as_ptr();
            let mut m = _mm256_setzero_ps();
            for i in 0..QK_K / 8 {
                // SAFETY: i*8+8 ≤ 256 = xb.len().
                let v = unsafe { _mm256_loadu_ps(p.add(8 * i)) };
                m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v));
            }
            let amax = hmax_ps(m);
            if amax == 0.0 {
                yb.d = 0.0;
                yb.qs = [0; QK_K];
                yb.bsums = [0; QK_K / 16];
                continue;
            }
            // The first element whose magnitude equals amax (the scalar code
            // keeps the first strictly larger one, i.e. the first maximum).
            let av = _mm256_set1_ps(amax);
            let mut max = 0.0f32;
            for i in 0..QK_K / 8 {
                // SAFETY: as above.
                let v = unsafe { _mm256_loadu_ps(p.add(8 * i)) };
                let mask =
                    _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_EQ_OQ>(_mm256_andnot_ps(sign, v), av));
                if mask != 0 {
                    max = xb[8 * i + mask.trailing_zeros() as usize];
                    break;
                }
            }
            let iscale = -127.0f32 / max;
            let isv = _mm256_set1_ps(iscale);
            let lim = _mm256_set1_epi32(127);
            for j in 0..QK_K / 32 {
                let mut q = [_mm256_setzero_si256(); 4];
                for (k, qk) in q.iter_mut().enumerate() {
                    // SAFETY: 32*j + 8*k + 8 ≤ 256.
                    let v = unsafe { _mm256_loadu_ps(p.add(32 * j + 8 * k)) };
                    let r = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
                        _mm256_mul_ps(v, isv),
                    );
                    *qk = _mm256_min_epi32(_mm256_cvttps_epi32(r), lim);
                }
                yb.bsums[2 * j] = hsum_epi32(_mm256_add_epi32(q[0], q[1])) as i16;
                yb.bsums[2 * j + 1] = hsum_epi32(_mm256_add_epi32(q[2], q[3])) as i16;
                let packed = pack_i32x32_to_i8(q[0], q[1], q[2], q[3]);
                // SAFETY: 32*j + 32 ≤ 256 bytes of `qs`.
                unsafe { _mm256_storeu_si256(yb.qs.as_mut_ptr().add(32 * j).cast(), packed) };
            }
            yb.d = 1.0 / iscale;
        }
    }

    // ----- quantized dots --------------------------------------------------

    /// The 32 nibbles of a Q4 block as bytes in element order.
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    pub(crate) fn unpack_nibbles(qs: &[u8; QK / 2]) -> __m256i {
        // SAFETY: `qs` has 16 bytes.
        let b = unsafe { _mm_loadu_si128(qs.as_ptr().cast()) };
        let m = _mm_set1_epi8(0xF);
        let lo = _mm_and_si128(b, m);
        let hi = _mm_and_si128(_mm_srli_epi16::<4>(b), m);
        _mm256_set_m128i(hi, lo)
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    pub(crate) fn load_i8x32(qs: &[i8; QK]) -> __m256i {
        // SAFETY: `qs` has 32 bytes.
        unsafe { _mm256_loadu_si256(qs.as_ptr().cast()) }
    }

    /// Σ (nibble − 8)·q over one block, as 8 partial i32 sums.
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    fn block_q4_0(w: &BlockQ4_0, x: &BlockQ8_0) -> __m256i {
        let n = unpack_nibbles(&w.qs);
        let q = load_i8x32(&x.qs);
        // (n·q) − (8·q) per byte pair: both fit i16 exactly, as does the difference.
        let p = _mm256_sub_epi16(
            _mm256_maddubs_epi16(n, q),
            _mm256_maddubs_epi16(_mm256_set1_epi8(8), q),
        );
        _mm256_madd_epi16(p, _mm256_set1_epi16(1))
    }

    /// AVX2 Q4_0·Q8_0, bit-identical to [`scalar::dot_q4_0_q8_0`].
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA and F16C.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn dot_q4_0_q8_0(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 {
        assert_eq!(w.len(), x.len());
        let mut sumf = 0.0f32;
        let mut wc = w.chunks_exact(4);
        let mut xc = x.chunks_exact(4);
        for (w4, x4) in (&mut wc).zip(&mut xc) {
            let s = hsum4_epi32(
                block_q4_0(&w4[0], &x4[0]),
                block_q4_0(&w4[1], &x4[1]),
                block_q4_0(&w4[2], &x4[2]),
                block_q4_0(&w4[3], &x4[3]),
            );
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

    /// Σ nibble·q over one block, as 8 partial i32 sums.
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    fn block_q4_1(w: &BlockQ4_1, x: &BlockQ8_1) -> __m256i {
        let n = unpack_nibbles(&w.qs);
        let q = load_i8x32(&x.qs);
        _mm256_madd_epi16(_mm256_maddubs_epi16(n, q), _mm256_set1_epi16(1))
    }

    /// AVX2 Q4_1·Q8_1, bit-identical to [`scalar::dot_q4_1_q8_1`].
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA and F16C.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn dot_q4_1_q8_1(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f32 {
        assert_eq!(w.len(), x.len());
        let mut sumf = 0.0f32;
        let mut wc = w.chunks_exact(4);
        let mut xc = x.chunks_exact(4);
        for (w4, x4) in (&mut wc).zip(&mut xc) {
            let s = hsum4_epi32(
                block_q4_1(&w4[0], &x4[0]),
                block_q4_1(&w4[1], &x4[1]),
                block_q4_1(&w4[2], &x4[2]),
                block_q4_1(&w4[3], &x4[3]),
            );
            let dw = f16x4(w4[0].d, w4[1].d, w4[2].d, w4[3].d);
            let dx = f16x4(x4[0].d, x4[1].d, x4[2].d, x4[3].d);
            let mw = f16x4(w4[0].m, w4[1].m, w4[2].m, w4[3].m);
            let sx = f16x4(x4[0].s, x4[1].s, x4[2].s, x4[3].s);
            // Same expression as scalar: (dw·dx)·sumi + mw·sx, no FMA.
            let t = _mm_add_ps(
                _mm_mul_ps(_mm_mul_ps(dw, dx), _mm_cvtepi32_ps(s)),
                _mm_mul_ps(mw, sx),
            );
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

    /// Σ w·x over one Q8_0 block pair as 8 partial i32 sums. Exact when the
    /// activation `x` has no −128 (our quantizers produce [−127, 127]); the
    /// weight may hold any i8.
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    fn block_q8_0(w: &BlockQ8_0, x: &BlockQ8_0) -> __m256i {
        let a = load_i8x32(&w.qs);
        let b = load_i8x32(&x.qs);
        // |w| as u8 times x with w's sign: pair sums ≤ 2·128·127 < 2^15.
        let p = _mm256_maddubs_epi16(_mm256_abs_epi8(a), _mm256_sign_epi8(b, a));
        _mm256_madd_epi16(p, _mm256_set1_epi16(1))
    }

    /// AVX2 Q8_0·Q8_0, bit-identical to [`scalar::dot_q8_0_q8_0`] when the
    /// activation row `x` has no −128 values.
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA and F16C.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn dot_q8_0_q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 {
        assert_eq!(w.len(), x.len());
        let mut sumf = 0.0f32;
        let mut wc = w.chunks_exact(4);
        let mut xc = x.chunks_exact(4);
        for (w4, x4) in (&mut wc).zip(&mut xc) {
            let s = hsum4_epi32(
                block_q8_0(&w4[0], &x4[0]),
                block_q8_0(&w4[1], &x4[1]),
                block_q8_0(&w4[2], &x4[2]),
                block_q8_0(&w4[3], &x4[3]),
            );
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

    /// ggml's eight Q6_K·Q8_K lane sums for one super-block (lane l sums
    /// scale·a·q over elements ≡ l mod 8), computed exactly.
    ///
    /// Bytes are shuffled so that each maddubs pair holds elements i and i+8
    /// of one 16-element sub-block (same lane class); two sub-block results
    /// are interleaved so that one `madd` applies both scales per class.
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    pub(crate) fn aux32_q6k(w: &BlockQ6K, x: &BlockQ8K) -> __m256i {
        let pair = _mm256_setr_epi8(
            0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15, 0, 8, 1, 9, 2, 10, 3, 11, 4, 12,
            5, 13, 6, 14, 7, 15,
        );
        let m4 = _mm256_set1_epi8(0xF);
        let m2 = _mm256_set1_epi8(3);
        let k32 = _mm256_set1_epi8(32);
        let mut acc_lo = _mm256_setzero_si256();
        let mut acc_hi = _mm256_setzero_si256();
        for h in 0..2 {
            // SAFETY: ql has 128 bytes (64h + 64 ≤ 128), qh 64 (32h + 32 ≤ 64).
            let (ql0, ql1, qh) = unsafe {
                (
                    _mm256_loadu_si256(w.ql.as_ptr().add(64 * h).cast()),
                    _mm256_loadu_si256(w.ql.as_ptr().add(64 * h + 32).cast()),
                    _mm256_loadu_si256(w.qh.as_ptr().add(32 * h).cast()),
                )
            };
            let g = [
                _mm256_or_si256(
                    _mm256_and_si256(ql0, m4),
                    _mm256_slli_epi16::<4>(_mm256_and_si256(qh, m2)),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(ql1, m4),
                    _mm256_slli_epi16::<4>(_mm256_and_si256(_mm256_srli_epi16::<2>(qh), m2)),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16::<4>(ql0), m4),
                    _mm256_slli_epi16::<4>(_mm256_and_si256(_mm256_srli_epi16::<4>(qh), m2)),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16::<4>(ql1), m4),
                    _mm256_slli_epi16::<4>(_mm256_and_si256(_mm256_srli_epi16::<6>(qh), m2)),
                ),
            ];
            let mut d = [_mm256_setzero_si256(); 4];
            for (k, dk) in d.iter_mut().enumerate() {
                // SAFETY: 128h + 32k + 32 ≤ 256 bytes of x.qs.
                let q8 = unsafe { _mm256_loadu_si256(x.qs.as_ptr().add(128 * h + 32 * k).cast()) };
                let q8 = _mm256_shuffle_epi8(q8, pair);
                let q6 = _mm256_shuffle_epi8(g[k], pair);
                // (q6 − 32)·q8 per same-class pair, exact in i16.
                *dk = _mm256_sub_epi16(_mm256_maddubs_epi16(q6, q8), _mm256_maddubs_epi16(k32, q8));
            }
            let sc = |i: usize| i16::from(w.scales[8 * h + i]);
            for k in [0usize, 2] {
                // d[k]: sub-blocks (A, B) in its two 128-bit lanes; d[k+1]: (C, D).
                let (a, b, c, dd) = (sc(2 * k), sc(2 * k + 1), sc(2 * k + 2), sc(2 * k + 3));
                let s = _mm256_setr_epi16(a, c, a, c, a, c, a, c, b, dd, b, dd, b, dd, b, dd);
                acc_lo = _mm256_add_epi32(
                    acc_lo,
                    _mm256_madd_epi16(_mm256_unpacklo_epi16(d[k], d[k + 1]), s),
                );
                acc_hi = _mm256_add_epi32(
                    acc_hi,
                    _mm256_madd_epi16(_mm256_unpackhi_epi16(d[k], d[k + 1]), s),
                );
            }
        }
        let lo = _mm_add_epi32(
            _mm256_castsi256_si128(acc_lo),
            _mm256_extracti128_si256::<1>(acc_lo),
        );
        let hi = _mm_add_epi32(
            _mm256_castsi256_si128(acc_hi),
            _mm256_extracti128_si256::<1>(acc_hi),
        );
        _mm256_set_m128i(hi, lo)
    }

    /// AVX2 Q6_K·Q8_K, bit-identical to [`scalar::dot_q6k_q8k`].
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA and F16C.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn dot_q6k_q8k(w: &[BlockQ6K], x: &[BlockQ8K]) -> f32 {
        assert_eq!(w.len(), x.len());
        let mut sums = _mm256_setzero_ps();
        for (wb, xb) in w.iter().zip(x) {
            let aux = aux32_q6k(wb, xb);
            let d = _mm256_set1_ps(wb.d.to_f32() * xb.d);
            sums = _mm256_add_ps(sums, _mm256_mul_ps(d, _mm256_cvtepi32_ps(aux)));
        }
        let mut s = [0f32; 8];
        // SAFETY: `s` holds 8 f32.
        unsafe { _mm256_storeu_ps(s.as_mut_ptr(), sums) };
        let mut sumf = 0.0f32;
        for v in s {
            sumf += v;
        }
        sumf
    }

    // ----- float dots -------------------------------------------------------

    /// Sum of 8 f32 lanes.
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    pub(crate) fn hsum_ps(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_movehdup_ps(s));
        _mm_cvtss_f32(s)
    }

    /// AVX2 f16·f32 dot: four 8-lane FMA accumulators, scalar tail.
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA and F16C.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn dot_f16_f32(w: &[f16], x: &[f32]) -> f32 {
        assert_eq!(w.len(), x.len());
        let n = w.len() / 32 * 32;
        let (wp, xp) = (w.as_ptr().cast::<u16>(), x.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        while i < n {
            for (k, a) in acc.iter_mut().enumerate() {
                // SAFETY: i + 8k + 8 ≤ n ≤ len of both slices.
                let (wv, xv) = unsafe {
                    (
                        _mm256_cvtph_ps(_mm_loadu_si128(wp.add(i + 8 * k).cast())),
                        _mm256_loadu_ps(xp.add(i + 8 * k)),
                    )
                };
                *a = _mm256_fmadd_ps(wv, xv, *a);
            }
            i += 32;
        }
        let mut sum = hsum_ps(_mm256_add_ps(
            _mm256_add_ps(acc[0], acc[1]),
            _mm256_add_ps(acc[2], acc[3]),
        ));
        for (a, b) in w[n..].iter().zip(&x[n..]) {
            sum += a.to_f32() * b;
        }
        sum
    }

    /// AVX2 f32·f32 dot: four 8-lane FMA accumulators, scalar tail.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn dot_f32_f32(w: &[f32], x: &[f32]) -> f32 {
        assert_eq!(w.len(), x.len());
        let n = w.len() / 32 * 32;
        let (wp, xp) = (w.as_ptr(), x.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        while i < n {
            for (k, a) in acc.iter_mut().enumerate() {
                // SAFETY: i + 8k + 8 ≤ n ≤ len of both slices.
                let (wv, xv) = unsafe {
                    (
                        _mm256_loadu_ps(wp.add(i + 8 * k)),
                        _mm256_loadu_ps(xp.add(i + 8 * k)),
                    )
                };
                *a = _mm256_fmadd_ps(wv, xv, *a);
            }
            i += 32;
        }
        let mut sum = hsum_ps(_mm256_add_ps(
            _mm256_add_ps(acc[0], acc[1]),
            _mm256_add_ps(acc[2], acc[3]),
        ));
        for (a, b) in w[n..].iter().zip(&x[n..]) {
            sum += a * b;
        }
        sum
    }
}
