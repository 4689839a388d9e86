//! The AVX-512 VNNI single-token Q6_K product, eight weight rows at a time
//! (lane r of the result = row r), straight from the mapped layout.
//!
//! Per super-block position: each row's block is unpacked as in
//! [`super::q6k_vnni`] and gives eight exact i32 partial sums of sumi
//! (`vpmaddubsw`, `vpdpwssd` with the group scales, minus 32·Σ sc·bsums);
//! three `vphaddd` per four rows and one add of the two 128-bit halves
//! leave sumi with lane r = row r. The eight rows' scales d come in with eight
//! scalar loads. Each lane then takes the reference's float step,
//! `acc = fma(f32(sumi)·d_w, d_x, acc)`, in super-block order, so every row
//! gets the bits of [`crate::scalar::dot_q6k_q8k`]. While it runs, the next
//! eight rows (which follow these in the map) are prefetched linearly.

use super::q6k_vnni::{lanes, load_bsums, load_x, prep};
use crate::blocks::{BlockQ6K, BlockQ8K};
use crate::x86::gemv8::{f16_halves, load_words, prefetch_next_rows, rows8};
use core::arch::x86_64::*;

/// Eight Q6_K rows (back to back in `w`) times one Q8_K row: `out[0][r]`.
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C.
///
/// # Panics
/// When `w` is not 8 rows of `x.len()` blocks.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn gemv8(w: &[BlockQ6K], x: &[BlockQ8K], out: &mut [[f32; 8]; 1]) {
    const B: usize = std::mem::size_of::<BlockQ6K>();
    // `d` is the last 2 bytes of a block: the load reads the 4 bytes
    // ending there (the last two scales, then d) and keeps the high half.
    const D_WORD: usize = B - 4;
    let n = x.len();
    let (base, row_bytes) = rows8(w, n);
    let mut acc = _mm256_setzero_ps();
    for (i, xb) in x.iter().enumerate() {
        prefetch_next_rows::<{ (8 * B).div_ceil(64) }>(base, 8 * n * B, i * B);
        let xv = load_x(xb);
        let bs = load_bsums(xb);
        // Plain loop (closures would not inline into `target_feature` code).
        let mut l = [_mm256_setzero_si256(); 8];
        for (r, lr) in l.iter_mut().enumerate() {
            *lr = lanes(&prep(&w[r * n + i]), &xv, bs);
        }
        // Per 128-bit half: [r0 r1 r2 r3] and [r4 r5 r6 r7] partials.
        let lo = _mm256_hadd_epi32(_mm256_hadd_epi32(l[0], l[1]), _mm256_hadd_epi32(l[2], l[3]));
        let hi = _mm256_hadd_epi32(_mm256_hadd_epi32(l[4], l[5]), _mm256_hadd_epi32(l[6], l[7]));
        let sumi = _mm256_add_epi32(
            _mm256_permute2x128_si256::<0x20>(lo, hi),
            _mm256_permute2x128_si256::<0x31>(lo, hi),
        );
        // SAFETY: every offset + D_WORD is the last 4 bytes of block i of a
        // row inside `w` (checked above).
        let g = unsafe { load_words(base.add(i * B + D_WORD), row_bytes) };
        let dw = f16_halves::<true>(g);
        let t = _mm256_mul_ps(_mm256_cvtepi32_ps(sumi), dw);
        acc = _mm256_fmadd_ps(t, _mm256_set1_ps(xb.d), acc);
    }
    // SAFETY: `out[0]` holds 8 f32.
    unsafe { _mm256_storeu_ps(out[0].as_mut_ptr(), acc) };
}

/// Safe wrapper: placed in a kernel table only by `x86::q6k::avx512_vnni`,
/// which takes the `Avx512Vnni` detection token.
pub(super) fn vnni_gemv8(w: &[BlockQ6K], x: &[BlockQ8K], out: &mut [[f32; 8]; 1]) {
    // SAFETY: handed out only by a constructor taking an `Avx512Vnni` token.
    unsafe { gemv8(w, x, out) }
}
