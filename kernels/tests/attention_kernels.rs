//! The attention's tile kernels (`scores16`, `value_sum16_f16`), the
//! softmax and the prompt outputs' transpose on every path against the
//! scalar reference, bit for bit, and against their definitions in terms
//! of the single-row operations
//! (`dot_lanes16`, `fma_acc` + `reduce16`): head widths that are and are
//! not multiples of 16 and 64, odd row and position counts, f16 values over
//! the whole finite range.

use edge_llama_kernels::float_ops::{self, FloatOps, KEY_TILE};
use edge_llama_kernels::{available, kernels_for};
use half::f16;

mod common;

use common::rng::Rng;

/// Uniform in [-1, 1).
fn unit(r: &mut Rng) -> f32 {
    (r.u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
}

/// A finite f16: any bit pattern half of the time, else in [-4, 4).
fn any_f16(r: &mut Rng, wide: bool) -> f16 {
    if wide {
        let h = r.u64() as u16;
        f16::from_bits(if h & 0x7c00 == 0x7c00 { h & !0x4000 } else { h })
    } else {
        f16::from_f32(unit(r) * 4.0)
    }
}

/// Every path's float operations, the scalar reference last.
fn tables() -> Vec<(&'static str, FloatOps)> {
    available()
        .into_iter()
        .map(|n| (n, kernels_for(n).expect("listed path").float_ops))
        .collect()
}

fn same(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// scores16 is dot_lanes16 of each (key, query) pair times the scale, on
/// every path, for 1..=7 query rows and head widths 16..=128.
#[test]
fn scores16_matches_dot_lanes16_on_every_path() {
    let mut r = Rng(0xA77E_0001);
    for case in 0..300 {
        let hd = 16 * (1 + r.below(8) as usize);
        let rows = 1 + r.below(7) as usize;
        let stride = KEY_TILE + r.below(40) as usize;
        let wide = case % 2 == 0;
        // Keys as f16 values (as the cache holds them), queries f16-rounded.
        let keys: Vec<Vec<f32>> = (0..KEY_TILE)
            .map(|_| (0..hd).map(|_| any_f16(&mut r, wide).to_f32()).collect())
            .collect();
        let q: Vec<f32> = (0..rows * hd)
            .map(|_| any_f16(&mut r, false).to_f32())
            .collect();
        let mut kt = vec![0f32; KEY_TILE * hd];
        for (k, key) in keys.iter().enumerate() {
            for (d, &x) in key.iter().enumerate() {
                kt[d * KEY_TILE + k] = x;
            }
        }
        let scale = 1.0 / (hd as f32).sqrt();
        let mut want = vec![f32::NAN; stride * (rows - 1) + KEY_TILE];
        for (i, qi) in q.chunks_exact(hd).enumerate() {
            for (k, key) in keys.iter().enumerate() {
                want[i * stride + k] = float_ops::dot_lanes16(key, qi) * scale;
            }
        }
        for (name, f) in tables() {
            let mut got = vec![f32::NAN; want.len()];
            (f.scores16)(&kt, &q, scale, &mut got, stride);
            for i in 0..rows {
                let (g, w) = (
                    &got[i * stride..][..KEY_TILE],
                    &want[i * stride..][..KEY_TILE],
                );
                assert!(same(g, w), "{name} scores16 case {case} (hd {hd}) row {i}");
            }
        }
    }
}

/// value_sum16_f16 is fma_acc into 16 zeroed lanes (position i in lane
/// i mod 16) then reduce16 per element, on every path: 1..=11 rows,
/// 1..=300 positions, head widths that are and are not multiples of 16.
#[test]
fn value_sum16_f16_matches_lanes_on_every_path() {
    let mut r = Rng(0xA77E_0002);
    for case in 0..300 {
        let hd = match case % 3 {
            0 => 64,
            1 => 16 * (1 + r.below(8) as usize),
            _ => 1 + r.below(100) as usize,
        };
        let rows = 1 + r.below(11) as usize;
        let n = 1 + r.below(300) as usize;
        let vstride = hd + r.below(3) as usize * 16;
        let wstride = n + r.below(5) as usize;
        let wide = case % 2 == 0;
        let v: Vec<f16> = (0..vstride * (n - 1) + hd)
            .map(|_| any_f16(&mut r, wide))
            .collect();
        // Weights as the attention has them: f16-rounded, in [0, 1].
        let w: Vec<f32> = (0..wstride * (rows - 1) + n)
            .map(|_| f16::from_f32(unit(&mut r).abs()).to_f32())
            .collect();
        let mut want = vec![0f32; rows * hd];
        for (row, out) in want.chunks_exact_mut(hd).enumerate() {
            let mut lanes = vec![0f32; 16 * hd];
            for i in 0..n {
                let x: Vec<f32> = v[i * vstride..][..hd].iter().map(|h| h.to_f32()).collect();
                let lane = &mut lanes[(i % 16) * hd..(i % 16 + 1) * hd];
                float_ops::fma_acc(lane, w[row * wstride + i], &x);
            }
            for (d, o) in out.iter_mut().enumerate() {
                *o = float_ops::reduce16(&std::array::from_fn(|l| lanes[l * hd + d]));
            }
        }
        for (name, f) in tables() {
            let mut got = vec![f32::NAN; rows * hd];
            (f.value_sum16_f16)(&mut got, rows, &w, wstride, n, &v, vstride);
            assert!(
                same(&got, &want),
                "{name} value_sum16_f16 case {case} (hd {hd}, rows {rows}, n {n})"
            );
        }
    }
}

/// No positions: every sum is +0; no rows: nothing written.
#[test]
fn value_sum16_f16_empty() {
    for (name, f) in tables() {
        let mut out = [1f32; 32];
        (f.value_sum16_f16)(&mut out, 2, &[], 0, 0, &[], 16);
        assert!(out.iter().all(|x| x.to_bits() == 0), "{name}");
        (f.value_sum16_f16)(&mut [], 0, &[], 0, 0, &[], 16);
    }
}

/// The softmax of every path on lengths 1..=100 (every tail length) and
/// score spreads that reach the exponential's flush paths, including the
/// exponents −191 and −192 just before it.
#[test]
fn softmax_bit_identical_on_every_path() {
    let mut r = Rng(0xA77E_0003);
    let f0 = float_ops::PLAIN;
    for case in 0..2_000 {
        let n = 1 + case % 100;
        let spread = [1.0, 30.0, 133.0, 300.0][case % 4];
        let x: Vec<f32> = (0..n).map(|_| unit(&mut r) * spread).collect();
        let mut want = x.clone();
        (f0.softmax)(&mut want);
        assert!(want.iter().all(|v| v.is_finite()), "reference case {case}");
        for (name, f) in tables() {
            let mut got = x.clone();
            (f.softmax)(&mut got);
            assert!(same(&got, &want), "{name} softmax case {case} (n {n})");
        }
    }
}

#[test]
#[should_panic]
fn value_sum16_f16_short_values_panic_on_best_path() {
    let f = tables()[0].1;
    let v = vec![f16::ZERO; 40];
    (f.value_sum16_f16)(&mut [0.0; 32], 1, &[1.0; 3], 3, 3, &v, 16);
}

#[test]
#[should_panic]
fn scores16_short_output_panics_on_best_path() {
    let f = tables()[0].1;
    (f.scores16)(&[0.0; 256], &[0.0; 32], 1.0, &mut [0.0; 20], 16);
}

/// The transpose of every path equals the reference's on every shape with
/// 1..=70 rows and 1..=70 columns (blocks of 8 and every edge).
#[test]
fn transpose_matches_reference_on_every_path() {
    let mut r = Rng(0xA77E_0004);
    for rows in 1..=70 {
        for batch in [1, 2, 7, 8, 9, 16, 33, 64, 70] {
            let from: Vec<f32> = (0..rows * batch).map(|_| unit(&mut r)).collect();
            let mut want = vec![f32::NAN; from.len()];
            float_ops::transpose(&from, &mut want, batch);
            for (i, row) in from.chunks_exact(batch).enumerate() {
                for (b, &x) in row.iter().enumerate() {
                    assert_eq!(want[b * rows + i].to_bits(), x.to_bits());
                }
            }
            for (name, f) in tables() {
                let mut got = vec![f32::NAN; from.len()];
                (f.transpose)(&from, &mut got, batch);
                assert!(same(&got, &want), "{name} transpose {rows}×{batch}");
            }
        }
    }
}

/// round_f16 of every path: f16's round-to-nearest-even (and overflow to
/// infinity) for values over f32's whole range, including f16's subnormals
/// and halfway cases, on every length's tail.
#[test]
fn round_f16_matches_half_on_every_path() {
    let mut r = Rng(0xA77E_0005);
    for case in 0..500 {
        let n = 1 + case % 70;
        let x: Vec<f32> = (0..n)
            .map(|_| match r.below(4) {
                0 => {
                    f32::from_bits(r.u64() as u32 & 0x7f7f_ffff)
                        * if r.below(2) == 0 { 1.0 } else { -1.0 }
                }
                // Halfway between two f16 values, around f16's subnormals and its top.
                1 => f16::from_bits(r.u64() as u16 & 0x7bff).to_f32() * (1.0 + 1.0 / 2048.0),
                2 => unit(&mut r) * 1e-6,
                _ => unit(&mut r) * 70_000.0,
            })
            .collect();
        let want: Vec<f32> = x.iter().map(|&v| f16::from_f32(v).to_f32()).collect();
        for (name, f) in tables() {
            let mut got = x.clone();
            (f.round_f16)(&mut got);
            assert!(same(&got, &want), "{name} round_f16 case {case}");
        }
    }
}
