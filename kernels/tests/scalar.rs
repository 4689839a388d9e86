//! Unit tests of the scalar reference: hand-computed cases and
//! quantize→dequantize error bounds.

use edge_llama_kernels::scalar::*;
use edge_llama_kernels::*;
use half::f16;

/// Small xorshift PRNG so the tests are reproducible without extra deps.
struct Rng(u64);
impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in [-1, 1).
    fn f(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.f() * scale).collect()
    }
}

fn q8_0_zero(n: usize) -> Vec<BlockQ8_0> {
    vec![
        BlockQ8_0 {
            d: f16::ZERO,
            qs: [0; QK]
        };
        n
    ]
}
fn q8_1_zero(n: usize) -> Vec<BlockQ8_1> {
    vec![
        BlockQ8_1 {
            d: f16::ZERO,
            s: f16::ZERO,
            qs: [0; QK]
        };
        n
    ]
}
fn q4_0_zero(n: usize) -> Vec<BlockQ4_0> {
    vec![
        BlockQ4_0 {
            d: f16::ZERO,
            qs: [0; QK / 2]
        };
        n
    ]
}
fn q4_1_zero(n: usize) -> Vec<BlockQ4_1> {
    vec![
        BlockQ4_1 {
            d: f16::ZERO,
            m: f16::ZERO,
            qs: [0; QK / 2]
        };
        n
    ]
}
fn q6k_zero(n: usize) -> Vec<BlockQ6K> {
    vec![
        BlockQ6K {
            ql: [0; QK_K / 2],
            qh: [0; QK_K / 4],
            scales: [0; QK_K / 16],
            d: f16::ZERO
        };
        n
    ]
}
fn q8k_zero(n: usize) -> Vec<BlockQ8K> {
    vec![
        BlockQ8K {
            d: 0.0,
            qs: [0; QK_K],
            bsums: [0; QK_K / 16]
        };
        n
    ]
}

fn dot64(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum()
}

#[test]
fn q4_0_hand_block() {
    // nibble j = j % 16 in the low half, 15 - (j % 16) in the high half.
    let mut b = q4_0_zero(1);
    b[0].d = f16::from_f32(0.5);
    for j in 0..16 {
        b[0].qs[j] = (j as u8) | ((15 - j as u8) << 4);
    }
    let mut y = vec![0.0; 32];
    dequantize_row_q4_0(&b, &mut y);
    for j in 0..16 {
        assert_eq!(y[j], (j as f32 - 8.0) * 0.5);
        assert_eq!(y[j + 16], (7.0 - j as f32) * 0.5);
    }
}

#[test]
fn q4_0_quantize_hand() {
    // max magnitude value is -4 → d = -4/-8 = 0.5; x = 0.5·(k − 8).
    let x: Vec<f32> = (0..32).map(|i| 0.5 * ((i % 16) as f32 - 8.0)).collect();
    let mut b = q4_0_zero(1);
    quantize_row_q4_0(&x, &mut b);
    assert_eq!(b[0].d.to_f32(), 0.5);
    for j in 0..16 {
        assert_eq!(b[0].qs[j] & 0xF, j as u8);
        assert_eq!(b[0].qs[j] >> 4, j as u8);
    }
    // Largest value positive: d is negative, value max maps to nibble 0.
    let mut x = vec![0.0f32; 32];
    x[3] = 8.0;
    quantize_row_q4_0(&x, &mut b);
    assert_eq!(b[0].d.to_f32(), -1.0);
    assert_eq!(b[0].qs[3] & 0xF, 0);
    assert_eq!(b[0].qs[0] & 0xF, 8);
}

#[test]
fn q4_1_hand() {
    // values 1.0 + 0.25·k, k = 0..15: min 1, d = 3.75/15 = 0.25.
    let x: Vec<f32> = (0..32).map(|i| 1.0 + 0.25 * (i % 16) as f32).collect();
    let mut b = q4_1_zero(1);
    quantize_row_q4_1(&x, &mut b);
    assert_eq!(b[0].d.to_f32(), 0.25);
    assert_eq!(b[0].m.to_f32(), 1.0);
    let mut y = vec![0.0; 32];
    dequantize_row_q4_1(&b, &mut y);
    assert_eq!(x, y);
}

#[test]
fn q8_0_hand() {
    let mut x = vec![0.0f32; 32];
    x[0] = 127.0;
    x[1] = -63.5; // ties round away from zero: -63.5 → -64
    x[2] = 0.5; // → 1
    x[3] = -0.49;
    let mut b = q8_0_zero(1);
    quantize_row_q8_0(&x, &mut b);
    assert_eq!(b[0].d.to_f32(), 1.0);
    assert_eq!(&b[0].qs[..4], &[127, -64, 1, 0]);
}

#[test]
fn activation_quantizers_round_ties_to_even() {
    // llama.cpp's x86 activation quantizer: q = x·(127/amax), ties to even.
    let mut x = vec![0.0f32; 32];
    x[0] = 127.0;
    x[1] = -63.5; // tie → -64 (even)
    x[2] = 0.5; // tie → 0 (even), where the file quantizer gives 1
    x[3] = 2.5; // tie → 2
    x[4] = -0.49;
    let mut b = q8_0_zero(1);
    quantize_act_q8_0(&x, &mut b);
    assert_eq!(b[0].d.to_f32(), 1.0);
    assert_eq!(&b[0].qs[..5], &[127, -64, 0, 2, 0]);
    let mut c = q8_1_zero(1);
    quantize_act_q8_1(&x, &mut c);
    assert_eq!(c[0].qs, b[0].qs);
    assert_eq!(c[0].s.to_f32(), 65.0);
}

#[test]
fn q8_k_hand() {
    let mut x = vec![0.0f32; 256];
    x[0] = 2.0; // max → maps to -127, d = -2/127
    x[17] = -1.0; // 63.5 → ties to even → 64
    x[18] = 2.0 * 62.5 / 127.0; // -62.5 → -62 (ties to even)
    let mut b = q8k_zero(1);
    quantize_row_q8_k(&x, &mut b);
    assert_eq!(b[0].d, 1.0 / (-127.0f32 / 2.0));
    assert_eq!(b[0].qs[0], -127);
    assert_eq!(b[0].qs[17], 64);
    assert_eq!(b[0].qs[18], -62);
    assert_eq!(b[0].bsums[0], -127);
    assert_eq!(b[0].bsums[1], 2);
    // all zero
    quantize_row_q8_k(&[0.0; 256], &mut b);
    assert_eq!(b[0].d, 0.0);
    assert!(b[0].qs.iter().all(|&q| q == 0) && b[0].bsums.iter().all(|&s| s == 0));
}

/// Packs levels 0..63 into a Q6_K block following the documented layout
/// (element i: half h = i/128, r = i%128, group g = r/32, l = r%32; low
/// nibble in ql[64h + l + 32(g&1)] at shift 4(g>>1); high bits in
/// qh[32h + l] at shift 2g).
fn pack_q6k(levels: &[u8; 256], scales: [i8; 16], d: f32) -> BlockQ6K {
    let mut b = q6k_zero(1)[0];
    for (i, &q) in levels.iter().enumerate() {
        let (h, r) = (i / 128, i % 128);
        let (g, l) = (r / 32, r % 32);
        b.ql[64 * h + l + 32 * (g & 1)] |= (q & 0xF) << (4 * (g >> 1));
        b.qh[32 * h + l] |= (q >> 4) << (2 * g);
    }
    b.scales = scales;
    b.d = f16::from_f32(d);
    b
}

#[test]
fn q6k_dequantize_hand_block() {
    let mut levels = [0u8; 256];
    for (i, l) in levels.iter_mut().enumerate() {
        *l = ((i * 7 + 3) % 64) as u8;
    }
    let mut scales = [0i8; 16];
    for (i, s) in scales.iter_mut().enumerate() {
        *s = (i as i32 * 9 - 70) as i8;
    }
    let b = pack_q6k(&levels, scales, 0.125);
    let mut y = vec![0.0; 256];
    dequantize_row_q6k(&[b], &mut y);
    for i in 0..256 {
        let want = 0.125 * f32::from(scales[i / 16]) * (f32::from(levels[i]) - 32.0);
        assert_eq!(y[i], want, "element {i}");
    }
}

#[test]
fn roundtrip_error_bounds() {
    let mut r = Rng(0x1234_5678);
    for _ in 0..50 {
        let n = 256 * 4;
        let x = r.vec(n, 3.0);
        let mut y = vec![0.0; n];

        let mut q = q8_0_zero(n / 32);
        quantize_row_q8_0(&x, &mut q);
        dequantize_row_q8_0(&q, &mut y);
        for (xb, yb) in x.chunks(32).zip(y.chunks(32)) {
            let amax = xb.iter().fold(0f32, |m, v| m.max(v.abs()));
            for (a, b) in xb.iter().zip(yb) {
                // half a step plus f16 rounding of d (2^-11 relative of amax)
                assert!(
                    (a - b).abs() <= amax / 127.0 * 0.5 + amax * 1e-3,
                    "q8_0 {a} {b}"
                );
            }
        }

        let mut q = q4_0_zero(n / 32);
        quantize_row_q4_0(&x, &mut q);
        dequantize_row_q4_0(&q, &mut y);
        for (xb, yb) in x.chunks(32).zip(y.chunks(32)) {
            let amax = xb.iter().fold(0f32, |m, v| m.max(v.abs()));
            for (a, b) in xb.iter().zip(yb) {
                // step d = amax/8; +8.5 truncation rounds to nearest, but the
                // side opposite the max is clipped at level 15 (7·d): ≤ 1 step.
                assert!((a - b).abs() <= amax / 8.0 + amax * 2e-3, "q4_0 {a} {b}");
            }
        }

        let mut q = q4_1_zero(n / 32);
        quantize_row_q4_1(&x, &mut q);
        dequantize_row_q4_1(&q, &mut y);
        for (xb, yb) in x.chunks(32).zip(y.chunks(32)) {
            let mn = xb.iter().fold(f32::MAX, |m, &v| m.min(v));
            let mx = xb.iter().fold(f32::MIN, |m, &v| m.max(v));
            let amax = mn.abs().max(mx.abs());
            for (a, b) in xb.iter().zip(yb) {
                assert!(
                    (a - b).abs() <= (mx - mn) / 15.0 * 0.5 + amax * 2e-3,
                    "q4_1 {a} {b}"
                );
            }
        }

        let mut q = q6k_zero(n / 256);
        quantize_row_q6k(&x, &mut q);
        dequantize_row_q6k(&q, &mut y);
        for (xb, yb) in x.chunks(16).zip(y.chunks(16)) {
            let amax = xb.iter().fold(0f32, |m, v| m.max(v.abs()));
            for (a, b) in xb.iter().zip(yb) {
                // 6-bit levels: step ≈ amax/32 (scale search may widen it a bit)
                assert!((a - b).abs() <= amax / 32.0 * 0.75 + 1e-3, "q6k {a} {b}");
            }
        }
    }
}

#[test]
fn dots_match_dequantized() {
    let mut r = Rng(42);
    for _ in 0..50 {
        let n = 1024;
        let w = r.vec(n, 1.0);
        let a = r.vec(n, 2.0);
        let mut wd = vec![0.0; n];
        let mut ad = vec![0.0; n];

        // q4_0 · q8_0
        let mut wq = q4_0_zero(n / 32);
        quantize_row_q4_0(&w, &mut wq);
        dequantize_row_q4_0(&wq, &mut wd);
        let mut aq = q8_0_zero(n / 32);
        quantize_row_q8_0(&a, &mut aq);
        dequantize_row_q8_0(&aq, &mut ad);
        let bound: f64 = wd
            .iter()
            .zip(&ad)
            .map(|(x, y)| f64::from((x * y).abs()))
            .sum();
        let got = f64::from(dot_q4_0_q8_0(&wq, &aq));
        assert!((got - dot64(&wd, &ad)).abs() <= 1e-5 * bound, "q4_0");

        // q8_0 · q8_0
        let mut wq8 = q8_0_zero(n / 32);
        quantize_row_q8_0(&w, &mut wq8);
        dequantize_row_q8_0(&wq8, &mut wd);
        let got = f64::from(dot_q8_0_q8_0(&wq8, &aq));
        assert!(
            (got - dot64(&wd, &ad)).abs() <= 1e-5 * bound.max(1.0),
            "q8_0"
        );

        // q4_1 · q8_1: s = d·Σq so the result equals the dequantized dot up to
        // the f16 rounding of s (relative 2^-11 of m·s per block).
        let mut wq = q4_1_zero(n / 32);
        quantize_row_q4_1(&w, &mut wq);
        dequantize_row_q4_1(&wq, &mut wd);
        let mut aq1 = q8_1_zero(n / 32);
        quantize_act_q8_1(&a, &mut aq1);
        let mut ad1 = vec![0.0; n];
        for (b, o) in aq1.iter().zip(ad1.chunks_mut(32)) {
            for (v, &q) in o.iter_mut().zip(&b.qs) {
                *v = f32::from(q) * b.d.to_f32();
            }
        }
        let bound: f64 = wd
            .iter()
            .zip(&ad1)
            .map(|(x, y)| f64::from((x * y).abs()))
            .sum();
        // Half an f16 ulp (2^-11 relative) of each block's exact d·Σq, times
        // |m|, plus the f32 accumulation allowance the other dots get.
        let f16_rounding: f64 = wq
            .iter()
            .zip(&aq1)
            .map(|(wb, ab)| {
                let sum: i32 = ab.qs.iter().map(|&q| i32::from(q)).sum();
                let exact_s = f64::from(ab.d.to_f32()) * f64::from(sum);
                f64::from(wb.m.to_f32()).abs() * exact_s.abs() * 2f64.powi(-11)
            })
            .sum();
        let got = f64::from(dot_q4_1_q8_1(&wq, &aq1));
        assert!(
            (got - dot64(&wd, &ad1)).abs() <= f16_rounding + 1e-5 * bound,
            "q4_1 {got} {} (allowed {f16_rounding} + {})",
            dot64(&wd, &ad1),
            1e-5 * bound
        );

        // q6_k · q8_k
        let mut wq = q6k_zero(n / 256);
        quantize_row_q6k(&w, &mut wq);
        dequantize_row_q6k(&wq, &mut wd);
        let mut ak = q8k_zero(n / 256);
        quantize_row_q8_k(&a, &mut ak);
        for (b, o) in ak.iter().zip(ad.chunks_mut(256)) {
            for (v, &q) in o.iter_mut().zip(&b.qs) {
                *v = f32::from(q) * b.d;
            }
        }
        let bound: f64 = wd
            .iter()
            .zip(&ad)
            .map(|(x, y)| f64::from((x * y).abs()))
            .sum();
        let got = f64::from(dot_q6k_q8k(&wq, &ak));
        assert!((got - dot64(&wd, &ad)).abs() <= 1e-5 * bound, "q6k");

        // float dots
        let wh: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
        let whf: Vec<f32> = wh.iter().map(|v| v.to_f32()).collect();
        let bound: f64 = whf
            .iter()
            .zip(&a)
            .map(|(x, y)| f64::from((x * y).abs()))
            .sum();
        assert!((f64::from(dot_f16_f32(&wh, &a)) - dot64(&whf, &a)).abs() <= 1e-5 * bound);
        assert!((f64::from(dot_f32_f32(&w, &a)) - dot64(&w, &a)).abs() <= 1e-5 * bound);
    }
}

#[test]
fn zero_blocks() {
    let x = vec![0.0f32; 256];
    let mut q6 = q6k_zero(1);
    q6[0].d = f16::ONE;
    quantize_row_q6k(&x, &mut q6);
    assert_eq!(q6[0].d, f16::ZERO);
    let mut q = q8_0_zero(8);
    quantize_row_q8_0(&x, &mut q);
    assert!(q.iter().all(|b| b.d == f16::ZERO && b.qs == [0; 32]));
    let mut q4 = q4_0_zero(8);
    quantize_row_q4_0(&x, &mut q4);
    assert!(q4.iter().all(|b| b.qs == [0x88; 16]));
}

#[test]
#[should_panic]
fn mismatched_lengths_panic() {
    let w = q4_0_zero(2);
    let x = q8_0_zero(3);
    dot_q4_0_q8_0(&w, &x);
}
