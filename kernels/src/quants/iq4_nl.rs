//! IQ4_NL: 32 weights, value = d·K[q] with 4-bit indices q into a fixed
//! non-linear table K of 16 levels.

use super::check_len;
use super::search::GROUP_MAX_EPS;
use crate::blocks::{Block, BlockQ8_0, QK};
use half::f16;

/// The 16 IQ4_NL levels (ggml's `kvalues_iq4nl`), ascending.
pub const IQ4_NL_LEVELS: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

/// One IQ4_NL block (18 bytes). Element j < 16 is the low nibble of
/// `qs[j]`, element j ≥ 16 the high nibble of `qs[j − 16]`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockIq4Nl {
    /// Scale.
    pub d: f16,
    /// Packed table indices.
    pub qs: [u8; QK / 2],
}

impl BlockIq4Nl {
    /// An all-zero block (every value 0).
    pub const ZERO: Self = Self {
        d: f16::ZERO,
        qs: [0; QK / 2],
    };

    /// The 32 table values K[q] (−127..=113) in element order.
    #[inline]
    pub fn levels(&self) -> [i8; QK] {
        std::array::from_fn(|j| {
            let q = if j < 16 {
                self.qs[j] & 0xF
            } else {
                self.qs[j - 16] >> 4
            };
            IQ4_NL_LEVELS[usize::from(q)]
        })
    }
}

// SAFETY: repr(C), integers and f16 only, no padding (size asserted below),
// every bit pattern is a valid value.
unsafe impl Block for BlockIq4Nl {
    const ELEMS: usize = QK;
}
const _: () = assert!(std::mem::size_of::<BlockIq4Nl>() == 18);

/// The index of the table level nearest to `x` (ggml's `best_index_int8`:
/// level i is taken once 2x reaches K[i−1] + K[i]).
#[inline]
fn best_index(x: f32) -> usize {
    let x2 = x + x;
    let mut idx = 0usize;
    let mut step = 8usize;
    while step > 0 {
        let j = idx + step;
        if x2 >= f32::from(IQ4_NL_LEVELS[j - 1]) + f32::from(IQ4_NL_LEVELS[j]) {
            idx = j;
        }
        step >>= 1;
    }
    idx
}

/// IQ4_NL quantization as `llama-quantize` runs it without an importance
/// matrix (ggml `quantize_iq4_nl`, i.e. `quantize_row_iq4_nl_impl` with 7
/// tries and weights x²): start from d = max/127, refine to the weighted
/// least-squares scale, try the 15 scales (t + K[0])/max for t in −7..=7 and
/// keep the best; then pick every index against the final scale.
pub fn quantize_row_iq4_nl(x: &[f32], y: &mut [BlockIq4Nl]) {
    check_len(x.len(), y.len(), QK);
    const NTRY: i32 = 7;
    let k0 = f32::from(IQ4_NL_LEVELS[0]);
    for (xb, yb) in x.chunks_exact(QK).zip(y.iter_mut()) {
        let mut amax = 0.0f32;
        let mut max = 0.0f32;
        for &v in xb {
            if v.abs() > amax {
                amax = v.abs();
                max = v;
            }
        }
        let scale = if amax < GROUP_MAX_EPS {
            0.0
        } else {
            let fit = |id: f32| -> (f32, f32) {
                let mut sumqx = 0.0f32;
                let mut sumq2 = 0.0f32;
                for &v in xb {
                    let q = f32::from(IQ4_NL_LEVELS[best_index(id * v)]);
                    let w = v * v;
                    sumqx += w * q * v;
                    sumq2 += w * q * q;
                }
                (sumqx, sumq2)
            };
            let d0 = -max / k0;
            let (sumqx, sumq2) = fit(1.0 / d0);
            let mut d = if sumq2 > 0.0 { sumqx / sumq2 } else { 0.0 };
            let mut best = d * sumqx;
            for itry in -NTRY..=NTRY {
                let id = (itry as f32 + k0) / max;
                let (sumqx, sumq2) = fit(id);
                if sumq2 > 0.0 && sumqx * sumqx > best * sumq2 {
                    d = sumqx / sumq2;
                    best = d * sumqx;
                }
            }
            d
        };
        yb.d = f16::from_f32(scale);
        let id = if scale != 0.0 { 1.0 / scale } else { 0.0 };
        for j in 0..QK / 2 {
            let q0 = best_index(id * xb[j]) as u8;
            let q1 = best_index(id * xb[j + QK / 2]) as u8;
            yb.qs[j] = q0 | (q1 << 4);
        }
    }
}

/// Dequantizes an IQ4_NL row: y = d·K[q].
pub fn dequantize_row_iq4_nl(x: &[BlockIq4Nl], y: &mut [f32]) {
    check_len(y.len(), x.len(), QK);
    for (xb, yb) in x.iter().zip(y.chunks_exact_mut(QK)) {
        let d = xb.d.to_f32();
        for (o, k) in yb.iter_mut().zip(xb.levels()) {
            *o = d * f32::from(k);
        }
    }
}

/// The exact Σ K[q]·x of one block pair.
#[inline]
pub fn block_sum_iq4_nl(w: &BlockIq4Nl, x: &BlockQ8_0) -> i32 {
    super::group_dot(&w.levels(), &x.qs)
}

/// Σ w·x over an IQ4_NL row and a Q8_0 row (default order): eight i32
/// lanes of four consecutive products per block, acc[L] = fma(d_w·d_x,
/// f32(lane), acc[L]), then [`crate::scalar::hsum8`] (the order of
/// llama.cpp's Q5_0 kernel, fast for 32-element blocks on every path).
pub fn dot_iq4_nl_q8_0(w: &[BlockIq4Nl], x: &[BlockQ8_0]) -> f32 {
    assert_eq!(w.len(), x.len());
    let mut acc = [0f32; 8];
    for (wb, xb) in w.iter().zip(x) {
        let lanes = super::lanes8(&wb.levels(), &xb.qs, |_| 1);
        super::fma_lanes(&mut acc, wb.d.to_f32() * xb.d.to_f32(), lanes);
    }
    crate::scalar::hsum8(&acc)
}

/// Σ w·x over an IQ4_NL row and a Q8_0 row in llama.cpp's order on x86
/// (its repacked `iq4_nl_8x8` kernels, used when the row count is a
/// multiple of 8): acc = fma(f32(sumi), d_w·d_x, acc) per block.
pub fn dot_iq4_nl_q8_0_llamacpp(w: &[BlockIq4Nl], x: &[BlockQ8_0]) -> f32 {
    assert_eq!(w.len(), x.len());
    let mut acc = 0f32;
    for (wb, xb) in w.iter().zip(x) {
        acc = (block_sum_iq4_nl(wb, xb) as f32).mul_add(wb.d.to_f32() * xb.d.to_f32(), acc);
    }
    acc
}

impl crate::quant::QuantType for BlockIq4Nl {
    const TYPE: crate::types::GgmlType = crate::types::GgmlType::IQ4NL;
    const ACT_TYPE: crate::types::GgmlType = crate::types::GgmlType::Q8_0;
    type Act = BlockQ8_0;

    fn quantize(x: &[f32], y: &mut [Self]) {
        quantize_row_iq4_nl(x, y)
    }
    fn dequantize(x: &[Self], y: &mut [f32]) {
        dequantize_row_iq4_nl(x, y)
    }
    fn quantize_act(x: &[f32], y: &mut [BlockQ8_0]) {
        crate::scalar::quantize_act_q8_0(x, y)
    }
    fn dot(numerics: crate::quant::Numerics, w: &[Self], x: &[BlockQ8_0]) -> f32 {
        match numerics {
            crate::quant::Numerics::Default => dot_iq4_nl_q8_0(w, x),
            crate::quant::Numerics::LlamaCpp => dot_iq4_nl_q8_0_llamacpp(w, x),
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
                let (avx2, vnni) = (crate::x86::iq4_nl::avx2, crate::x86::iq4_nl::avx512_vnni);
                crate::x86::avx2_or_vnni(isa, avx2, vnni).unwrap_or(Self::reference(numerics))
            }
            #[cfg(target_arch = "aarch64")]
            (crate::cpu::Isa::Neon(t), crate::quant::Numerics::Default) => {
                crate::arm::iq4_nl::neon(t)
            }
            #[cfg(target_arch = "aarch64")]
            (crate::cpu::Isa::Dotprod(t), crate::quant::Numerics::Default) => {
                crate::arm::iq4_nl::dotprod(t)
            }
            (_, n) => Self::reference(n),
        }
    }
}
