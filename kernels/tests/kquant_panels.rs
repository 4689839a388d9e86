//! K-quant panel kernels (prompt products, `QuantType::panel`) against the
//! scalar single-row dot of the same numerics, bit for bit: every panel size
//! (1..=16 activation rows, the rest padding), rows of 1 to many
//! super-blocks, quantized rows, random-byte blocks (every bit pattern is a
//! valid block), extreme levels, activations of −128/127 and extreme block
//! sums. Also the single-token 8-row products on long rows.

use edge_llama_kernels::quant::panel::{PanelOut, PANEL_ROWS, PANEL_TILE_ROWS};
use edge_llama_kernels::*;
mod common;

use common::kq_rows::{act_row, same, weight_row, Rng};
use half::f16;

/// An activation row: usually the reference quantizer's; sometimes random
/// bytes (any qs, including −128, and any bsums) with a finite scale.
fn any_act_row(r: &mut Rng, n: usize) -> Vec<BlockQ8K> {
    if r.below(4) != 0 {
        return act_row(r, n);
    }
    let mut q = vec![BlockQ8K::zeroed(); n];
    let extreme = r.below(2) == 0;
    for b in q.iter_mut() {
        b.d = r.scale().to_f32();
        for v in b.qs.iter_mut() {
            *v = if extreme {
                [-128, 127][r.below(2)]
            } else {
                r.u64() as i8
            };
        }
        for s in b.bsums.iter_mut() {
            *s = if extreme {
                [i16::MIN, i16::MAX][r.below(2)]
            } else {
                r.u64() as i16
            };
        }
    }
    q
}

/// Every panel kernel of `T` on every path and numerics against `T::dot`;
/// returns the number of tiles checked.
fn check_panels<T: QuantType<Act = BlockQ8K> + Clone>(
    seed: u64,
    fix: fn(&mut T, [f16; 2]),
) -> usize {
    let mut r = Rng(seed);
    let mut checked = 0;
    for path in available() {
        for numerics in [Numerics::Default, Numerics::LlamaCpp] {
            let k = kernels_for(path)
                .expect("listed path")
                .with_numerics(numerics);
            let Some(pk) = k.panel::<T>() else {
                continue;
            };
            for case in 0..120 {
                let nb = if case % 10 == 0 {
                    1 + r.below(24)
                } else {
                    1 + r.below(4)
                };
                let rows = 1 + case % PANEL_ROWS;
                let w: Vec<Vec<T>> = (0..PANEL_TILE_ROWS)
                    .map(|_| weight_row(&mut r, nb, fix))
                    .collect();
                let x: Vec<Vec<BlockQ8K>> = (0..rows).map(|_| any_act_row(&mut r, nb)).collect();
                let mut panel = vec![0xAAu8; pk.panel_bytes(nb)];
                (pk.pack_act)(&x.concat(), rows, &mut panel);
                let mut prep = vec![0x55u8; pk.prepared_bytes(nb)];
                (pk.prep_weights)(&w.concat(), &mut prep);
                let mut out: PanelOut = [[f32::NAN; PANEL_ROWS]; PANEL_TILE_ROWS];
                (pk.tile)(&prep, &panel, &mut out);
                for (row, wr) in w.iter().enumerate() {
                    for (t, xt) in x.iter().enumerate() {
                        let want = T::dot(numerics, wr, xt);
                        let got = out[row][t];
                        assert!(
                            same(got, want),
                            "{path} {numerics:?} {:?} case {case} ({nb} blocks, {rows} rows): \
                             row {row} vector {t}: {got} vs {want}",
                            T::TYPE
                        );
                    }
                }
                checked += 1;
            }
        }
    }
    checked
}

/// Whether this CPU runs the AVX-512 VNNI path (which must have panels).
fn vnni_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    return available().contains(&"avx512") && std::arch::is_x86_feature_detected!("avx512vnni");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

#[test]
fn q4_k_panels_equal_single_row_dots() {
    let checked = check_panels::<BlockQ4K>(0x4B50_0004, |b, [d, m]| {
        b.d = d;
        b.dmin = m;
    });
    println!("{checked} Q4_K panel tiles checked");
    if vnni_available() {
        assert!(checked > 0, "avx512 VNNI path without Q4_K panels");
    }
}

#[test]
fn q6_k_panels_equal_single_row_dots() {
    let checked = check_panels::<BlockQ6K>(0x4B50_0006, |b, [d, _]| b.d = d);
    println!("{checked} Q6_K panel tiles checked");
    if vnni_available() {
        assert!(checked > 0, "avx512 VNNI path without Q6_K panels");
    }
}

/// The single-token 8-row products (`tile8x1`) on rows of 1 to 88
/// super-blocks (a TinyLlama `ffn_down` row is 22, a Llama-2-7B one 43),
/// against `dot`.
fn check_tile8x1<T: QuantType<Act = BlockQ8K> + Clone>(seed: u64, fix: fn(&mut T, [f16; 2])) {
    let mut r = Rng(seed);
    for path in available() {
        for numerics in [Numerics::Default, Numerics::LlamaCpp] {
            let rk = kernels_for(path)
                .expect("listed path")
                .with_numerics(numerics)
                .quant::<T>();
            for nb in [1, 2, 22, 43, 88] {
                let w: Vec<T> = (0..8).flat_map(|_| weight_row(&mut r, nb, fix)).collect();
                let x = act_row(&mut r, nb);
                let mut out = [[f32::NAN; 8]; 1];
                rk.tile8::<1>(&w, &x, &mut out);
                for row in 0..8 {
                    let want = (rk.dot)(&w[row * nb..(row + 1) * nb], &x);
                    assert!(
                        same(out[0][row], want)
                            && same(want, T::dot(numerics, &w[row * nb..(row + 1) * nb], &x)),
                        "{path} {numerics:?} {:?} tile8x1 ({nb} blocks) row {row}: {} vs {want}",
                        T::TYPE,
                        out[0][row]
                    );
                }
            }
        }
    }
}

#[test]
fn q4_k_and_q6_k_tile8x1_on_long_rows() {
    check_tile8x1::<BlockQ4K>(0x4B50_0014, |b, [d, m]| {
        b.d = d;
        b.dmin = m;
    });
    check_tile8x1::<BlockQ6K>(0x4B50_0016, |b, [d, _]| b.d = d);
}
