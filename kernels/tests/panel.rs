//! Panel kernels (prompt products) and the default-order Q8_0 kernels
//! against the scalar single-row dot: every (weight row, activation row)
//! pair must have exactly the bits of `scalar::dot_*` for the same
//! numerics, for every panel size (1..=16 activation rows, the rest
//! padding) and row length.

use edge_llama_kernels::quant::panel::{PanelOut, PANEL_ROWS, PANEL_TILE_ROWS};
use edge_llama_kernels::{
    available, kernels_for, scalar, BlockQ4_0, BlockQ8_0, Numerics, QuantType,
};

mod common;

use common::rng::Rng;
use common::row_kernels::check_row_kernels;

fn q4_0_row(r: &mut Rng, nb: usize) -> Vec<BlockQ4_0> {
    (0..nb)
        .map(|_| BlockQ4_0 {
            d: r.scale(),
            qs: std::array::from_fn(|_| r.below(256) as u8),
        })
        .collect()
}

/// A Q8_0 row as our activation quantizer makes them: values in
/// [−127, 127] (the SIMD kernels rely on no −128 in activations).
fn q8_0_row(r: &mut Rng, nb: usize) -> Vec<BlockQ8_0> {
    let mut row = q8_0_weights(r, nb);
    for b in &mut row {
        for q in &mut b.qs {
            *q = (*q).max(-127);
        }
    }
    row
}

/// A Q8_0 weight row: any i8, often the extremes.
fn q8_0_weights(r: &mut Rng, nb: usize) -> Vec<BlockQ8_0> {
    let extreme = r.below(8) == 0;
    (0..nb)
        .map(|_| BlockQ8_0 {
            d: r.scale(),
            qs: std::array::from_fn(|_| {
                if extreme {
                    [-128, 127, -127][r.below(3) as usize]
                } else {
                    (r.below(255) as i32 - 127) as i8
                }
            }),
        })
        .collect()
}

/// Every panel kernel of weight type `W` on every path and numerics gives
/// `want`'s bits; returns the number of cases checked.
fn check_panels<W: QuantType<Act = BlockQ8_0> + Clone>(
    r: &mut Rng,
    make_row: fn(&mut Rng, usize) -> Vec<W>,
    want: fn(Numerics, &[W], &[BlockQ8_0]) -> f32,
) -> usize {
    let mut checked = 0;
    for name in available() {
        for numerics in [Numerics::Default, Numerics::LlamaCpp] {
            let k = kernels_for(name)
                .expect("listed path")
                .with_numerics(numerics);
            let Some(pk) = k.panel::<W>() else {
                continue;
            };
            for case in 0..300 {
                let nb = 1 + r.below(if case % 10 == 0 { 180 } else { 24 }) as usize;
                let rows = 1 + r.below(PANEL_ROWS as u64) as usize;
                let w: Vec<Vec<W>> = (0..PANEL_TILE_ROWS).map(|_| make_row(r, nb)).collect();
                let x: Vec<Vec<BlockQ8_0>> = (0..rows).map(|_| q8_0_row(r, nb)).collect();
                let mut panel = vec![0u8; pk.panel_bytes(nb)];
                (pk.pack_act)(&x.concat(), rows, &mut panel);
                let mut prep = vec![0u8; pk.prepared_bytes(nb)];
                (pk.prep_weights)(&w.concat(), &mut prep);
                let mut out: PanelOut = [[f32::NAN; PANEL_ROWS]; PANEL_TILE_ROWS];
                (pk.tile)(&prep, &panel, &mut out);
                for (row, wr) in w.iter().enumerate() {
                    for (t, xt) in x.iter().enumerate() {
                        let want = want(numerics, wr, xt);
                        let got = out[row][t];
                        assert!(
                            same(got, want),
                            "{name} {numerics:?} {:?} case {case} ({nb} blocks, {rows} rows): \
                             row {row} vector {t}: {got} vs {want}",
                            W::TYPE
                        );
                    }
                }
                checked += 1;
            }
        }
    }
    checked
}

fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

#[test]
fn q4_0_panels_equal_single_row_dots() {
    let mut r = Rng(0x9A2E_1001);
    let checked = check_panels(&mut r, q4_0_row, |_, w, x| scalar::dot_q4_0_q8_0(w, x));
    println!("{checked} Q4_0 panel cases checked");
    // The AVX-512 VNNI path has Q4_0 panels: where it runs, they were checked.
    #[cfg(target_arch = "x86_64")]
    if available().contains(&"avx512") && std::arch::is_x86_feature_detected!("avx512vnni") {
        assert!(checked > 0, "avx512 VNNI path without Q4_0 panels");
    }
}

#[test]
fn q8_0_panels_equal_single_row_dots() {
    let mut r = Rng(0x9A2E_1002);
    let checked = check_panels(&mut r, q8_0_weights, BlockQ8_0::dot);
    println!("{checked} Q8_0 panel cases checked");
    #[cfg(target_arch = "x86_64")]
    if available().contains(&"avx512") && std::arch::is_x86_feature_detected!("avx512vnni") {
        assert!(checked > 0, "avx512 VNNI path without Q8_0 panels");
    }
}

/// The default-order Q8_0 kernels of every path (single, 2-row, 4-row and
/// 8-row) give the bits of the scalar block-order reference, and the
/// llama.cpp-order ones those of its lane-order reference.
#[test]
fn q8_0_row_kernels_equal_the_reference() {
    let mut r = Rng(0x9A2E_1003);
    for name in available() {
        for numerics in [Numerics::Default, Numerics::LlamaCpp] {
            let k = kernels_for(name)
                .expect("listed path")
                .with_numerics(numerics);
            let rk = k.quant::<BlockQ8_0>();
            let want = |w: &[BlockQ8_0], x: &[BlockQ8_0]| match numerics {
                Numerics::Default => scalar::dot_q8_0_q8_0_blocks(w, x),
                Numerics::LlamaCpp => scalar::dot_q8_0_q8_0(w, x),
            };
            for case in 0..200 {
                let nb = 1 + r.below(if case % 10 == 0 { 200 } else { 20 }) as usize;
                let w: Vec<Vec<BlockQ8_0>> = (0..8).map(|_| q8_0_weights(&mut r, nb)).collect();
                let x: Vec<Vec<BlockQ8_0>> = (0..4).map(|_| q8_0_row(&mut r, nb)).collect();
                let ctx = format!("{name} {numerics:?} case {case} ({nb} blocks)");
                check_row_kernels(&rk, &w, &x, want, &ctx);
            }
        }
    }
}

/// Lengths that disagree are refused with a panic naming the panel, never
/// read out of bounds.
#[test]
fn mismatched_panel_lengths_panic() {
    for name in available() {
        let k = kernels_for(name).expect("listed path");
        if let Some(pk) = k.panel::<BlockQ4_0>() {
            let panel = vec![0u8; pk.panel_bytes(3)];
            let prep = vec![0u8; pk.prepared_bytes(2)];
            let err = std::panic::catch_unwind(|| {
                let mut out: PanelOut = [[0.0; PANEL_ROWS]; PANEL_TILE_ROWS];
                (pk.tile)(&prep, &panel, &mut out);
            })
            .expect_err("mismatched lengths must panic");
            let msg = err.downcast_ref::<&str>().copied().unwrap_or_default();
            assert!(msg.contains("panel"), "{name}: {msg}");
        }
    }
}
