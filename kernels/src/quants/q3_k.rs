//! Q3_K: 256 weights in sixteen sub-blocks of 16, value = d·(sc − 32)·q
//! with signed 3-bit levels q in −4..=3 and 6-bit sub-block scales.

use super::q2_k::pack_2bit;
use super::search::make_q3_quants_rmse;
use super::{check_len, group_dot};
use crate::blocks::{Block, BlockQ8K, QK_K};
use crate::scalar::nearest_int;
use half::f16;

/// One Q3_K super-block (110 bytes). Element e = 128·h + 32·j + l has low
/// bits 2j..2j+1 of `qs[32h + l]` and high bit (4h + j) of `hmask[l]`;
/// level = low − 4 when that bit is clear, low when set. Sub-block s has
/// the 6-bit scale `scale6(s) − 32` (see [`BlockQ3K::scale`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ3K {
    /// High bits of the levels.
    pub hmask: [u8; QK_K / 8],
    /// Low two bits of the levels.
    pub qs: [u8; QK_K / 4],
    /// Sixteen 6-bit scales: low nibbles in bytes 0..8 (sub-blocks 0..8 low
    /// half, 8..16 high half), high two bits in bytes 8..12.
    pub scales: [u8; 12],
    /// Super-block scale.
    pub d: f16,
}

impl BlockQ3K {
    /// An all-zero block (every value 0).
    pub const ZERO: Self = Self {
        hmask: [0; QK_K / 8],
        qs: [0; QK_K / 4],
        scales: [0; 12],
        d: f16::ZERO,
    };

    /// The signed scale (−32..=31) of sub-block `s` (0..16).
    #[inline]
    pub fn scale(&self, s: usize) -> i8 {
        let lo = if s < 8 {
            self.scales[s] & 0xF
        } else {
            self.scales[s - 8] >> 4
        };
        let hi = (self.scales[8 + s % 4] >> (2 * (s / 4))) & 3;
        (lo | (hi << 4)) as i8 - 32
    }

    /// The 256 levels (−4..=3) in element order.
    #[inline]
    pub fn levels(&self) -> [i8; QK_K] {
        std::array::from_fn(|e| {
            let (h, j, l) = (e / 128, (e % 128) / 32, e % 32);
            let low = ((self.qs[32 * h + l] >> (2 * j)) & 3) as i8;
            let high = (self.hmask[l] >> (4 * h + j)) & 1;
            if high == 0 {
                low - 4
            } else {
                low
            }
        })
    }
}

// SAFETY: repr(C), integers and f16 only, no padding (size asserted below),
// every bit pattern is a valid value.
unsafe impl Block for BlockQ3K {
    const ELEMS: usize = QK_K;
}
const _: () = assert!(std::mem::size_of::<BlockQ3K>() == 110);

/// Reference Q3_K quantization (ggml `quantize_row_q3_K_ref`, what
/// `llama-quantize` runs without an importance matrix): per sub-block of
/// 16 `make_q3_quants(4, rmse)`; scales quantized to 6 bits against the
/// one of largest magnitude (d = −max/32); levels recomputed with the final
/// scales.
pub fn quantize_row_q3_k(x: &[f32], y: &mut [BlockQ3K]) {
    check_len(x.len(), y.len(), QK_K);
    let mut l = [0i8; QK_K];
    for (xb, yb) in x.chunks_exact(QK_K).zip(y.iter_mut()) {
        let mut scales = [0f32; 16];
        let mut max_scale = 0.0f32;
        let mut amax = 0.0f32;
        for (j, s) in scales.iter_mut().enumerate() {
            let r = 16 * j..16 * j + 16;
            *s = make_q3_quants_rmse(4, &xb[r.clone()], &mut l[r]);
            if s.abs() > amax {
                amax = s.abs();
                max_scale = *s;
            }
        }
        yb.scales = [0; 12];
        if max_scale != 0.0 {
            let iscale = -32.0f32 / max_scale;
            for (j, &s) in scales.iter().enumerate() {
                // ggml: int8_t l = nearest_int(...); clamp; + 32.
                let q = (i32::from(nearest_int(iscale * s) as i8).clamp(-32, 31) + 32) as u8;
                if j < 8 {
                    yb.scales[j] = q & 0xF;
                } else {
                    yb.scales[j - 8] |= (q & 0xF) << 4;
                }
                yb.scales[8 + j % 4] |= (q >> 4) << (2 * (j / 4));
            }
            yb.d = f16::from_f32(1.0 / iscale);
        } else {
            yb.d = f16::ZERO;
        }
        for j in 0..16 {
            let d = yb.d.to_f32() * f32::from(yb.scale(j));
            if d == 0.0 {
                continue;
            }
            for i in 16 * j..16 * j + 16 {
                l[i] = (nearest_int(xb[i] / d).clamp(-4, 3) + 4) as i8;
            }
        }
        yb.hmask = [0; QK_K / 8];
        let mut low = [0u8; QK_K];
        for (e, (&v, o)) in l.iter().zip(low.iter_mut()).enumerate() {
            let mut v = v as u8;
            if v > 3 {
                yb.hmask[e % 32] |= 1 << (e / 32);
                v -= 4;
            }
            *o = v;
        }
        pack_2bit(&low, &mut yb.qs);
    }
}

/// Dequantizes a Q3_K row: y = (d·scale)·q, as ggml evaluates it.
pub fn dequantize_row_q3_k(x: &[BlockQ3K], y: &mut [f32]) {
    check_len(y.len(), x.len(), QK_K);
    for (xb, yb) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        let d = xb.d.to_f32();
        let q = xb.levels();
        for s in 0..16 {
            let dl = d * f32::from(xb.scale(s));
            for i in 16 * s..16 * s + 16 {
                yb[i] = dl * f32::from(q[i]);
            }
        }
    }
}

/// The exact integer part of one Q3_K·Q8_K super-block product:
/// Σ_s scale_s·Σ q·x over sub-block s.
#[inline]
pub fn block_sum_q3k(w: &BlockQ3K, x: &BlockQ8K) -> i32 {
    let q = w.levels();
    (0..16)
        .map(|s| {
            let r = 16 * s..16 * s + 16;
            i32::from(w.scale(s)) * group_dot(&q[r.clone()], &x.qs[r])
        })
        .sum()
}

/// Σ w·x over a Q3_K row and a Q8_K row. Per super-block, in order:
/// acc += (d_x·d_w)·f32(sumi) with the exact sum of [`block_sum_q3k`].
pub fn dot_q3k_q8k(w: &[BlockQ3K], x: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), x.len());
    let mut acc = 0f32;
    for (wb, xb) in w.iter().zip(x) {
        acc += xb.d * wb.d.to_f32() * block_sum_q3k(wb, xb) as f32;
    }
    acc
}

/// Σ w·x over a Q3_K row and a Q8_K row in the order of llama.cpp's x86
/// kernel (`ggml_vec_dot_q3_K_q8_K`, AVX2 code): eight i32 lanes (lane L
/// takes the elements e with (e mod 32)/4 = L, times their sub-block scale),
/// acc[L] = fma(d_x·d_w, f32(lane), acc[L]) per super-block, then
/// [`crate::scalar::hsum8`].
pub fn dot_q3k_q8k_llamacpp(w: &[BlockQ3K], x: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), x.len());
    let mut acc = [0f32; 8];
    for (wb, xb) in w.iter().zip(x) {
        let scales: [i32; 16] = std::array::from_fn(|s| i32::from(wb.scale(s)));
        let lanes = super::lanes8(&wb.levels(), &xb.qs, |e| scales[e / 16]);
        super::fma_lanes(&mut acc, xb.d * wb.d.to_f32(), lanes);
    }
    crate::scalar::hsum8(&acc)
}

/// Σ w·x over a Q3_K row and a Q8_K row in the order of llama.cpp's tiled
/// kernel (batches of 8 rows or more): [`super::tiled_step`] per
/// super-block with the exact sum of [`block_sum_q3k`].
pub fn dot_q3k_q8k_tiled(w: &[BlockQ3K], x: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), x.len());
    let mut acc = 0f32;
    for (wb, xb) in w.iter().zip(x) {
        acc = super::tiled_step(acc, block_sum_q3k(wb, xb), wb.d.to_f32(), xb.d);
    }
    acc
}

impl crate::quant::QuantType for BlockQ3K {
    const TYPE: crate::types::GgmlType = crate::types::GgmlType::Q3K;
    const ACT_TYPE: crate::types::GgmlType = crate::types::GgmlType::Q8K;
    type Act = BlockQ8K;

    fn quantize(x: &[f32], y: &mut [Self]) {
        quantize_row_q3_k(x, y)
    }
    fn dequantize(x: &[Self], y: &mut [f32]) {
        dequantize_row_q3_k(x, y)
    }
    fn quantize_act(x: &[f32], y: &mut [BlockQ8K]) {
        crate::scalar::quantize_row_q8_k(x, y)
    }
    fn dot(numerics: crate::quant::Numerics, w: &[Self], x: &[BlockQ8K]) -> f32 {
        match numerics {
            crate::quant::Numerics::Default => dot_q3k_q8k(w, x),
            crate::quant::Numerics::LlamaCpp => dot_q3k_q8k_llamacpp(w, x),
        }
    }

    /// `dot` under llama.cpp numerics is its `vec_dot` order; batches of 8
    /// or more go through its tiled kernel.
    fn llamacpp_dot(
        kernel: crate::quant::LlamaCppKernel,
    ) -> Option<crate::quant::DotFn<Self, BlockQ8K>> {
        match kernel {
            crate::quant::LlamaCppKernel::Tiled => Some(dot_q3k_q8k_tiled),
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
                let (avx2, vnni) = (crate::x86::q3k::avx2, crate::x86::q3k::avx512_vnni);
                crate::x86::avx2_or_vnni(isa, avx2, vnni).unwrap_or(Self::reference(numerics))
            }
            #[cfg(target_arch = "aarch64")]
            (crate::cpu::Isa::Neon(t), crate::quant::Numerics::Default) => crate::arm::q3k::neon(t),
            #[cfg(target_arch = "aarch64")]
            (crate::cpu::Isa::Dotprod(t), crate::quant::Numerics::Default) => {
                crate::arm::q3k::dotprod(t)
            }
            (_, n) => Self::reference(n),
        }
    }
}
