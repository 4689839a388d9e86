//! Panel kernels (prompt products) against the scalar single-row dot: every
//! (weight row, activation row) pair of a panel tile must have exactly the
//! bits of `scalar::dot_*` for the same numerics, for every panel size
//! (1..=16 activation rows, the rest padding) and row length.

use edge_llama_kernels::quant::panel::{PanelOut, PANEL_ROWS, PANEL_TILE_ROWS};
use edge_llama_kernels::{available, kernels_for, scalar, BlockQ4_0, BlockQ8_0, Numerics};
use half::f16;

struct Rng(u64);

impl Rng {
    fn u64(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.u64() % n
    }
    /// A scale: mostly ordinary, sometimes tiny, huge, zero or negative.
    fn scale(&mut self) -> f16 {
        let v = match self.below(16) {
            0 => 0.0,
            1 => 6.0e4,
            2 => 1.0e-7,
            3 => -0.02,
            _ => (self.below(1000) as f32 + 1.0) * 1.0e-4,
        };
        f16::from_f32(v)
    }
}

fn q4_0_row(r: &mut Rng, nb: usize) -> Vec<BlockQ4_0> {
    (0..nb)
        .map(|_| BlockQ4_0 {
            d: r.scale(),
            qs: std::array::from_fn(|_| r.below(256) as u8),
        })
        .collect()
}

fn q8_0_row(r: &mut Rng, nb: usize) -> Vec<BlockQ8_0> {
    let extreme = r.below(8) == 0;
    (0..nb)
        .map(|_| BlockQ8_0 {
            d: r.scale(),
            qs: std::array::from_fn(|_| {
                if extreme {
                    [-128, 127, -127][r.below(3) as usize]
                } else {
                    r.below(255) as i8 - 127
                }
            }),
        })
        .collect()
}

#[test]
fn q4_0_panels_equal_single_row_dots() {
    let mut r = Rng(0x9A2E_1001);
    let mut checked = 0;
    for name in available() {
        for numerics in [Numerics::Default, Numerics::LlamaCpp] {
            let k = kernels_for(name)
                .expect("listed path")
                .with_numerics(numerics);
            let Some(pk) = k.panel::<BlockQ4_0>() else {
                continue;
            };
            for case in 0..300 {
                let nb = 1 + r.below(if case % 10 == 0 { 180 } else { 24 }) as usize;
                let rows = 1 + r.below(PANEL_ROWS as u64) as usize;
                let w: Vec<Vec<BlockQ4_0>> =
                    (0..PANEL_TILE_ROWS).map(|_| q4_0_row(&mut r, nb)).collect();
                let x: Vec<Vec<BlockQ8_0>> = (0..rows).map(|_| q8_0_row(&mut r, nb)).collect();
                let mut panel = vec![0u8; pk.panel_bytes(nb)];
                (pk.pack_act)(&x.concat(), rows, &mut panel);
                let mut prep = vec![0u8; pk.prepared_bytes(nb)];
                (pk.prep_weights)(&w.concat(), &mut prep);
                let mut out: PanelOut = [[f32::NAN; PANEL_ROWS]; PANEL_TILE_ROWS];
                (pk.tile)(&prep, &panel, &mut out);
                for (row, wr) in w.iter().enumerate() {
                    for (t, xt) in x.iter().enumerate() {
                        let want = scalar::dot_q4_0_q8_0(wr, xt);
                        let got = out[row][t];
                        assert!(
                            got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
                            "{name} {numerics:?} case {case} ({nb} blocks, {rows} rows): \
                             row {row} vector {t}: {got} vs {want}"
                        );
                    }
                }
                checked += 1;
            }
        }
    }
    println!("{checked} panel cases checked");
    // The AVX-512 VNNI path has Q4_0 panels: where it runs, they were checked.
    #[cfg(target_arch = "x86_64")]
    if available().contains(&"avx512") && std::arch::is_x86_feature_detected!("avx512vnni") {
        assert!(checked > 0, "avx512 VNNI path without Q4_0 panels");
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
