//! Every multi-row K-quant kernel of every path this CPU runs — single dot,
//! 4 activation rows, 2 weight rows, 8-row tiles for 1 and 4 activation
//! rows — against the scalar reference of the same numerics, bit for bit,
//! on quantized rows, random-byte blocks (every bit pattern is a valid
//! block) and extreme levels and activations.

use edge_llama_kernels::*;
use half::f16;

mod common;

use common::kq_rows::{act_row, same, weight_row, Rng};

fn check_type<T: QuantType<Act = BlockQ8K>>(name: &str, fix: fn(&mut T, [f16; 2])) {
    let mut r = Rng(0x4B51_0000 ^ name.len() as u64);
    for path in available() {
        let base = kernels_for(path).expect("listed path");
        for numerics in [Numerics::Default, Numerics::LlamaCpp] {
            let rk = base.with_numerics(numerics).quant::<T>();
            for case in 0..60 {
                let nb = 1 + r.below(if case < 10 { 3 } else { 24 });
                let w: Vec<Vec<T>> = (0..8).map(|_| weight_row(&mut r, nb, fix)).collect();
                let x: Vec<Vec<BlockQ8K>> = (0..5).map(|_| act_row(&mut r, nb)).collect();
                let want: Vec<Vec<f32>> = w
                    .iter()
                    .map(|wr| x.iter().map(|xv| T::dot(numerics, wr, xv)).collect())
                    .collect();
                let ctx = |what: &str, row: usize, v: usize| {
                    format!("{name} {path} {numerics:?} case {case} ({nb} blocks) {what} row {row} act {v}")
                };
                // Single dot.
                for (row, wr) in w.iter().enumerate() {
                    for (v, xv) in x.iter().enumerate() {
                        let got = (rk.dot)(wr, xv);
                        assert!(
                            same(got, want[row][v]),
                            "{}: {got} vs {}",
                            ctx("dot", row, v),
                            want[row][v]
                        );
                    }
                }
                // One weight row × 4 activation rows.
                let x4: Vec<BlockQ8K> = x[..4].concat();
                for (row, wr) in w.iter().enumerate() {
                    let mut o = [0f32; 4];
                    rk.dot4(wr, &x4, &mut o);
                    for v in 0..4 {
                        assert!(same(o[v], want[row][v]), "{}", ctx("dot4", row, v));
                    }
                }
                // Two weight rows × one activation row.
                if let Some(f) = rk.rows2 {
                    for pair in 0..4 {
                        let w2: Vec<T> = w[2 * pair..2 * pair + 2].concat();
                        let mut o = [0f32; 2];
                        f(&w2, &x[4], &mut o);
                        for j in 0..2 {
                            assert!(
                                same(o[j], want[2 * pair + j][4]),
                                "{}",
                                ctx("rows2", 2 * pair + j, 4)
                            );
                        }
                    }
                }
                // Eight weight rows × 4 and × 1 activation rows.
                let w8: Vec<T> = w.concat();
                let mut o4 = [[0f32; 8]; 4];
                rk.tile8::<4>(&w8, &x4, &mut o4);
                let mut o1 = [[0f32; 8]; 1];
                rk.tile8::<1>(&w8, &x[4], &mut o1);
                for row in 0..8 {
                    for v in 0..4 {
                        assert!(same(o4[v][row], want[row][v]), "{}", ctx("tile8x4", row, v));
                    }
                    assert!(same(o1[0][row], want[row][4]), "{}", ctx("tile8x1", row, 4));
                }
            }
        }
    }
}

#[test]
fn q4_k_kernels_have_the_reference_bits() {
    check_type::<BlockQ4K>("q4_k", |b, [d, m]| {
        b.d = d;
        b.dmin = m;
    });
}

#[test]
fn q5_k_kernels_have_the_reference_bits() {
    check_type::<BlockQ5K>("q5_k", |b, [d, m]| {
        b.d = d;
        b.dmin = m;
    });
}

#[test]
fn q6_k_kernels_have_the_reference_bits() {
    check_type::<BlockQ6K>("q6_k", |b, [d, _]| b.d = d);
}

#[test]
fn q3_k_kernels_have_the_reference_bits() {
    check_type::<BlockQ3K>("q3_k", |b, [d, _]| b.d = d);
}

#[test]
fn q2_k_kernels_have_the_reference_bits() {
    check_type::<BlockQ2K>("q2_k", |b, [d, m]| {
        b.d = d;
        b.dmin = m;
    });
}
