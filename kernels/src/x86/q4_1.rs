//! Q4_1 kernels on x86_64: the AVX2 code (also used by the AVX-512
//! build without VNNI) and the 256-bit VNNI code, in both numerics. Each
//! constructor takes the detection token of its instruction set, so these
//! kernels can only be handed out on a CPU that runs them.
//!
//! Default numerics: exact block sums added in block order by one FMA
//! each, then m_w·s_x by a second FMA
//! ([`crate::scalar::dot_q4_1_q8_1_blocks`]), which the 2-row, 8-row and
//! panel kernels keep per row. llama.cpp numerics: its x86 lane order
//! ([`crate::scalar::dot_q4_1_q8_1`]): single rows, 2-row single-token
//! dots (two independent chains, overlapped) and 4-row dots.

use super::{avx2, avx512};
use crate::blocks::{BlockQ4_1, BlockQ8_1};
use crate::cpu::{Avx2, Avx512, Avx512Vnni};
use crate::quant::{Numerics, RowKernels};

/// The AVX2 kernels.
pub(crate) fn avx2(_proof: Avx2, numerics: Numerics) -> RowKernels<BlockQ4_1, BlockQ8_1> {
    match numerics {
        Numerics::Default => RowKernels {
            quantize_act: avx2::quantize_q8_1,
            dot: blocks::avx2_dot,
            dot4: Some(blocks::avx2_dot4),
            rows2: Some(blocks::avx2_dot2),
            tile8x1: Some(blocks::avx2_tile8x1),
            tile8x4: Some(blocks::avx2_tile8x4),
        },
        Numerics::LlamaCpp => RowKernels {
            dot4: Some(avx2::dot4_q4_1_q8_1),
            rows2: Some(blocks::avx2_dot2_lanes),
            ..RowKernels::from_dot(avx2::quantize_q8_1, avx2::dot_q4_1_q8_1)
        },
    }
}

/// The AVX-512 F + BW kernels (the AVX2 code: same bits, same speed).
pub(crate) fn avx512(proof: Avx512, numerics: Numerics) -> RowKernels<BlockQ4_1, BlockQ8_1> {
    avx2(proof.avx2(), numerics)
}

/// The AVX-512 VL + VNNI kernels.
pub(crate) fn avx512_vnni(
    proof: Avx512Vnni,
    numerics: Numerics,
) -> RowKernels<BlockQ4_1, BlockQ8_1> {
    let _ = proof;
    match numerics {
        Numerics::Default => RowKernels {
            quantize_act: avx2::quantize_q8_1,
            dot: blocks::vnni_dot,
            dot4: Some(blocks::vnni_dot4),
            // Single tokens go eight rows at a time (`tile8x1`).
            rows2: None,
            tile8x1: Some(blocks::vnni_tile8x1),
            tile8x4: Some(blocks::vnni_tile8x4),
        },
        Numerics::LlamaCpp => RowKernels {
            dot4: Some(avx512::vnni_dot4_q4_1_q8_1),
            rows2: Some(blocks::vnni_dot2_lanes),
            ..RowKernels::from_dot(avx2::quantize_q8_1, avx512::vnni_dot_q4_1_q8_1)
        },
    }
}

/// The default-order kernels, generated from the per-block integer kernels
/// of the AVX2 and VNNI builds.
mod blocks {
    use crate::blocks::{BlockQ4_1, BlockQ8_1};
    use crate::x86::avx2::imp::{block4_q4_1, block_q4_1, prep_q4_1};
    use crate::x86::avx2::{
        dot2_block_sums, dot2_blocks8, dot4_block_sums, dot8_block_sums, dot_block_sums,
    };
    use crate::x86::avx512::vnni;
    use core::arch::x86_64::*;

    dot_block_sums!(
        /// AVX2 Q4_1·Q8_1 in block order.
        dot_avx2, "avx2,fma,f16c", BlockQ4_1, BlockQ8_1, block_q4_1, m, s
    );
    dot2_block_sums!(
        /// AVX2 2-row Q4_1·Q8_1, bit-identical per row to [`dot_avx2`].
        dot2_avx2, "avx2,fma,f16c", BlockQ4_1, BlockQ8_1, block_q4_1, m, s
    );
    dot4_block_sums!(
        /// AVX2 4-row Q4_1·Q8_1, bit-identical per row to [`dot_avx2`].
        dot4_avx2, "avx2,fma,f16c", BlockQ4_1, BlockQ8_1, prep_q4_1, block4_q4_1, m, s
    );
    dot8_block_sums!(
        /// AVX2 8-row tile Q4_1·Q8_1, bit-identical per row to [`dot_avx2`].
        dot8_avx2, "avx2,fma,f16c", BlockQ4_1, BlockQ8_1, prep_q4_1, block4_q4_1, m, s
    );
    dot_block_sums!(
        /// VNNI Q4_1·Q8_1 in block order.
        dot_vnni, "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c", BlockQ4_1, BlockQ8_1,
        vnni_block, m, s
    );
    dot4_block_sums!(
        /// VNNI 4-row Q4_1·Q8_1, bit-identical per row to [`dot_vnni`].
        dot4_vnni, "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c", BlockQ4_1, BlockQ8_1,
        prep_q4_1, vnni_block4, m, s
    );
    dot8_block_sums!(
        /// VNNI 8-row tile Q4_1·Q8_1, bit-identical per row to [`dot_vnni`].
        dot8_vnni, "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c", BlockQ4_1, BlockQ8_1,
        prep_q4_1, vnni_block4, m, s
    );

    dot2_blocks8!(
        /// AVX2 2-row Q4_1·Q8_1 in llama.cpp's lane order, bit-identical
        /// per row to `avx2::dot_q4_1_q8_1`.
        dot2_lanes_avx2, "avx2,fma,f16c", BlockQ4_1, BlockQ8_1, block_q4_1, m, s
    );
    dot2_blocks8!(
        /// VNNI 2-row Q4_1·Q8_1 in llama.cpp's lane order, bit-identical
        /// per row to `avx512::vnni_dot_q4_1_q8_1`.
        dot2_lanes_vnni, "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c", BlockQ4_1,
        BlockQ8_1, vnni_block, m, s
    );

    pub(super) fn avx2_dot2_lanes(w: &[BlockQ4_1], x: &[BlockQ8_1], out: &mut [f32; 2]) {
        // SAFETY: handed out only by constructors taking an `Avx2` token.
        unsafe { dot2_lanes_avx2(w, x, out) }
    }
    pub(super) fn vnni_dot2_lanes(w: &[BlockQ4_1], x: &[BlockQ8_1], out: &mut [f32; 2]) {
        // SAFETY: handed out only by constructors taking an `Avx512Vnni` token.
        unsafe { dot2_lanes_vnni(w, x, out) }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    #[inline]
    fn vnni_block(w: &BlockQ4_1, x: &BlockQ8_1) -> __m256i {
        vnni::block_q4_1(w, x)
    }
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    #[inline]
    fn vnni_block4(n: __m256i, x: &BlockQ8_1) -> __m256i {
        vnni::block4_q4_1(n, x)
    }

    crate::x86::block_macros::block_sums_wrappers!(
        BlockQ4_1,
        BlockQ8_1,
        crate::x86::gemv_q4_1::gemv8_q4_1_q8_1
    );
}
