//! The x86 kernels of the K-quant family against the scalar reference: the
//! same bits on random rows and on blocks of extreme values.

use crate::blocks::{BlockQ8_0, BlockQ8_1, QK};
use crate::quants::{iq4_nl, q5_0, q5_1};
use crate::scalar::{quantize_act_q8_0, quantize_act_q8_1};
use half::f16;

fn avx2() -> Option<crate::cpu::Avx2> {
    let t = crate::cpu::Avx2::detect();
    if t.is_none() {
        eprintln!("skipped: no AVX2/FMA");
    }
    t
}

fn rng(seed: u64) -> impl FnMut() -> f32 {
    let mut s = seed | 1;
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// Random bytes for whole blocks (every bit pattern is a valid block), with
/// the f16 scales replaced by finite values.
fn random_blocks<B: Copy>(n: usize, zero: B, fix: impl Fn(&mut B, f32)) -> Vec<B> {
    let mut r = rng(n as u64 * 7919);
    let mut v = vec![zero; n];
    let size = std::mem::size_of::<B>();
    for b in v.iter_mut() {
        let bytes: Vec<u8> = (0..size).map(|_| ((r() + 1.0) * 127.9) as u8).collect();
        // SAFETY: `bytes` has size_of::<B>() bytes; B is one of the block
        // types, which accept every bit pattern; unaligned read.
        *b = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<B>()) };
        fix(b, r());
    }
    v
}

fn act_q8_0(n: usize, seed: u64) -> Vec<BlockQ8_0> {
    let mut r = rng(seed);
    let x: Vec<f32> = (0..n * QK).map(|_| r()).collect();
    let mut q = vec![
        BlockQ8_0 {
            d: f16::ZERO,
            qs: [0; QK]
        };
        n
    ];
    quantize_act_q8_0(&x, &mut q);
    q
}

#[test]
fn q5_0_q5_1_iq4_nl_have_the_scalar_bits() {
    let Some(t) = avx2() else {
        return;
    };
    for n in [1usize, 7, 64] {
        let w0 = random_blocks(n, q5_0::BlockQ5_0::ZERO, |b, f| b.d = f16::from_f32(f));
        let w1 = random_blocks(n, q5_1::BlockQ5_1::ZERO, |b, f| {
            b.d = f16::from_f32(f);
            b.m = f16::from_f32(-f);
        });
        let w2 = random_blocks(n, iq4_nl::BlockIq4Nl::ZERO, |b, f| b.d = f16::from_f32(f));
        let x0 = act_q8_0(n, 3 + n as u64);
        let mut r = rng(11);
        let xf: Vec<f32> = (0..n * QK).map(|_| r()).collect();
        let mut x1 = vec![
            BlockQ8_1 {
                d: f16::ZERO,
                s: f16::ZERO,
                qs: [0; QK]
            };
            n
        ];
        quantize_act_q8_1(&xf, &mut x1);
        assert_eq!(
            (super::q5_0::avx2(t).dot)(&w0, &x0).to_bits(),
            q5_0::dot_q5_0_q8_0(&w0, &x0).to_bits(),
            "q5_0, {n} blocks"
        );
        assert_eq!(
            (super::q5_1::avx2(t).dot)(&w1, &x1).to_bits(),
            q5_1::dot_q5_1_q8_1(&w1, &x1).to_bits(),
            "q5_1, {n} blocks"
        );
        assert_eq!(
            (super::iq4_nl::avx2(t).dot)(&w2, &x0).to_bits(),
            iq4_nl::dot_iq4_nl_q8_0(&w2, &x0).to_bits(),
            "iq4_nl, {n} blocks"
        );
    }
}

fn act_q8_k(n: usize, seed: u64) -> Vec<crate::blocks::BlockQ8K> {
    use crate::blocks::{BlockQ8K, QK_K};
    let mut r = rng(seed);
    let x: Vec<f32> = (0..n * QK_K).map(|_| r()).collect();
    let zero = BlockQ8K {
        d: 0.0,
        qs: [0; QK_K],
        bsums: [0; QK_K / 16],
    };
    let mut q = vec![zero; n];
    crate::scalar::quantize_row_q8_k(&x, &mut q);
    q
}

#[test]
fn k_types_have_the_scalar_bits() {
    use crate::quants::{q2_k, q3_k, q4_k, q5_k};
    let Some(t) = avx2() else {
        return;
    };
    for n in [1usize, 3, 16] {
        let x = act_q8_k(n, 17 + n as u64);
        let w2 = random_blocks(n, q2_k::BlockQ2K::ZERO, |b, f| {
            b.d = f16::from_f32(f);
            b.dmin = f16::from_f32(f * 0.5);
        });
        let w3 = random_blocks(n, q3_k::BlockQ3K::ZERO, |b, f| b.d = f16::from_f32(f));
        let w4 = random_blocks(n, q4_k::BlockQ4K::ZERO, |b, f| {
            b.d = f16::from_f32(f);
            b.dmin = f16::from_f32(-f);
        });
        let w5 = random_blocks(n, q5_k::BlockQ5K::ZERO, |b, f| {
            b.d = f16::from_f32(f);
            b.dmin = f16::from_f32(f * 0.25);
        });
        let pairs = [
            (
                (super::q2k::avx2(t).dot)(&w2, &x),
                q2_k::dot_q2k_q8k(&w2, &x),
                "q2_k",
            ),
            (
                (super::q3k::avx2(t).dot)(&w3, &x),
                q3_k::dot_q3k_q8k(&w3, &x),
                "q3_k",
            ),
            (
                (super::q4k::avx2(t).dot)(&w4, &x),
                q4_k::dot_q4k_q8k(&w4, &x),
                "q4_k",
            ),
            (
                (super::q5k::avx2(t).dot)(&w5, &x),
                q5_k::dot_q5k_q8k(&w5, &x),
                "q5_k",
            ),
        ];
        for (simd, scalar, name) in pairs {
            assert_eq!(
                simd.to_bits(),
                scalar.to_bits(),
                "{name}, {n} blocks: {simd} vs {scalar}"
            );
        }
    }
}
