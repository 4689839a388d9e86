//! AVX-512 VNNI panel kernels (see [`crate::quant::panel`]) for Q6_K
//! weights multiplied with Q8_K activations (the one Q6_K order, both
//! numerics' `dot`). Activations are packed as in [`super::panel_kq`].
//!
//! Layout of a prepared weight super-block position of a tile
//! ([`PREP_BLOCK_BYTES`] for the 8 rows, little-endian): the 8 rows' 256
//! values q − 32 (signed, element order); the 8 rows' 16 group scales as
//! i32; the 8 rows' corrections `128 · Σ_s sc_s · Σ (q − 32)` as i32; the 8
//! rows' `d` as f32.
//!
//! One `vpdpbusd` multiplies 4 values (broadcast) with 4 elements of 16
//! activation rows; the 4 groups of a group of 16 give Σ (x + 128)·(q − 32),
//! which is multiplied by its scale and summed; subtracting the correction
//! leaves the exact sumi of [`crate::scalar::dot_q6k_q8k`] (no activation
//! block sums needed). Each lane then takes the reference's float step
//! `acc = fma(f32(sumi)·d_w, d_x, acc)` in super-block order: the bits of
//! `dot`.

use super::panel::block_positions;
use super::panel_kq::{pack_q8k, prefetch_next_tile, scaled_sums, ACT_BLOCK_BYTES, ACT_BS, ACT_QS};
use crate::blocks::{BlockQ6K, BlockQ8K, QK_K};
use crate::cpu::Avx512Vnni;
use crate::quant::panel::{PanelKernels, PanelOut, PANEL_TILE_ROWS};
use core::arch::x86_64::*;

/// Offsets inside one prepared super-block position (8 rows).
const W_VALS: usize = 0;
// `scaled_sums` reads the values from byte 0 of a position.
const _: () = assert!(W_VALS == 0);
const W_SC: usize = W_VALS + PANEL_TILE_ROWS * QK_K;
const W_CORR: usize = W_SC + PANEL_TILE_ROWS * 16 * 4;
const W_D: usize = W_CORR + PANEL_TILE_ROWS * 4;
/// Bytes of one prepared weight super-block position (8 rows).
const PREP_BLOCK_BYTES: usize = W_D + PANEL_TILE_ROWS * 4;

/// The Q6_K panel kernels.
pub(crate) fn q6k(_proof: Avx512Vnni) -> PanelKernels<BlockQ6K, BlockQ8K> {
    PanelKernels {
        act_block_bytes: ACT_BLOCK_BYTES,
        weight_block_bytes: PREP_BLOCK_BYTES / PANEL_TILE_ROWS,
        pack_act: pack_q8k,
        prep_weights: prep_q6k,
        tile,
    }
}

fn put_i32(o: &mut [u8], at: usize, v: i32) {
    o[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Prepares 8 Q6_K rows (see the module doc).
///
/// # Panics
/// When `w.len()` is not a multiple of 8 or `out` is not `w.len() / 8`
/// block positions long.
fn prep_q6k(w: &[BlockQ6K], out: &mut [u8]) {
    assert_eq!(w.len() % PANEL_TILE_ROWS, 0, "panel: not 8 weight rows");
    let n = w.len() / PANEL_TILE_ROWS;
    assert_eq!(out.len(), n * PREP_BLOCK_BYTES, "panel: bad scratch length");
    prefetch_next_tile(w);
    // Row by row: each row's blocks are read in map order (one stream at
    // a time for the hardware prefetcher).
    for r in 0..PANEL_TILE_ROWS {
        for (i, o) in out.chunks_exact_mut(PREP_BLOCK_BYTES).enumerate() {
            let b = &w[r * n + i];
            let vals = &mut o[W_VALS + r * QK_K..W_VALS + (r + 1) * QK_K];
            // SAFETY: handed out only by `q6k`, which takes an
            // `Avx512Vnni` token.
            let sums = unsafe { unpack_vnni(b, vals) };
            let mut corr = 0i32;
            for (s, &sum) in sums.iter().enumerate() {
                let sc = i32::from(b.scales[s]);
                corr += sc * sum;
                put_i32(o, W_SC + 4 * (16 * r + s), sc);
            }
            put_i32(o, W_CORR + 4 * r, 128 * corr);
            o[W_D + 4 * r..][..4].copy_from_slice(&b.d.to_f32().to_le_bytes());
        }
    }
}

/// Writes the 256 values q − 32 of `b` in element order into `vals` and
/// returns the sum of each group of 16.
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn unpack_vnni(b: &BlockQ6K, vals: &mut [u8]) -> [i32; 16] {
    assert_eq!(vals.len(), QK_K);
    let p = super::q6k_vnni::prep(b);
    let mut sums = [0i32; 16];
    for (k, q) in p.levels().iter().enumerate() {
        // SAFETY: bytes 64k..64k + 64 of the 256 checked above.
        unsafe {
            _mm512_storeu_si512(
                vals.as_mut_ptr().add(64 * k).cast(),
                _mm512_sub_epi8(*q, _mm512_set1_epi8(32)),
            )
        };
        // Σ levels of each 8 bytes, then of each group of 16.
        let mut s8 = [0u64; 8];
        // SAFETY: `s8` holds 8 u64.
        unsafe {
            _mm512_storeu_si512(
                s8.as_mut_ptr().cast(),
                _mm512_sad_epu8(*q, _mm512_setzero_si512()),
            )
        };
        for g in 0..4 {
            sums[4 * k + g] = (s8[2 * g] + s8[2 * g + 1]) as i32 - 16 * 32;
        }
    }
    sums
}

/// Prepared weights × one panel.
///
/// # Panics
/// When the lengths do not describe the same number of block positions.
fn tile(weights: &[u8], panel: &[u8], out: &mut PanelOut) {
    let n = block_positions(weights, panel, PREP_BLOCK_BYTES, ACT_BLOCK_BYTES);
    // SAFETY: handed out only by `q6k`, which takes an `Avx512Vnni` token;
    // the lengths were checked above.
    unsafe { tile_vnni(weights, panel, n, out) }
}

/// # Safety
/// The CPU must support AVX-512 F/BW and VNNI; `weights` must hold
/// `n · PREP_BLOCK_BYTES` bytes and `panel` `n · ACT_BLOCK_BYTES`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,fma")]
unsafe fn tile_vnni(weights: &[u8], panel: &[u8], n: usize, out: &mut PanelOut) {
    let mut acc = [_mm512_setzero_ps(); PANEL_TILE_ROWS];
    for i in 0..n {
        // SAFETY: block position i is inside both slices (caller's
        // lengths); every read below stays within its position.
        let (wp, ap) = unsafe {
            (
                weights.as_ptr().add(i * PREP_BLOCK_BYTES),
                panel.as_ptr().add(i * ACT_BLOCK_BYTES),
            )
        };
        let w32 = |at: usize| {
            // SAFETY: every `at` passed below is a 4-byte field inside the
            // position (offsets from the layout constants).
            unsafe { wp.add(at).cast::<i32>().read_unaligned() }
        };
        // SAFETY: both pointers start block position i (checked lengths);
        // the layout constants describe it.
        let sumi = unsafe { scaled_sums::<16, 4>(wp, ap, W_SC, W_CORR) };
        // SAFETY: the 16 scales follow the values and the sums.
        let dx = unsafe { _mm512_loadu_ps(ap.add(ACT_QS + ACT_BS).cast()) };
        for (r, a) in acc.iter_mut().enumerate() {
            let dw = f32::from_bits(w32(W_D + 4 * r) as u32);
            let t = _mm512_mul_ps(_mm512_cvtepi32_ps(sumi[r]), _mm512_set1_ps(dw));
            *a = _mm512_fmadd_ps(t, dx, *a);
        }
    }
    for (o, a) in out.iter_mut().zip(acc) {
        // SAFETY: `o` holds 16 f32.
        unsafe { _mm512_storeu_ps(o.as_mut_ptr(), a) };
    }
}
