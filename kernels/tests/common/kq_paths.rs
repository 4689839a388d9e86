//! The kernels of the types added for the K-quant mixes (Q2_K, Q3_K, Q4_K,
//! Q5_K, Q5_0, Q5_1, IQ4_NL) on one path, against the scalar reference of
//! the same numerics, bit for bit: the activation quantizer, `dot`, and
//! every multi-row form the driver uses (`dot4`, `rows2`, the 8×1 and 8×4
//! tiles, fused or derived), on random blocks (every bit pattern is a valid
//! block; the f16 scales are set to finite values) and on blocks of extreme
//! values. Used by `kquant_paths.rs` (every path this CPU offers) and
//! `required_paths.rs` (the paths CI requires by name).

use edge_llama_kernels::quants::{iq4_nl, q2_k, q3_k, q4_k, q5_0, q5_1, q5_k};
use edge_llama_kernels::*;
use half::f16;

/// xorshift64 — small, seeded, no dependency.
pub struct Rng(pub u64);
impl Rng {
    pub fn u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in [-1, 1).
    pub fn f(&mut self) -> f32 {
        (self.u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    /// A finite f16 scale, sometimes 0 or subnormal.
    pub fn scale(&mut self) -> f16 {
        match self.u64() % 16 {
            0 => f16::ZERO,
            1 => f16::from_bits(0x0001),
            2 => f16::from_f32(self.f() * 1e-5),
            _ => f16::from_f32(self.f() * 0.1),
        }
    }
}

/// `n` blocks of random bytes (of the type of `_zero`); `fix` then sets the
/// f16 fields. The first
/// block is all 0xFF bytes (the largest levels and scales) when `n` > 2.
fn random_blocks<B: Block + Copy>(
    r: &mut Rng,
    n: usize,
    _zero: B,
    fix: impl Fn(&mut B, &mut Rng),
) -> Vec<B> {
    let size = std::mem::size_of::<B>();
    (0..n)
        .map(|i| {
            let fill = |r: &mut Rng| if n > 2 && i == 0 { 0xFF } else { r.u64() as u8 };
            let bytes: Vec<u8> = (0..size).map(|_| fill(r)).collect();
            // SAFETY: `bytes` has size_of::<B>() bytes and every bit pattern
            // is a valid block (the `Block` contract); unaligned read.
            let mut b = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<B>()) };
            fix(&mut b, r);
            b
        })
        .collect()
}

/// `n` activation blocks: quantized random floats, the first 32 values 0.
fn act<A: Block + Copy>(r: &mut Rng, n: usize, zero: A, quantize: fn(&[f32], &mut [A])) -> Vec<A> {
    let mut x: Vec<f32> = (0..n * A::ELEMS).map(|_| r.f() * 4.0).collect();
    x[..A::ELEMS.min(32)].fill(0.0);
    let mut q = vec![zero; n];
    quantize(&x, &mut q);
    q
}

/// Checks `T`'s kernels on `cpu` for both numerics; returns the names of
/// the fused kernels the path has for `T` in default numerics.
pub fn check_type<T: QuantType + Copy>(
    cpu: Cpu,
    name: &str,
    weights: impl Fn(&mut Rng, usize) -> Vec<T>,
    act_zero: T::Act,
    extreme_act: impl Fn(&mut [T::Act]),
) -> Vec<&'static str>
where
    T::Act: Copy,
{
    let path = cpu.path().name();
    let mut fused = Vec::new();
    for numerics in [Numerics::Default, Numerics::LlamaCpp] {
        let k = T::kernels(cpu, numerics);
        let r = T::reference(numerics);
        let what = |s: &str| format!("{path} {name} {numerics:?}: {s}");
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ name.len() as u64);
        // The activation quantizer.
        for n in [1usize, 3] {
            let x: Vec<f32> = (0..n * T::Act::ELEMS).map(|_| rng.f() * 3.0).collect();
            let (mut a, mut b) = (vec![act_zero; n], vec![act_zero; n]);
            (k.quantize_act)(&x, &mut a);
            (r.quantize_act)(&x, &mut b);
            assert!(
                block_bytes(&a) == block_bytes(&b),
                "{}",
                what("quantize_act")
            );
        }
        for nb in [1usize, 2, 5] {
            let w = weights(&mut rng, 8 * nb);
            let mut x = act(&mut rng, 4 * nb, act_zero, r.quantize_act);
            if nb > 1 {
                extreme_act(&mut x[nb + 1..nb + 2]);
            }
            let row = |i: usize| &w[i * nb..(i + 1) * nb];
            let xv = |v: usize| &x[v * nb..(v + 1) * nb];
            // want(i, v): the reference's bits for weight row i, activation row v.
            let want = |i: usize, v: usize| (r.dot)(row(i), xv(v)).to_bits();
            for (i, v) in (0..8).flat_map(|i| (0..4).map(move |v| (i, v))) {
                let got = (k.dot)(row(i), xv(v)).to_bits();
                assert_eq!(got, want(i, v), "{} row {i} act {v} nb {nb}", what("dot"));
            }
            for i in 0..8 {
                let mut o = [0f32; 4];
                k.dot4(row(i), &x, &mut o);
                for (v, o) in o.iter().enumerate() {
                    assert_eq!(o.to_bits(), want(i, v), "{} row {i} act {v}", what("dot4"));
                }
            }
            if let Some(f) = k.rows2 {
                let mut o = [0f32; 2];
                f(&w[2 * nb..4 * nb], xv(3), &mut o);
                for (j, o) in o.iter().enumerate() {
                    assert_eq!(o.to_bits(), want(2 + j, 3), "{}", what("rows2"));
                }
            }
            let mut t1 = [[0f32; 8]; 1];
            k.tile8::<1>(&w, xv(1), &mut t1);
            let mut t4 = [[0f32; 8]; 4];
            k.tile8::<4>(&w, &x, &mut t4);
            for i in 0..8 {
                assert_eq!(
                    t1[0][i].to_bits(),
                    want(i, 1),
                    "{} row {i}",
                    what("tile8x1")
                );
                for (v, t) in t4.iter().enumerate() {
                    assert_eq!(t[i].to_bits(), want(i, v), "{} [{v}][{i}]", what("tile8x4"));
                }
            }
        }
        // Empty rows.
        assert_eq!(
            (k.dot)(&[], &[]).to_bits(),
            0f32.to_bits(),
            "{}",
            what("empty")
        );
        if numerics == Numerics::Default {
            let has = [
                ("dot4", k.dot4.is_some()),
                ("rows2", k.rows2.is_some()),
                ("tile8x1", k.tile8x1.is_some()),
                ("tile8x4", k.tile8x4.is_some()),
            ];
            fused = has.iter().filter(|h| h.1).map(|h| h.0).collect();
        }
    }
    fused
}

fn zq8_0() -> BlockQ8_0 {
    BlockQ8_0 {
        d: f16::ZERO,
        qs: [0; QK],
    }
}

fn zq8_1() -> BlockQ8_1 {
    BlockQ8_1 {
        d: f16::ZERO,
        s: f16::ZERO,
        qs: [0; QK],
    }
}

fn zq8_k() -> BlockQ8K {
    BlockQ8K {
        d: 0.0,
        qs: [0; QK_K],
        bsums: [0; QK_K / 16],
    }
}

/// Activations at the ends of the quantizers' range [−127, 127] (they never
/// make −128, which the x86 `maddubs` kernels rely on): −127 in the even
/// elements, 127 in the odd ones, bsums to match.
fn extreme_q8_k(x: &mut [BlockQ8K]) {
    for b in x {
        b.qs = std::array::from_fn(|i| if i % 2 == 0 { -127 } else { 127 });
        b.bsums = [0; QK_K / 16];
        b.d = 0.5;
    }
}

/// Every new type on `cpu`: (type name, fused default-numerics kernels).
pub fn check_new_types(cpu: Cpu) -> Vec<(&'static str, Vec<&'static str>)> {
    let x0 = |x: &mut [BlockQ8_0]| {
        for b in x {
            b.qs = [-127; QK];
            b.d = f16::from_f32(0.25);
        }
    };
    let x1 = |x: &mut [BlockQ8_1]| {
        for b in x {
            b.qs = [-127; QK];
            b.d = f16::from_f32(0.25);
            b.s = f16::from_f32(-1024.0);
        }
    };
    vec![
        (
            "q2_K",
            check_type(
                cpu,
                "q2_K",
                |r, n| {
                    random_blocks(r, n, q2_k::BlockQ2K::ZERO, |b, r| {
                        b.d = r.scale();
                        b.dmin = r.scale();
                    })
                },
                zq8_k(),
                extreme_q8_k,
            ),
        ),
        (
            "q3_K",
            check_type(
                cpu,
                "q3_K",
                |r, n| random_blocks(r, n, q3_k::BlockQ3K::ZERO, |b, r| b.d = r.scale()),
                zq8_k(),
                extreme_q8_k,
            ),
        ),
        (
            "q4_K",
            check_type(
                cpu,
                "q4_K",
                |r, n| {
                    random_blocks(r, n, q4_k::BlockQ4K::ZERO, |b, r| {
                        b.d = r.scale();
                        b.dmin = r.scale();
                    })
                },
                zq8_k(),
                extreme_q8_k,
            ),
        ),
        (
            "q5_K",
            check_type(
                cpu,
                "q5_K",
                |r, n| {
                    random_blocks(r, n, q5_k::BlockQ5K::ZERO, |b, r| {
                        b.d = r.scale();
                        b.dmin = r.scale();
                    })
                },
                zq8_k(),
                extreme_q8_k,
            ),
        ),
        (
            "q5_0",
            check_type(
                cpu,
                "q5_0",
                |r, n| random_blocks(r, n, q5_0::BlockQ5_0::ZERO, |b, r| b.d = r.scale()),
                zq8_0(),
                x0,
            ),
        ),
        (
            "q5_1",
            check_type(
                cpu,
                "q5_1",
                |r, n| {
                    random_blocks(r, n, q5_1::BlockQ5_1::ZERO, |b, r| {
                        b.d = r.scale();
                        b.m = r.scale();
                    })
                },
                zq8_1(),
                x1,
            ),
        ),
        (
            "iq4_nl",
            check_type(
                cpu,
                "iq4_nl",
                |r, n| random_blocks(r, n, iq4_nl::BlockIq4Nl::ZERO, |b, r| b.d = r.scale()),
                zq8_0(),
                x0,
            ),
        ),
    ]
}
