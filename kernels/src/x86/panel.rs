//! AVX-512 VNNI panel kernels (see [`crate::quant::panel`]) for weights
//! multiplied with Q8_0 activations (Q4_0 weights; Q8_0 weights in the
//! default numerics, whose order is the same block order).
//!
//! Layouts (all little-endian):
//! - a packed activation block position ([`ACT_BLOCK_BYTES`]): eight
//!   groups g of 4 elements (4g..4g+3), each 16 rows × 4 bytes holding
//!   `q + 128` as unsigned bytes, then the 16 rows' scales as f32;
//! - a prepared weight block position of a tile ([`PREP_BLOCK_BYTES`] for
//!   the 8 rows): the 8 rows' 32 signed values (element order), then the
//!   8 rows' corrections `128 · Σ w` as i32, then their scales as f32.
//!
//! One `vpdpbusd` multiplies 4 weight values (broadcast) with 4 elements
//! of 16 activation rows: Σ (q + 128)·w = Σ q·w + 128·Σ w, so each block
//! sum is exact after subtracting the correction. Every lane then takes
//! `acc = fma(f32(sum), d_w · d_x, acc)` in block order: the order of the
//! single-row Q4_0 kernels, hence the same bits.

use crate::blocks::{BlockQ4_0, BlockQ8_0, QK};
use crate::cpu::Avx512Vnni;
use crate::quant::panel::{PanelKernels, PanelOut, PANEL_ROWS, PANEL_TILE_ROWS};
use core::arch::x86_64::*;

/// Bytes of one packed activation block position (16 rows).
const ACT_BLOCK_BYTES: usize = QK * PANEL_ROWS + 4 * PANEL_ROWS;
/// Bytes of one prepared weight block position (8 rows).
const PREP_BLOCK_BYTES: usize = PANEL_TILE_ROWS * (QK + 4 + 4);

/// The Q4_0 panel kernels (both numerics: Q4_0 sums in block order in
/// both).
pub(crate) fn q4_0(_proof: Avx512Vnni) -> PanelKernels<BlockQ4_0, BlockQ8_0> {
    PanelKernels {
        act_block_bytes: ACT_BLOCK_BYTES,
        weight_block_bytes: PREP_BLOCK_BYTES / PANEL_TILE_ROWS,
        pack_act: pack_q8_0,
        prep_weights: prep_q4_0,
        tile,
    }
}

/// The Q8_0 panel kernels (default numerics only: llama.cpp's Q8_0 order
/// keeps eight float lanes per row).
pub(crate) fn q8_0(_proof: Avx512Vnni) -> PanelKernels<BlockQ8_0, BlockQ8_0> {
    PanelKernels {
        act_block_bytes: ACT_BLOCK_BYTES,
        weight_block_bytes: PREP_BLOCK_BYTES / PANEL_TILE_ROWS,
        pack_act: pack_q8_0,
        prep_weights: prep_q8_0,
        tile,
    }
}

/// Packs up to 16 Q8_0 rows into a panel (see the module doc).
///
/// # Panics
/// When `rows` is 0 or over 16, `x.len()` is not a multiple of `rows`, or
/// `out` is not `x.len() / rows` block positions long.
fn pack_q8_0(x: &[BlockQ8_0], rows: usize, out: &mut [u8]) {
    assert!(
        (1..=PANEL_ROWS).contains(&rows) && x.len().is_multiple_of(rows),
        "panel: bad row count"
    );
    let n = x.len() / rows;
    assert_eq!(out.len(), n * ACT_BLOCK_BYTES, "panel: bad output length");
    for (i, o) in out.chunks_exact_mut(ACT_BLOCK_BYTES).enumerate() {
        let (qs, ds) = o.split_at_mut(QK * PANEL_ROWS);
        for t in 0..PANEL_ROWS {
            let b = (t < rows).then(|| &x[t * n + i]);
            for g in 0..QK / 4 {
                let at = (g * PANEL_ROWS + t) * 4;
                for j in 0..4 {
                    let q = b.map_or(0, |b| b.qs[4 * g + j]);
                    qs[at + j] = (q as u8) ^ 0x80;
                }
            }
            let d = b.map_or(0.0, |b| b.d.to_f32());
            ds[4 * t..4 * t + 4].copy_from_slice(&d.to_le_bytes());
        }
    }
}

/// Prepares 8 Q4_0 rows (see the module doc).
///
/// # Panics
/// When `w.len()` is not a multiple of 8 or `out` is not `w.len() / 8`
/// block positions long.
fn prep_q4_0(w: &[BlockQ4_0], out: &mut [u8]) {
    assert_eq!(w.len() % PANEL_TILE_ROWS, 0, "panel: not 8 weight rows");
    let n = w.len() / PANEL_TILE_ROWS;
    assert_eq!(out.len(), n * PREP_BLOCK_BYTES, "panel: bad scratch length");
    // SAFETY: handed out only by `q4_0`, which takes an `Avx512Vnni` token
    // (AVX2 comes with it); the lengths were checked above.
    unsafe { prep_q4_0_avx2(w, n, out) }
}

/// # Safety
/// The CPU must support AVX2; `w` must hold 8 rows of `n` blocks and `out`
/// `n · PREP_BLOCK_BYTES` bytes.
#[target_feature(enable = "avx2,f16c")]
unsafe fn prep_q4_0_avx2(w: &[BlockQ4_0], n: usize, out: &mut [u8]) {
    let low = _mm_set1_epi8(0xF);
    let eight = _mm256_set1_epi8(8);
    for (i, o) in out.chunks_exact_mut(PREP_BLOCK_BYTES).enumerate() {
        let (vals, rest) = o.split_at_mut(PANEL_TILE_ROWS * QK);
        let (corr, ds) = rest.split_at_mut(4 * PANEL_TILE_ROWS);
        for r in 0..PANEL_TILE_ROWS {
            let b = &w[r * n + i];
            // SAFETY: `qs` holds 16 bytes.
            let q = unsafe { _mm_loadu_si128(b.qs.as_ptr().cast()) };
            let nib = _mm256_set_m128i(
                _mm_and_si128(_mm_srli_epi16::<4>(q), low),
                _mm_and_si128(q, low),
            );
            // SAFETY: row r's 32 values are inside `vals`.
            unsafe {
                _mm256_storeu_si256(
                    vals.as_mut_ptr().add(r * QK).cast(),
                    _mm256_sub_epi8(nib, eight),
                )
            };
            // Σ nibbles: four partial u64 sums of 8 bytes each.
            let s = _mm256_sad_epu8(nib, _mm256_setzero_si256());
            let s = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256::<1>(s));
            let total = (_mm_cvtsi128_si64(s) + _mm_extract_epi64::<1>(s)) as i32;
            // Σ (nibble − 8) over the 32 values, times 128.
            corr[4 * r..4 * r + 4].copy_from_slice(&(128 * (total - 256)).to_le_bytes());
            ds[4 * r..4 * r + 4].copy_from_slice(&b.d.to_f32().to_le_bytes());
        }
    }
}

/// Prepares 8 Q8_0 rows (see the module doc).
///
/// # Panics
/// When `w.len()` is not a multiple of 8 or `out` is not `w.len() / 8`
/// block positions long.
fn prep_q8_0(w: &[BlockQ8_0], out: &mut [u8]) {
    assert_eq!(w.len() % PANEL_TILE_ROWS, 0, "panel: not 8 weight rows");
    let n = w.len() / PANEL_TILE_ROWS;
    assert_eq!(out.len(), n * PREP_BLOCK_BYTES, "panel: bad scratch length");
    for (i, o) in out.chunks_exact_mut(PREP_BLOCK_BYTES).enumerate() {
        let (vals, rest) = o.split_at_mut(PANEL_TILE_ROWS * QK);
        let (corr, ds) = rest.split_at_mut(4 * PANEL_TILE_ROWS);
        for r in 0..PANEL_TILE_ROWS {
            let b = &w[r * n + i];
            let mut sum = 0i32;
            for (v, &q) in vals[r * QK..(r + 1) * QK].iter_mut().zip(&b.qs) {
                *v = q as u8;
                sum += i32::from(q);
            }
            corr[4 * r..4 * r + 4].copy_from_slice(&(128 * sum).to_le_bytes());
            ds[4 * r..4 * r + 4].copy_from_slice(&b.d.to_f32().to_le_bytes());
        }
    }
}

/// The number of block positions `weights` (prepared, `prep_bytes` each)
/// and `panel` (packed, `act_bytes` each) both describe.
///
/// # Panics
/// When the lengths do not describe the same number of block positions.
pub(super) fn block_positions(
    weights: &[u8],
    panel: &[u8],
    prep_bytes: usize,
    act_bytes: usize,
) -> usize {
    let n = panel.len() / act_bytes;
    assert!(
        panel.len() == n * act_bytes && weights.len() == n * prep_bytes,
        "panel: weights and activations disagree"
    );
    n
}

/// Prepared weights × one panel.
///
/// # Panics
/// When the lengths do not describe the same number of block positions.
fn tile(weights: &[u8], panel: &[u8], out: &mut PanelOut) {
    let n = block_positions(weights, panel, PREP_BLOCK_BYTES, ACT_BLOCK_BYTES);
    // SAFETY: handed out only by `q4_0`, which takes an `Avx512Vnni`
    // token; the lengths were checked above.
    unsafe { tile_vnni(weights, panel, n, out) }
}

/// # Safety
/// The CPU must support AVX-512 F and VNNI; `weights` must hold
/// `n · PREP_BLOCK_BYTES` bytes and `panel` `n · ACT_BLOCK_BYTES`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn tile_vnni(weights: &[u8], panel: &[u8], n: usize, out: &mut PanelOut) {
    let mut acc = [_mm512_setzero_ps(); PANEL_TILE_ROWS];
    for i in 0..n {
        // SAFETY: block position i is inside both slices (caller's
        // lengths); every load below stays within its position.
        let (wp, ap) = unsafe {
            (
                weights.as_ptr().add(i * PREP_BLOCK_BYTES),
                panel.as_ptr().add(i * ACT_BLOCK_BYTES),
            )
        };
        let corr = wp.wrapping_add(PANEL_TILE_ROWS * QK).cast::<i32>();
        let dws = wp.wrapping_add(PANEL_TILE_ROWS * (QK + 4)).cast::<f32>();
        // SAFETY: the corrections are the 8 i32 after the values.
        let mut s: [__m512i; PANEL_TILE_ROWS] =
            std::array::from_fn(|r| unsafe { _mm512_set1_epi32(-corr.add(r).read_unaligned()) });
        for g in 0..QK / 4 {
            // SAFETY: group g's 64 bytes are inside the position.
            let a = unsafe { _mm512_loadu_si512(ap.add(64 * g).cast()) };
            for (r, sr) in s.iter_mut().enumerate() {
                // SAFETY: row r's values, 4 bytes at 4g, are inside the position.
                let wv = unsafe { wp.add(r * QK + 4 * g).cast::<i32>().read_unaligned() };
                *sr = _mm512_dpbusd_epi32(*sr, a, _mm512_set1_epi32(wv));
            }
        }
        // SAFETY: the 16 scales follow the 512 bytes of values.
        let dx = unsafe { _mm512_loadu_ps(ap.add(QK * PANEL_ROWS).cast()) };
        for (r, a) in acc.iter_mut().enumerate() {
            // SAFETY: the 8 scales follow the corrections.
            let dw = unsafe { dws.add(r).read_unaligned() };
            let d = _mm512_mul_ps(_mm512_set1_ps(dw), dx);
            *a = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[r]), d, *a);
        }
    }
    for (o, a) in out.iter_mut().zip(acc) {
        // SAFETY: `o` holds 16 f32.
        unsafe { _mm512_storeu_ps(o.as_mut_ptr(), a) };
    }
}
