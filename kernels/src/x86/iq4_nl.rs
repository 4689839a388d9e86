//! IQ4_NL × Q8_0 on x86_64 with AVX2 (also run by the AVX-512 path without
//! VNNI) and AVX-512 VNNI, single rows, 4 activation rows and 2 weight rows,
//! in the order of [`crate::quants::iq4_nl::dot_iq4_nl_q8_0`]: same bits as
//! the scalar.

use super::q5_0::{lanes_i8, nibbles, vnni_lanes_i8};
use crate::blocks::BlockQ8_0;
use crate::quants::iq4_nl::{BlockIq4Nl, IQ4_NL_LEVELS};
use std::arch::x86_64::*;

/// The 32 non-linear levels of an IQ4_NL block (table lookups).
#[target_feature(enable = "avx2")]
fn levels(b: &BlockIq4Nl) -> __m256i {
    // SAFETY: the table holds 16 bytes; unaligned load.
    let t = unsafe { _mm_loadu_si128(IQ4_NL_LEVELS.as_ptr().cast()) };
    _mm256_shuffle_epi8(_mm256_set_m128i(t, t), nibbles(&b.qs))
}

super::block_macros::blocks8_kernels!(
    BlockIq4Nl,
    BlockQ8_0,
    crate::scalar::quantize_act_q8_0,
    levels,
    lanes_i8,
    vnni_lanes_i8
);
