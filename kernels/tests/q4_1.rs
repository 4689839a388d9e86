//! The Q4_1 kernels of every path against the scalar single-row dot, in
//! both orders: the block-order kernels (single, 2-row, 4-row, 8-row
//! tiles) give the bits of `scalar::dot_q4_1_q8_1_blocks`, the
//! llama.cpp-order ones those of `scalar::dot_q4_1_q8_1`; and the kernels
//! each numerics hands out give the bits of the trait's reference `dot`.

use edge_llama_kernels::quant::Q4_1_DEFAULT_IN_BLOCK_ORDER;
use edge_llama_kernels::testing::q4_1_kernels_in_order;
use edge_llama_kernels::{
    available, kernels_for, scalar, BlockQ4_1, BlockQ8_1, Numerics, QuantType,
};
use half::f16;

mod common;

use common::rng::Rng;
use common::row_kernels::check_row_kernels;

/// A Q4_1 weight row: any nibbles (often all 15), any (d, m).
fn q4_1_row(r: &mut Rng, nb: usize) -> Vec<BlockQ4_1> {
    let extreme = r.below(8) == 0;
    (0..nb)
        .map(|_| BlockQ4_1 {
            d: r.scale(),
            m: f16::from_f32(-r.scale().to_f32()),
            qs: std::array::from_fn(|_| if extreme { 0xFF } else { r.below(256) as u8 }),
        })
        .collect()
}

/// A Q8_1 row as our activation quantizer makes them: values in
/// [−127, 127] (the SIMD kernels rely on no −128 in activations), often
/// the extremes; `s` any scale.
fn q8_1_row(r: &mut Rng, nb: usize) -> Vec<BlockQ8_1> {
    let extreme = r.below(8) == 0;
    (0..nb)
        .map(|_| BlockQ8_1 {
            d: r.scale(),
            s: r.scale(),
            qs: std::array::from_fn(|_| {
                if extreme {
                    [127, -127][r.below(2) as usize]
                } else {
                    (r.below(255) as i32 - 127) as i8
                }
            }),
        })
        .collect()
}

fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

#[test]
fn q4_1_row_kernels_equal_the_reference() {
    let mut r = Rng(0x41A1_0007);
    for name in available() {
        // (order, through the numerics' table?): every order directly, and
        // the kernels each numerics selects against the trait's `dot`.
        for (numerics, table) in [
            (Numerics::Default, false),
            (Numerics::LlamaCpp, false),
            (Numerics::Default, true),
            (Numerics::LlamaCpp, true),
        ] {
            let k = kernels_for(name)
                .expect("listed path")
                .with_numerics(numerics);
            let rk = if table {
                k.quant::<BlockQ4_1>()
            } else {
                q4_1_kernels_in_order(&k, numerics)
            };
            let want = |w: &[BlockQ4_1], x: &[BlockQ8_1]| match (numerics, table) {
                (_, true) => BlockQ4_1::dot(numerics, w, x),
                (Numerics::Default, false) => scalar::dot_q4_1_q8_1_blocks(w, x),
                (Numerics::LlamaCpp, false) => scalar::dot_q4_1_q8_1(w, x),
            };
            for case in 0..200 {
                let nb = 1 + r.below(if case % 10 == 0 { 200 } else { 20 }) as usize;
                let w: Vec<Vec<BlockQ4_1>> = (0..8).map(|_| q4_1_row(&mut r, nb)).collect();
                let x: Vec<Vec<BlockQ8_1>> = (0..4).map(|_| q8_1_row(&mut r, nb)).collect();
                let ctx = format!("{name} {numerics:?} (table: {table}) case {case} ({nb} blocks)");
                check_row_kernels(&rk, &w, &x, want, &ctx);
            }
        }
    }
}

/// The trait's reference `dot` takes the order
/// `Q4_1_DEFAULT_IN_BLOCK_ORDER` names for the default numerics.
#[test]
fn default_numerics_take_the_configured_order() {
    let mut r = Rng(0x41A1_0008);
    let w = q4_1_row(&mut r, 18);
    let x = q8_1_row(&mut r, 18);
    let got = BlockQ4_1::dot(Numerics::Default, &w, &x);
    let want = if Q4_1_DEFAULT_IN_BLOCK_ORDER {
        scalar::dot_q4_1_q8_1_blocks(&w, &x)
    } else {
        scalar::dot_q4_1_q8_1(&w, &x)
    };
    assert!(same(got, want));
    let got = BlockQ4_1::dot(Numerics::LlamaCpp, &w, &x);
    assert!(same(got, scalar::dot_q4_1_q8_1(&w, &x)));
}
