//! AVX-512 VNNI panel kernels (see [`crate::quant::panel`]) for Q4_K
//! weights multiplied with Q8_K activations, in the default numerics, and
//! the Q8_K panel layout (which `panel_q6k` shares).
//!
//! Layouts (all little-endian):
//! - a packed activation super-block position ([`ACT_BLOCK_BYTES`], 16
//!   rows): 64 groups g of 4 elements (4g..4g+3), each 16 rows × 4 bytes
//!   holding `q + 128` as unsigned bytes; then for each sub-block j (0..8)
//!   16 rows × the pair (`bsums[2j]`, `bsums[2j+1]`) as i16; then the 16
//!   rows' scales `d` as f32;
//! - a prepared weight super-block position of a tile ([`PREP_BLOCK_BYTES`]
//!   for the 8 rows): the 8 rows' 256 levels (0..=15, element order); the
//!   8 rows' 8 sub-block scales as i32; the 8 rows' 8 minimums, each as the
//!   i16 pair (m, m); the 8 rows' corrections `128 · Σ_j sc_j · Σ q` as
//!   i32; the 8 rows' `d` and then `dmin` as f32.
//!
//! One `vpdpbusd` multiplies 4 levels (broadcast) with 4 elements of 16
//! activation rows; the 8 groups of sub-block j give Σ (x + 128)·q, which is
//! multiplied by sc_j and summed over j; subtracting the correction leaves
//! the exact `sumi` of [`crate::quants::q4_k::block_sums_q4k`]. One
//! `vpdpwssd` per sub-block adds m_j·(bsums[2j] + bsums[2j+1]), the exact
//! `summ`. Each lane then takes the reference's float steps,
//! `acc += (d_x·d_w)·f32(sumi) − (d_x·dmin_w)·f32(summ)`, in super-block
//! order: the bits of [`crate::quants::q4_k::dot_q4k_q8k`].

use super::panel::block_positions;
use crate::blocks::{BlockQ8K, QK_K};
use crate::cpu::Avx512Vnni;
use crate::quant::panel::{PanelKernels, PanelOut, PANEL_ROWS, PANEL_TILE_ROWS};
use crate::quants::BlockQ4K;
use core::arch::x86_64::*;

/// Bytes of the packed activation values of one super-block position.
pub(super) const ACT_QS: usize = QK_K * PANEL_ROWS;
/// Bytes of the packed block sums of one super-block position.
pub(super) const ACT_BS: usize = 8 * PANEL_ROWS * 4;
/// Bytes of one packed activation super-block position (16 rows).
pub(super) const ACT_BLOCK_BYTES: usize = ACT_QS + ACT_BS + 4 * PANEL_ROWS;

/// Offsets inside one prepared super-block position (8 rows).
const W_VALS: usize = 0;
// `scaled_sums` reads the values from byte 0 of a position.
const _: () = assert!(W_VALS == 0);
const W_SC: usize = W_VALS + PANEL_TILE_ROWS * QK_K;
const W_MIN: usize = W_SC + PANEL_TILE_ROWS * 8 * 4;
const W_CORR: usize = W_MIN + PANEL_TILE_ROWS * 8 * 4;
const W_D: usize = W_CORR + PANEL_TILE_ROWS * 4;
const W_DMIN: usize = W_D + PANEL_TILE_ROWS * 4;
/// Bytes of one prepared weight super-block position (8 rows).
const PREP_BLOCK_BYTES: usize = W_DMIN + PANEL_TILE_ROWS * 4;

/// The Q4_K panel kernels (default numerics).
pub(crate) fn q4k(_proof: Avx512Vnni) -> PanelKernels<BlockQ4K, BlockQ8K> {
    PanelKernels {
        act_block_bytes: ACT_BLOCK_BYTES,
        weight_block_bytes: PREP_BLOCK_BYTES / PANEL_TILE_ROWS,
        pack_act: pack_q8k,
        prep_weights: prep_q4k,
        tile,
    }
}

fn put_i32(o: &mut [u8], at: usize, v: i32) {
    o[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Packs up to 16 Q8_K rows into a panel (see the module doc).
///
/// # Panics
/// When `rows` is 0 or over 16, `x.len()` is not a multiple of `rows`, or
/// `out` is not `x.len() / rows` block positions long.
pub(super) fn pack_q8k(x: &[BlockQ8K], rows: usize, out: &mut [u8]) {
    assert!(
        (1..=PANEL_ROWS).contains(&rows) && x.len().is_multiple_of(rows),
        "panel: bad row count"
    );
    let n = x.len() / rows;
    assert_eq!(out.len(), n * ACT_BLOCK_BYTES, "panel: bad output length");
    for (i, o) in out.chunks_exact_mut(ACT_BLOCK_BYTES).enumerate() {
        let (qs, rest) = o.split_at_mut(ACT_QS);
        let (bs, ds) = rest.split_at_mut(ACT_BS);
        for t in 0..PANEL_ROWS {
            let b = (t < rows).then(|| &x[t * n + i]);
            for g in 0..QK_K / 4 {
                let at = (g * PANEL_ROWS + t) * 4;
                for j in 0..4 {
                    let q = b.map_or(0, |b| b.qs[4 * g + j]);
                    qs[at + j] = (q as u8) ^ 0x80;
                }
            }
            for j in 0..8 {
                let at = (j * PANEL_ROWS + t) * 4;
                let (lo, hi) = b.map_or((0, 0), |b| (b.bsums[2 * j], b.bsums[2 * j + 1]));
                bs[at..at + 2].copy_from_slice(&lo.to_le_bytes());
                bs[at + 2..at + 4].copy_from_slice(&hi.to_le_bytes());
            }
            let d = b.map_or(0.0, |b| b.d);
            ds[4 * t..4 * t + 4].copy_from_slice(&d.to_le_bytes());
        }
    }
}

/// Prepares 8 Q4_K rows (see the module doc).
///
/// # Panics
/// When `w.len()` is not a multiple of 8 or `out` is not `w.len() / 8`
/// block positions long.
fn prep_q4k(w: &[BlockQ4K], out: &mut [u8]) {
    assert_eq!(w.len() % PANEL_TILE_ROWS, 0, "panel: not 8 weight rows");
    let n = w.len() / PANEL_TILE_ROWS;
    assert_eq!(out.len(), n * PREP_BLOCK_BYTES, "panel: bad scratch length");
    prefetch_next_tile(w);
    // Row by row: each row's blocks are read in map order (one stream at
    // a time for the hardware prefetcher).
    for r in 0..PANEL_TILE_ROWS {
        for (i, o) in out.chunks_exact_mut(PREP_BLOCK_BYTES).enumerate() {
            // SAFETY: handed out only by `q4k`, which takes an
            // `Avx512Vnni` token (AVX2 comes with it); `o` is one whole
            // prepared position and r < 8.
            unsafe { prep_block_avx2(&w[r * n + i], r, o) };
        }
    }
}

/// Writes row `r`'s part of one prepared position `o` (levels, scales,
/// minimums, correction, d, dmin) from the super-block `b`.
///
/// # Safety
/// The CPU must support AVX2.
///
/// # Panics
/// When `o` is not [`PREP_BLOCK_BYTES`] long or `r` ≥ 8.
#[target_feature(enable = "avx2")]
unsafe fn prep_block_avx2(b: &BlockQ4K, r: usize, o: &mut [u8]) {
    assert!(o.len() == PREP_BLOCK_BYTES && r < PANEL_TILE_ROWS);
    let t = super::q4k_vnni::scales_mins_k4(&b.scales);
    let sc8 = (t[1] as u64) << 32 | t[0] as u64;
    let m8 = (t[3] as u64) << 32 | t[2] as u64;
    let low = _mm256_set1_epi8(0xF);
    // Σ_j sc_j · Σ q over sub-block j, in i16 pairs: each pair sum is at
    // most 2·15·63 and four chunks add up to at most 15,120 (no overflow).
    let mut weighted = _mm256_setzero_si256();
    let vals = o[W_VALS + r * QK_K..][..QK_K].as_mut_ptr();
    for c in 0..4 {
        // SAFETY: `qs` holds 128 bytes; chunk c is bytes 32c..32c+32.
        let q = unsafe { _mm256_loadu_si256(b.qs.as_ptr().add(32 * c).cast()) };
        let lo = _mm256_and_si256(q, low);
        let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(q), low);
        let (s_lo, s_hi) = ((sc8 >> (16 * c)) as u8, (sc8 >> (16 * c + 8)) as u8);
        // SAFETY: sub-blocks 2c and 2c + 1 are bytes 64c..64c+64 of this
        // row's 256 levels, inside `o` (length checked above).
        unsafe {
            _mm256_storeu_si256(vals.add(64 * c).cast(), lo);
            _mm256_storeu_si256(vals.add(64 * c + 32).cast(), hi);
        }
        weighted = _mm256_add_epi16(
            weighted,
            _mm256_add_epi16(
                _mm256_maddubs_epi16(lo, _mm256_set1_epi8(s_lo as i8)),
                _mm256_maddubs_epi16(hi, _mm256_set1_epi8(s_hi as i8)),
            ),
        );
    }
    let w32 = _mm256_madd_epi16(weighted, _mm256_set1_epi16(1));
    let w4 = _mm_add_epi32(
        _mm256_castsi256_si128(w32),
        _mm256_extracti128_si256::<1>(w32),
    );
    let w2 = _mm_add_epi32(w4, _mm_shuffle_epi32::<0x4E>(w4));
    let corr = _mm_cvtsi128_si32(_mm_add_epi32(w2, _mm_shuffle_epi32::<0xB1>(w2)));
    let sc = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(sc8 as i64));
    let m = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(m8 as i64));
    let mm = _mm256_or_si256(m, _mm256_slli_epi32::<16>(m));
    // SAFETY: each field is 8 · 4 bytes (scales, minimums) or 4 bytes at
    // row r inside the position (layout constants, length checked above).
    unsafe {
        _mm256_storeu_si256(o.as_mut_ptr().add(W_SC + 32 * r).cast(), sc);
        _mm256_storeu_si256(o.as_mut_ptr().add(W_MIN + 32 * r).cast(), mm);
    }
    put_i32(o, W_CORR + 4 * r, 128 * corr);
    o[W_D + 4 * r..][..4].copy_from_slice(&b.d.to_f32().to_le_bytes());
    o[W_DMIN + 4 * r..][..4].copy_from_slice(&b.dmin.to_f32().to_le_bytes());
}

/// Asks for the 8 rows after `w` (the next tile: rows follow each other
/// in the map) to be brought into cache while the panels pass over this
/// tile, so that preparing them waits less on memory (rows of a few
/// super-blocks are too short for the hardware prefetcher to pick up). A
/// prefetch never faults: addresses past the map are harmless. Measured
/// with 4 panels per tile (batches of 64) and rows of 8 super-blocks:
/// prep + tiles 64 instead of 70 ns per row and super-block (57 with the
/// rows in cache).
pub(super) fn prefetch_next_tile<W>(w: &[W]) {
    let bytes = std::mem::size_of_val(w);
    let next = w.as_ptr().cast::<i8>().wrapping_add(bytes);
    for line in 0..bytes.div_ceil(64) {
        // SAFETY: SSE is part of x86_64; a prefetch reads nothing.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(next.wrapping_add(64 * line)) };
    }
}

/// Prepared weights × one panel.
///
/// # Panics
/// When the lengths do not describe the same number of block positions.
fn tile(weights: &[u8], panel: &[u8], out: &mut PanelOut) {
    let n = block_positions(weights, panel, PREP_BLOCK_BYTES, ACT_BLOCK_BYTES);
    // SAFETY: handed out only by `q4k`, which takes an `Avx512Vnni` token;
    // the lengths were checked above.
    unsafe { tile_vnni(weights, panel, n, out) }
}

/// # Safety
/// The CPU must support AVX-512 F/BW and VNNI; `weights` must hold
/// `n · PREP_BLOCK_BYTES` bytes and `panel` `n · ACT_BLOCK_BYTES`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
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
        let sumi = unsafe { scaled_sums::<8, 8>(wp, ap, W_SC, W_CORR) };
        let mut summ = [_mm512_setzero_si512(); PANEL_TILE_ROWS];
        for j in 0..8 {
            // SAFETY: sub-block j's 64 bytes of sums are inside the position.
            let b = unsafe { _mm512_loadu_si512(ap.add(ACT_QS + 64 * j).cast()) };
            for (r, sm) in summ.iter_mut().enumerate() {
                let m = _mm512_set1_epi32(w32(W_MIN + 4 * (8 * r + j)));
                *sm = _mm512_dpwssd_epi32(*sm, b, m);
            }
        }
        // SAFETY: the 16 scales follow the sums.
        let dx = unsafe { _mm512_loadu_ps(ap.add(ACT_QS + ACT_BS).cast()) };
        for (r, a) in acc.iter_mut().enumerate() {
            let dw = f32::from_bits(w32(W_D + 4 * r) as u32);
            let dm = f32::from_bits(w32(W_DMIN + 4 * r) as u32);
            let p = _mm512_mul_ps(
                _mm512_mul_ps(dx, _mm512_set1_ps(dw)),
                _mm512_cvtepi32_ps(sumi[r]),
            );
            let q = _mm512_mul_ps(
                _mm512_mul_ps(dx, _mm512_set1_ps(dm)),
                _mm512_cvtepi32_ps(summ[r]),
            );
            *a = _mm512_add_ps(*a, _mm512_sub_ps(p, q));
        }
    }
    for (o, a) in out.iter_mut().zip(acc) {
        // SAFETY: `o` holds 16 f32.
        unsafe { _mm512_storeu_ps(o.as_mut_ptr(), a) };
    }
}

/// The exact integer sums Σ_s scale_s · Σ_{e in sub-block s} w_e·q_e − the
/// correction, for the 8 prepared rows × 16 panel rows of one block
/// position with `SUBS` sub-blocks of `GROUPS` 4-element groups each
/// (Q4_K: 8 × 8, Q6_K: 16 × 4). Weight layout: the 8 rows' 256 values from
/// byte 0, their i32 sub-block scales at `w_sc` (row-major, `SUBS` per
/// row), their i32 corrections at `w_corr`; panel layout: 4-element groups
/// of 16 rows (64 bytes) in element order.
///
/// # Safety
/// `wp` and `ap` must point at a prepared weight and a packed activation
/// block position of those layouts; the CPU must support AVX-512 F/BW and
/// VNNI.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
pub(super) unsafe fn scaled_sums<const SUBS: usize, const GROUPS: usize>(
    wp: *const u8,
    ap: *const u8,
    w_sc: usize,
    w_corr: usize,
) -> [__m512i; PANEL_TILE_ROWS] {
    let w32 = |at: usize| {
        // SAFETY: every `at` passed below is a 4-byte field inside the
        // position (the caller's layout).
        unsafe { wp.add(at).cast::<i32>().read_unaligned() }
    };
    let mut sumi: [__m512i; PANEL_TILE_ROWS] =
        std::array::from_fn(|r| _mm512_set1_epi32(-w32(w_corr + 4 * r)));
    for sub in 0..SUBS {
        let mut t = [_mm512_setzero_si512(); PANEL_TILE_ROWS];
        for g in 0..GROUPS {
            // SAFETY: group GROUPS·sub + g's 64 bytes are inside the position.
            let a = unsafe { _mm512_loadu_si512(ap.add(64 * (GROUPS * sub + g)).cast()) };
            for (r, tr) in t.iter_mut().enumerate() {
                let wv = w32(r * QK_K + 4 * (GROUPS * sub + g));
                *tr = _mm512_dpbusd_epi32(*tr, a, _mm512_set1_epi32(wv));
            }
        }
        for (r, (si, tr)) in sumi.iter_mut().zip(t).enumerate() {
            let sc = _mm512_set1_epi32(w32(w_sc + 4 * (SUBS * r + sub)));
            *si = _mm512_add_epi32(*si, _mm512_mullo_epi32(tr, sc));
        }
    }
    sumi
}
