//! Q8_0 kernels on x86_64: the AVX2 code (also used by the AVX-512
//! build without VNNI) and the 256-bit VNNI code, in both numerics. Each
//! constructor takes the detection token of its instruction set, so these
//! kernels can only be handed out on a CPU that runs them.
//!
//! Default numerics: exact block sums added in block order by one FMA each
//! ([`crate::scalar::dot_q8_0_q8_0_blocks`]), which the 8-row and panel
//! kernels keep per lane. llama.cpp numerics: its x86 lane order
//! ([`crate::scalar::dot_q8_0_q8_0`]), single rows and 4-row dots only.

use super::{avx2, avx512};
use crate::blocks::BlockQ8_0;
use crate::cpu::{Avx2, Avx512, Avx512Vnni};
use crate::quant::{Numerics, RowKernels};

/// The AVX2 kernels.
pub(crate) fn avx2(_proof: Avx2, numerics: Numerics) -> RowKernels<BlockQ8_0, BlockQ8_0> {
    match numerics {
        Numerics::Default => RowKernels {
            quantize_act: avx2::quantize_q8_0,
            dot: blocks::avx2_dot,
            dot4: Some(blocks::avx2_dot4),
            rows2: Some(blocks::avx2_dot2),
            tile8x1: Some(blocks::avx2_tile8x1),
            tile8x4: Some(blocks::avx2_tile8x4),
        },
        Numerics::LlamaCpp => RowKernels {
            dot4: Some(avx2::dot4_q8_0_q8_0),
            ..RowKernels::from_dot(avx2::quantize_q8_0, avx2::dot_q8_0_q8_0)
        },
    }
}

/// The AVX-512 F + BW kernels (the AVX2 code: same bits, same speed).
pub(crate) fn avx512(proof: Avx512, numerics: Numerics) -> RowKernels<BlockQ8_0, BlockQ8_0> {
    avx2(proof.avx2(), numerics)
}

/// The AVX-512 VL + VNNI kernels.
pub(crate) fn avx512_vnni(
    proof: Avx512Vnni,
    numerics: Numerics,
) -> RowKernels<BlockQ8_0, BlockQ8_0> {
    let _ = proof;
    match numerics {
        Numerics::Default => RowKernels {
            quantize_act: avx2::quantize_q8_0,
            dot: blocks::vnni_dot,
            dot4: Some(blocks::vnni_dot4),
            // Single tokens go eight rows at a time (`tile8x1`).
            rows2: None,
            tile8x1: Some(blocks::vnni_tile8x1),
            tile8x4: Some(blocks::vnni_tile8x4),
        },
        Numerics::LlamaCpp => RowKernels {
            dot4: Some(avx512::vnni_dot4_q8_0_q8_0),
            ..RowKernels::from_dot(avx2::quantize_q8_0, avx512::vnni_dot_q8_0_q8_0)
        },
    }
}

/// The default-order kernels, generated from the per-block integer kernels
/// of the AVX2 and VNNI builds.
mod blocks {
    use crate::blocks::BlockQ8_0;
    use crate::x86::avx2::imp::{block4_q8_0, block_q8_0, prep_q8_0};
    use crate::x86::avx2::{dot2_block_sums, dot4_block_sums, dot8_block_sums, dot_block_sums};
    use crate::x86::avx512::vnni;
    use core::arch::x86_64::*;

    dot_block_sums!(
        /// AVX2 Q8_0·Q8_0 in block order.
        dot_avx2, "avx2,fma,f16c", BlockQ8_0, BlockQ8_0, block_q8_0
    );
    dot2_block_sums!(
        /// AVX2 2-row Q8_0·Q8_0, bit-identical per row to [`dot_avx2`].
        dot2_avx2, "avx2,fma,f16c", BlockQ8_0, BlockQ8_0, block_q8_0
    );
    dot4_block_sums!(
        /// AVX2 4-row Q8_0·Q8_0, bit-identical per row to [`dot_avx2`].
        dot4_avx2, "avx2,fma,f16c", BlockQ8_0, BlockQ8_0, prep_q8_0, block4_q8_0
    );
    dot8_block_sums!(
        /// AVX2 8-row tile Q8_0·Q8_0, bit-identical per row to [`dot_avx2`].
        dot8_avx2, "avx2,fma,f16c", BlockQ8_0, BlockQ8_0, prep_q8_0, block4_q8_0
    );
    dot_block_sums!(
        /// VNNI Q8_0·Q8_0 in block order.
        dot_vnni, "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c", BlockQ8_0, BlockQ8_0,
        vnni_block
    );
    dot4_block_sums!(
        /// VNNI 4-row Q8_0·Q8_0, bit-identical per row to [`dot_vnni`].
        dot4_vnni, "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c", BlockQ8_0, BlockQ8_0,
        prep_q8_0, vnni_block4
    );
    dot8_block_sums!(
        /// VNNI 8-row tile Q8_0·Q8_0, bit-identical per row to [`dot_vnni`].
        dot8_vnni, "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c", BlockQ8_0, BlockQ8_0,
        prep_q8_0, vnni_block4
    );

    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    #[inline]
    fn vnni_block(w: &BlockQ8_0, x: &BlockQ8_0) -> __m256i {
        vnni::block_q8_0(w, x)
    }
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    #[inline]
    fn vnni_block4(p: (__m256i, __m256i), x: &BlockQ8_0) -> __m256i {
        vnni::block4_q8_0(p, x)
    }

    crate::x86::block_macros::block_sums_wrappers!(
        BlockQ8_0,
        BlockQ8_0,
        crate::x86::gemv_q8_0::gemv8_q8_0_q8_0
    );
}
