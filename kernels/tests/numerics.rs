//! Every quantized type, on every kernel path this CPU runs, in both
//! numerics: each kernel a path hands out (activation quantizer, single
//! dot, 4-activation-row dot, two-row dot, 8-row tiles) gives exactly the
//! bits of the scalar reference of the same numerics. Generic over
//! [`QuantType`], so a new type is covered as soon as it is listed in
//! `QUANT_TYPES`.

#![allow(clippy::needless_range_loop)] // indices name rows and vectors

use edge_llama_kernels::*;

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
}

/// `n` weight blocks of `T`: quantized from random values (realistic
/// scales), with every fifth block's bytes replaced by random bytes (any bit
/// pattern is a valid weight block).
fn weights<T: QuantType>(r: &mut Rng, n: usize) -> Vec<T> {
    let x: Vec<f32> = (0..n * T::ELEMS).map(|_| r.f() * 2.0).collect();
    let mut w = vec![T::zeroed(); n];
    T::quantize(&x, &mut w);
    for b in w.iter_mut() {
        if r.below(5) == 0 {
            let mut bytes = block_bytes(std::slice::from_ref(b)).to_vec();
            for byte in bytes.iter_mut() {
                *byte = r.u64() as u8;
            }
            // Random scales may be NaN or infinite; `same` treats every
            // NaN as equal.
            if let Some(v) = cast_blocks::<T>(&bytes) {
                *b = v[0];
            }
        }
    }
    w
}

/// `rows` activation rows of `n` blocks each, back to back, quantized by
/// the reference activation quantizer from values of random magnitude.
fn activations<T: QuantType>(r: &mut Rng, rows: usize, n: usize) -> (Vec<f32>, Vec<T::Act>) {
    let s = 10f32.powi(r.below(6) as i32 - 3);
    let x: Vec<f32> = (0..rows * n * T::ELEMS).map(|_| r.f() * s).collect();
    let mut a = vec![<T::Act as Block>::zeroed(); x.len() / <T::Act as Block>::ELEMS];
    T::quantize_act(&x, &mut a);
    (x, a)
}

fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// Checks every kernel of `T` on every path in `numerics`.
struct CheckType {
    numerics: Numerics,
    seed: u64,
}

impl QuantVisitor for CheckType {
    type Output = usize;
    fn visit<T: QuantType>(self) -> usize {
        let mut r = Rng(self.seed);
        let mut checked = 0;
        let reference = T::reference(self.numerics);
        for name in available() {
            let k = kernels_for(name)
                .expect("listed path")
                .with_numerics(self.numerics);
            let rk = k.quant::<T>();
            let what = |op: &str, n: usize| {
                format!(
                    "{} {op} on {name} ({:?}, {n} blocks)",
                    T::TYPE,
                    self.numerics
                )
            };
            for _ in 0..40 {
                let n = 1 + r.below(if T::ELEMS >= 256 { 12 } else { 70 });
                // Activation quantizer: same blocks as the reference.
                let (x, want) = activations::<T>(&mut r, 1, n);
                let mut got = vec![<T::Act as Block>::zeroed(); want.len()];
                (rk.quantize_act)(&x, &mut got);
                assert_eq!(
                    block_bytes(&got),
                    block_bytes(&want),
                    "{}",
                    what("quantize_act", n)
                );
                // Eight weight rows, four activation rows.
                let w = weights::<T>(&mut r, 8 * n);
                let (_, a) = activations::<T>(&mut r, 4, n);
                let row = |i: usize| &w[i * n..(i + 1) * n];
                let act = |v: usize| &a[v * n..(v + 1) * n];
                let want: Vec<[f32; 4]> = (0..8)
                    .map(|i| std::array::from_fn(|v| T::dot(self.numerics, row(i), act(v))))
                    .collect();
                for i in 0..8 {
                    for v in 0..4 {
                        let g = (rk.dot)(row(i), act(v));
                        assert!(
                            same(g, want[i][v]),
                            "{}: {g} vs {}",
                            what("dot", n),
                            want[i][v]
                        );
                        let g = (reference.dot)(row(i), act(v));
                        assert!(same(g, want[i][v]), "{}", what("reference dot", n));
                    }
                    let mut o4 = [0f32; 4];
                    rk.dot4(row(i), &a, &mut o4);
                    for v in 0..4 {
                        assert!(same(o4[v], want[i][v]), "{}", what("dot4", n));
                    }
                }
                if let Some(f) = rk.rows2 {
                    let mut o2 = [0f32; 2];
                    f(&w[..2 * n], act(1), &mut o2);
                    assert!(
                        same(o2[0], want[0][1]) && same(o2[1], want[1][1]),
                        "{}",
                        what("rows2", n)
                    );
                }
                let mut t4 = [[0f32; 8]; 4];
                rk.tile8::<4>(&w, &a, &mut t4);
                let mut t1 = [[0f32; 8]; 1];
                rk.tile8::<1>(&w, act(2), &mut t1);
                for i in 0..8 {
                    for v in 0..4 {
                        assert!(same(t4[v][i], want[i][v]), "{}", what("tile8x4", n));
                    }
                    assert!(same(t1[0][i], want[i][2]), "{}", what("tile8x1", n));
                }
                checked += 1;
            }
        }
        checked
    }
}

#[test]
fn every_kernel_gives_the_reference_bits_in_both_numerics() {
    println!("paths: {:?}", available());
    for numerics in [Numerics::Default, Numerics::LlamaCpp] {
        for (i, &t) in QUANT_TYPES.iter().enumerate() {
            let n = with_quant_type(
                t,
                CheckType {
                    numerics,
                    seed: 0x9E37_79B9 + i as u64,
                },
            )
            .expect("listed type");
            assert!(n > 0, "{t}: nothing checked");
        }
    }
}

#[test]
fn numerics_names_round_trip() {
    for n in [Numerics::Default, Numerics::LlamaCpp] {
        assert_eq!(Numerics::from_name(n.name()), Some(n));
    }
    assert_eq!(Numerics::from_name("fast"), None);
}
