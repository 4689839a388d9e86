//! Q5_K: Q4_K with a fifth bit per level: value = d·sc·q − dmin·m with
//! q in 0..=31.

use super::q4_k::quantize_k_levels;
use super::{check_len, group_dot, scale_min_k4};
use crate::blocks::{Block, BlockQ8K, QK_K};
use half::f16;

/// One Q5_K super-block (176 bytes). Element 64·c + e (c = 0..4): for
/// e < 32 the low nibble of `qs[32c + e]` plus 16 when bit 2c of `qh[e]` is
/// set; for e ≥ 32 the high nibble of `qs[32c + e − 32]` plus 16 when bit
/// 2c + 1 of `qh[e − 32]` is set.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ5K {
    /// Scale of the sub-block scales.
    pub d: f16,
    /// Scale of the sub-block minimums.
    pub dmin: f16,
    /// Eight 6-bit scales and eight 6-bit minimums, packed as in Q4_K.
    pub scales: [u8; 12],
    /// Fifth bits.
    pub qh: [u8; QK_K / 8],
    /// Low four bits.
    pub qs: [u8; QK_K / 2],
}

impl BlockQ5K {
    /// An all-zero block (every value 0).
    pub const ZERO: Self = Self {
        d: f16::ZERO,
        dmin: f16::ZERO,
        scales: [0; 12],
        qh: [0; QK_K / 8],
        qs: [0; QK_K / 2],
    };

    /// The 256 levels (0..=31) in element order.
    #[inline]
    pub fn levels(&self) -> [i8; QK_K] {
        std::array::from_fn(|e| {
            let (c, r) = (e / 64, e % 64);
            let b = self.qs[32 * c + r % 32];
            let (lo, bit) = if r < 32 {
                (b & 0xF, 2 * c)
            } else {
                (b >> 4, 2 * c + 1)
            };
            (lo | (((self.qh[r % 32] >> bit) & 1) << 4)) as i8
        })
    }
}

// SAFETY: repr(C), integers and f16 only, no padding (size asserted below),
// every bit pattern is a valid value.
unsafe impl Block for BlockQ5K {
    const ELEMS: usize = QK_K;
}
const _: () = assert!(std::mem::size_of::<BlockQ5K>() == 176);

/// Reference Q5_K quantization (ggml `quantize_row_q5_K_ref`, what
/// `llama-quantize` runs without an importance matrix): as Q4_K with 31
/// levels and the search `make_qkx2_quants(31, rmin −0.5, rdelta 0.1, 15
/// steps)`.
pub fn quantize_row_q5_k(x: &[f32], y: &mut [BlockQ5K]) {
    check_len(x.len(), y.len(), QK_K);
    for (xb, yb) in x.chunks_exact(QK_K).zip(y.iter_mut()) {
        let (d, dmin, scales, l) = quantize_k_levels(xb, 31, -0.5, 0.1, 15);
        yb.d = d;
        yb.dmin = dmin;
        yb.scales = scales;
        yb.qh = [0; QK_K / 8];
        for c in 0..4 {
            for e in 0..32 {
                let l1 = l[64 * c + e];
                let l2 = l[64 * c + e + 32];
                yb.qh[e] |= ((l1 >> 4) << (2 * c)) | ((l2 >> 4) << (2 * c + 1));
                yb.qs[32 * c + e] = (l1 & 0xF) | ((l2 & 0xF) << 4);
            }
        }
    }
}

/// Dequantizes a Q5_K row: y = (d·sc)·q − (dmin·m), as ggml evaluates it.
pub fn dequantize_row_q5_k(x: &[BlockQ5K], y: &mut [f32]) {
    check_len(y.len(), x.len(), QK_K);
    for (xb, yb) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        let d = xb.d.to_f32();
        let min = xb.dmin.to_f32();
        let q = xb.levels();
        for j in 0..8 {
            let (sc, m) = scale_min_k4(j, &xb.scales);
            let dl = d * f32::from(sc);
            let ml = min * f32::from(m);
            for i in 32 * j..32 * j + 32 {
                yb[i] = dl * f32::from(q[i]) - ml;
            }
        }
    }
}

/// The exact integer parts of one Q5_K·Q8_K super-block product:
/// (Σ_j sc_j·Σ q·x over sub-block j, Σ_j m_j·Σ x over sub-block j).
#[inline]
pub fn block_sums_q5k(w: &BlockQ5K, x: &BlockQ8K) -> (i32, i32) {
    let q = w.levels();
    let mut sumi = 0i32;
    let mut summ = 0i32;
    for j in 0..8 {
        let (sc, m) = scale_min_k4(j, &w.scales);
        let r = 32 * j..32 * j + 32;
        sumi += i32::from(sc) * group_dot(&q[r.clone()], &x.qs[r]);
        let bs = i32::from(x.bsums[2 * j]) + i32::from(x.bsums[2 * j + 1]);
        summ += i32::from(m) * bs;
    }
    (sumi, summ)
}

/// Σ w·x over a Q5_K row and a Q8_K row, in the order of
/// [`super::q4_k::dot_q4k_q8k`] with the sums of [`block_sums_q5k`].
pub fn dot_q5k_q8k(w: &[BlockQ5K], x: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), x.len());
    let mut acc = 0f32;
    for (wb, xb) in w.iter().zip(x) {
        let (sumi, summ) = block_sums_q5k(wb, xb);
        acc += xb.d * wb.d.to_f32() * sumi as f32 - xb.d * wb.dmin.to_f32() * summ as f32;
    }
    acc
}

/// Σ w·x over a Q5_K row and a Q8_K row in the order of llama.cpp's x86
/// kernel (`ggml_vec_dot_q5_K_q8_K`, AVX2 code): eight i32 lanes as in
/// Q3_K (lane L takes the elements e with (e mod 32)/4 = L, times their
/// sub-block scale) with acc[L] = fma(d_x·d_w, f32(lane), acc[L]); the
/// minimum term summs = fma(−d_x·dmin_w, f32(summ), summs); result
/// hsum8(acc) + summs.
pub fn dot_q5k_q8k_llamacpp(w: &[BlockQ5K], x: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), x.len());
    let mut acc = [0f32; 8];
    let mut summs = 0f32;
    for (wb, xb) in w.iter().zip(x) {
        let mut sc = [0i32; 8];
        let mut summ = 0i32;
        for (j, s) in sc.iter_mut().enumerate() {
            let (a, m) = scale_min_k4(j, &wb.scales);
            *s = i32::from(a);
            summ += i32::from(m) * (i32::from(xb.bsums[2 * j]) + i32::from(xb.bsums[2 * j + 1]));
        }
        let dmin = -xb.d * wb.dmin.to_f32();
        summs = dmin.mul_add(summ as f32, summs);
        let lanes = super::lanes8(&wb.levels(), &xb.qs, |e| sc[e / 32]);
        super::fma_lanes(&mut acc, xb.d * wb.d.to_f32(), lanes);
    }
    crate::scalar::hsum8(&acc) + summs
}

/// Σ w·x over a Q5_K row and a Q8_K row in the order of llama.cpp's tiled
/// kernel (batches of 8 rows or more): [`super::tiled_min_step`] per
/// super-block with the exact sums of [`block_sums_q5k`].
pub fn dot_q5k_q8k_tiled(w: &[BlockQ5K], x: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), x.len());
    let mut acc = 0f32;
    for (wb, xb) in w.iter().zip(x) {
        let (sumi, summ) = block_sums_q5k(wb, xb);
        acc = super::tiled_min_step(acc, sumi, summ, wb.d.to_f32(), wb.dmin.to_f32(), xb.d);
    }
    acc
}

impl crate::quant::QuantType for BlockQ5K {
    const TYPE: crate::types::GgmlType = crate::types::GgmlType::Q5K;
    const ACT_TYPE: crate::types::GgmlType = crate::types::GgmlType::Q8K;
    type Act = BlockQ8K;

    fn quantize(x: &[f32], y: &mut [Self]) {
        quantize_row_q5_k(x, y)
    }
    fn dequantize(x: &[Self], y: &mut [f32]) {
        dequantize_row_q5_k(x, y)
    }
    fn quantize_act(x: &[f32], y: &mut [BlockQ8K]) {
        crate::scalar::quantize_row_q8_k(x, y)
    }
    fn dot(numerics: crate::quant::Numerics, w: &[Self], x: &[BlockQ8K]) -> f32 {
        match numerics {
            crate::quant::Numerics::Default => dot_q5k_q8k(w, x),
            crate::quant::Numerics::LlamaCpp => dot_q5k_q8k_llamacpp(w, x),
        }
    }

    /// `dot` under llama.cpp numerics is its `vec_dot` order; batches of 8
    /// or more go through its tiled kernel.
    fn llamacpp_dot(
        kernel: crate::quant::LlamaCppKernel,
    ) -> Option<crate::quant::DotFn<Self, BlockQ8K>> {
        match kernel {
            crate::quant::LlamaCppKernel::Tiled => Some(dot_q5k_q8k_tiled),
            _ => None,
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
                let (avx2, vnni) = (crate::x86::q5k::avx2, crate::x86::q5k::avx512_vnni);
                crate::x86::avx2_or_vnni(isa, avx2, vnni).unwrap_or(Self::reference(numerics))
            }
            #[cfg(target_arch = "aarch64")]
            (crate::cpu::Isa::Neon(t), crate::quant::Numerics::Default) => crate::arm::q5k::neon(t),
            #[cfg(target_arch = "aarch64")]
            (crate::cpu::Isa::Dotprod(t), crate::quant::Numerics::Default) => {
                crate::arm::q5k::dotprod(t)
            }
            (_, n) => Self::reference(n),
        }
    }
}
