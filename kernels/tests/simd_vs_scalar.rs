//! Every SIMD path this CPU can run, checked against the scalar reference.
//!
//! Quantizers and quantized dots (Q4_0, Q4_1, Q8_0, Q6_K: every path follows
//! llama.cpp's x86 order) must be bit-identical; the failure messages print
//! Σ|terms| of the quantized dots for scale. Float dot products must agree
//! within `1e-6 · Σ|terms|` (computed in f64), where the terms are the
//! per-element products w_i·x_i. Rationale: the float paths may add the
//! same terms in a different order (and use FMA); reordering a sum of n f32
//! terms moves the result by at most ~n·ε·Σ|terms| and typically by
//! ~ε·Σ|terms| (ε = 6e-8), while any wrong element moves it by at least one
//! whole term.
//! A bound relative to |result| alone would be meaningless under
//! cancellation. The quantized dots must also compute every block's integer
//! sum exactly: `quantized_dots_exact_integers` checks that on rows whose
//! scales are 1, where any summation order gives the exact integer total.

use edge_llama_kernels::testing::FlatTable;
use edge_llama_kernels::*;
use half::f16;

/// The scalar reference in llama.cpp's numerics, flattened.
fn scalar_table() -> FlatTable {
    FlatTable::new(&SCALAR.with_numerics(Numerics::LlamaCpp))
}

/// xorshift64* — small, seeded, no dependency.
struct Rng(u64);
impl Rng {
    fn u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.u64() % n as u64) as usize
    }
    /// Uniform in [-1, 1).
    fn f(&mut self) -> f32 {
        (self.u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    fn i8(&mut self) -> i8 {
        self.u64() as i8
    }
    /// Activation value in [-127, 127].
    fn act(&mut self) -> i8 {
        (self.below(255) as i32 - 127) as i8
    }
    /// A finite f16 scale: mostly ordinary, sometimes 0, subnormal or huge.
    fn scale(&mut self) -> f16 {
        match self.below(20) {
            0 => f16::ZERO,
            1 => f16::from_bits(0x0001),         // smallest subnormal
            2 => f16::from_bits(0x03ff),         // largest subnormal
            3 => f16::from_bits(0x7bff),         // 65504
            4 => f16::from_bits(0xfbff),         // -65504
            5 => f16::from_f32(self.f() * 1e-5), // tiny / subnormal range
            _ => f16::from_f32(self.f() * 0.1),
        }
    }
    /// A finite activation scale (no huge values, so d·Σq stays in f16 range).
    fn act_scale(&mut self) -> f16 {
        match self.below(10) {
            0 => f16::ZERO,
            1 => f16::from_bits(0x0001),
            2 => f16::from_f32(self.f() * 1e-5),
            _ => f16::from_f32(self.f() * 0.1),
        }
    }
    /// Row length: log-uniform block count in 1..=max_blocks.
    fn blocks(&mut self, max_blocks: usize) -> usize {
        let bits = usize::BITS - max_blocks.leading_zeros();
        let cap = (1usize << self.below(bits as usize + 1)).min(max_blocks);
        1 + self.below(cap)
    }
    /// An f32 row with magnitudes 1e-4..1e3 (activations for the dot tests:
    /// keeps every product finite so the comparison is NaN-free).
    fn act_row(&mut self, n: usize) -> Vec<f32> {
        let s = 10f32.powi(self.below(8) as i32 - 4);
        (0..n).map(|_| self.f() * s).collect()
    }
    /// An f32 row of random style: ordinary, wide dynamic range, ties, or
    /// with zero / extreme blocks.
    fn row(&mut self, n: usize) -> Vec<f32> {
        let style = self.below(6);
        let mut v: Vec<f32> = (0..n)
            .map(|_| match style {
                0 => self.f() * 1e-30,
                1 => self.f() * 1e38,
                2 => (self.below(255) as f32 - 127.0) + 0.5 * (self.below(2) as f32),
                _ => self.f() * 10f32.powi(self.below(8) as i32 - 4),
            })
            .collect();
        // Sprinkle edge blocks.
        for c in v.chunks_mut(32) {
            match self.below(16) {
                0 => c.fill(0.0),
                1 => c[self.below(c.len())] = 3.0e38,
                2 => c[self.below(c.len())] = -3.0e38,
                3 => {
                    let a = self.f();
                    c.fill(a);
                    c[0] = -a; // equal magnitudes, opposite signs
                }
                _ => {}
            }
        }
        v
    }
}

const MAX_ELEMS: usize = 16384;

fn paths() -> Vec<FlatTable> {
    let names = available();
    println!("available kernel paths: {names:?}");
    assert_eq!(names.last(), Some(&"scalar"));
    names
        .iter()
        .filter(|&&n| n != "scalar")
        .map(|n| kernels_for(n).expect("listed path"))
        .map(|k| FlatTable::new(&k.with_numerics(Numerics::LlamaCpp)))
        .collect()
}

/// Equal (including the same infinity, which huge random scales can give),
/// or within the documented bound.
fn close(got: f32, want: f32, terms: f64) -> bool {
    got == want
        || (f64::from(got) - f64::from(want)).abs() <= 1e-6 * terms + f64::from(f32::MIN_POSITIVE)
}

fn zq8_0(n: usize) -> Vec<BlockQ8_0> {
    vec![
        BlockQ8_0 {
            d: f16::ZERO,
            qs: [0; QK]
        };
        n
    ]
}
fn zq8_1(n: usize) -> Vec<BlockQ8_1> {
    vec![
        BlockQ8_1 {
            d: f16::ZERO,
            s: f16::ZERO,
            qs: [0; QK]
        };
        n
    ]
}
fn zq8_k(n: usize) -> Vec<BlockQ8K> {
    vec![
        BlockQ8K {
            d: 0.0,
            qs: [0; QK_K],
            bsums: [0; QK_K / 16]
        };
        n
    ]
}

#[test]
fn quantizers_bit_identical() {
    let paths = paths();
    let mut r = Rng(0x5EED_0001);
    for i in 0..10_000 {
        let nb = r.blocks(MAX_ELEMS / QK);
        let x = r.row(nb * QK);
        let mut want = zq8_0(nb);
        scalar::quantize_act_q8_0(&x, &mut want);
        let mut want1 = zq8_1(nb);
        scalar::quantize_act_q8_1(&x, &mut want1);
        let nk = nb * QK / QK_K;
        let mut wantk = zq8_k(nk);
        scalar::quantize_row_q8_k(&x[..nk * QK_K], &mut wantk);
        for k in &paths {
            let mut got = zq8_0(nb);
            (k.quantize_q8_0)(&x, &mut got);
            assert!(
                block_bytes(&got) == block_bytes(&want),
                "{} q8_0 row {i}",
                k.name
            );
            let mut got = zq8_1(nb);
            (k.quantize_q8_1)(&x, &mut got);
            assert!(
                block_bytes(&got) == block_bytes(&want1),
                "{} q8_1 row {i}",
                k.name
            );
            let mut got = zq8_k(nk);
            (k.quantize_q8_k)(&x[..nk * QK_K], &mut got);
            assert!(
                block_bytes(&got) == block_bytes(&wantk),
                "{} q8_k row {i}",
                k.name
            );
        }
    }
}

/// Random weights/activations for every quantized dot, with per-block term
/// magnitudes (f64) for the tolerance.
struct QRows {
    w40: Vec<BlockQ4_0>,
    w41: Vec<BlockQ4_1>,
    w80: Vec<BlockQ8_0>,
    x80: Vec<BlockQ8_0>,
    x81: Vec<BlockQ8_1>,
    w6k: Vec<BlockQ6K>,
    x8k: Vec<BlockQ8K>,
}

fn qrows(r: &mut Rng, nb: usize) -> QRows {
    let zero_block = r.below(8) == 0;
    let mut w40: Vec<BlockQ4_0> = (0..nb)
        .map(|_| BlockQ4_0 {
            d: r.scale(),
            qs: std::array::from_fn(|_| r.u64() as u8),
        })
        .collect();
    let mut w41: Vec<BlockQ4_1> = (0..nb)
        .map(|_| BlockQ4_1 {
            d: r.scale(),
            m: r.scale(),
            qs: std::array::from_fn(|_| r.u64() as u8),
        })
        .collect();
    let mut w80: Vec<BlockQ8_0> = (0..nb)
        .map(|_| BlockQ8_0 {
            d: r.scale(),
            qs: std::array::from_fn(|_| r.i8()),
        })
        .collect();
    // Activations: half from the quantizer, half random in [-127, 127].
    let (x80, x81) = if r.below(2) == 0 {
        let x = r.act_row(nb * QK);
        let (mut a, mut b) = (zq8_0(nb), zq8_1(nb));
        scalar::quantize_act_q8_0(&x, &mut a);
        scalar::quantize_act_q8_1(&x, &mut b);
        (a, b)
    } else {
        let a: Vec<BlockQ8_0> = (0..nb)
            .map(|_| BlockQ8_0 {
                d: r.act_scale(),
                qs: std::array::from_fn(|_| r.act()),
            })
            .collect();
        let b = a
            .iter()
            .map(|b| {
                let s: i32 = b.qs.iter().map(|&q| i32::from(q)).sum();
                BlockQ8_1 {
                    d: b.d,
                    s: f16::from_f32(b.d.to_f32() * s as f32),
                    qs: b.qs,
                }
            })
            .collect();
        (a, b)
    };
    let nk = nb.div_ceil(8);
    let mut w6k: Vec<BlockQ6K> = (0..nk)
        .map(|_| BlockQ6K {
            ql: std::array::from_fn(|_| r.u64() as u8),
            qh: std::array::from_fn(|_| r.u64() as u8),
            scales: std::array::from_fn(|_| {
                if r.below(4) == 0 {
                    [-128, 127, 0][r.below(3)]
                } else {
                    r.i8()
                }
            }),
            d: r.scale(),
        })
        .collect();
    let x8k: Vec<BlockQ8K> = (0..nk)
        .map(|_| {
            let x = r.act_row(QK_K);
            let mut b = zq8_k(1);
            scalar::quantize_row_q8_k(&x, &mut b);
            b[0]
        })
        .collect();
    if zero_block {
        let i = r.below(nb);
        w40[i].qs = [0x88; 16];
        w41[i].d = f16::ZERO;
        w80[i].qs = [0; 32];
        w6k[i / 8].scales = [0; 16];
    }
    if r.below(8) == 0 {
        // Extreme weights: every q8 = -128 or 127, nibbles all 0 or 15.
        let v = if r.below(2) == 0 { -128 } else { 127 };
        let i = r.below(nb);
        w80[i].qs = [v; 32];
        w40[i].qs = [if v < 0 { 0 } else { 0xFF }; 16];
        w41[i].qs = [0xFF; 16];
        w6k[i / 8].ql = [0xFF; 128];
        w6k[i / 8].qh = [0xFF; 64];
    }
    QRows {
        w40,
        w41,
        w80,
        x80,
        x81,
        w6k,
        x8k,
    }
}

fn terms_q4_0(w: &[BlockQ4_0], x: &[BlockQ8_0]) -> f64 {
    w.iter()
        .zip(x)
        .map(|(a, b)| {
            let s: i32 = (0..16)
                .map(|j| {
                    (i32::from(a.qs[j] & 15) - 8) * i32::from(b.qs[j])
                        + (i32::from(a.qs[j] >> 4) - 8) * i32::from(b.qs[j + 16])
                })
                .sum();
            (f64::from(s) * f64::from(a.d.to_f32()) * f64::from(b.d.to_f32())).abs()
        })
        .sum()
}
fn terms_q4_1(w: &[BlockQ4_1], x: &[BlockQ8_1]) -> f64 {
    w.iter()
        .zip(x)
        .map(|(a, b)| {
            let s: i32 = (0..16)
                .map(|j| {
                    i32::from(a.qs[j] & 15) * i32::from(b.qs[j])
                        + i32::from(a.qs[j] >> 4) * i32::from(b.qs[j + 16])
                })
                .sum();
            (f64::from(s) * f64::from(a.d.to_f32()) * f64::from(b.d.to_f32())).abs()
                + (f64::from(a.m.to_f32()) * f64::from(b.s.to_f32())).abs()
        })
        .sum()
}
fn terms_q8_0(w: &[BlockQ8_0], x: &[BlockQ8_0]) -> f64 {
    w.iter()
        .zip(x)
        .map(|(a, b)| {
            let s: i32 =
                a.qs.iter()
                    .zip(&b.qs)
                    .map(|(&p, &q)| i32::from(p) * i32::from(q))
                    .sum();
            (f64::from(s) * f64::from(a.d.to_f32()) * f64::from(b.d.to_f32())).abs()
        })
        .sum()
}
fn terms_q6k(w: &[BlockQ6K], x: &[BlockQ8K]) -> f64 {
    // Dequantize and take Σ|w_i·x_i| (an upper bound of the block terms).
    let mut wd = vec![0f32; w.len() * QK_K];
    scalar::dequantize_row_q6k(w, &mut wd);
    wd.chunks(QK_K)
        .zip(x)
        .map(|(wc, b)| {
            wc.iter()
                .zip(&b.qs)
                .map(|(&a, &q)| (f64::from(a) * f64::from(q) * f64::from(b.d)).abs())
                .sum::<f64>()
        })
        .sum()
}

#[test]
fn quantized_dots_match_scalar() {
    let paths = paths();
    let mut r = Rng(0x5EED_0002);
    for i in 0..10_000 {
        let nb = r.blocks(MAX_ELEMS / QK);
        let q = qrows(&mut r, nb);
        let want = [
            scalar::dot_q4_0_q8_0(&q.w40, &q.x80),
            scalar::dot_q4_1_q8_1(&q.w41, &q.x81),
            scalar::dot_q8_0_q8_0(&q.w80, &q.x80),
            scalar::dot_q6k_q8k(&q.w6k, &q.x8k),
        ];
        let terms = [
            terms_q4_0(&q.w40, &q.x80),
            terms_q4_1(&q.w41, &q.x81),
            terms_q8_0(&q.w80, &q.x80),
            terms_q6k(&q.w6k, &q.x8k),
        ];
        for k in &paths {
            let got = [
                (k.dot_q4_0_q8_0)(&q.w40, &q.x80),
                (k.dot_q4_1_q8_1)(&q.w41, &q.x81),
                (k.dot_q8_0_q8_0)(&q.w80, &q.x80),
                (k.dot_q6k_q8k)(&q.w6k, &q.x8k),
            ];
            for j in 0..4 {
                let (g, w, t) = (got[j], want[j], terms[j]);
                let op = ["q4_0", "q4_1", "q8_0", "q6_k"][j];
                // Every quantized dot follows llama.cpp's x86 order on
                // every path: same bits as the scalar reference.
                assert!(
                    same_bits(g, w),
                    "{} {op} row {i} ({nb} blocks): got {g}, scalar {w}, Σ|terms| {t}",
                    k.name
                );
            }
        }
    }
}

/// Level (0..63) of element `i` of a Q6_K block, from ggml's layout: in each
/// 128-element half, element l (0..32) + 32·k takes the low nibble of
/// ql[l] (k = 0), ql[l + 32] (k = 1), or the high nibble of ql[l] (k = 2),
/// ql[l + 32] (k = 3), and bits 2k, 2k+1 of qh[l] as its top two bits.
fn q6k_level(b: &BlockQ6K, i: usize) -> i64 {
    let (h, r) = (i / 128, i % 128);
    let (k, l) = (r / 32, r % 32);
    let ql = b.ql[64 * h + l + 32 * (k % 2)];
    let low = if k < 2 { ql & 0xF } else { ql >> 4 };
    let high = (b.qh[32 * h + l] >> (2 * k)) & 3;
    i64::from(low | (high << 4))
}

/// Integer block sums must be exact. With every scale 1 each block term is
/// an integer, and while Σ|terms| < 2^24 every partial sum in any order is
/// exact in f32, so every path must return the integer total exactly. The
/// totals are computed here in i64, independently of the scalar code.
#[test]
fn quantized_dots_exact_integers() {
    let paths = paths();
    let one = f16::from_f32(1.0);
    let mut r = Rng(0x5EED_0003);
    let limit = f64::from(1u32 << 24);
    let mut checked = [0usize; 4];
    for i in 0..4_000 {
        let nb = r.blocks(64);
        let w40: Vec<BlockQ4_0> = (0..nb)
            .map(|_| BlockQ4_0 {
                d: one,
                qs: std::array::from_fn(|_| r.u64() as u8),
            })
            .collect();
        let w41: Vec<BlockQ4_1> = (0..nb)
            .map(|_| BlockQ4_1 {
                d: one,
                m: one,
                qs: std::array::from_fn(|_| r.u64() as u8),
            })
            .collect();
        let w80: Vec<BlockQ8_0> = (0..nb)
            .map(|_| BlockQ8_0 {
                d: one,
                qs: std::array::from_fn(|_| if r.below(8) == 0 { -128 } else { r.i8() }),
            })
            .collect();
        let x80: Vec<BlockQ8_0> = (0..nb)
            .map(|_| BlockQ8_0 {
                d: one,
                qs: std::array::from_fn(|_| r.act()),
            })
            .collect();
        let x81: Vec<BlockQ8_1> = x80
            .iter()
            .map(|b| BlockQ8_1 {
                d: one,
                // An integer-valued f16 (rounded when |Σq| > 2048).
                s: f16::from_f32(b.qs.iter().map(|&q| f32::from(q)).sum()),
                qs: b.qs,
            })
            .collect();
        let nk = 1 + r.below(3);
        let w6k: Vec<BlockQ6K> = (0..nk)
            .map(|_| BlockQ6K {
                ql: std::array::from_fn(|_| r.u64() as u8),
                qh: std::array::from_fn(|_| r.u64() as u8),
                scales: std::array::from_fn(|_| r.below(9) as i8 - 4),
                d: one,
            })
            .collect();
        let x8k: Vec<BlockQ8K> = (0..nk)
            .map(|_| {
                let qs: [i8; QK_K] = std::array::from_fn(|_| r.act());
                BlockQ8K {
                    d: 1.0,
                    qs,
                    bsums: std::array::from_fn(|g| {
                        qs[16 * g..16 * g + 16].iter().map(|&q| i16::from(q)).sum()
                    }),
                }
            })
            .collect();

        // (total, Σ|block terms|) per op.
        let mut want = [(0i64, 0f64); 4];
        for (a, b) in w40.iter().zip(&x80) {
            let s: i64 = (0..QK)
                .map(|j| {
                    let n = if j < 16 {
                        a.qs[j] & 15
                    } else {
                        a.qs[j - 16] >> 4
                    };
                    (i64::from(n) - 8) * i64::from(b.qs[j])
                })
                .sum();
            want[0].0 += s;
            want[0].1 += s.abs() as f64;
        }
        for (a, b) in w41.iter().zip(&x81) {
            let s: i64 = (0..QK)
                .map(|j| {
                    let n = if j < 16 {
                        a.qs[j] & 15
                    } else {
                        a.qs[j - 16] >> 4
                    };
                    i64::from(n) * i64::from(b.qs[j])
                })
                .sum();
            let m = b.s.to_f32() as i64;
            want[1].0 += s + m;
            want[1].1 += (s.abs() + m.abs()) as f64;
        }
        for (a, b) in w80.iter().zip(&x80) {
            let s: i64 =
                a.qs.iter()
                    .zip(&b.qs)
                    .map(|(&p, &q)| i64::from(p) * i64::from(q))
                    .sum();
            want[2].0 += s;
            want[2].1 += s.abs() as f64;
        }
        for (a, b) in w6k.iter().zip(&x8k) {
            for e in 0..QK_K {
                let t = i64::from(a.scales[e / 16]) * (q6k_level(a, e) - 32) * i64::from(b.qs[e]);
                want[3].0 += t;
                want[3].1 += t.abs() as f64;
            }
        }
        for k in &paths {
            let got = [
                (k.dot_q4_0_q8_0)(&w40, &x80),
                (k.dot_q4_1_q8_1)(&w41, &x81),
                (k.dot_q8_0_q8_0)(&w80, &x80),
                (k.dot_q6k_q8k)(&w6k, &x8k),
            ];
            for j in 0..4 {
                if want[j].1 >= limit {
                    continue;
                }
                checked[j] += 1;
                assert_eq!(
                    got[j],
                    want[j].0 as f32,
                    "{} {} row {i}: not the exact integer total",
                    k.name,
                    ["q4_0", "q4_1", "q8_0", "q6_k"][j]
                );
            }
        }
    }
    if !paths.is_empty() {
        assert!(
            checked.iter().all(|&c| c >= 1_000),
            "too few rows checked: {checked:?}"
        );
    }
}

#[test]
fn float_dots_match_scalar() {
    let paths = paths();
    let mut r = Rng(0x5EED_0004);
    for i in 0..10_000 {
        // Any length (not only multiples of 32), to exercise the tails.
        let n = if r.below(2) == 0 {
            r.blocks(MAX_ELEMS / QK) * QK
        } else {
            r.blocks(MAX_ELEMS)
        };
        let xs = 10f32.powi(r.below(7) as i32 - 3);
        let x: Vec<f32> = (0..n).map(|_| r.f() * xs).collect();
        let w: Vec<f16> = (0..n)
            .map(|_| match r.below(50) {
                0 => f16::from_bits(0x0001),
                1 => f16::from_bits(0x83ff),
                2 => f16::from_bits(0x7bff),
                3 => f16::ZERO,
                _ => f16::from_f32(r.f()),
            })
            .collect();
        let wf: Vec<f32> = w.iter().map(|v| v.to_f32()).collect();
        let terms: f64 = wf
            .iter()
            .zip(&x)
            .map(|(a, b)| (f64::from(*a) * f64::from(*b)).abs())
            .sum();
        let want16 = scalar::dot_f16_f32(&w, &x);
        let want32 = scalar::dot_f32_f32(&wf, &x);
        for k in &paths {
            let g = (k.dot_f16_f32)(&w, &x);
            assert!(
                close(g, want16, terms),
                "{} f16 row {i} (n={n}): {g} vs {want16}",
                k.name
            );
            let g = (k.dot_f32_f32)(&wf, &x);
            assert!(
                close(g, want32, terms),
                "{} f32 row {i} (n={n}): {g} vs {want32}",
                k.name
            );
        }
    }
}

#[test]
fn empty_rows() {
    for k in paths() {
        assert_eq!((k.dot_q4_0_q8_0)(&[], &[]), 0.0);
        assert_eq!((k.dot_q6k_q8k)(&[], &[]), 0.0);
        assert_eq!((k.dot_f16_f32)(&[], &[]), 0.0);
        assert_eq!((k.dot_f32_f32)(&[], &[]), 0.0);
    }
}

#[test]
#[should_panic]
fn mismatched_lengths_panic_on_best_path() {
    let k = FlatTable::new(kernels());
    let w = vec![
        BlockQ4_0 {
            d: f16::ZERO,
            qs: [0; 16]
        };
        4
    ];
    (k.dot_q4_0_q8_0)(&w, &zq8_0(5));
}

#[test]
fn dispatch_api() {
    let names = available();
    assert!(names.contains(&active()) || std::env::var(ENV_VAR).is_ok());
    for n in &names {
        assert_eq!(kernels_for(n).map(|k| k.name), Ok(*n));
    }
    let e = kernels_for("sse9").unwrap_err();
    assert!(matches!(e, KernelError::Unknown { .. }));
    assert!(e.to_string().contains("sse9"));
    #[cfg(target_arch = "x86_64")]
    {
        let e = kernels_for("neon").unwrap_err();
        assert!(matches!(e, KernelError::Unsupported { .. }), "{e}");
        assert!(e.to_string().contains("neon"));
    }
    // Unset variable → best path; the test harness does not set it.
    if std::env::var(ENV_VAR).is_err() {
        assert_eq!(active(), names[0]);
        assert_eq!(try_kernels().map(|k| k.name), Ok(names[0]));
    }
}

/// Same value bit for bit (NaNs of any payload count as equal).
fn same_bits(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// The 4-row dots of every path (scalar included) against the single-row
/// dot of the same path — bit for bit, since batched prompt evaluation
/// relies on it — and against the scalar reference (bit for bit for the
/// Q4/Q8 dots, within the bound above for Q6_K).
#[test]
fn dot4_equals_single_row_dots() {
    let mut all = paths();
    all.push(scalar_table());
    let mut r = Rng(0x5EED_0004);
    let iters = if cfg!(target_arch = "x86_64") {
        3000
    } else {
        600
    };
    for i in 0..iters {
        let nb = r.blocks(MAX_ELEMS / QK);
        // Four independent activation sets; the weights of the first.
        let q: Vec<QRows> = (0..4).map(|_| qrows(&mut r, nb)).collect();
        let x80: Vec<BlockQ8_0> = q.iter().flat_map(|q| q.x80.clone()).collect();
        let x81: Vec<BlockQ8_1> = q.iter().flat_map(|q| q.x81.clone()).collect();
        let x8k: Vec<BlockQ8K> = q.iter().flat_map(|q| q.x8k.clone()).collect();
        let w = &q[0];
        for k in &all {
            let mut got = [[0f32; 4]; 4];
            (k.dot4_q4_0_q8_0)(&w.w40, &x80, &mut got[0]);
            (k.dot4_q4_1_q8_1)(&w.w41, &x81, &mut got[1]);
            (k.dot4_q8_0_q8_0)(&w.w80, &x80, &mut got[2]);
            (k.dot4_q6k_q8k)(&w.w6k, &x8k, &mut got[3]);
            for (v, qv) in q.iter().enumerate() {
                let single = [
                    (k.dot_q4_0_q8_0)(&w.w40, &qv.x80),
                    (k.dot_q4_1_q8_1)(&w.w41, &qv.x81),
                    (k.dot_q8_0_q8_0)(&w.w80, &qv.x80),
                    (k.dot_q6k_q8k)(&w.w6k, &qv.x8k),
                ];
                let want = [
                    scalar::dot_q4_0_q8_0(&w.w40, &qv.x80),
                    scalar::dot_q4_1_q8_1(&w.w41, &qv.x81),
                    scalar::dot_q8_0_q8_0(&w.w80, &qv.x80),
                    scalar::dot_q6k_q8k(&w.w6k, &qv.x8k),
                ];
                for j in 0..4 {
                    let op = ["q4_0", "q4_1", "q8_0", "q6_k"][j];
                    let g = got[j][v];
                    assert!(
                        same_bits(g, single[j]),
                        "{} dot4 {op} row {i} vector {v} ({nb} blocks): {g} vs single {}",
                        k.name,
                        single[j]
                    );
                    assert!(
                        same_bits(g, want[j]),
                        "{} dot4 {op} row {i} vector {v} ({nb} blocks): {g} vs scalar {}",
                        k.name,
                        want[j]
                    );
                }
            }
        }
    }
}

#[test]
fn dot4_empty_rows() {
    let mut all = paths();
    all.push(scalar_table());
    for k in all {
        let mut o = [1f32; 4];
        (k.dot4_q4_0_q8_0)(&[], &[], &mut o);
        assert_eq!(o, [0.0; 4]);
        let mut o = [1f32; 4];
        (k.dot4_q8_0_q8_0)(&[], &[], &mut o);
        assert_eq!(o, [0.0; 4]);
        let mut o = [1f32; 4];
        (k.dot4_q6k_q8k)(&[], &[], &mut o);
        assert_eq!(o, [0.0; 4]);
    }
}

#[test]
#[should_panic]
fn dot4_wrong_activation_length_panics_on_best_path() {
    let k = FlatTable::new(kernels());
    let w = vec![
        BlockQ4_0 {
            d: f16::ZERO,
            qs: [0; 16]
        };
        4
    ];
    (k.dot4_q4_0_q8_0)(&w, &zq8_0(15), &mut [0.0; 4]);
}

/// The float operations of every path give the scalar reference's bits
/// (they share one body; the x86 tables compile it with FMA).
#[test]
fn float_ops_bit_identical() {
    let paths = paths();
    let f0 = scalar_table().float_ops;
    let mut r = Rng(0x5EED_0005);
    for i in 0..2_000 {
        let n = 1 + r.below(600);
        let a: Vec<f32> = (0..n).map(|_| r.f() * 4.0).collect();
        let b: Vec<f32> = (0..n).map(|_| r.f() * 4.0).collect();
        // Scores spread over a wide range, so exp reaches its flush paths.
        let s: Vec<f32> = (0..n).map(|_| r.f() * 300.0).collect();
        for k in &paths {
            let f = k.float_ops;
            let name = k.name;
            assert!(
                same_bits((f.dot_lanes16)(&a, &b), (f0.dot_lanes16)(&a, &b)),
                "{name} lanes16 {i}"
            );
            assert!(
                same_bits((f.dot_vec64)(&a, &b), (f0.dot_vec64)(&a, &b)),
                "{name} vec64 {i}"
            );
            let (mut g1, mut g2) = (a.clone(), a.clone());
            (f.silu_mul)(&mut g1, &b);
            (f0.silu_mul)(&mut g2, &b);
            assert!(
                g1.iter().zip(&g2).all(|(x, y)| same_bits(*x, *y)),
                "{name} silu {i}"
            );
            let (mut s1, mut s2) = (s.clone(), s.clone());
            (f.softmax)(&mut s1);
            (f0.softmax)(&mut s2);
            assert!(
                s1.iter().zip(&s2).all(|(x, y)| same_bits(*x, *y)),
                "{name} softmax {i}"
            );
            let (mut c1, mut c2) = (a.clone(), a.clone());
            (f.fma_acc)(&mut c1, s[0], &b);
            (f0.fma_acc)(&mut c2, s[0], &b);
            assert!(
                c1.iter().zip(&c2).all(|(x, y)| same_bits(*x, *y)),
                "{name} fma_acc {i}"
            );
        }
    }
}

/// The f16-weight float dots of every path give the scalar reference's
/// bits: lengths 1..600 (a quarter of them multiples of 16, which take the
/// 16-lane order rather than the 64-lane fallback), weights spanning f16's
/// finite range (subnormals included), and the 4-row dot per row.
#[test]
fn float_ops_f16_bit_identical() {
    let mut all = paths();
    all.push(scalar_table());
    let f0 = scalar_table().float_ops;
    let mut r = Rng(0x5EED_0006);
    for i in 0..2_000 {
        let n = if i % 4 == 0 {
            16 * (1 + r.below(37))
        } else {
            1 + r.below(600)
        };
        // Any finite f16 bit pattern half of the time, else values in [-4, 4).
        let w: Vec<f16> = (0..n)
            .map(|_| {
                if i % 2 == 0 {
                    let h = r.u64() as u16;
                    f16::from_bits(if h & 0x7c00 == 0x7c00 { h & !0x4000 } else { h })
                } else {
                    f16::from_f32(r.f() * 4.0)
                }
            })
            .collect();
        let x: Vec<f32> = (0..4 * n).map(|_| r.f() * 4.0).collect();
        let x0 = &x[..n];
        let want16 = (f0.dot_f16_lanes16)(&w, x0);
        let want64 = (f0.dot_f16_vec64)(&w, x0);
        for k in &all {
            let (f, name) = (k.float_ops, k.name);
            let g = (f.dot_f16_lanes16)(&w, x0);
            assert!(
                same_bits(g, want16),
                "{name} f16 lanes16 {i} (n {n}): {g} vs {want16}"
            );
            let g = (f.dot_f16_vec64)(&w, x0);
            assert!(
                same_bits(g, want64),
                "{name} f16 vec64 {i} (n {n}): {g} vs {want64}"
            );
            let mut o = [f32::NAN; 4];
            (f.dot4_f16_lanes16)(&w, &x, &mut o);
            for (v, &g) in o.iter().enumerate() {
                let want = (f0.dot_f16_lanes16)(&w, &x[v * n..(v + 1) * n]);
                assert!(
                    same_bits(g, want),
                    "{name} f16 dot4 {i} (n {n}) vector {v}: {g} vs {want}"
                );
            }
        }
    }
    // Empty rows: every sum is +0.
    for k in &all {
        let f = k.float_ops;
        let mut o = [1f32; 4];
        (f.dot4_f16_lanes16)(&[], &[], &mut o);
        assert_eq!(o.map(f32::to_bits), [0; 4], "{}", k.name);
        assert_eq!((f.dot_f16_lanes16)(&[], &[]).to_bits(), 0, "{}", k.name);
        assert_eq!((f.dot_f16_vec64)(&[], &[]).to_bits(), 0, "{}", k.name);
    }
}

/// The 8-row Q4_0 tiles give, lane by lane, the scalar single-row dot's
/// bits (they reorder nothing: each row keeps its own FMA chain).
#[test]
fn q4_0_tiles_equal_single_row_dots() {
    let mut r = Rng(0x5EED_0007);
    for k in paths() {
        let (Some(t1), Some(t4)) = (k.dot8x1_q4_0_q8_0, k.dot8x4_q4_0_q8_0) else {
            continue;
        };
        for i in 0..400 {
            let nb = r.blocks(4096 / QK);
            let q: Vec<QRows> = (0..8).map(|_| qrows(&mut r, nb)).collect();
            let w: Vec<BlockQ4_0> = q.iter().flat_map(|q| q.w40.clone()).collect();
            let x: Vec<BlockQ8_0> = q[..4].iter().flat_map(|q| q.x80.clone()).collect();
            let mut o4 = [[0f32; 8]; 4];
            t4(&w, &x, &mut o4);
            let mut o1 = [[0f32; 8]; 1];
            t1(&w, &q[5].x80, &mut o1);
            for row in 0..8 {
                let wr = &q[row].w40;
                for v in 0..4 {
                    let want = scalar::dot_q4_0_q8_0(wr, &q[v].x80);
                    assert!(
                        same_bits(o4[v][row], want),
                        "{} tile4 case {i} row {row} vector {v}",
                        k.name
                    );
                }
                let want = scalar::dot_q4_0_q8_0(wr, &q[5].x80);
                assert!(
                    same_bits(o1[0][row], want),
                    "{} tile1 case {i} row {row}",
                    k.name
                );
            }
        }
    }
}

/// The two-row Q4_0 kernel gives each row the scalar single-row dot's bits.
#[test]
fn q4_0_two_row_dot_equals_single_row_dots() {
    let mut r = Rng(0x5EED_0008);
    for k in paths() {
        let Some(t2) = k.dot2_q4_0_q8_0 else { continue };
        for i in 0..1000 {
            let nb = r.blocks(MAX_ELEMS / QK);
            let q0 = qrows(&mut r, nb);
            let q1 = qrows(&mut r, nb);
            let w: Vec<BlockQ4_0> = q0.w40.iter().chain(&q1.w40).copied().collect();
            let mut o = [0f32; 2];
            t2(&w, &q0.x80, &mut o);
            for (row, q) in [&q0, &q1].iter().enumerate() {
                let want = scalar::dot_q4_0_q8_0(&q.w40, &q0.x80);
                assert!(
                    same_bits(o[row], want),
                    "{} dot2 case {i} ({nb} blocks) row {row}: {} vs {want}",
                    k.name,
                    o[row]
                );
            }
        }
    }
}
