//! The K-mix types (Q2_K, Q3_K, Q5_K, Q5_0, Q5_1, IQ4_NL) as the prompt
//! driver runs them: every weight row of a matrix with an odd row count
//! times a batch of activation rows, the batch taken four rows at a time by
//! `dot4` (the fused multi-row kernel where the path has one) and the rest
//! one by one by `dot`, and the rows in whole groups of 8 also by the 8-row
//! tiles (× 4 activation rows, then × 1; fused or derived) and in pairs by
//! `rows2` where the path has it, on every path this CPU offers (`available`, built by
//! `kernels_for`, so `EDGE_LLAMA_KERNELS` plays no part), in both numerics,
//! on random blocks (random bytes with finite scales, or quantized floats).
//! Every (row, activation row) result must have the scalar reference's bits.
//! On the x86 SIMD paths each type must also have a fused 4-row kernel in
//! default numerics (a path falling back to `dot` fails here).

use edge_llama_kernels::*;
use half::f16;

mod common;

use common::kq_rows::{same, weight_row, Rng};

/// `n` activation rows of `nb` blocks from random floats, back to back; one
/// block of one row is filled with a single extreme value.
fn act_rows<T: QuantType>(r: &mut Rng, rows: usize, nb: usize) -> Vec<T::Act> {
    let s = 10f32.powi(r.below(5) as i32 - 2);
    let mut x: Vec<f32> = (0..rows * nb * T::Act::ELEMS).map(|_| r.f() * s).collect();
    let b = r.below(rows * nb);
    let v = if r.below(2) == 0 { s } else { -s };
    x[b * T::Act::ELEMS..(b + 1) * T::Act::ELEMS].fill(v);
    let mut q = vec![T::Act::zeroed(); rows * nb];
    T::quantize_act(&x, &mut q);
    q
}

fn check<T: QuantType>(name: &str, fix: fn(&mut T, [f16; 2])) {
    let mut r = Rng(0x6B6D_6978 ^ (name.len() as u64) << 32);
    for path in available() {
        let base = kernels_for(path).expect("listed path");
        let simd = ["avx2", "avx512", "avx512-novnni"].contains(&path);
        for numerics in [Numerics::Default, Numerics::LlamaCpp] {
            let rk = base.with_numerics(numerics).quant::<T>();
            if simd && numerics == Numerics::Default {
                assert!(rk.dot4.is_some(), "{name} {path}: no fused 4-row kernel");
            }
            for (case, (rows, batch, nb)) in [
                (1, 1, 1),
                (3, 4, 2),
                (7, 5, 3),
                (13, 9, 1),
                (5, 7, 6),
                (11, 8, 4),
                (9, 2, 5),
                (3, 13, 2),
            ]
            .into_iter()
            .enumerate()
            {
                let w: Vec<T> = (0..rows)
                    .flat_map(|_| weight_row(&mut r, nb, fix))
                    .collect();
                let x = act_rows::<T>(&mut r, batch, nb);
                let wr = |i: usize| &w[i * nb..(i + 1) * nb];
                let xv = |v: usize| &x[v * nb..(v + 1) * nb];
                // got[i][v] as the driver computes it: every row by `dot4`
                // and `dot`; the rows in whole groups of 8 also by the tiles
                // (8 × 4, then 8 × 1 for the rest of the batch).
                let mut by_row = vec![vec![0f32; batch]; rows];
                let full = batch / 4 * 4;
                for (i, got) in by_row.iter_mut().enumerate() {
                    for v in (0..full).step_by(4) {
                        let mut o = [0f32; 4];
                        rk.dot4(wr(i), &x[v * nb..(v + 4) * nb], &mut o);
                        got[v..v + 4].copy_from_slice(&o);
                    }
                    for (v, g) in got.iter_mut().enumerate().skip(full) {
                        *g = (rk.dot)(wr(i), xv(v));
                    }
                }
                let mut by_tile = vec![vec![f32::NAN; batch]; rows / 8 * 8];
                for (g, w8) in w.chunks_exact(8 * nb).enumerate() {
                    for v in (0..full).step_by(4) {
                        let mut t = [[0f32; 8]; 4];
                        rk.tile8::<4>(w8, &x[v * nb..(v + 4) * nb], &mut t);
                        for (j, tv) in t.iter().enumerate() {
                            for (r, o) in tv.iter().enumerate() {
                                by_tile[8 * g + r][v + j] = *o;
                            }
                        }
                    }
                    for (v, xr) in x.chunks_exact(nb).enumerate().skip(full) {
                        let mut t = [[0f32; 8]; 1];
                        rk.tile8::<1>(w8, xr, &mut t);
                        for (row, o) in by_tile[8 * g..8 * g + 8].iter_mut().zip(t[0]) {
                            row[v] = o;
                        }
                    }
                }
                // Single tokens on paths with `rows2`: pairs of rows, the odd
                // last row by `dot`.
                let mut by_pair = vec![vec![f32::NAN; batch]; rows];
                if let Some(f) = rk.rows2 {
                    for (v, xr) in x.chunks_exact(nb).enumerate() {
                        for (p, w2) in w.chunks_exact(2 * nb).enumerate() {
                            let mut o = [0f32; 2];
                            f(w2, xr, &mut o);
                            (by_pair[2 * p][v], by_pair[2 * p + 1][v]) = (o[0], o[1]);
                        }
                        if rows % 2 == 1 {
                            by_pair[rows - 1][v] = (rk.dot)(wr(rows - 1), xr);
                        }
                    }
                } else {
                    by_pair.clone_from(&by_row);
                }
                let all = [
                    ("dot4/dot", &by_row),
                    ("tile8", &by_tile),
                    ("rows2", &by_pair),
                ];
                for (what, got) in all {
                    for (i, row) in got.iter().enumerate() {
                        for (v, g) in row.iter().enumerate() {
                            let want = T::dot(numerics, wr(i), xv(v));
                            assert!(
                                same(*g, want),
                                "{name} {path} {numerics:?} case {case} ({rows}×{batch}, {nb} \
                                 blocks) {what}: row {i} act {v}: {g} vs {want}"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn q2_k_rows() {
    check::<BlockQ2K>("q2_k", |b, [d, m]| {
        b.d = d;
        b.dmin = m;
    });
}

#[test]
fn q3_k_rows() {
    check::<BlockQ3K>("q3_k", |b, [d, _]| b.d = d);
}

#[test]
fn q5_k_rows() {
    check::<BlockQ5K>("q5_k", |b, [d, m]| {
        b.d = d;
        b.dmin = m;
    });
}

#[test]
fn q5_0_rows() {
    check::<BlockQ5_0>("q5_0", |b, [d, _]| b.d = d);
}

#[test]
fn q5_1_rows() {
    check::<BlockQ5_1>("q5_1", |b, [d, m]| {
        b.d = d;
        b.m = m;
    });
}

#[test]
fn iq4_nl_rows() {
    check::<BlockIq4Nl>("iq4_nl", |b, [d, _]| b.d = d);
}
