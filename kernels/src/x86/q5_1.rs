//! Q5_1 × Q8_1 on x86_64 with AVX2 (also run by the AVX-512 path without
//! VNNI) and AVX-512 VNNI, single rows, 4 activation rows and 2 weight rows,
//! in the order of [`crate::quants::q5_1::dot_q5_1_q8_1`]: same bits as the
//! scalar.

use super::q5_0::{fifth_bits, lanes_u8, nibbles, vnni_lanes_u8};
use crate::blocks::BlockQ8_1;
use crate::quants::q5_1::BlockQ5_1;
use std::arch::x86_64::*;

/// The 32 levels (0..=31) of a Q5_1 block.
#[target_feature(enable = "avx2")]
fn levels(b: &BlockQ5_1) -> __m256i {
    _mm256_or_si256(nibbles(&b.qs), fifth_bits(b.qh))
}

super::block_macros::blocks8_kernels!(
    BlockQ5_1,
    BlockQ8_1,
    crate::scalar::quantize_act_q8_1,
    levels,
    lanes_u8,
    vnni_lanes_u8,
    m,
    s
);
