//! Q5_1: 32 weights, value = d·q + m with 5-bit levels q.

use super::check_len;
use crate::blocks::{Block, BlockQ8_1, QK};
use half::f16;

/// One Q5_1 block (24 bytes); levels packed as in Q5_0 (see
/// [`super::BlockQ5_0`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ5_1 {
    /// Scale.
    pub d: f16,
    /// Minimum.
    pub m: f16,
    /// Fifth bits, little-endian.
    pub qh: [u8; 4],
    /// Low four bits.
    pub qs: [u8; QK / 2],
}

impl BlockQ5_1 {
    /// An all-zero block (every value 0).
    pub const ZERO: Self = Self {
        d: f16::ZERO,
        m: f16::ZERO,
        qh: [0; 4],
        qs: [0; QK / 2],
    };

    /// The 32 levels (0..=31) in element order.
    #[inline]
    pub fn levels(&self) -> [i8; QK] {
        let qh = u32::from_le_bytes(self.qh);
        std::array::from_fn(|j| {
            let lo = if j < 16 {
                self.qs[j] & 0xF
            } else {
                self.qs[j - 16] >> 4
            };
            (lo | ((((qh >> j) & 1) as u8) << 4)) as i8
        })
    }
}

// SAFETY: repr(C), integers and f16 only, no padding (size asserted below),
// every bit pattern is a valid value.
unsafe impl Block for BlockQ5_1 {
    const ELEMS: usize = QK;
}
const _: () = assert!(std::mem::size_of::<BlockQ5_1>() == 24);

/// Reference Q5_1 quantization (ggml `quantize_row_q5_1_ref`):
/// d = (max − min)/31, m = min, q = trunc((x − min)/d + 0.5).
pub fn quantize_row_q5_1(x: &[f32], y: &mut [BlockQ5_1]) {
    check_len(x.len(), y.len(), QK);
    for (xb, yb) in x.chunks_exact(QK).zip(y.iter_mut()) {
        let mut min = f32::MAX;
        let mut max = -f32::MAX;
        for &v in xb {
            if v < min {
                min = v;
            }
            if v > max {
                max = v;
            }
        }
        let d = (max - min) / 31.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        yb.d = f16::from_f32(d);
        yb.m = f16::from_f32(min);
        let mut qh = 0u32;
        for j in 0..QK / 2 {
            let q0 = ((xb[j] - min) * id + 0.5) as u8;
            let q1 = ((xb[j + QK / 2] - min) * id + 0.5) as u8;
            yb.qs[j] = (q0 & 0xF) | ((q1 & 0xF) << 4);
            qh |= u32::from((q0 & 0x10) >> 4) << j;
            qh |= u32::from((q1 & 0x10) >> 4) << (j + QK / 2);
        }
        yb.qh = qh.to_le_bytes();
    }
}

/// Dequantizes a Q5_1 row: y = q·d + m.
pub fn dequantize_row_q5_1(x: &[BlockQ5_1], y: &mut [f32]) {
    check_len(y.len(), x.len(), QK);
    for (xb, yb) in x.iter().zip(y.chunks_exact_mut(QK)) {
        let d = xb.d.to_f32();
        let m = xb.m.to_f32();
        for (o, q) in yb.iter_mut().zip(xb.levels()) {
            *o = f32::from(q) * d + m;
        }
    }
}

/// The exact Σ q·x of one block pair.
#[inline]
pub fn block_sum_q5_1(w: &BlockQ5_1, x: &BlockQ8_1) -> i32 {
    super::group_dot(&w.levels(), &x.qs)
}

/// Σ w·x over a Q5_1 row and a Q8_1 row (default order): the order of
/// [`dot_q5_1_q8_1_llamacpp`], already the fast one for 32-element blocks.
pub fn dot_q5_1_q8_1(w: &[BlockQ5_1], x: &[BlockQ8_1]) -> f32 {
    dot_q5_1_q8_1_llamacpp(w, x)
}

/// Σ w·x over a Q5_1 row and a Q8_1 row in the order of llama.cpp's x86
/// kernel (`ggml_vec_dot_q5_1_q8_1`, AVX2 code): lanes as
/// [`super::q5_0::dot_q5_0_q8_0_llamacpp`] with unsigned levels, and
/// Σ m_w·s_x accumulated apart with fused multiply-adds and added after
/// [`crate::scalar::hsum8`].
pub fn dot_q5_1_q8_1_llamacpp(w: &[BlockQ5_1], x: &[BlockQ8_1]) -> f32 {
    assert_eq!(w.len(), x.len());
    let mut acc = [0f32; 8];
    let mut summs = 0f32;
    for (wb, xb) in w.iter().zip(x) {
        summs = wb.m.to_f32().mul_add(xb.s.to_f32(), summs);
        let lanes = super::lanes8(&wb.levels(), &xb.qs, |_| 1);
        super::fma_lanes(&mut acc, wb.d.to_f32() * xb.d.to_f32(), lanes);
    }
    crate::scalar::hsum8(&acc) + summs
}

impl crate::quant::QuantType for BlockQ5_1 {
    const TYPE: crate::types::GgmlType = crate::types::GgmlType::Q5_1;
    const ACT_TYPE: crate::types::GgmlType = crate::types::GgmlType::Q8_1;
    type Act = BlockQ8_1;

    fn quantize(x: &[f32], y: &mut [Self]) {
        quantize_row_q5_1(x, y)
    }
    fn dequantize(x: &[Self], y: &mut [f32]) {
        dequantize_row_q5_1(x, y)
    }
    fn quantize_act(x: &[f32], y: &mut [BlockQ8_1]) {
        crate::scalar::quantize_act_q8_1(x, y)
    }
    fn dot(numerics: crate::quant::Numerics, w: &[Self], x: &[BlockQ8_1]) -> f32 {
        match numerics {
            crate::quant::Numerics::Default => dot_q5_1_q8_1(w, x),
            crate::quant::Numerics::LlamaCpp => dot_q5_1_q8_1_llamacpp(w, x),
        }
    }

    /// x86 (AVX2, also the AVX-512 path without VNNI; AVX-512 VNNI) and
    /// aarch64 (NEON, dotprod): the SIMD kernels in default numerics; the
    /// scalar reference otherwise.
    fn kernels(
        cpu: crate::cpu::Cpu,
        numerics: crate::quant::Numerics,
    ) -> crate::quant::RowKernels<Self, BlockQ8_1> {
        match (cpu.isa(), numerics) {
            #[cfg(target_arch = "x86_64")]
            (isa, crate::quant::Numerics::Default) if isa != crate::cpu::Isa::Scalar => {
                let (avx2, vnni) = (crate::x86::q5_1::avx2, crate::x86::q5_1::avx512_vnni);
                crate::x86::avx2_or_vnni(isa, avx2, vnni).unwrap_or(Self::reference(numerics))
            }
            #[cfg(target_arch = "aarch64")]
            (crate::cpu::Isa::Neon(t), crate::quant::Numerics::Default) => {
                crate::arm::q5_1::neon(t)
            }
            #[cfg(target_arch = "aarch64")]
            (crate::cpu::Isa::Dotprod(t), crate::quant::Numerics::Default) => {
                crate::arm::q5_1::dotprod(t)
            }
            (_, n) => Self::reference(n),
        }
    }
}
