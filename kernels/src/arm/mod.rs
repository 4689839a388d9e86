//! AArch64 kernel paths: plain NEON (ARMv8.0 Advanced SIMD, e.g. the
//! Cortex-A72 of a Raspberry Pi 4) and NEON + dotprod (ARMv8.2 `sdot`, e.g.
//! the Cortex-A76 of a Raspberry Pi 5).
//!
//! The quantized dots follow the reference's float order exactly: Q8_0 and
//! Q4_1 keep its eight partial integer sums per block (4 consecutive
//! elements each, exact), one fused multiply-add per lane and block and its
//! final horizontal-sum order ([`crate::scalar::hsum8`]); Q4_0 and Q6_K
//! (weights llama.cpp repacks on x86) add each block's exact integer sum
//! with one fused multiply-add in a single scalar chain. They therefore
//! return bit-identical results to [`crate::scalar`] (which follows
//! llama.cpp's x86 kernels); so do the 4-row versions and the activation
//! quantizers. Only the f16/f32 dots accumulate in a different order
//! (several vector accumulators).
//!
//! The types added for the K-quant mixes have NEON and dotprod kernels in
//! default numerics (their llama.cpp numerics run the scalar reference):
//! Q5_0, Q5_1 and IQ4_NL keep the reference's eight lanes
//! (`neon::dot_blocks8!`); Q2_K, Q3_K, Q4_K and Q5_K form each super-block's
//! exact integer sums and then the reference's scalar float sequence
//! (`kq::k_dots!`). Each has a single dot and a 4-row dot.

pub(crate) mod dotprod;
pub(crate) mod iq4_nl;
mod kq;
pub(crate) mod neon;
pub(crate) mod q2k;
pub(crate) mod q3k;
pub(crate) mod q4_0;
pub(crate) mod q4_1;
pub(crate) mod q4k;
pub(crate) mod q5_0;
pub(crate) mod q5_1;
pub(crate) mod q5k;
pub(crate) mod q6k;
pub(crate) mod q8_0;

#[cfg(test)]
mod tests {
    //! Quick self-check of both paths against the scalar reference on random
    //! rows; the full cross-path suite lives in `kernels/tests/`.

    use crate::blocks::*;
    use crate::scalar;
    use crate::testing::FlatTable;
    use crate::{Cpu, KernelPath, Numerics};
    use half::f16;

    /// Small deterministic xorshift generator (no dev-dependency needed).
    struct Rng(u64);
    impl Rng {
        fn next_u64(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        /// Uniform in [-1, 1).
        fn f32(&mut self) -> f32 {
            ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        }
        fn u8(&mut self) -> u8 {
            self.next_u64() as u8
        }
        fn i8(&mut self) -> i8 {
            self.next_u64() as i8
        }
        fn row(&mut self, n: usize) -> Vec<f32> {
            (0..n).map(|_| self.f32() * 3.0).collect()
        }
    }

    fn q8_0(r: &mut Rng, n: usize) -> Vec<BlockQ8_0> {
        (0..n)
            .map(|_| BlockQ8_0 {
                d: f16::from_f32(r.f32()),
                qs: std::array::from_fn(|_| r.i8()),
            })
            .collect()
    }
    fn q8_1(r: &mut Rng, n: usize) -> Vec<BlockQ8_1> {
        (0..n)
            .map(|_| BlockQ8_1 {
                d: f16::from_f32(r.f32()),
                s: f16::from_f32(r.f32() * 50.0),
                qs: std::array::from_fn(|_| r.i8()),
            })
            .collect()
    }
    fn q4_0(r: &mut Rng, n: usize) -> Vec<BlockQ4_0> {
        (0..n)
            .map(|_| BlockQ4_0 {
                d: f16::from_f32(r.f32()),
                qs: std::array::from_fn(|_| r.u8()),
            })
            .collect()
    }
    fn q4_1(r: &mut Rng, n: usize) -> Vec<BlockQ4_1> {
        (0..n)
            .map(|_| BlockQ4_1 {
                d: f16::from_f32(r.f32()),
                m: f16::from_f32(r.f32()),
                qs: std::array::from_fn(|_| r.u8()),
            })
            .collect()
    }
    fn q6k(r: &mut Rng, n: usize) -> Vec<BlockQ6K> {
        (0..n)
            .map(|_| BlockQ6K {
                ql: std::array::from_fn(|_| r.u8()),
                qh: std::array::from_fn(|_| r.u8()),
                scales: std::array::from_fn(|_| r.i8()),
                d: f16::from_f32(r.f32()),
            })
            .collect()
    }
    fn q8k(r: &mut Rng, n: usize) -> Vec<BlockQ8K> {
        (0..n)
            .map(|_| {
                // Q8_K values come from the quantizer: [-127, 127].
                let qs: [i8; QK_K] = std::array::from_fn(|_| r.i8().max(-127));
                let bsums = std::array::from_fn(|g| {
                    qs[16 * g..16 * g + 16].iter().map(|&v| v as i16).sum()
                });
                BlockQ8K {
                    d: r.f32(),
                    qs,
                    bsums,
                }
            })
            .collect()
    }

    fn paths() -> Vec<FlatTable> {
        [KernelPath::Neon, KernelPath::Dotprod]
            .into_iter()
            .filter_map(Cpu::detect)
            .map(|cpu| FlatTable::new(&crate::table_for(cpu).with_numerics(Numerics::LlamaCpp)))
            .collect()
    }

    /// Prints which aarch64 paths this CPU offers and, when the
    /// `EDGE_LLAMA_EXPECT_DOTPROD` variable is set to 0 or 1 (by
    /// `scripts/test-aarch64.sh`), checks that dotprod detection agrees.
    #[test]
    fn detected_paths() {
        let names: Vec<&str> = paths().iter().map(|k| k.name).collect();
        println!(
            "aarch64 kernel paths available: {names:?}; active kernel path: {}",
            crate::active()
        );
        assert!(names.contains(&"neon"), "every AArch64 CPU has NEON");
        match std::env::var("EDGE_LLAMA_EXPECT_DOTPROD").as_deref() {
            Ok("1") => assert!(
                names.contains(&"dotprod"),
                "expected dotprod, got {names:?}"
            ),
            Ok("0") => assert!(
                !names.contains(&"dotprod"),
                "expected no dotprod, got {names:?}"
            ),
            _ => {}
        }
    }

    #[test]
    fn quantizers_bit_identical() {
        let mut r = Rng(0x9E37_79B9_7F4A_7C15);
        for k in paths() {
            for nb in [1usize, 3, 8] {
                let mut x = r.row(nb * QK_K);
                // Edge cases: an all-zero block, exact .5 ties, equal +/- maxima.
                x[..QK].fill(0.0);
                x[QK] = 127.0;
                x[QK + 1] = 0.5;
                x[QK + 2] = -0.5;
                x[QK + 3] = 1.5;
                x[QK + 4] = -127.0;
                let n32 = x.len() / QK;
                let (mut a, mut b) = (vec![scalar_q8_0(); n32], vec![scalar_q8_0(); n32]);
                (k.quantize_q8_0)(&x, &mut a);
                scalar::quantize_act_q8_0(&x, &mut b);
                assert_eq!(a, b, "{} q8_0", k.name);
                let z1 = BlockQ8_1 {
                    d: f16::ZERO,
                    s: f16::ZERO,
                    qs: [0; QK],
                };
                let (mut a, mut b) = (vec![z1; n32], vec![z1; n32]);
                (k.quantize_q8_1)(&x, &mut a);
                scalar::quantize_act_q8_1(&x, &mut b);
                assert_eq!(a, b, "{} q8_1", k.name);
                let zk = BlockQ8K {
                    d: 0.0,
                    qs: [0; QK_K],
                    bsums: [0; QK_K / 16],
                };
                x[..QK_K].fill(0.0);
                if nb > 1 {
                    // Second block: max = -127 (first of two equal magnitudes)
                    // gives iscale = 1, so these are exact ties (to even).
                    x[QK_K] = -127.0;
                    x[QK_K + 1] = 0.5;
                    x[QK_K + 2] = 1.5;
                    x[QK_K + 3] = -2.5;
                    x[QK_K + 4] = 127.0;
                }
                let (mut a, mut b) = (vec![zk; nb], vec![zk; nb]);
                (k.quantize_q8_k)(&x, &mut a);
                scalar::quantize_row_q8_k(&x, &mut b);
                assert_eq!(a, b, "{} q8_K", k.name);
            }
        }
    }

    fn scalar_q8_0() -> BlockQ8_0 {
        BlockQ8_0 {
            d: f16::ZERO,
            qs: [0; QK],
        }
    }

    #[test]
    fn integer_dots_match_scalar_exactly() {
        let mut r = Rng(12345);
        for k in paths() {
            for nb in [1usize, 2, 7, 64] {
                let (w, x) = (q4_0(&mut r, nb), q8_0(&mut r, nb));
                assert_eq!(
                    (k.dot_q4_0_q8_0)(&w, &x),
                    scalar::dot_q4_0_q8_0(&w, &x),
                    "{} q4_0",
                    k.name
                );
                let (w, x) = (q4_1(&mut r, nb), q8_1(&mut r, nb));
                assert_eq!(
                    (k.dot_q4_1_q8_1)(&w, &x),
                    scalar::dot_q4_1_q8_1(&w, &x),
                    "{} q4_1",
                    k.name
                );
                let (w, x) = (q8_0(&mut r, nb), q8_0(&mut r, nb));
                assert_eq!(
                    (k.dot_q8_0_q8_0)(&w, &x),
                    scalar::dot_q8_0_q8_0(&w, &x),
                    "{} q8_0",
                    k.name
                );
                // Extremes: -128 · -128 everywhere must not overflow i16 lanes.
                let m = vec![
                    BlockQ8_0 {
                        d: f16::ONE,
                        qs: [-128; QK]
                    };
                    nb
                ];
                assert_eq!(
                    (k.dot_q8_0_q8_0)(&m, &m),
                    (nb * QK * 128 * 128) as f32,
                    "{} q8_0 extreme",
                    k.name
                );
                let (w, x) = (q6k(&mut r, nb.div_ceil(4)), q8k(&mut r, nb.div_ceil(4)));
                assert_eq!(
                    (k.dot_q6k_q8k)(&w, &x),
                    scalar::dot_q6k_q8k(&w, &x),
                    "{} q6_K",
                    k.name
                );
            }
            // Empty rows.
            assert_eq!((k.dot_q4_0_q8_0)(&[], &[]), 0.0);
            assert_eq!((k.dot_q6k_q8k)(&[], &[]), 0.0);
        }
    }

    /// The 4-row dots equal the scalar single-row dots bit for bit (and so
    /// the path's own single-row dots, checked above).
    #[test]
    fn dot4_match_scalar_exactly() {
        let mut r = Rng(4242);
        for k in paths() {
            for nb in [0usize, 1, 5, 33] {
                let w40 = q4_0(&mut r, nb);
                let w41 = q4_1(&mut r, nb);
                let w80 = q8_0(&mut r, nb);
                let x80 = q8_0(&mut r, 4 * nb);
                let x81 = q8_1(&mut r, 4 * nb);
                let mut got = [[0f32; 4]; 3];
                (k.dot4_q4_0_q8_0)(&w40, &x80, &mut got[0]);
                (k.dot4_q4_1_q8_1)(&w41, &x81, &mut got[1]);
                (k.dot4_q8_0_q8_0)(&w80, &x80, &mut got[2]);
                for v in 0..4 {
                    let rows = v * nb..(v + 1) * nb;
                    let want = [
                        scalar::dot_q4_0_q8_0(&w40, &x80[rows.clone()]),
                        scalar::dot_q4_1_q8_1(&w41, &x81[rows.clone()]),
                        scalar::dot_q8_0_q8_0(&w80, &x80[rows]),
                    ];
                    for (t, (g, w)) in got.iter().zip(want).enumerate() {
                        assert_eq!(
                            g[v].to_bits(),
                            w.to_bits(),
                            "{} dot4 #{t} row {v} nb={nb}",
                            k.name
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn float_dots_close_to_scalar() {
        let mut r = Rng(777);
        for k in paths() {
            for n in [0usize, 1, 3, 15, 16, 17, 33, 100, 4096, 4099] {
                let w = r.row(n);
                let x = r.row(n);
                let bound: f32 = w.iter().zip(&x).map(|(a, b)| (a * b).abs()).sum::<f32>() * 1e-6
                    + f32::MIN_POSITIVE;
                let got = (k.dot_f32_f32)(&w, &x);
                let want = scalar::dot_f32_f32(&w, &x);
                assert!(
                    (got - want).abs() <= bound,
                    "{} f32 n={n}: {got} vs {want}",
                    k.name
                );
                let wh: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
                let got = (k.dot_f16_f32)(&wh, &x);
                let want = scalar::dot_f16_f32(&wh, &x);
                assert!(
                    (got - want).abs() <= bound,
                    "{} f16 n={n}: {got} vs {want}",
                    k.name
                );
            }
            // Every f16 class converts exactly: subnormals, infinities, signed zero.
            let specials = [
                0x0001u16, 0x03ff, 0x8001, 0x0400, 0x7bff, 0xfbff, 0x8000, 0x3c00, 0x7c00, 0xfc00,
            ];
            for &bits in &specials {
                for i in 0..19 {
                    let mut w = vec![f16::ZERO; 19];
                    w[i] = f16::from_bits(bits);
                    let x = vec![1.0f32; 19];
                    let got = (k.dot_f16_f32)(&w, &x);
                    let want = scalar::dot_f16_f32(&w, &x);
                    assert_eq!(
                        got.to_bits(),
                        want.to_bits(),
                        "{} f16 {bits:#x} at {i}",
                        k.name
                    );
                }
            }
        }
    }
}
