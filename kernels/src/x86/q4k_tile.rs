//! The 8-row Q4_K × Q8_K tiles for AVX-512 VL + VNNI (prompt products).
//!
//! Each super-block of the eight weight rows is unpacked once and
//! transposed in registers (no copy of the weights outside the stack), so
//! that 32-bit lane r of a register holds four levels of row r: one
//! `vpdpbusd` with four broadcast activation bytes then adds four products
//! into each of the eight rows' lanes, and after the eight groups of a
//! sub-block lane r holds row r's exact sub-block sum. The sub-block scales
//! are applied once per sub-block and 8 rows (`vpmulld`); two activation
//! rows share each weight register. The integer sums are exact, and the
//! float step is the scalar reference's
//! acc += (d_x·d_w)·f32(sumi) − (d_x·dmin_w)·f32(summ) in the lane of each
//! row, so every lane has the bits of [`crate::quants::q4_k::dot_q4k_q8k`].

use super::q4k_vnni::{pair_bsums, scales_mins_k4};
use crate::blocks::BlockQ8K;
use crate::quants::q4_k::BlockQ4K;
use std::arch::x86_64::*;

/// Eight rows' super-block `i`, unpacked and transposed.
struct Tile {
    /// `q[j][t]`, lane r: levels 4t..4t + 4 of sub-block j of row r.
    q: [[__m256i; 8]; 8],
    /// `sc[j]`, lane r: scale of sub-block j of row r (i32).
    sc: [__m256i; 8],
    /// Row r's eight minimums as i16.
    mins: [__m128i; 8],
}

/// Lane t of `r[k]` becomes lane k of `out[t]` (8 × 8 i32 transpose).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn transpose8(r: [__m256i; 8]) -> [__m256i; 8] {
    let t0 = _mm256_unpacklo_epi32(r[0], r[1]);
    let t1 = _mm256_unpackhi_epi32(r[0], r[1]);
    let t2 = _mm256_unpacklo_epi32(r[2], r[3]);
    let t3 = _mm256_unpackhi_epi32(r[2], r[3]);
    let t4 = _mm256_unpacklo_epi32(r[4], r[5]);
    let t5 = _mm256_unpackhi_epi32(r[4], r[5]);
    let t6 = _mm256_unpacklo_epi32(r[6], r[7]);
    let t7 = _mm256_unpackhi_epi32(r[6], r[7]);
    let u0 = _mm256_unpacklo_epi64(t0, t2);
    let u1 = _mm256_unpackhi_epi64(t0, t2);
    let u2 = _mm256_unpacklo_epi64(t1, t3);
    let u3 = _mm256_unpackhi_epi64(t1, t3);
    let u4 = _mm256_unpacklo_epi64(t4, t6);
    let u5 = _mm256_unpackhi_epi64(t4, t6);
    let u6 = _mm256_unpacklo_epi64(t5, t7);
    let u7 = _mm256_unpackhi_epi64(t5, t7);
    [
        _mm256_permute2x128_si256::<0x20>(u0, u4),
        _mm256_permute2x128_si256::<0x20>(u1, u5),
        _mm256_permute2x128_si256::<0x20>(u2, u6),
        _mm256_permute2x128_si256::<0x20>(u3, u7),
        _mm256_permute2x128_si256::<0x31>(u0, u4),
        _mm256_permute2x128_si256::<0x31>(u1, u5),
        _mm256_permute2x128_si256::<0x31>(u2, u6),
        _mm256_permute2x128_si256::<0x31>(u3, u7),
    ]
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn unpack(rows: [&BlockQ4K; 8], tile: &mut Tile) {
    let m4 = _mm256_set1_epi8(0xF);
    for c in 0..4 {
        let mut raw = [_mm256_setzero_si256(); 8];
        for (v, b) in raw.iter_mut().zip(rows) {
            // SAFETY: qs has 128 bytes; a 32-byte load at 32c (c < 4).
            *v = unsafe { _mm256_loadu_si256(b.qs.as_ptr().add(32 * c).cast()) };
        }
        let t = transpose8(raw);
        for (k, v) in t.into_iter().enumerate() {
            tile.q[2 * c][k] = _mm256_and_si256(v, m4);
            tile.q[2 * c + 1][k] = _mm256_and_si256(_mm256_srli_epi16::<4>(v), m4);
        }
    }
    // Row r's 16 bytes (8 scales, 8 minimums) → columns j of 8 rows.
    let mut s = [_mm_setzero_si128(); 8];
    for (r, b) in rows.into_iter().enumerate() {
        let t = scales_mins_k4(&b.scales);
        s[r] = _mm_setr_epi32(t[0] as i32, t[1] as i32, t[2] as i32, t[3] as i32);
        tile.mins[r] = _mm_cvtepu8_epi16(_mm_srli_si128::<8>(s[r]));
    }
    // Bytes 0..8 of each row, interleaved: after three unpack levels, the
    // 8 bytes at 8j' of `cols[k]` are column 2k + j' over rows 0..8.
    let a0 = _mm_unpacklo_epi8(s[0], s[1]);
    let a1 = _mm_unpacklo_epi8(s[2], s[3]);
    let a2 = _mm_unpacklo_epi8(s[4], s[5]);
    let a3 = _mm_unpacklo_epi8(s[6], s[7]);
    let b0 = _mm_unpacklo_epi16(a0, a1);
    let b1 = _mm_unpackhi_epi16(a0, a1);
    let b2 = _mm_unpacklo_epi16(a2, a3);
    let b3 = _mm_unpackhi_epi16(a2, a3);
    let cols = [
        _mm_unpacklo_epi32(b0, b2),
        _mm_unpackhi_epi32(b0, b2),
        _mm_unpacklo_epi32(b1, b3),
        _mm_unpackhi_epi32(b1, b3),
    ];
    for (k, c) in cols.into_iter().enumerate() {
        tile.sc[2 * k] = _mm256_cvtepu8_epi32(c);
        tile.sc[2 * k + 1] = _mm256_cvtepu8_epi32(_mm_srli_si128::<8>(c));
    }
}

/// Four activation bytes x[o..o + 4] in every 32-bit lane.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn bcast4(x: &BlockQ8K, o: usize) -> __m256i {
    let b = &x.qs[o..o + 4];
    _mm256_set1_epi32(i32::from_le_bytes([
        b[0] as u8, b[1] as u8, b[2] as u8, b[3] as u8,
    ]))
}

/// The eight rows' (sumi, summ) against `A` activation blocks.
// Index loops over the register tile read better than zipped iterators.
#[allow(clippy::needless_range_loop)]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn sums<const A: usize>(tile: &Tile, xs: [&BlockQ8K; A]) -> [(__m256i, __m256i); A] {
    let mut acc = [[_mm256_setzero_si256(); 8]; A];
    for t in 0..8 {
        for j in 0..8 {
            let wv = tile.q[j][t];
            for a in 0..A {
                acc[a][j] = _mm256_dpbusd_epi32(acc[a][j], wv, bcast4(xs[a], 32 * j + 4 * t));
            }
        }
    }
    let mut out = [(_mm256_setzero_si256(), _mm256_setzero_si256()); A];
    for a in 0..A {
        let mut s = _mm256_mullo_epi32(acc[a][0], tile.sc[0]);
        for j in 1..8 {
            s = _mm256_add_epi32(s, _mm256_mullo_epi32(acc[a][j], tile.sc[j]));
        }
        let q8s = pair_bsums(xs[a]);
        let mut m = [_mm_setzero_si128(); 8];
        for r in 0..8 {
            m[r] = _mm_madd_epi16(tile.mins[r], q8s);
        }
        let lo = _mm_hadd_epi32(_mm_hadd_epi32(m[0], m[1]), _mm_hadd_epi32(m[2], m[3]));
        let hi = _mm_hadd_epi32(_mm_hadd_epi32(m[4], m[5]), _mm_hadd_epi32(m[6], m[7]));
        out[a] = (s, _mm256_set_m128i(hi, lo));
    }
    out
}

/// The reference's float step in each row's lane:
/// acc + ((x_d·d)·f32(sumi) − (x_d·dmin)·f32(summ)).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn step(acc: __m256, xd: f32, d: __m256, dmin: __m256, (sumi, summ): (__m256i, __m256i)) -> __m256 {
    let xd = _mm256_set1_ps(xd);
    let t1 = _mm256_mul_ps(_mm256_mul_ps(xd, d), _mm256_cvtepi32_ps(sumi));
    let t2 = _mm256_mul_ps(_mm256_mul_ps(xd, dmin), _mm256_cvtepi32_ps(summ));
    _mm256_add_ps(acc, _mm256_sub_ps(t1, t2))
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn tile8<const V: usize>(w: &[BlockQ4K], x: &[BlockQ8K], out: &mut [[f32; 8]; V]) {
    use crate::x86::avx2::imp::f16x8;
    let n = x.len() / V;
    assert_eq!(x.len(), V * n, "tile8: activation is not {V} rows");
    assert_eq!(w.len(), 8 * n, "tile8: weights are not 8 rows");
    let mut acc = [_mm256_setzero_ps(); V];
    let mut tile = Tile {
        q: [[_mm256_setzero_si256(); 8]; 8],
        sc: [_mm256_setzero_si256(); 8],
        mins: [_mm_setzero_si128(); 8],
    };
    for i in 0..n {
        if i + 2 < n {
            for r in 0..8 {
                let p = w.as_ptr().wrapping_add(r * n + i + 2).cast::<i8>();
                for line in 0..3 {
                    _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(64 * line));
                }
            }
        }
        let mut rows = [&w[i]; 8];
        let (mut dh, mut mh) = ([w[i].d; 8], [w[i].dmin; 8]);
        for r in 1..8 {
            rows[r] = &w[r * n + i];
            dh[r] = rows[r].d;
            mh[r] = rows[r].dmin;
        }
        unpack(rows, &mut tile);
        let (d, dmin) = (f16x8(dh), f16x8(mh));
        let mut v = 0;
        while v + 2 <= V {
            let (x0, x1) = (&x[v * n + i], &x[(v + 1) * n + i]);
            let [s0, s1] = sums::<2>(&tile, [x0, x1]);
            acc[v] = step(acc[v], x0.d, d, dmin, s0);
            acc[v + 1] = step(acc[v + 1], x1.d, d, dmin, s1);
            v += 2;
        }
        if v < V {
            let xb = &x[v * n + i];
            let [s] = sums::<1>(&tile, [xb]);
            acc[v] = step(acc[v], xb.d, d, dmin, s);
        }
    }
    for (o, a) in out.iter_mut().zip(acc) {
        // SAFETY: `o` holds 8 f32.
        unsafe { _mm256_storeu_ps(o.as_mut_ptr(), a) };
    }
}

// Safe wrappers: placed in a kernel table only by `x86::q4k::avx512_vnni`,
// which takes the `Avx512Vnni` detection token.

pub(super) fn vnni_tile8x4(w: &[BlockQ4K], x: &[BlockQ8K], out: &mut [[f32; 8]; 4]) {
    // SAFETY: handed out only by a constructor taking an `Avx512Vnni` token.
    unsafe { tile8::<4>(w, x, out) }
}
