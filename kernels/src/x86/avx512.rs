//! AVX-512 kernels, in two builds: `"avx512"` (F + BW + VL + VNNI) and
//! `"avx512-novnni"` (F + BW, so that build can be tested on VNNI machines
//! too).
//!
//! With VNNI, the quantized dots use `vpdpbusd` (four u8·i8 products summed
//! into an i32 lane in one instruction). They keep one 32-element block per
//! 256-bit register: on cores that split 512-bit operations in two halves
//! (AMD Zen 4) that measured faster than two blocks per 512-bit register,
//! and it needs no cross-lane shuffles to line up scales. Without VNNI the
//! quantized dots are the AVX2 ones. The quantizers and the Q6_K dot are the
//! AVX2 code (every CPU we select here has AVX2, FMA and F16C). The f16/f32
//! dots use 512-bit FMA.

use crate::blocks::*;
use crate::cpu::{Avx512, Cpu};
use crate::x86::avx2;
use crate::{FloatOps, Kernels};
use core::arch::x86_64::*;
use half::f16;

/// The AVX-512 path-wide table (quantized types: `x86::<type>`); `name`
/// is "avx512" or "avx512-novnni".
pub(crate) fn table(proof: Avx512, cpu: Cpu, name: &'static str) -> Kernels {
    Kernels {
        name,
        cpu,
        quantize_q8_0: avx2::table(proof.avx2(), cpu).quantize_q8_0,
        dot_f16_f32,
        dot_f32_f32,
        float_ops: FLOAT_OPS,
        numerics: crate::quant::Numerics::Default,
    }
}

/// The AVX-512 float operations: the FMA table, with the softmax and the
/// attention's tile kernels on 512-bit registers (the same bodies, so the same
/// bits as [`crate::float_ops::PLAIN`]).
const FLOAT_OPS: FloatOps = FloatOps {
    softmax: crate::x86::float512::softmax,
    round_f16: crate::x86::float512::round_f16,
    scores16: crate::x86::float512::scores16,
    value_sum16_f16: crate::x86::float512::value_sum16_f16,
    ..avx2::FMA_FLOAT_OPS
};

// Safe wrappers, visible only inside `x86`: placed in a table only by a
// constructor holding the token they name.

fn dot_f16_f32(w: &[f16], x: &[f32]) -> f32 {
    // SAFETY: handed out only by `table`, which takes an `Avx512` token.
    unsafe { imp::dot_f16_f32(w, x) }
}
fn dot_f32_f32(w: &[f32], x: &[f32]) -> f32 {
    // SAFETY: handed out only by `table`, which takes an `Avx512` token.
    unsafe { imp::dot_f32_f32(w, x) }
}
pub(super) fn vnni_dot_q4_0_q8_0(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f32 {
    // SAFETY: handed out only by constructors taking an `Avx512Vnni` token.
    unsafe { vnni::dot_q4_0_q8_0(w, x) }
}
pub(super) fn vnni_dot_q4_1_q8_1(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f32 {
    // SAFETY: handed out only by constructors taking an `Avx512Vnni` token.
    unsafe { vnni::dot_q4_1_q8_1(w, x) }
}
pub(super) fn vnni_dot_q8_0_q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f32 {
    // SAFETY: handed out only by constructors taking an `Avx512Vnni` token.
    unsafe { vnni::dot_q8_0_q8_0(w, x) }
}
pub(super) fn vnni_dot4_q4_0_q8_0(w: &[BlockQ4_0], x: &[BlockQ8_0], out: &mut [f32; 4]) {
    // SAFETY: handed out only by constructors taking an `Avx512Vnni` token.
    unsafe { vnni::dot4_q4_0_q8_0(w, x, out) }
}
pub(super) fn vnni_dot4_q4_1_q8_1(w: &[BlockQ4_1], x: &[BlockQ8_1], out: &mut [f32; 4]) {
    // SAFETY: handed out only by constructors taking an `Avx512Vnni` token.
    unsafe { vnni::dot4_q4_1_q8_1(w, x, out) }
}
pub(super) fn vnni_dot4_q8_0_q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0], out: &mut [f32; 4]) {
    // SAFETY: handed out only by constructors taking an `Avx512Vnni` token.
    unsafe { vnni::dot4_q8_0_q8_0(w, x, out) }
}
pub(super) fn vnni_dot8x1_q4_0_q8_0(w: &[BlockQ4_0], x: &[BlockQ8_0], out: &mut [[f32; 8]; 1]) {
    // SAFETY: handed out only by constructors taking an `Avx512Vnni` token.
    unsafe { crate::x86::gemv_q4_0::gemv8_q4_0_q8_0(w, x, out) }
}
pub(super) fn vnni_dot8x4_q4_0_q8_0(w: &[BlockQ4_0], x: &[BlockQ8_0], out: &mut [[f32; 8]; 4]) {
    // SAFETY: handed out only by constructors taking an `Avx512Vnni` token.
    unsafe { vnni::dot8_q4_0_q8_0::<4>(w, x, out) }
}

/// 256-bit VNNI quantized dots: exact i32 block sums, f32 FMA accumulation
/// across blocks (as the AVX2 ones).
pub(crate) mod vnni {
    use super::*;
    use crate::x86::avx2::imp::{load_i8x32, prep_q4_0, prep_q4_1, prep_q8_0, unpack_nibbles};

    /// Σ (nibble − 8)·q over one block as 8 partial i32 sums (exact:
    /// Σ nibble·q − Σ 8·q, both u8·i8 dot products).
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    #[inline]
    fn block_q4_0(w: &BlockQ4_0, x: &BlockQ8_0) -> __m256i {
        let n = unpack_nibbles(&w.qs);
        let q = load_i8x32(&x.qs);
        let z = _mm256_setzero_si256();
        _mm256_sub_epi32(
            _mm256_dpbusd_epi32(z, n, q),
            _mm256_dpbusd_epi32(z, _mm256_set1_epi8(8), q),
        )
    }

    /// Σ nibble·q over one block as 8 partial i32 sums (exact).
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    #[inline]
    pub(crate) fn block_q4_1(w: &BlockQ4_1, x: &BlockQ8_1) -> __m256i {
        _mm256_dpbusd_epi32(
            _mm256_setzero_si256(),
            unpack_nibbles(&w.qs),
            load_i8x32(&x.qs),
        )
    }

    /// Σ w·x over one Q8_0 pair as 8 partial i32 sums: |w| (u8) times x
    /// with w's sign. Exact when x has no −128 (activations are in
    /// [−127, 127]); w may be any i8.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    #[inline]
    pub(crate) fn block_q8_0(w: &BlockQ8_0, x: &BlockQ8_0) -> __m256i {
        let a = load_i8x32(&w.qs);
        let b = load_i8x32(&x.qs);
        _mm256_dpbusd_epi32(
            _mm256_setzero_si256(),
            _mm256_abs_epi8(a),
            _mm256_sign_epi8(b, a),
        )
    }

    crate::x86::avx2::dot_block_sums!(
        /// VNNI Q4_0·Q8_0 in the repacked-weight order (exact block sums, one FMA each).
        dot_q4_0_q8_0,
        "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c",
        BlockQ4_0,
        BlockQ8_0,
        block_q4_0
    );
    crate::x86::avx2::dot_blocks8!(
        /// VNNI Q8_0·Q8_0 (activation without −128).
        dot_q8_0_q8_0,
        "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c",
        BlockQ8_0,
        BlockQ8_0,
        block_q8_0
    );
    /// Σ w·q over a block from prepared (|w|, w) as 8 partial i32 sums:
    /// |w| (u8) times q with w's sign (exact: q has no −128).
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    #[inline]
    fn signed_dp((a, w): (__m256i, __m256i), qs: &[i8; QK]) -> __m256i {
        _mm256_dpbusd_epi32(
            _mm256_setzero_si256(),
            a,
            _mm256_sign_epi8(load_i8x32(qs), w),
        )
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    #[inline]
    fn block4_q4_0(p: (__m256i, __m256i), x: &BlockQ8_0) -> __m256i {
        signed_dp(p, &x.qs)
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    #[inline]
    pub(crate) fn block4_q8_0(p: (__m256i, __m256i), x: &BlockQ8_0) -> __m256i {
        signed_dp(p, &x.qs)
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    #[inline]
    pub(crate) fn block4_q4_1(n: __m256i, x: &BlockQ8_1) -> __m256i {
        _mm256_dpbusd_epi32(_mm256_setzero_si256(), n, load_i8x32(&x.qs))
    }

    crate::x86::avx2::dot4_block_sums!(
        /// VNNI 4-row Q4_0·Q8_0, bit-identical per row to [`dot_q4_0_q8_0`].
        dot4_q4_0_q8_0,
        "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c",
        BlockQ4_0,
        BlockQ8_0,
        prep_q4_0,
        block4_q4_0
    );
    crate::x86::avx2::dot8_block_sums!(
        /// VNNI 8-row tile Q4_0·Q8_0, bit-identical per row to [`dot_q4_0_q8_0`].
        dot8_q4_0_q8_0,
        "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c",
        BlockQ4_0,
        BlockQ8_0,
        prep_q4_0,
        block4_q4_0
    );
    crate::x86::avx2::dot4_blocks8!(
        /// VNNI 4-row Q8_0·Q8_0, bit-identical per row to [`dot_q8_0_q8_0`].
        dot4_q8_0_q8_0,
        "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c",
        BlockQ8_0,
        BlockQ8_0,
        prep_q8_0,
        block4_q8_0
    );
    crate::x86::avx2::dot4_blocks8!(
        /// VNNI 4-row Q4_1·Q8_1, bit-identical per row to [`dot_q4_1_q8_1`].
        dot4_q4_1_q8_1,
        "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c",
        BlockQ4_1,
        BlockQ8_1,
        prep_q4_1,
        block4_q4_1,
        m,
        s
    );

    crate::x86::avx2::dot_blocks8!(
        /// VNNI Q4_1·Q8_1: Σ (d_w·d_x)·sumi + m_w·s_x.
        dot_q4_1_q8_1,
        "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c",
        BlockQ4_1,
        BlockQ8_1,
        block_q4_1,
        m,
        s
    );
}

/// 512-bit float dots.
mod imp {
    use super::*;

    /// AVX-512 f16·f32 dot: four 16-lane FMA accumulators.
    ///
    /// # Safety
    /// The CPU must support AVX-512 F and BW, AVX2, FMA and F16C.
    #[target_feature(enable = "avx512f,avx512bw,avx2,fma,f16c")]
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
    /// The CPU must support AVX-512 F and BW, AVX2, FMA and F16C.
    #[target_feature(enable = "avx512f,avx512bw,avx2,fma,f16c")]
    pub(crate) unsafe fn dot_f32_f32(w: &[f32], x: &[f32]) -> f32 {
        assert_eq!(w.len(), x.len());
        let n = w.len() / 64 * 64;
        let (wp, xp) = (w.as_ptr(), x.as_ptr());
        let mut acc = [_mm512_setzero_ps(); 4];
        let mut i = 0;
        while i < n {
            for (k, a) in acc.iter_mut().enumerate() {
                // SAFETY: i + 16k + 16 ≤ n ≤ len of both slices.
                let (wv, xv) = unsafe {
                    (
                        _mm512_loadu_ps(wp.add(i + 16 * k)),
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
            sum += a * b;
        }
        sum
    }
}
