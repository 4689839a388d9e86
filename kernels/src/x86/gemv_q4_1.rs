//! The AVX-512 VNNI single-token Q4_1 product, eight weight rows at a time
//! (lane r of the result = row r), straight from the mapped layout.
//!
//! As [`crate::x86::gemv_q4_0`]: per block position, two rows' 16 nibble
//! bytes share one 256-bit register (row k low, row k + 4 high); their low
//! and high nibbles (unsigned 0..15, the `vpdpbusd` u8 operand) are
//! multiplied with the activation's elements 0..16 and 16..32 by two
//! `vpdpbusd`, and three `vphaddd` turn the four registers into the eight
//! rows' exact block sums Σ nibble·q (no correction: the nibbles are the
//! weights' levels). Eight scalar loads bring the rows' (d, m) pairs. Each lane
//! then takes `acc = fma(f32(sum), d_w · d_x, acc)` and
//! `acc = fma(m_w, s_x, acc)` in block order: the order of
//! [`crate::scalar::dot_q4_1_q8_1_blocks`], so every row gets the bits of
//! `dot`.

use crate::blocks::{BlockQ4_1, BlockQ8_1};
use crate::x86::gemv8::{f16_halves, load_words, prefetch_next_rows, rows8};
use core::arch::x86_64::*;

/// Eight Q4_1 rows (back to back in `w`) times one Q8_1 row: `out[0][r]`.
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C.
///
/// # Panics
/// When `w` is not 8 rows of `x.len()` blocks.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(crate) unsafe fn gemv8_q4_1_q8_1(w: &[BlockQ4_1], x: &[BlockQ8_1], out: &mut [[f32; 8]; 1]) {
    const B: usize = std::mem::size_of::<BlockQ4_1>();
    let n = x.len();
    let (base, row_bytes) = rows8(w, n);
    let low = _mm256_set1_epi8(0xF);
    let mut acc = _mm256_setzero_ps();
    for (i, xb) in x.iter().enumerate() {
        // `base + r·row_bytes + i·B` is block i of row r, inside `w` for
        // r < 8 and i < n (every use below has r < 8).
        let at = |r: usize| {
            // SAFETY: as above: the offset stays inside `w`.
            unsafe { base.add(r * n * B + i * B) }
        };
        prefetch_next_rows::<3>(base, 8 * n * B, i * B);
        // SAFETY: `qs` holds 32 bytes: elements 0..16, then 16..32.
        let (xlo, xhi) = unsafe {
            let p = xb.qs.as_ptr().cast::<__m128i>();
            (
                _mm256_broadcastsi128_si256(_mm_loadu_si128(p)),
                _mm256_broadcastsi128_si256(_mm_loadu_si128(p.add(1))),
            )
        };
        // Register k: lanes 0..4 = row k's partial sums, 4..8 = row k + 4's.
        let s: [__m256i; 4] = std::array::from_fn(|k| {
            // SAFETY: the 16 nibble bytes follow the 4-byte (d, m) of each block.
            let v = unsafe {
                _mm256_inserti128_si256::<1>(
                    _mm256_castsi128_si256(_mm_loadu_si128(at(k).add(4).cast())),
                    _mm_loadu_si128(at(k + 4).add(4).cast()),
                )
            };
            let lo = _mm256_and_si256(v, low);
            let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(v), low);
            _mm256_dpbusd_epi32(
                _mm256_dpbusd_epi32(_mm256_setzero_si256(), lo, xlo),
                hi,
                xhi,
            )
        });
        // [r0 r1 r2 r3 | r4 r5 r6 r7].
        let sums = _mm256_hadd_epi32(_mm256_hadd_epi32(s[0], s[1]), _mm256_hadd_epi32(s[2], s[3]));
        // The eight rows' (d, m): the 4 bytes at each block start.
        // SAFETY: every offset is a block start inside `w` (checked above),
        // and a block has more than 4 bytes.
        let dm = unsafe { load_words(at(0), row_bytes) };
        let dw = f16_halves::<false>(dm);
        let mw = f16_halves::<true>(dm);
        let d = _mm256_mul_ps(dw, _mm256_set1_ps(xb.d.to_f32()));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), d, acc);
        acc = _mm256_fmadd_ps(mw, _mm256_set1_ps(xb.s.to_f32()), acc);
    }
    // SAFETY: `out[0]` holds 8 f32.
    unsafe { _mm256_storeu_ps(out[0].as_mut_ptr(), acc) };
}
