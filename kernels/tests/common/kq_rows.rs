//! Random K-quant weight rows and Q8_K activation rows for the K-quant
//! kernel tests (`kquant_kernels.rs`, `kquant_panels.rs`).

use edge_llama_kernels::*;
use half::f16;

/// xorshift64* — small, seeded, no dependency.
pub struct Rng(pub u64);
impl Rng {
    pub fn u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.u64() % n as u64) as usize
    }
    /// Uniform in [-1, 1).
    pub fn f(&mut self) -> f32 {
        (self.u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    /// A finite f16 scale, sometimes 0, subnormal or large.
    pub fn scale(&mut self) -> f16 {
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
pub fn weight_row<T: QuantType>(r: &mut Rng, n: usize, fix: fn(&mut T, [f16; 2])) -> Vec<T> {
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
pub fn act_row(r: &mut Rng, n: usize) -> Vec<BlockQ8K> {
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

/// The same bits (or both NaN).
pub fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}
