//! Q2_K: 256 weights in sixteen sub-blocks of 16, value = d·sc·q − dmin·m
//! with 2-bit levels q and 4-bit sub-block scales sc and minimums m.

use super::search::make_qkx2_quants;
use super::{check_len, group_dot};
use crate::blocks::{Block, BlockQ8K, QK_K};
use crate::scalar::nearest_int;
use half::f16;

/// One Q2_K super-block (84 bytes). Element 128·h + 32·j + l (h = 0..2,
/// j = 0..4, l = 0..32) is bits 2j..2j+1 of `qs[32h + l]`; sub-block s
/// (elements 16s..16s+16) has scale `scales[s] & 0xF` and minimum
/// `scales[s] >> 4`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ2K {
    /// Sub-block scales (low nibble) and minimums (high nibble).
    pub scales: [u8; QK_K / 16],
    /// Packed 2-bit levels.
    pub qs: [u8; QK_K / 4],
    /// Scale of the sub-block scales.
    pub d: f16,
    /// Scale of the sub-block minimums.
    pub dmin: f16,
}

impl BlockQ2K {
    /// An all-zero block (every value 0).
    pub const ZERO: Self = Self {
        scales: [0; QK_K / 16],
        qs: [0; QK_K / 4],
        d: f16::ZERO,
        dmin: f16::ZERO,
    };

    /// The 256 levels (0..=3) in element order.
    #[inline]
    pub fn levels(&self) -> [i8; QK_K] {
        std::array::from_fn(|e| {
            let (h, j, l) = (e / 128, (e % 128) / 32, e % 32);
            ((self.qs[32 * h + l] >> (2 * j)) & 3) as i8
        })
    }
}

// SAFETY: repr(C), integers and f16 only, no padding (size asserted below),
// every bit pattern is a valid value.
unsafe impl Block for BlockQ2K {
    const ELEMS: usize = QK_K;
}
const _: () = assert!(std::mem::size_of::<BlockQ2K>() == 84);

/// Packs 256 two-bit levels in the Q2_K / Q3_K order (see [`BlockQ2K`]).
pub(crate) fn pack_2bit(l: &[u8; QK_K], qs: &mut [u8; QK_K / 4]) {
    for h in 0..2 {
        for i in 0..32 {
            let b = 128 * h + i;
            qs[32 * h + i] = l[b] | (l[b + 32] << 2) | (l[b + 64] << 4) | (l[b + 96] << 6);
        }
    }
}

/// Reference Q2_K quantization (ggml `quantize_row_q2_K_ref`, what
/// `llama-quantize` runs without an importance matrix): per sub-block of
/// 16, weights |x| and `make_qkx2_quants(3, rmin −0.5, rdelta 0.1, 15 steps,
/// absolute error)`; scales and minimums quantized to 4 bits against the
/// largest of each (d = max/15); levels recomputed with the final scales.
pub fn quantize_row_q2_k(x: &[f32], y: &mut [BlockQ2K]) {
    check_len(x.len(), y.len(), QK_K);
    let mut l = [0u8; QK_K];
    let mut aux = [0u8; 16];
    let mut weights = [0f32; 16];
    for (xb, yb) in x.chunks_exact(QK_K).zip(y.iter_mut()) {
        let mut scales = [0f32; 16];
        let mut mins = [0f32; 16];
        let mut max_scale = 0.0f32;
        let mut max_min = 0.0f32;
        for j in 0..16 {
            let xs = &xb[16 * j..16 * j + 16];
            for (w, &v) in weights.iter_mut().zip(xs) {
                *w = v.abs();
            }
            let (s, m) = make_qkx2_quants(
                3,
                xs,
                &weights,
                &mut l[16 * j..16 * j + 16],
                &mut aux,
                -0.5,
                0.1,
                15,
                true,
            );
            scales[j] = s;
            mins[j] = m;
            if s > max_scale {
                max_scale = s;
            }
            if m > max_min {
                max_min = m;
            }
        }
        if max_scale > 0.0 {
            let iscale = 15.0 / max_scale;
            for (o, &s) in yb.scales.iter_mut().zip(&scales) {
                // ggml stores the int into a uint8_t (wrapping).
                *o = nearest_int(iscale * s) as u8;
            }
            yb.d = f16::from_f32(max_scale / 15.0);
        } else {
            yb.scales = [0; 16];
            yb.d = f16::ZERO;
        }
        if max_min > 0.0 {
            let iscale = 15.0 / max_min;
            for (o, &m) in yb.scales.iter_mut().zip(&mins) {
                *o |= (nearest_int(iscale * m) << 4) as u8;
            }
            yb.dmin = f16::from_f32(max_min / 15.0);
        } else {
            yb.dmin = f16::ZERO;
        }
        for j in 0..16 {
            let d = yb.d.to_f32() * f32::from(yb.scales[j] & 0xF);
            if d == 0.0 {
                continue;
            }
            let dm = yb.dmin.to_f32() * f32::from(yb.scales[j] >> 4);
            for i in 16 * j..16 * j + 16 {
                l[i] = nearest_int((xb[i] + dm) / d).clamp(0, 3) as u8;
            }
        }
        pack_2bit(&l, &mut yb.qs);
    }
}

/// Dequantizes a Q2_K row: y = (d·sc)·q − (dmin·m), as ggml evaluates it.
pub fn dequantize_row_q2_k(x: &[BlockQ2K], y: &mut [f32]) {
    check_len(y.len(), x.len(), QK_K);
    for (xb, yb) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        let d = xb.d.to_f32();
        let min = xb.dmin.to_f32();
        let q = xb.levels();
        for (s, &sc) in xb.scales.iter().enumerate() {
            let dl = d * f32::from(sc & 0xF);
            let ml = min * f32::from(sc >> 4);
            for i in 16 * s..16 * s + 16 {
                yb[i] = dl * f32::from(q[i]) - ml;
            }
        }
    }
}

/// The exact integer parts of one Q2_K·Q8_K super-block product:
/// (Σ_s sc_s·Σ q·x over sub-block s, Σ_s m_s·Σ x over sub-block s).
#[inline]
pub fn block_sums_q2k(w: &BlockQ2K, x: &BlockQ8K) -> (i32, i32) {
    let q = w.levels();
    let mut sumi = 0i32;
    let mut summ = 0i32;
    for (s, &sc) in w.scales.iter().enumerate() {
        let r = 16 * s..16 * s + 16;
        sumi += i32::from(sc & 0xF) * group_dot(&q[r.clone()], &x.qs[r]);
        summ += i32::from(sc >> 4) * i32::from(x.bsums[s]);
    }
    (sumi, summ)
}

/// Σ w·x over a Q2_K row and a Q8_K row. Per super-block, in order:
/// acc += (d_x·d_w)·f32(sumi) − (d_x·dmin_w)·f32(summ) with the exact sums
/// of [`block_sums_q2k`].
pub fn dot_q2k_q8k(w: &[BlockQ2K], x: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), x.len());
    let mut acc = 0f32;
    for (wb, xb) in w.iter().zip(x) {
        let (sumi, summ) = block_sums_q2k(wb, xb);
        acc += xb.d * wb.d.to_f32() * sumi as f32 - xb.d * wb.dmin.to_f32() * summ as f32;
    }
    acc
}

/// Σ w·x over a Q2_K row and a Q8_K row in llama.cpp's order on x86 with
/// AVX-512 (its repacked `q2_K_8x8` kernels, used when the row count is a
/// multiple of 8): as [`super::q4_k::dot_q4k_q8k_llamacpp`] with the sums of
/// [`block_sums_q2k`].
pub fn dot_q2k_q8k_llamacpp(w: &[BlockQ2K], x: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), x.len());
    let (mut acc, mut acc_m) = (0f32, 0f32);
    for (wb, xb) in w.iter().zip(x) {
        let (sumi, summ) = block_sums_q2k(wb, xb);
        acc = (sumi as f32).mul_add(wb.d.to_f32() * xb.d, acc);
        acc_m = (summ as f32).mul_add(wb.dmin.to_f32() * xb.d, acc_m);
    }
    acc - acc_m
}

/// Σ w·x over a Q2_K row and a Q8_K row in the order of llama.cpp's
/// repacked gemm kernel (`ggml_gemm_q2_K_8x8_q8_K`, x86 AVX-512, the
/// activation rows of a batch in whole groups of four): as
/// [`dot_q2k_q8k_llamacpp`], but one step per 128 elements (eight
/// sub-blocks) instead of one per super-block.
pub fn dot_q2k_q8k_gemm(w: &[BlockQ2K], x: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), x.len());
    let mut acc = (0f32, 0f32);
    for (wb, xb) in w.iter().zip(x) {
        let q = wb.levels();
        for h in 0..2 {
            let (mut sumi, mut summ) = (0i32, 0i32);
            for s in 8 * h..8 * h + 8 {
                let sc = wb.scales[s];
                let r = 16 * s..16 * s + 16;
                sumi += i32::from(sc & 0xF) * group_dot(&q[r.clone()], &xb.qs[r]);
                summ += i32::from(sc >> 4) * i32::from(xb.bsums[s]);
            }
            super::repack_step(&mut acc, sumi, summ, wb.d.to_f32(), wb.dmin.to_f32(), xb.d);
        }
    }
    acc.0 - acc.1
}

/// Σ w·x over a Q2_K row and a Q8_K row in the order of llama.cpp's tiled
/// kernel (batches of 8 or more, weights it does not repack):
/// [`super::tiled_min_step`] per super-block.
pub fn dot_q2k_q8k_tiled(w: &[BlockQ2K], x: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), x.len());
    let mut acc = 0f32;
    for (wb, xb) in w.iter().zip(x) {
        let (sumi, summ) = block_sums_q2k(wb, xb);
        acc = super::tiled_min_step(acc, sumi, summ, wb.d.to_f32(), wb.dmin.to_f32(), xb.d);
    }
    acc
}

/// Σ w·x over a Q2_K row and a Q8_K row in the order of llama.cpp's
/// `ggml_vec_dot_q2_K_q8_K` (x86, AVX2 code; weights it does not repack,
/// small batches): per super-block, first the minimum lanes (lane L:
/// m_2L·Σx of sub-block 2L plus m_2L+1·Σx of sub-block 2L + 1),
/// acc[L] = fma(−d_x·dmin_w, f32(lane), acc[L]), then the eight product
/// lanes (lane L takes the elements e with (e mod 32)/4 = L, times their
/// sub-block scale), acc[L] = fma(d_x·d_w, f32(lane), acc[L]); result
/// [`crate::scalar::hsum8`].
pub fn dot_q2k_q8k_vecdot(w: &[BlockQ2K], x: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), x.len());
    let mut acc = [0f32; 8];
    for (wb, xb) in w.iter().zip(x) {
        let m = |s: usize| i32::from(wb.scales[s] >> 4) * i32::from(xb.bsums[s]);
        let mins: [i32; 8] = std::array::from_fn(|l| m(2 * l) + m(2 * l + 1));
        super::fma_lanes(&mut acc, -xb.d * wb.dmin.to_f32(), mins);
        let lanes = super::lanes8(&wb.levels(), &xb.qs, |e| i32::from(wb.scales[e / 16] & 0xF));
        super::fma_lanes(&mut acc, xb.d * wb.d.to_f32(), lanes);
    }
    crate::scalar::hsum8(&acc)
}

impl crate::quant::QuantType for BlockQ2K {
    const TYPE: crate::types::GgmlType = crate::types::GgmlType::Q2K;
    const ACT_TYPE: crate::types::GgmlType = crate::types::GgmlType::Q8K;
    type Act = BlockQ8K;

    fn quantize(x: &[f32], y: &mut [Self]) {
        quantize_row_q2_k(x, y)
    }
    fn dequantize(x: &[Self], y: &mut [f32]) {
        dequantize_row_q2_k(x, y)
    }
    fn quantize_act(x: &[f32], y: &mut [BlockQ8K]) {
        crate::scalar::quantize_row_q8_k(x, y)
    }
    fn dot(numerics: crate::quant::Numerics, w: &[Self], x: &[BlockQ8K]) -> f32 {
        match numerics {
            crate::quant::Numerics::Default => dot_q2k_q8k(w, x),
            crate::quant::Numerics::LlamaCpp => dot_q2k_q8k_llamacpp(w, x),
        }
    }

    /// `dot` under llama.cpp numerics is its repacked gemv order; its gemm,
    /// tiled and `vec_dot` kernels sum differently.
    fn llamacpp_dot(
        kernel: crate::quant::LlamaCppKernel,
    ) -> Option<crate::quant::DotFn<Self, BlockQ8K>> {
        use crate::quant::LlamaCppKernel as K;
        match kernel {
            K::RepackGemv => None,
            K::RepackGemm => Some(dot_q2k_q8k_gemm),
            K::Tiled => Some(dot_q2k_q8k_tiled),
            K::VecDot => Some(dot_q2k_q8k_vecdot),
        }
    }

    /// x86 (AVX2, also the AVX-512 path without VNNI; AVX-512 VNNI) and
    /// aarch64 (NEON, dotprod): the SIMD kernels in default numerics; the
    /// scalar reference otherwise.
    fn kernels(
        cpu: crate::cpu::Cpu,
        numerics: crate::quant::Numerics,
    ) -> crate::quant::RowKernels<Self, BlockQ8K> {
        match (cpu.isa(), numerics) {
            #[cfg(target_arch = "x86_64")]
            (isa, crate::quant::Numerics::Default) if isa != crate::cpu::Isa::Scalar => {
                let (avx2, vnni) = (crate::x86::q2k::avx2, crate::x86::q2k::avx512_vnni);
                crate::x86::avx2_or_vnni(isa, avx2, vnni).unwrap_or(Self::reference(numerics))
            }
            #[cfg(target_arch = "aarch64")]
            (crate::cpu::Isa::Neon(t), crate::quant::Numerics::Default) => crate::arm::q2k::neon(t),
            #[cfg(target_arch = "aarch64")]
            (crate::cpu::Isa::Dotprod(t), crate::quant::Numerics::Default) => {
                crate::arm::q2k::dotprod(t)
            }
            (_, n) => Self::reference(n),
        }
    }
}
