//! The AVX-512 VNNI single-token Q8_0 product in the default order, eight
//! weight rows at a time (lane r of the result = row r), straight from the
//! mapped layout.
//!
//! Per block position: each row's 32 weights, offset to unsigned
//! (w + 128), are multiplied with the activation block by one `vpdpbusd`;
//! a `vphaddd` tree gives the eight rows' exact Σ (w + 128)·q, from which
//! 128·Σq (the same for every row) is subtracted. The eight scales come in
//! with eight scalar loads. Each lane then takes `acc = fma(f32(sum), d_w · d_x,
//! acc)` in block order: [`crate::scalar::dot_q8_0_q8_0_blocks`]'s order,
//! so every row gets the bits of `dot`.

use crate::blocks::BlockQ8_0;
use crate::x86::avx2::imp::reduce8;
use crate::x86::gemv8::{hsum_broadcast, load_scales, prefetch_next_rows, rows8};
use core::arch::x86_64::*;

/// Eight Q8_0 rows (back to back in `w`) times one Q8_0 row: `out[0][r]`.
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C.
///
/// # Panics
/// When `w` is not 8 rows of `x.len()` blocks.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(crate) unsafe fn gemv8_q8_0_q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0], out: &mut [[f32; 8]; 1]) {
    const B: usize = std::mem::size_of::<BlockQ8_0>();
    let n = x.len();
    let (base, row_bytes) = rows8(w, n);
    let bias = _mm256_set1_epi8(-128);
    let mut acc = _mm256_setzero_ps();
    for (i, xb) in x.iter().enumerate() {
        // `base + r·row_bytes + i·B` is block i of row r, inside `w` for
        // r < 8 and i < n (every use below has r < 8).
        let at = |r: usize| {
            // SAFETY: as above: the offset stays inside `w`.
            unsafe { base.add(r * n * B + i * B) }
        };
        prefetch_next_rows::<5>(base, 8 * n * B, i * B);
        // SAFETY: `qs` holds 32 bytes.
        let q = unsafe { _mm256_loadu_si256(xb.qs.as_ptr().cast()) };
        let s: [__m256i; 8] = std::array::from_fn(|r| {
            // SAFETY: the 32 weights follow the 2-byte scale of each block.
            let v = unsafe { _mm256_loadu_si256(at(r).add(2).cast()) };
            _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_xor_si256(v, bias), q)
        });
        let sums = reduce8(s);
        // 128·Σq, exact.
        let t = _mm256_dpbusd_epi32(_mm256_setzero_si256(), bias, q);
        let sums = _mm256_sub_epi32(sums, hsum_broadcast(t));
        // The eight rows' scales: 4 bytes at each block start, low half.
        // SAFETY: every offset is a block start inside `w` (checked above),
        // and a block has more than 4 bytes.
        let dw = unsafe { load_scales(at(0), row_bytes) };
        let d = _mm256_mul_ps(dw, _mm256_set1_ps(xb.d.to_f32()));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), d, acc);
    }
    // SAFETY: `out[0]` holds 8 f32.
    unsafe { _mm256_storeu_ps(out[0].as_mut_ptr(), acc) };
}
