//! The seeded generator of the block-kernel tests (`panel.rs`, `q4_1.rs`):
//! xorshift64*, and f16 scales that are mostly ordinary and sometimes
//! tiny, huge, zero or negative.

use half::f16;

/// xorshift64* — small, seeded, no dependency.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.u64() % n
    }
    /// A scale: mostly ordinary, sometimes tiny, huge, zero or negative.
    pub fn scale(&mut self) -> f16 {
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
