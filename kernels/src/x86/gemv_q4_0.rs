//! The AVX-512 VNNI single-token Q4_0 product, eight weight rows at a time
//! (lane r of the result = row r), straight from the mapped layout.
//!
//! Per block position: two rows' 16 nibble bytes share one 256-bit
//! register (row k low, row k + 4 high); their low and high nibbles are
//! multiplied with the activation's elements 0..16 and 16..32 (each
//! broadcast to both halves) by two `vpdpbusd` into one accumulator, and
//! three `vphaddd` turn the four registers into the eight rows' exact block
//! sums Σ (nibble − 8)·q (each accumulator starts from −8·q summed over
//! its lanes' elements, computed once per block for all rows). The eight scales come in with eight scalar loads. Each lane then
//! takes `acc = fma(f32(sum), d_w · d_x, acc)` in block order: the order of
//! the single-row Q4_0 kernels, so every row gets the bits of `dot`.
//!
//! Measured on Zen 4 with the rows in L3 (in-cache cost per row and block,
//! minimum of many runs): 0.65 ns, against 1.07 ns for the two-row kernel
//! it replaces and 0.86 ns for the previous 8-row tile.

use crate::blocks::{BlockQ4_0, BlockQ8_0};
use crate::x86::gemv8::{load_scales, prefetch_next_rows, rows8};
use core::arch::x86_64::*;

/// Eight Q4_0 rows (back to back in `w`) times one Q8_0 row: `out[0][r]`.
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C.
///
/// # Panics
/// When `w` is not 8 rows of `x.len()` blocks.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(crate) unsafe fn gemv8_q4_0_q8_0(w: &[BlockQ4_0], x: &[BlockQ8_0], out: &mut [[f32; 8]; 1]) {
    const B: usize = std::mem::size_of::<BlockQ4_0>();
    let n = x.len();
    let (base, row_bytes) = rows8(w, n);
    let low = _mm256_set1_epi8(0xF);
    let eight = _mm256_set1_epi8(8);
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
        // −8·q summed over the same element groups as each row's lanes:
        // every row's accumulator starts from it, so the lanes hold the
        // exact partial sums of (nibble − 8)·q.
        let minus8 = _mm256_sub_epi32(
            _mm256_setzero_si256(),
            _mm256_dpbusd_epi32(
                _mm256_dpbusd_epi32(_mm256_setzero_si256(), eight, xlo),
                eight,
                xhi,
            ),
        );
        // Register k: lanes 0..4 = row k's partial sums, 4..8 = row k + 4's.
        let s: [__m256i; 4] = std::array::from_fn(|k| {
            // SAFETY: the 16 nibble bytes follow the 2-byte scale of each block.
            let v = unsafe {
                _mm256_inserti128_si256::<1>(
                    _mm256_castsi128_si256(_mm_loadu_si128(at(k).add(2).cast())),
                    _mm_loadu_si128(at(k + 4).add(2).cast()),
                )
            };
            let lo = _mm256_and_si256(v, low);
            let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(v), low);
            _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(minus8, lo, xlo), hi, xhi)
        });
        // [r0 r1 r2 r3 | r4 r5 r6 r7].
        let sums = _mm256_hadd_epi32(_mm256_hadd_epi32(s[0], s[1]), _mm256_hadd_epi32(s[2], s[3]));
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
