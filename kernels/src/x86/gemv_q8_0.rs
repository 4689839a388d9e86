//! The AVX-512 VNNI single-token Q8_0 product in the default order, eight
//! weight rows at a time (lane r of the result = row r), straight from the
//! mapped layout.
//!
//! Per block position: each row's 32 weights, offset to unsigned
//! (w + 128), are multiplied with the activation block by one `vpdpbusd`;
//! a `vphaddd` tree gives the eight rows' exact Σ (w + 128)·q, from which
//! 128·Σq (the same for every row) is subtracted. The eight scales come in
//! with one gather. Each lane then takes `acc = fma(f32(sum), d_w · d_x,
//! acc)` in block order: [`crate::scalar::dot_q8_0_q8_0_blocks`]'s order,
//! so every row gets the bits of `dot`.

use crate::blocks::BlockQ8_0;
use crate::x86::avx2::imp::reduce8;
use core::arch::x86_64::*;

/// Eight Q8_0 rows (back to back in `w`) times one Q8_0 row: `out[0][r]`.
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C.
///
/// # Panics
/// When `w` is not 8 rows of `x.len()` blocks, or a row is too long for
/// 32-bit gather offsets.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(crate) unsafe fn gemv8_q8_0_q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0], out: &mut [[f32; 8]; 1]) {
    const B: usize = std::mem::size_of::<BlockQ8_0>();
    let n = x.len();
    assert_eq!(
        w.len(),
        8 * n,
        "dot8: weights are not 8 rows of the activation's length"
    );
    let row_bytes = i32::try_from(n * B)
        .ok()
        .filter(|rb| rb.checked_mul(7).is_some());
    let Some(rb) = row_bytes else {
        panic!("dot8: row of {n} blocks too long for the gather");
    };
    let base = w.as_ptr().cast::<u8>();
    let offsets = _mm256_setr_epi32(0, rb, 2 * rb, 3 * rb, 4 * rb, 5 * rb, 6 * rb, 7 * rb);
    let bias = _mm256_set1_epi8(-128);
    let mut acc = _mm256_setzero_ps();
    for (i, xb) in x.iter().enumerate() {
        // `base + r·row_bytes + i·B` is block i of row r, inside `w` for
        // r < 8 and i < n (every use below has r < 8).
        let at = |r: usize| {
            // SAFETY: as above: the offset stays inside `w`.
            unsafe { base.add(r * n * B + i * B) }
        };
        // Prefetch the next 8 rows (the next tile, contiguous after these)
        // at 8 blocks per step, so it is in cache when this one ends: eight
        // interleaved row streams defeat the hardware prefetcher. A
        // prefetch never faults: an address past `w` is harmless.
        let next = base.wrapping_add(8 * n * B + 8 * i * B).cast::<i8>();
        for line in 0..5 {
            _mm_prefetch::<_MM_HINT_T0>(next.wrapping_add(64 * line));
        }
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
        let t = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256::<1>(t));
        let t = _mm_add_epi32(t, _mm_shuffle_epi32::<0x4E>(t));
        let t = _mm_add_epi32(t, _mm_shuffle_epi32::<0xB1>(t));
        let sums = _mm256_sub_epi32(sums, _mm256_broadcastd_epi32(t));
        // The eight rows' scales: 4 bytes at each block start, low half.
        // SAFETY: every offset is a block start inside `w` (checked above),
        // and a block has more than 4 bytes.
        let dw = unsafe { _mm256_i32gather_epi32::<1>(at(0).cast(), offsets) };
        let dw = _mm256_cvtph_ps(_mm256_cvtepi32_epi16(dw));
        let d = _mm256_mul_ps(dw, _mm256_set1_ps(xb.d.to_f32()));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), d, acc);
    }
    // SAFETY: `out[0]` holds 8 f32.
    unsafe { _mm256_storeu_ps(out[0].as_mut_ptr(), acc) };
}
