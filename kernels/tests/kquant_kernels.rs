//! Every multi-row K-quant kernel of every path this CPU runs — single dot,
//! 4 activation rows, 2 weight rows, 8-row tiles for 1 and 4 activation
//! rows — against the scalar reference of the same numerics, bit for bit,
//! on quantized rows, random-byte blocks (every bit pattern is a valid
//! block) and extreme levels and activations.

use edge_llama_kernels::*;
use half::f16;

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
    /// A finite f16 scale, sometimes 0, subnormal or large.
    fn scale(&mut self) -> f16 {
        match self.below(16) {
            0 => f16::ZERO,
            1 => f16::from_bits(0x0001),
            2 => f16::from_f32(self.f() * 1e-5),
            3 => f16::from_f32(self.f() * 100.0),
            _ => f16::from_f32(self.f() * 0.1),
        }
    }
}

/// `n` blocks of `T`: quantized from random floats, or random bytes with
/// the f16 scales made finite by `fix`, with extreme bytes sprinkled in.
fn weight_row<T: QuantType>(r: &mut Rng, n: usize, fix: fn(&mut T, [f16; 2])) -> Vec<T> {
    let mut v = vec![T::zeroed(); n];
    if r.below(3) == 0 {
        let s = 10f32.powi(r.below(6) as i32 - 3);
        let x: Vec<f32> = (0..n * T::ELEMS).map(|_| r.f() * s).collect();
        T::quantize(&x, &mut v);
        return v;
    }
    let size = std::mem::size_of::<T>();
    for b in v.iter_mut() {
        let style = r.below(8);
        let bytes: Vec<u8> = (0..size)
            .map(|_| match style {
                0 => 0xFF,
                1 => 0,
                _ => r.u64() as u8,
            })
            .collect();
        // SAFETY: `bytes` holds size_of::<T>() bytes and `T: Block`
        // accepts every bit pattern; the read is unaligned.
        *b = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) };
        fix(b, [r.scale(), r.scale()]);
    }
    v
}

/// `n` Q8_K blocks from the reference quantizer (bsums consistent), some
/// all ±127.
fn act_row(r: &mut Rng, n: usize) -> Vec<BlockQ8K> {
    let s = 10f32.powi(r.below(6) as i32 - 3);
    let mut x: Vec<f32> = (0..n * QK_K).map(|_| r.f() * s).collect();
    if r.below(6) == 0 {
        let b = r.below(n);
        let v = if r.below(2) == 0 { s } else { -s };
        x[b * QK_K..(b + 1) * QK_K].fill(v);
    }
    let mut q = vec![BlockQ8K::zeroed(); n];
    scalar::quantize_row_q8_k(&x, &mut q);
    q
}

fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

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
