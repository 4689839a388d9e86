//! Q5_0: 32 weights, value = d·(q − 16) with 5-bit levels q.

use super::check_len;
use crate::blocks::{Block, BlockQ8_0, QK};
use half::f16;

/// One Q5_0 block (22 bytes). Element j < 16 is the low nibble of `qs[j]`,
/// element j ≥ 16 the high nibble of `qs[j − 16]`; bit j of the
/// little-endian u32 `qh` is the fifth bit of element j.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ5_0 {
    /// Scale.
    pub d: f16,
    /// Fifth bits, little-endian.
    pub qh: [u8; 4],
    /// Low four bits.
    pub qs: [u8; QK / 2],
}

impl BlockQ5_0 {
    /// An all-zero block (every value 0).
    pub const ZERO: Self = Self {
        d: f16::ZERO,
        qh: [0; 4],
        qs: [0; QK / 2],
    };

    /// The 32 levels minus 16 (−16..=15) in element order.
    #[inline]
    pub fn levels(&self) -> [i8; QK] {
        let qh = u32::from_le_bytes(self.qh);
        std::array::from_fn(|j| {
            let lo = if j < 16 {
                self.qs[j] & 0xF
            } else {
                self.qs[j - 16] >> 4
            };
            (lo | ((((qh >> j) & 1) as u8) << 4)) as i8 - 16
        })
    }
}

// SAFETY: repr(C), integers and f16 only, no padding (size asserted below),
// every bit pattern is a valid value.
unsafe impl Block for BlockQ5_0 {
    const ELEMS: usize = QK;
}
const _: () = assert!(std::mem::size_of::<BlockQ5_0>() == 22);

/// Reference Q5_0 quantization (ggml `quantize_row_q5_0_ref`): d = max/−16
/// with `max` the signed value of largest magnitude, q = min(31,
/// trunc(x/d + 16.5)).
pub fn quantize_row_q5_0(x: &[f32], y: &mut [BlockQ5_0]) {
    check_len(x.len(), y.len(), QK);
    for (xb, yb) in x.chunks_exact(QK).zip(y.iter_mut()) {
        let mut amax = 0.0f32;
        let mut max = 0.0f32;
        for &v in xb {
            if amax < v.abs() {
                amax = v.abs();
                max = v;
            }
        }
        let d = max / -16.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        yb.d = f16::from_f32(d);
        let mut qh = 0u32;
        for j in 0..QK / 2 {
            let q0 = ((xb[j] * id + 16.5) as i8).min(31) as u8;
            let q1 = ((xb[j + QK / 2] * id + 16.5) as i8).min(31) as u8;
            yb.qs[j] = (q0 & 0xF) | ((q1 & 0xF) << 4);
            qh |= u32::from(q0 >> 4) << j;
            qh |= u32::from(q1 >> 4) << (j + QK / 2);
        }
        yb.qh = qh.to_le_bytes();
    }
}

/// Dequantizes a Q5_0 row: y = (q − 16)·d.
pub fn dequantize_row_q5_0(x: &[BlockQ5_0], y: &mut [f32]) {
    check_len(y.len(), x.len(), QK);
    for (xb, yb) in x.iter().zip(y.chunks_exact_mut(QK)) {
        let d = xb.d.to_f32();
        for (o, q) in yb.iter_mut().zip(xb.levels()) {
            *o = f32::from(q) * d;
        }
    }
}

/// The exact Σ (q − 16)·x of one block pair.
#[inline]
pub fn block_sum_q5_0(w: &BlockQ5_0, x: &BlockQ8_0) -> i32 {
    super::group_dot(&w.levels(), &x.qs)
}

/// Σ w·x over a Q5_0 row and a Q8_0 row (default order): the order of
/// [`dot_q5_0_q8_0_llamacpp`], which is already the fast one for 32-element
/// blocks (eight independent lanes, one horizontal sum per row).
pub fn dot_q5_0_q8_0(w: &[BlockQ5_0], x: &[BlockQ8_0]) -> f32 {
    dot_q5_0_q8_0_llamacpp(w, x)
}

/// Σ w·x over a Q5_0 row and a Q8_0 row in the order of llama.cpp's x86
/// kernels (`ggml_vec_dot_q5_0_q8_0` for one activation row, its tinyBLAS
/// kernel for several; both the same): eight i32 lanes of four consecutive
/// products, acc[L] = fma(d_w·d_x, f32(lane), acc[L]) per block, then
/// [`crate::scalar::hsum8`].
pub fn dot_q5_0_q8_0_llamacpp(w: &[BlockQ5_0], x: &[BlockQ8_0]) -> f32 {
    assert_eq!(w.len(), x.len());
    let mut acc = [0f32; 8];
    for (wb, xb) in w.iter().zip(x) {
        let lanes = super::lanes8(&wb.levels(), &xb.qs, |_| 1);
        super::fma_lanes(&mut acc, wb.d.to_f32() * xb.d.to_f32(), lanes);
    }
    crate::scalar::hsum8(&acc)
}

impl crate::quant::QuantType for BlockQ5_0 {
    const TYPE: crate::types::GgmlType = crate::types::GgmlType::Q5_0;
    const ACT_TYPE: crate::types::GgmlType = crate::types::GgmlType::Q8_0;
    type Act = BlockQ8_0;

    fn quantize(x: &[f32], y: &mut [Self]) {
        quantize_row_q5_0(x, y)
    }
    fn dequantize(x: &[Self], y: &mut [f32]) {
        dequantize_row_q5_0(x, y)
    }
    fn quantize_act(x: &[f32], y: &mut [BlockQ8_0]) {
        crate::scalar::quantize_act_q8_0(x, y)
    }
    fn dot(numerics: crate::quant::Numerics, w: &[Self], x: &[BlockQ8_0]) -> f32 {
        match numerics {
            crate::quant::Numerics::Default => dot_q5_0_q8_0(w, x),
            crate::quant::Numerics::LlamaCpp => dot_q5_0_q8_0_llamacpp(w, x),
        }
    }

    /// x86 (AVX2, also the AVX-512 path without VNNI; AVX-512 VNNI) and
    /// aarch64 (NEON, dotprod): the SIMD kernels in default numerics; the
    /// scalar reference otherwise.
    fn kernels(
        cpu: crate::cpu::Cpu,
        numerics: crate::quant::Numerics,
    ) -> crate::quant::RowKernels<Self, BlockQ8_0> {
        match (cpu.isa(), numerics) {
            #[cfg(target_arch = "x86_64")]
            (isa, crate::quant::Numerics::Default) if isa != crate::cpu::Isa::Scalar => {
                let (avx2, vnni) = (crate::x86::q5_0::avx2, crate::x86::q5_0::avx512_vnni);
                crate::x86::avx2_or_vnni(isa, avx2, vnni).unwrap_or(Self::reference(numerics))
            }
            #[cfg(target_arch = "aarch64")]
            (crate::cpu::Isa::Neon(t), crate::quant::Numerics::Default) => {
                crate::arm::q5_0::neon(t)
            }
            #[cfg(target_arch = "aarch64")]
            (crate::cpu::Isa::Dotprod(t), crate::quant::Numerics::Default) => {
                crate::arm::q5_0::dotprod(t)
            }
            (_, n) => Self::reference(n),
        }
    }
}
