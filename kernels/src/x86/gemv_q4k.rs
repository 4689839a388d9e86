//! The AVX-512 VNNI single-token Q4_K product, eight weight rows at a time
//! (lane r of the result = row r), straight from the mapped layout.
//!
//! Per super-block position: each row's block is unpacked as in
//! [`super::q4k_vnni`] (levels, i16 sub-block scales) and gives the exact
//! partial sums of sumi (`vpmaddubsw`, `vpdpwssd`) and summ (`vpmaddwd` of
//! the minimums with the activation's pair sums); six `vphaddd` and two
//! lane permutes turn the eight rows' partials into sumi and summ with lane
//! r = row r. The scales d and dmin of the eight rows come in with eight
//! scalar loads. Each lane then takes the reference's float step,
//! `acc += (d_x·d_w)·f32(sumi) − (d_x·dmin_w)·f32(summ)`, in super-block
//! order, so every row gets the bits of
//! [`crate::quants::q4_k::dot_q4k_q8k`]. While it runs, the next eight rows
//! (which follow these in the map) are prefetched linearly: eight
//! interleaved row streams defeat the hardware prefetcher.

use super::q4k_vnni::{lanes, load_x, pair_bsums, prep};
use crate::blocks::BlockQ8K;
use crate::quants::q4_k::BlockQ4K;
use crate::x86::gemv8::{f16_halves, load_words, prefetch_next_rows, rows8};
use core::arch::x86_64::*;

/// Eight Q4_K rows (back to back in `w`) times one Q8_K row: `out[0][r]`.
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C.
///
/// # Panics
/// When `w` is not 8 rows of `x.len()` blocks.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn gemv8(w: &[BlockQ4K], x: &[BlockQ8K], out: &mut [[f32; 8]; 1]) {
    const B: usize = std::mem::size_of::<BlockQ4K>();
    let n = x.len();
    let (base, row_bytes) = rows8(w, n);
    let mut acc = _mm256_setzero_ps();
    for (i, xb) in x.iter().enumerate() {
        prefetch_next_rows::<{ (8 * B).div_ceil(64) }>(base, 8 * n * B, i * B);
        let xv = load_x(xb);
        let q8s = pair_bsums(xb);
        // Plain loop (closures would not inline into `target_feature` code).
        let mut l = [_mm256_setzero_si256(); 8];
        for (r, lr) in l.iter_mut().enumerate() {
            *lr = lanes(&prep(&w[r * n + i]), &xv, q8s);
        }
        // [s0 s0 s1 s1 | m0 m0 m1 m1], then [s0 s1 s2 s3 | m0 m1 m2 m3].
        let h01 = _mm256_hadd_epi32(l[0], l[1]);
        let h23 = _mm256_hadd_epi32(l[2], l[3]);
        let h45 = _mm256_hadd_epi32(l[4], l[5]);
        let h67 = _mm256_hadd_epi32(l[6], l[7]);
        let lo = _mm256_hadd_epi32(h01, h23);
        let hi = _mm256_hadd_epi32(h45, h67);
        let sumi = _mm256_permute2x128_si256::<0x20>(lo, hi);
        let summ = _mm256_permute2x128_si256::<0x31>(lo, hi);
        // d and dmin of the eight rows: the first 4 bytes of each block.
        // SAFETY: every offset is block i of a row inside `w` (checked
        // above), and a block has more than 4 bytes.
        let g = unsafe { load_words(base.add(i * B), row_bytes) };
        let dw = f16_halves::<false>(g);
        let dm = f16_halves::<true>(g);
        let xd = _mm256_set1_ps(xb.d);
        let p = _mm256_mul_ps(_mm256_mul_ps(xd, dw), _mm256_cvtepi32_ps(sumi));
        let q = _mm256_mul_ps(_mm256_mul_ps(xd, dm), _mm256_cvtepi32_ps(summ));
        acc = _mm256_add_ps(acc, _mm256_sub_ps(p, q));
    }
    // SAFETY: `out[0]` holds 8 f32.
    unsafe { _mm256_storeu_ps(out[0].as_mut_ptr(), acc) };
}

/// Safe wrapper: placed in a kernel table only by `x86::q4k::avx512_vnni`,
/// which takes the `Avx512Vnni` detection token.
pub(super) fn vnni_gemv8(w: &[BlockQ4K], x: &[BlockQ8K], out: &mut [[f32; 8]; 1]) {
    // SAFETY: handed out only by a constructor taking an `Avx512Vnni` token.
    unsafe { gemv8(w, x, out) }
}
