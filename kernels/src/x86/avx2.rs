//! AVX2 + FMA + F16C kernels. See the module docs of [`crate::x86`] for the
//! exactness contract.

use crate::blocks::*;
use crate::cpu::{Avx2, Cpu};
use crate::{FloatOps, Kernels};
use core::arch::x86_64::*;
use half::f16;

/// The AVX2 path-wide table (quantized types: `x86::<type>::avx2`).
pub(crate) fn table(_proof: Avx2, cpu: Cpu) -> Kernels {
    Kernels {
        name: "avx2",
        cpu,
        quantize_q8_0,
        dot_f16_f32,
        dot_f32_f32,
        float_ops: FMA_FLOAT_OPS,
        numerics: crate::quant::Numerics::Default,
    }
}

pub(super) fn dot2_q4_0_q8_0(w: &[BlockQ4_0], x: &[BlockQ8_0], out: &mut [f32; 2]) {
    // SAFETY: handed out only by constructors taking an `Avx2` token.
    unsafe { imp::dot2_q4_0_q8_0(w, x, out) }
}

pub(super) fn dot8x1_q4_0_q8_0(w: &[BlockQ4_0], x: &[BlockQ8_0], out: &mut [[f32; 8]; 1]) {
    // SAFETY: handed out only by constructors taking an `Avx2` token.
    unsafe { imp::dot8_q4_0_q8_0::<1>(w, x, out) }
}

pub(super) fn dot8x4_q4_0_q8_0(w: &[BlockQ4_0], x: &[BlockQ8_0], out: &mut [[f32; 8]; 4]) {
    // SAFETY: handed out only by constructors taking an `Avx2` token.
    unsafe { imp::dot8_q4_0_q8_0::<4>(w, x, out) }
}

/// The float operations compiled with FMA (same bits as
/// [`crate::float_ops::PLAIN`]; the AVX-512 tables use it too).
pub(crate) const FMA_FLOAT_OPS: FloatOps = FloatOps {
    silu_mul: fma_ops::silu_mul,
    softmax: fma_ops::softmax,
    dot_lanes16: fma_ops::dot_lanes16,
    dot_vec64: fma_ops::dot_vec64,
    fma_acc: fma_ops::fma_acc,
    dot_f16_lanes16,
    dot_f16_vec64,
    dot4_f16_lanes16,
    scores16: fma_ops::scores16,
    value_sum16_f16: fma_ops::value_sum16_f16,
    transpose: crate::x86::transpose::transpose,
    round_f16: crate::float_ops::PLAIN.round_f16,
};

/// Safe wrappers over the `float_ops` bodies compiled with AVX2 + FMA.
/// Reachable only through tables built with an `Avx2` token.
mod fma_ops {
    use crate::float_ops as f;
    use half::f16;

    macro_rules! fma_wrappers {
        ($( $name:ident ( $($a:ident : $t:ty),* ) $(-> $r:ty)? ; )*) => {$(
            pub(super) fn $name($($a: $t),*) $(-> $r)? {
                #[target_feature(enable = "avx2,fma")]
                unsafe fn inner($($a: $t),*) $(-> $r)? {
                    f::$name($($a),*)
                }
                // SAFETY: the table holding this function is built only
                // with an `Avx2` token (AVX2 and FMA detected).
                unsafe { inner($($a),*) }
            }
        )*};
    }

    fma_wrappers! {
        silu_mul(g: &mut [f32], u: &[f32]);
        softmax(x: &mut [f32]);
        dot_lanes16(a: &[f32], b: &[f32]) -> f32;
        dot_vec64(a: &[f32], b: &[f32]) -> f32;
        fma_acc(acc: &mut [f32], w: f32, v: &[f32]);
        scores16(kt: &[f32], q: &[f32], scale: f32, out: &mut [f32], stride: usize);
        value_sum16_f16(
            out: &mut [f32],
            rows: usize,
            w: &[f32],
            ws: usize,
            n: usize,
            v: &[f16],
            vs: usize
        );
    }
}

// ---------------------------------------------------------------------------
// Safe wrappers, visible only inside `x86`: they are handed out only by
// constructors that take an `Avx2` token (or a token implying it).

macro_rules! wrappers {
    ($( $name:ident ( $a:ident : $ta:ty, $b:ident : $tb:ty ) $(-> $r:ty)? ; )*) => {$(
        pub(super) fn $name($a: $ta, $b: $tb) $(-> $r)? {
            // SAFETY: these wrappers are placed only in tables built after
            // an `Avx2` token proved AVX2, FMA and F16C present.
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
    dot_f16_lanes16(w: &[f16], x: &[f32]) -> f32;
    dot_f16_vec64(w: &[f16], x: &[f32]) -> f32;
}

macro_rules! wrappers4 {
    ($( $name:ident ( $wt:ty, $xt:ty ); )*) => {$(
        pub(super) fn $name(w: &[$wt], x: &[$xt], out: &mut [f32; 4]) {
            // SAFETY: these wrappers are placed only in tables built after
            // an `Avx2` token proved AVX2, FMA and F16C present.
            unsafe { imp::$name(w, x, out) }
        }
    )*};
}

wrappers4! {
    dot4_q4_0_q8_0(BlockQ4_0, BlockQ8_0);
    dot4_q4_1_q8_1(BlockQ4_1, BlockQ8_1);
    dot4_q8_0_q8_0(BlockQ8_0, BlockQ8_0);
    dot4_q6k_q8k(BlockQ6K, BlockQ8K);
    dot4_f16_lanes16(f16, f32);
}

#[inline]
fn check_len(elems: usize, blocks: usize, per_block: usize) {
    assert_eq!(
        elems,
        blocks * per_block,
        "row length {elems} does not match {blocks} blocks of {per_block}"
    );
}

pub(crate) use super::block_macros::PREFETCH_BLOCKS;
pub(crate) use super::block_macros::{
    dot2_block_sums, dot2_blocks8, dot4_block_sums, dot4_blocks8, dot8_block_sums, dot_block_sums,
    dot_blocks8,
};

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

    /// f32 → f16 bits, round to nearest even (same as `half::f16::from_f32`).
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    pub(crate) fn to_f16(v: f32) -> f16 {
        let h = _mm_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm_set_ss(v));
        f16::from_bits(_mm_extract_epi16::<0>(h) as u16)
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
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        let idv = _mm256_set1_ps(id);
        let q = v.map(|v| {
            _mm256_cvtps_epi32(_mm256_round_ps::<
                { _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC },
            >(_mm256_mul_ps(v, idv)))
        });
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

    /// AVX2 Q8_0 quantizer, bit-identical to [`crate::scalar::quantize_row_q8_0`].
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

    /// AVX2 Q8_1 quantizer, bit-identical to [`crate::scalar::quantize_row_q8_1`].
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

    /// AVX2 Q8_K quantizer, bit-identical to [`crate::scalar::quantize_row_q8_k`].
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
    //
    // Each block's integer sums are computed exactly in eight i32 lanes
    // (the same lanes as llama.cpp's AVX2 kernels and the scalar reference);
    // the blocks are then combined in eight f32 lanes with FMA:
    // acc += d · f32(lanes), summed by `hsum_ps` at the end. Bit-identical
    // to `crate::scalar` (see the crate's `simd_vs_scalar` test).

    /// `a·b` of two f16 values (converted exactly, product rounded once) in lane 0.
    /// The first two f16 values of a block (its scale, and the Q4_1 `m` /
    /// Q8_1 `s` or the first two quant bytes), as f32 in lanes 0 and 1;
    /// lanes 2 and 3 are zero. One 4-byte load and one conversion.
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    pub(crate) fn head_f16x2<B: Block>(b: &B) -> __m128 {
        const { assert!(size_of::<B>() >= 4) };
        // SAFETY: every block type starts with its f16 scale (`repr(C)`)
        // and is at least 4 bytes long (checked above), so 4 bytes are
        // readable from the block's address; the read is unaligned-safe.
        let bits = unsafe { (b as *const B).cast::<i32>().read_unaligned() };
        _mm_cvtph_ps(_mm_cvtsi32_si128(bits))
    }

    /// Lane 1 of `v`.
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    pub(crate) fn lane1(v: __m128) -> f32 {
        _mm_cvtss_f32(_mm_movehdup_ps(v))
    }

    /// One f16 value as f32 (exact).
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    pub(crate) fn f16_to_f32(a: f16) -> f32 {
        _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(a.to_bits()))))
    }

    /// Eight f16 values as f32 (exact).
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    pub(crate) fn f16x8(v: [f16; 8]) -> __m256 {
        let b = v.map(|h| h.to_bits() as i16);
        _mm256_cvtph_ps(_mm_setr_epi16(
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
        ))
    }

    /// Lane k = Σ of the eight i32 lanes of `v[k]` (exact; no overflow for
    /// block sums).
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    pub(crate) fn reduce8(v: [__m256i; 8]) -> __m256i {
        let ab = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
        let cd = _mm256_hadd_epi32(_mm256_hadd_epi32(v[4], v[5]), _mm256_hadd_epi32(v[6], v[7]));
        _mm256_add_epi32(
            _mm256_permute2x128_si256::<0x20>(ab, cd),
            _mm256_permute2x128_si256::<0x31>(ab, cd),
        )
    }

    /// The 32 nibbles of a Q4 block as bytes in element order.
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    pub(crate) fn unpack_nibbles(qs: &[u8; QK / 2]) -> __m256i {
        // SAFETY: `qs` has 16 bytes.
        let b = unsafe { _mm_loadu_si128(qs.as_ptr().cast()) };
        _mm256_and_si256(
            _mm256_set_m128i(_mm_srli_epi16::<4>(b), b),
            _mm256_set1_epi8(0xF),
        )
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    pub(crate) fn load_i8x32(qs: &[i8; QK]) -> __m256i {
        // SAFETY: `qs` has 32 bytes.
        unsafe { _mm256_loadu_si256(qs.as_ptr().cast()) }
    }

    /// Σ (nibble − 8)·q over one block, as 8 partial i32 sums (exact).
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

    dot_block_sums!(
        /// AVX2 Q4_0·Q8_0 in the repacked-weight order (exact block sums, one FMA each).
        dot_q4_0_q8_0, "avx2,fma,f16c", BlockQ4_0, BlockQ8_0, block_q4_0
    );
    dot2_block_sums!(
        /// AVX2 2-row Q4_0·Q8_0, bit-identical per row to [`dot_q4_0_q8_0`].
        dot2_q4_0_q8_0, "avx2,fma,f16c", BlockQ4_0, BlockQ8_0, block_q4_0
    );

    /// Σ nibble·q over one block, as 8 partial i32 sums (exact).
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    pub(crate) fn block_q4_1(w: &BlockQ4_1, x: &BlockQ8_1) -> __m256i {
        let n = unpack_nibbles(&w.qs);
        let q = load_i8x32(&x.qs);
        _mm256_madd_epi16(_mm256_maddubs_epi16(n, q), _mm256_set1_epi16(1))
    }

    dot_blocks8!(
        /// AVX2 Q4_1·Q8_1: Σ (d_w·d_x)·sumi + m_w·s_x, exact block sums.
        dot_q4_1_q8_1, "avx2,fma,f16c", BlockQ4_1, BlockQ8_1, block_q4_1, m, s
    );

    /// Σ w·x over one Q8_0 block pair as 8 partial i32 sums. Exact when the
    /// activation `x` has no −128 (our quantizers produce [−127, 127]); the
    /// weight may hold any i8.
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    pub(crate) fn block_q8_0(w: &BlockQ8_0, x: &BlockQ8_0) -> __m256i {
        let a = load_i8x32(&w.qs);
        let b = load_i8x32(&x.qs);
        // |w| as u8 times x with w's sign: pair sums ≤ 2·128·127 < 2^15.
        let p = _mm256_maddubs_epi16(_mm256_abs_epi8(a), _mm256_sign_epi8(b, a));
        _mm256_madd_epi16(p, _mm256_set1_epi16(1))
    }

    dot_blocks8!(
        /// AVX2 Q8_0·Q8_0: exact block sums (activation without −128),
        /// Σ (d_w·d_x)·sumi in f32 lanes.
        dot_q8_0_q8_0, "avx2,fma,f16c", BlockQ8_0, BlockQ8_0, block_q8_0
    );

    // ----- 4-row quantized dots (one weight row, 4 activation rows) -------

    /// A Q4_0 block's levels as signed bytes (nibble − 8) and their
    /// magnitudes, for the sign trick of [`signed_pairs`].
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    pub(crate) fn prep_q4_0(w: &BlockQ4_0) -> (__m256i, __m256i) {
        let v = _mm256_sub_epi8(unpack_nibbles(&w.qs), _mm256_set1_epi8(8));
        (_mm256_abs_epi8(v), v)
    }

    /// A Q8_0 block's bytes and their magnitudes (|−128| reads as u8 128).
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    pub(crate) fn prep_q8_0(w: &BlockQ8_0) -> (__m256i, __m256i) {
        let v = load_i8x32(&w.qs);
        (_mm256_abs_epi8(v), v)
    }

    /// A Q4_1 block's nibbles as unsigned bytes.
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    pub(crate) fn prep_q4_1(w: &BlockQ4_1) -> __m256i {
        unpack_nibbles(&w.qs)
    }

    /// Σ w·q over a block from prepared (|w|, w) as 8 partial i32 sums:
    /// |w| (u8) times q with w's sign. Exact when q has no −128 and
    /// |w| ≤ 128 (pair sums ≤ 2·128·127 < 2^15).
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    fn signed_pairs((a, w): (__m256i, __m256i), qs: &[i8; QK]) -> __m256i {
        let p = _mm256_maddubs_epi16(a, _mm256_sign_epi8(load_i8x32(qs), w));
        _mm256_madd_epi16(p, _mm256_set1_epi16(1))
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    fn block4_q4_0(p: (__m256i, __m256i), x: &BlockQ8_0) -> __m256i {
        signed_pairs(p, &x.qs)
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    pub(crate) fn block4_q8_0(p: (__m256i, __m256i), x: &BlockQ8_0) -> __m256i {
        signed_pairs(p, &x.qs)
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    pub(crate) fn block4_q4_1(n: __m256i, x: &BlockQ8_1) -> __m256i {
        _mm256_madd_epi16(
            _mm256_maddubs_epi16(n, load_i8x32(&x.qs)),
            _mm256_set1_epi16(1),
        )
    }

    dot4_block_sums!(
        /// AVX2 4-row Q4_0·Q8_0, bit-identical per row to [`dot_q4_0_q8_0`].
        dot4_q4_0_q8_0, "avx2,fma,f16c", BlockQ4_0, BlockQ8_0, prep_q4_0, block4_q4_0
    );
    dot8_block_sums!(
        /// AVX2 8-row tile Q4_0·Q8_0, bit-identical per row to [`dot_q4_0_q8_0`].
        dot8_q4_0_q8_0, "avx2,fma,f16c", BlockQ4_0, BlockQ8_0, prep_q4_0, block4_q4_0
    );
    dot4_blocks8!(
        /// AVX2 4-row Q8_0·Q8_0, bit-identical per row to [`dot_q8_0_q8_0`].
        dot4_q8_0_q8_0, "avx2,fma,f16c", BlockQ8_0, BlockQ8_0, prep_q8_0, block4_q8_0
    );
    dot4_blocks8!(
        /// AVX2 4-row Q4_1·Q8_1, bit-identical per row to [`dot_q4_1_q8_1`].
        dot4_q4_1_q8_1, "avx2,fma,f16c", BlockQ4_1, BlockQ8_1, prep_q4_1, block4_q4_1, m, s
    );

    /// A Q6_K super-block unpacked for [`lanes_q6k`]: `q[g]` holds the
    /// unsigned 6-bit levels (0..63) of elements 32g..32g+31 in element
    /// order; `sc[g]` the matching i16 scales (low 128-bit lane: 8 copies
    /// of `scales[2g]`, high lane: 8 copies of `scales[2g + 1]`).
    pub(crate) struct PrepQ6K {
        q: [__m256i; 8],
        sc: [__m256i; 8],
    }

    /// Unpacks a Q6_K block's levels and scales (see [`PrepQ6K`]).
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    pub(crate) fn prep_q6k(w: &BlockQ6K) -> PrepQ6K {
        let m4 = _mm256_set1_epi8(0xF);
        let m30 = _mm256_set1_epi8(0x30);
        // SAFETY: `scales` has 16 bytes.
        let sc8 = unsafe { _mm_loadu_si128(w.scales.as_ptr().cast()) };
        let ones = 0x0101_0101_0101_0101i64;
        let sc = std::array::from_fn(|g| {
            let g = g as i64;
            let pick = _mm_set_epi64x((2 * g + 1) * ones, 2 * g * ones);
            _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc8, pick))
        });
        let mut q = [_mm256_setzero_si256(); 8];
        for h in 0..2 {
            // SAFETY: ql has 128 bytes (64h + 64 ≤ 128), qh 64 (32h + 32 ≤ 64).
            let (ql0, ql1, qh) = unsafe {
                (
                    _mm256_loadu_si256(w.ql.as_ptr().add(64 * h).cast()),
                    _mm256_loadu_si256(w.ql.as_ptr().add(64 * h + 32).cast()),
                    _mm256_loadu_si256(w.qh.as_ptr().add(32 * h).cast()),
                )
            };
            // Group 4h + k: low or high nibble of ql0/ql1, and bits 2k, 2k+1
            // of qh moved to bits 4, 5 (16-bit shifts; the mask drops what
            // crosses a byte boundary).
            q[4 * h] = _mm256_or_si256(
                _mm256_and_si256(ql0, m4),
                _mm256_and_si256(_mm256_slli_epi16::<4>(qh), m30),
            );
            q[4 * h + 1] = _mm256_or_si256(
                _mm256_and_si256(ql1, m4),
                _mm256_and_si256(_mm256_slli_epi16::<2>(qh), m30),
            );
            q[4 * h + 2] = _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16::<4>(ql0), m4),
                _mm256_and_si256(qh, m30),
            );
            q[4 * h + 3] = _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16::<4>(ql1), m4),
                _mm256_and_si256(_mm256_srli_epi16::<2>(qh), m30),
            );
        }
        PrepQ6K { q, sc }
    }

    /// The eight i32 lanes of one Q6_K·Q8_K super-block exactly as
    /// [`crate::scalar::block_lanes_q6k`] (llama.cpp's AVX2 kernel): per
    /// group, `maddubs(level, q8) − maddubs(32, q8)` (every pair sum fits
    /// an i16: ≤ 2·63·128), then `madd` with the scales and i32 adds. Exact
    /// for any i8 activations.
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    pub(crate) fn lanes_q6k(p: &PrepQ6K, x: &BlockQ8K) -> __m256i {
        let m32 = _mm256_set1_epi8(32);
        let mut acc = _mm256_setzero_si256();
        for g in 0..8 {
            // SAFETY: 32g + 32 ≤ 256 bytes of x.qs.
            let q8 = unsafe { _mm256_loadu_si256(x.qs.as_ptr().add(32 * g).cast()) };
            let p16 = _mm256_sub_epi16(
                _mm256_maddubs_epi16(p.q[g], q8),
                _mm256_maddubs_epi16(m32, q8),
            );
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p16, p.sc[g]));
        }
        acc
    }

    /// AVX2 Q6_K·Q8_K, bit-identical to [`crate::scalar::dot_q6k_q8k`]:
    /// per super-block the exact integer sum, times d_w, one FMA by d_x.
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA and F16C.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn dot_q6k_q8k(w: &[BlockQ6K], x: &[BlockQ8K]) -> f32 {
        assert_eq!(w.len(), x.len());
        let mut acc = 0f32;
        for (wb, xb) in w.iter().zip(x) {
            let sumi = hsum_epi32(lanes_q6k(&prep_q6k(wb), xb));
            acc = (sumi as f32 * f16_to_f32(wb.d)).mul_add(xb.d, acc);
        }
        acc
    }

    /// AVX2 4-row Q6_K·Q8_K: one weight row times the 4 activation rows
    /// stored back to back in `x`, each weight block unpacked once;
    /// `out[v]` is bit-identical to [`dot_q6k_q8k`] on (w, x_v).
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA and F16C.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn dot4_q6k_q8k(w: &[BlockQ6K], x: &[BlockQ8K], out: &mut [f32; 4]) {
        let n = w.len();
        assert_eq!(
            x.len(),
            4 * n,
            "dot4: activation is not 4 rows of the weight's length"
        );
        let xs: [&[BlockQ8K]; 4] = [&x[..n], &x[n..2 * n], &x[2 * n..3 * n], &x[3 * n..]];
        let mut acc = [0f32; 4];
        for (i, wb) in w.iter().enumerate() {
            let p = prep_q6k(wb);
            let dw = f16_to_f32(wb.d);
            for v in 0..4 {
                let xb = &xs[v][i];
                let sumi = hsum_epi32(lanes_q6k(&p, xb));
                acc[v] = (sumi as f32 * dw).mul_add(xb.d, acc[v]);
            }
        }
        *out = acc;
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

    // ----- f16-weight dots in llama.cpp's order (see crate::float_ops) ----

    /// Eight f16 values at `p` as f32 (exact).
    ///
    /// # Safety
    /// `p` must point to 8 readable f16 values (16 bytes; any alignment).
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    unsafe fn load_f16x8(p: *const f16) -> __m256 {
        // SAFETY: the caller guarantees 16 readable bytes at `p`.
        _mm256_cvtph_ps(unsafe { _mm_loadu_si128(p.cast()) })
    }

    /// [`crate::float_ops::reduce16`] of the 16 lanes `lo` (lanes 0..8)
    /// and `hi` (lanes 8..16), in the same order: j + j+8, then j + j+4,
    /// then (0 + 2) + (1 + 3).
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    fn reduce16_ps(lo: __m256, hi: __m256) -> f32 {
        let t8 = _mm256_add_ps(hi, lo);
        let t4 = _mm_add_ps(_mm256_extractf128_ps::<1>(t8), _mm256_castps256_ps128(t8));
        let t2 = _mm_add_ps(t4, _mm_movehl_ps(t4, t4));
        _mm_cvtss_f32(_mm_add_ss(t2, _mm_movehdup_ps(t2)))
    }

    /// F16C + FMA [`crate::float_ops::dot_f16_lanes16`], bit-identical:
    /// lanes 0..8 and 8..16 in two accumulators, one FMA chain per lane.
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA and F16C.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn dot_f16_lanes16(w: &[f16], x: &[f32]) -> f32 {
        assert_eq!(w.len(), x.len(), "dot_f16_lanes16: lengths differ");
        let n = w.len();
        if !n.is_multiple_of(16) {
            // SAFETY: same CPU requirements.
            return unsafe { dot_f16_vec64(w, x) };
        }
        let (wp, xp) = (w.as_ptr(), x.as_ptr());
        let (mut lo, mut hi) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let mut i = 0;
        while i < n {
            // SAFETY: i + 16 ≤ n, the length of both slices.
            unsafe {
                lo = _mm256_fmadd_ps(load_f16x8(wp.add(i)), _mm256_loadu_ps(xp.add(i)), lo);
                hi = _mm256_fmadd_ps(
                    load_f16x8(wp.add(i + 8)),
                    _mm256_loadu_ps(xp.add(i + 8)),
                    hi,
                );
            }
            i += 16;
        }
        reduce16_ps(lo, hi)
    }

    /// F16C + FMA [`crate::float_ops::dot_f16_vec64`], bit-identical: 64
    /// lanes in eight accumulators (lanes 8k..8k+8 in `acc[k]`), folded as
    /// [`crate::float_ops::fold64`], reduced as `reduce16`, the tail's f32
    /// products added in f64.
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA and F16C.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn dot_f16_vec64(w: &[f16], x: &[f32]) -> f32 {
        assert_eq!(w.len(), x.len(), "dot_f16_vec64: lengths differ");
        let np = w.len() / 64 * 64;
        let (wp, xp) = (w.as_ptr(), x.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 8];
        let mut i = 0;
        while i < np {
            for (k, a) in acc.iter_mut().enumerate() {
                // SAFETY: i + 8k + 8 ≤ np ≤ the length of both slices.
                *a = unsafe {
                    _mm256_fmadd_ps(
                        load_f16x8(wp.add(i + 8 * k)),
                        _mm256_loadu_ps(xp.add(i + 8 * k)),
                        *a,
                    )
                };
            }
            i += 64;
        }
        // fold64: lane l (< 16) = (l + l+32) + (l+16 + l+48).
        let lo = _mm256_add_ps(_mm256_add_ps(acc[0], acc[4]), _mm256_add_ps(acc[2], acc[6]));
        let hi = _mm256_add_ps(_mm256_add_ps(acc[1], acc[5]), _mm256_add_ps(acc[3], acc[7]));
        let mut sum = f64::from(reduce16_ps(lo, hi));
        for (&a, &b) in w[np..].iter().zip(&x[np..]) {
            sum += f64::from(f16_to_f32(a) * b);
        }
        sum as f32
    }

    /// F16C + FMA [`crate::float_ops::dot4_f16_lanes16`]: one f16 weight
    /// row times the 4 activation rows stored back to back in `x`, each
    /// weight converted once and the 4 rows' FMA chains interleaved;
    /// `out[v]` is bit-identical to [`dot_f16_lanes16`] on (w, x_v).
    ///
    /// # Safety
    /// The CPU must support AVX2, FMA and F16C.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(crate) unsafe fn dot4_f16_lanes16(w: &[f16], x: &[f32], out: &mut [f32; 4]) {
        let n = w.len();
        assert_eq!(
            x.len(),
            4 * n,
            "dot4_f16_lanes16: activation is not 4 rows of the weight's length"
        );
        if !n.is_multiple_of(16) {
            for (v, o) in out.iter_mut().enumerate() {
                // SAFETY: same CPU requirements.
                *o = unsafe { dot_f16_vec64(w, &x[v * n..(v + 1) * n]) };
            }
            return;
        }
        let (wp, xp) = (w.as_ptr(), x.as_ptr());
        let mut lo = [_mm256_setzero_ps(); 4];
        let mut hi = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        while i < n {
            // SAFETY: i + 16 ≤ n = w.len().
            let (w0, w1) = unsafe { (load_f16x8(wp.add(i)), load_f16x8(wp.add(i + 8))) };
            for v in 0..4 {
                // SAFETY: v·n + i + 16 ≤ 4n = x.len().
                unsafe {
                    let xv = xp.add(v * n + i);
                    lo[v] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xv), lo[v]);
                    hi[v] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xv.add(8)), hi[v]);
                }
            }
            i += 16;
        }
        for (v, o) in out.iter_mut().enumerate() {
            *o = reduce16_ps(lo[v], hi[v]);
        }
    }
}
