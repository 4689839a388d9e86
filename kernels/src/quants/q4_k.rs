//! Q4_K: 256 weights in eight sub-blocks of 32, value = d·sc·q − dmin·m with
//! 4-bit levels q, 6-bit sub-block scales sc and minimums m, and f16
//! super-block scales d and dmin.

use super::search::make_qkx2_quants;
use super::{check_len, group_dot, pack_scale_min_k4, scale_min_k4};
use crate::blocks::{Block, BlockQ8K, QK_K};
use crate::scalar::nearest_int;
use half::f16;

/// One Q4_K super-block (144 bytes). Element 64·c + e (c = 0..4) is the low
/// nibble of `qs[32c + e]` for e < 32 (sub-block 2c) and the high nibble of
/// `qs[32c + e − 32]` for e ≥ 32 (sub-block 2c + 1).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockQ4K {
    /// Scale of the sub-block scales.
    pub d: f16,
    /// Scale of the sub-block minimums.
    pub dmin: f16,
    /// Eight 6-bit scales and eight 6-bit minimums, packed as
    /// [`super::scale_min_k4`] reads them.
    pub scales: [u8; 12],
    /// Packed 4-bit levels.
    pub qs: [u8; QK_K / 2],
}

impl BlockQ4K {
    /// An all-zero block (every value 0).
    pub const ZERO: Self = Self {
        d: f16::ZERO,
        dmin: f16::ZERO,
        scales: [0; 12],
        qs: [0; QK_K / 2],
    };

    /// The 256 levels (0..=15) in element order.
    #[inline]
    pub fn levels(&self) -> [i8; QK_K] {
        std::array::from_fn(|e| {
            let (c, r) = (e / 64, e % 64);
            let b = self.qs[32 * c + r % 32];
            (if r < 32 { b & 0xF } else { b >> 4 }) as i8
        })
    }
}

// SAFETY: repr(C), integers and f16 only, no padding (size asserted below),
// every bit pattern is a valid value.
unsafe impl Block for BlockQ4K {
    const ELEMS: usize = QK_K;
}
const _: () = assert!(std::mem::size_of::<BlockQ4K>() == 144);

/// Reference Q4_K quantization (ggml `quantize_row_q4_K_ref`, which
/// `llama-quantize` runs when there is no importance matrix): per sub-block
/// of 32, weights w = rms(x) + |x| and `make_qkx2_quants(15, rmin −1,
/// rdelta 0.1, 20 steps)`; scales and minimums quantized to 6 bits against
/// the largest of each (d = max/63); levels recomputed with the final
/// scales.
pub fn quantize_row_q4_k(x: &[f32], y: &mut [BlockQ4K]) {
    check_len(x.len(), y.len(), QK_K);
    for (xb, yb) in x.chunks_exact(QK_K).zip(y.iter_mut()) {
        let (d, dmin, scales, l) = quantize_k_levels(xb, 15, -1.0, 0.1, 20);
        yb.d = d;
        yb.dmin = dmin;
        yb.scales = scales;
        for c in 0..4 {
            for e in 0..32 {
                yb.qs[32 * c + e] = l[64 * c + e] | (l[64 * c + e + 32] << 4);
            }
        }
    }
}

/// The shared part of the Q4_K and Q5_K reference quantizers: the f16
/// scales, the packed 6-bit sub-block scales/minimums and the 256 levels
/// (0..=nmax).
pub(crate) fn quantize_k_levels(
    xb: &[f32],
    nmax: i32,
    rmin: f32,
    rdelta: f32,
    nstep: i32,
) -> (f16, f16, [u8; 12], [u8; QK_K]) {
    let mut l = [0u8; QK_K];
    let mut aux = [0u8; 32];
    let mut weights = [0f32; 32];
    let mut scales = [0f32; 8];
    let mut mins = [0f32; 8];
    let mut max_scale = 0.0f32;
    let mut max_min = 0.0f32;
    for j in 0..8 {
        let xs = &xb[32 * j..32 * j + 32];
        let mut sum_x2 = 0.0f32;
        for &v in xs {
            sum_x2 += v * v;
        }
        let av_x = (sum_x2 / 32.0).sqrt();
        for (w, &v) in weights.iter_mut().zip(xs) {
            *w = av_x + v.abs();
        }
        let (s, m) = make_qkx2_quants(
            nmax,
            xs,
            &weights,
            &mut l[32 * j..32 * j + 32],
            &mut aux,
            rmin,
            rdelta,
            nstep,
            false,
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
    let inv_scale = if max_scale > 0.0 {
        63.0 / max_scale
    } else {
        0.0
    };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    // ggml stores nearest_int into a uint8_t (wrapping) and then caps at 63.
    let ls: [u8; 8] = std::array::from_fn(|j| (nearest_int(inv_scale * scales[j]) as u8).min(63));
    let lm: [u8; 8] = std::array::from_fn(|j| (nearest_int(inv_min * mins[j]) as u8).min(63));
    let packed = pack_scale_min_k4(&ls, &lm);
    let d = f16::from_f32(max_scale / 63.0);
    let dmin = f16::from_f32(max_min / 63.0);
    for j in 0..8 {
        let (sc, m) = scale_min_k4(j, &packed);
        let dj = d.to_f32() * f32::from(sc);
        if dj == 0.0 {
            continue;
        }
        let dm = dmin.to_f32() * f32::from(m);
        for i in 32 * j..32 * j + 32 {
            l[i] = nearest_int((xb[i] + dm) / dj).clamp(0, nmax) as u8;
        }
    }
    (d, dmin, packed, l)
}

/// Dequantizes a Q4_K row: y = (d·sc)·q − (dmin·m), as ggml evaluates it.
pub fn dequantize_row_q4_k(x: &[BlockQ4K], y: &mut [f32]) {
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

/// The exact integer parts of one Q4_K·Q8_K super-block product:
/// (Σ_j sc_j·Σ q·x over sub-block j, Σ_j m_j·Σ x over sub-block j).
#[inline]
pub fn block_sums_q4k(w: &BlockQ4K, x: &BlockQ8K) -> (i32, i32) {
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

/// Σ w·x over a Q4_K row and a Q8_K row. Per super-block, in order:
/// acc += (d_x·d_w)·f32(sumi) − (d_x·dmin_w)·f32(summ), with the exact
/// integer sums of [`block_sums_q4k`], each product and sum rounded to f32.
pub fn dot_q4k_q8k(w: &[BlockQ4K], x: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), x.len());
    let mut acc = 0f32;
    for (wb, xb) in w.iter().zip(x) {
        let (sumi, summ) = block_sums_q4k(wb, xb);
        acc += xb.d * wb.d.to_f32() * sumi as f32 - xb.d * wb.dmin.to_f32() * summ as f32;
    }
    acc
}

/// Σ w·x over a Q4_K row and a Q8_K row in llama.cpp's order on x86
/// (its repacked `q4_K_8x8` kernels, used when the row count is a multiple
/// of 8): per super-block acc = fma(f32(sumi), d_w·d_x, acc) and
/// acc_m = fma(f32(summ), dmin_w·d_x, acc_m), then acc − acc_m.
pub fn dot_q4k_q8k_llamacpp(w: &[BlockQ4K], x: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), x.len());
    let (mut acc, mut acc_m) = (0f32, 0f32);
    for (wb, xb) in w.iter().zip(x) {
        let (sumi, summ) = block_sums_q4k(wb, xb);
        acc = (sumi as f32).mul_add(wb.d.to_f32() * xb.d, acc);
        acc_m = (summ as f32).mul_add(wb.dmin.to_f32() * xb.d, acc_m);
    }
    acc - acc_m
}

/// The exact integer parts of each 32-element sub-block j of one
/// Q4_K·Q8_K super-block: (sc_j·Σ q·x, m_j·Σ x).
#[inline]
fn sub_sums_q4k(w: &BlockQ4K, x: &BlockQ8K) -> [(i32, i32); 8] {
    let q = w.levels();
    std::array::from_fn(|j| {
        let (sc, m) = scale_min_k4(j, &w.scales);
        let r = 32 * j..32 * j + 32;
        let bs = i32::from(x.bsums[2 * j]) + i32::from(x.bsums[2 * j + 1]);
        (
            i32::from(sc) * group_dot(&q[r.clone()], &x.qs[r]),
            i32::from(m) * bs,
        )
    })
}

/// Σ w·x over a Q4_K row and a Q8_K row in the order of llama.cpp's
/// repacked gemm kernel (`ggml_gemm_q4_K_8x8_q8_K`, x86, the activation
/// rows of a batch in whole groups of four): as
/// [`dot_q4k_q8k_llamacpp`], but one step per 64 elements (two
/// sub-blocks) instead of one per super-block.
pub fn dot_q4k_q8k_gemm(w: &[BlockQ4K], x: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), x.len());
    let mut acc = (0f32, 0f32);
    for (wb, xb) in w.iter().zip(x) {
        let s = sub_sums_q4k(wb, xb);
        for p in s.chunks_exact(2) {
            let (sumi, summ) = (p[0].0 + p[1].0, p[0].1 + p[1].1);
            super::repack_step(&mut acc, sumi, summ, wb.d.to_f32(), wb.dmin.to_f32(), xb.d);
        }
    }
    acc.0 - acc.1
}

/// Σ w·x over a Q4_K row and a Q8_K row in the order of llama.cpp's tiled
/// kernel (batches of 8 or more, weights it does not repack):
/// [`super::tiled_min_step`] per super-block.
pub fn dot_q4k_q8k_tiled(w: &[BlockQ4K], x: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), x.len());
    let mut acc = 0f32;
    for (wb, xb) in w.iter().zip(x) {
        let (sumi, summ) = block_sums_q4k(wb, xb);
        acc = super::tiled_min_step(acc, sumi, summ, wb.d.to_f32(), wb.dmin.to_f32(), xb.d);
    }
    acc
}

/// Σ w·x over a Q4_K row and a Q8_K row in the order of llama.cpp's
/// `ggml_vec_dot_q4_K_q8_K` (x86, AVX2 code; weights it does not repack,
/// small batches): eight i32 lanes (lane L takes the elements e with
/// (e mod 32)/4 = L, times their sub-block scale), acc[L] =
/// fma(d_x·d_w, f32(lane), acc[L]); four minimum lanes (lane k: m_2k·Σx of
/// sub-block 2k plus m_2k+1·Σx of sub-block 2k+1), acc_m[k] =
/// fma(−d_x·dmin_w, f32(lane), acc_m[k]); result
/// [`crate::scalar::hsum8`](acc) + ((acc_m0 + acc_m2) + (acc_m1 + acc_m3)).
pub fn dot_q4k_q8k_vecdot(w: &[BlockQ4K], x: &[BlockQ8K]) -> f32 {
    assert_eq!(w.len(), x.len());
    let mut acc = [0f32; 8];
    let mut acc_m = [0f32; 4];
    for (wb, xb) in w.iter().zip(x) {
        let dmin = -xb.d * wb.dmin.to_f32();
        let sm: [(i32, i32); 8] = std::array::from_fn(|j| {
            let (sc, m) = scale_min_k4(j, &wb.scales);
            (i32::from(sc), i32::from(m))
        });
        let bs = |j: usize| i32::from(xb.bsums[2 * j]) + i32::from(xb.bsums[2 * j + 1]);
        for (k, a) in acc_m.iter_mut().enumerate() {
            let lane = sm[2 * k].1 * bs(2 * k) + sm[2 * k + 1].1 * bs(2 * k + 1);
            *a = dmin.mul_add(lane as f32, *a);
        }
        let lanes = super::lanes8(&wb.levels(), &xb.qs, |e| sm[e / 32].0);
        super::fma_lanes(&mut acc, xb.d * wb.d.to_f32(), lanes);
    }
    crate::scalar::hsum8(&acc) + ((acc_m[0] + acc_m[2]) + (acc_m[1] + acc_m[3]))
}

impl crate::quant::QuantType for BlockQ4K {
    const TYPE: crate::types::GgmlType = crate::types::GgmlType::Q4K;
    const ACT_TYPE: crate::types::GgmlType = crate::types::GgmlType::Q8K;
    type Act = BlockQ8K;

    fn quantize(x: &[f32], y: &mut [Self]) {
        quantize_row_q4_k(x, y)
    }
    fn dequantize(x: &[Self], y: &mut [f32]) {
        dequantize_row_q4_k(x, y)
    }
    fn quantize_act(x: &[f32], y: &mut [BlockQ8K]) {
        crate::scalar::quantize_row_q8_k(x, y)
    }
    fn dot(numerics: crate::quant::Numerics, w: &[Self], x: &[BlockQ8K]) -> f32 {
        match numerics {
            crate::quant::Numerics::Default => dot_q4k_q8k(w, x),
            crate::quant::Numerics::LlamaCpp => dot_q4k_q8k_llamacpp(w, x),
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
            K::RepackGemm => Some(dot_q4k_q8k_gemm),
            K::Tiled => Some(dot_q4k_q8k_tiled),
            K::VecDot => Some(dot_q4k_q8k_vecdot),
        }
    }

    /// x86 (AVX2, AVX-512, AVX-512 VNNI: `x86::q4k`) and aarch64 (NEON,
    /// dotprod: `arm::q4k`): the SIMD kernels in default numerics; the
    /// scalar reference otherwise.
    fn kernels(
        cpu: crate::cpu::Cpu,
        numerics: crate::quant::Numerics,
    ) -> crate::quant::RowKernels<Self, BlockQ8K> {
        match (cpu.isa(), numerics) {
            #[cfg(target_arch = "x86_64")]
            (crate::cpu::Isa::Avx2(t), crate::quant::Numerics::Default) => crate::x86::q4k::avx2(t),
            #[cfg(target_arch = "x86_64")]
            (crate::cpu::Isa::Avx512(t), crate::quant::Numerics::Default) => {
                crate::x86::q4k::avx512(t)
            }
            #[cfg(target_arch = "x86_64")]
            (crate::cpu::Isa::Avx512Vnni(t), crate::quant::Numerics::Default) => {
                crate::x86::q4k::avx512_vnni(t)
            }
            #[cfg(target_arch = "aarch64")]
            (crate::cpu::Isa::Neon(t), crate::quant::Numerics::Default) => crate::arm::q4k::neon(t),
            #[cfg(target_arch = "aarch64")]
            (crate::cpu::Isa::Dotprod(t), crate::quant::Numerics::Default) => {
                crate::arm::q4k::dotprod(t)
            }
            (_, n) => Self::reference(n),
        }
    }

    /// AVX-512 VNNI, default numerics: `x86::panel_kq`.
    fn panel(
        cpu: crate::cpu::Cpu,
        numerics: crate::quant::Numerics,
    ) -> Option<crate::quant::panel::PanelKernels<Self, BlockQ8K>> {
        match (cpu.isa(), numerics) {
            #[cfg(target_arch = "x86_64")]
            (crate::cpu::Isa::Avx512Vnni(t), crate::quant::Numerics::Default) => {
                Some(crate::x86::panel_kq::q4k(t))
            }
            _ => None,
        }
    }
}
