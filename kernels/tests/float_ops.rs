//! The float operations against independent definitions: libm / f64 for
//! the values, hand-built inputs for the summation orders.

use edge_llama_kernels::float_ops::*;

fn ulps(a: f32, b: f32) -> i64 {
    (i64::from(a.to_bits() as i32) - i64::from(b.to_bits() as i32)).abs()
}

#[test]
fn exp_approx_is_within_two_ulps_of_exp() {
    let mut worst = 0;
    let mut x = -87.0f32;
    while x < 88.0 {
        let want = (f64::from(x)).exp() as f32;
        worst = worst.max(ulps(exp_approx(x), want));
        x += 0.001_37;
    }
    assert!(worst <= 2, "worst error {worst} ulps");
    assert_eq!(exp_approx(0.0), 1.0);
    assert_eq!(exp_approx(-200.0), 0.0);
    assert_eq!(exp_approx(f32::NEG_INFINITY), 0.0);
    assert_eq!(exp_approx(200.0), f32::INFINITY);
    // n = round(x·log2 e) = −192 and −191 (the last exponents before the
    // flush) underflow to +0, as scalef does (not −∞ or NaN).
    assert_eq!(exp_approx(-133.0).to_bits(), 0);
    assert_eq!(exp_approx(-132.5).to_bits(), 0);
    let mut s = [0.0, -133.0, -132.5, -1.0];
    softmax(&mut s);
    assert!(s.iter().all(|v| v.is_finite()) && s[1] == 0.0 && s[2] == 0.0);
    // Subnormal results are rounded once, like scalef: e^-100 ≈ 3.7e-44.
    let want = (-100f64).exp() as f32;
    assert!(ulps(exp_approx(-100.0), want) <= 1);
}

#[test]
fn reduce16_pairs_lane_j_with_j_plus_8_first() {
    // 2^24 + 1 is not representable: the order decides whether the ones
    // survive. Pairing (j, j+8) first: lanes 0 and 8 cancel exactly, the
    // ones then add up to 2.
    let mut l = [0f32; 16];
    l[0] = 16_777_216.0;
    l[8] = -16_777_216.0;
    l[1] = 1.0;
    l[9] = 1.0;
    assert_eq!(reduce16(&l), 2.0);
    // Lanes 0 and 4 meet in the second step, after 0+8 and 4+12.
    let mut l = [0f32; 16];
    l[0] = 16_777_216.0;
    l[4] = 1.0;
    l[12] = 1.0;
    assert_eq!(reduce16(&l), 16_777_218.0);
}

#[test]
fn dots_agree_with_f64_and_differ_only_in_order() {
    let a: Vec<f32> = (0..200)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
        .collect();
    let b: Vec<f32> = (0..200)
        .map(|i| ((i * 53 % 97) as f32 - 48.0) / 5.0)
        .collect();
    for n in [16, 64, 96, 128, 200] {
        let exact: f64 = a[..n]
            .iter()
            .zip(&b[..n])
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum();
        let mag: f64 = a[..n]
            .iter()
            .zip(&b[..n])
            .map(|(x, y)| (f64::from(*x) * f64::from(*y)).abs())
            .sum();
        for got in [dot_lanes16(&a[..n], &b[..n]), dot_vec64(&a[..n], &b[..n])] {
            assert!(
                (f64::from(got) - exact).abs() <= 1e-6 * mag,
                "n {n}: {got} vs {exact}"
            );
        }
    }
    // vec64: the first 64 products in lanes, the rest in f64. With 2^24 in
    // lane 0 and ones at 64.. the ones survive only through the f64 tail.
    let mut x = vec![0f32; 96];
    let y = vec![1f32; 96];
    x[0] = 16_777_216.0;
    for v in &mut x[64..] {
        *v = 1.0;
    }
    assert_eq!(dot_vec64(&x, &y), 16_777_248.0);
    // lanes16: the same ones land in lanes 0..16 after 2^24 in lane 0;
    // lane 0 loses its two ones (2^24 + 1 rounds to even), the other 15
    // lanes keep theirs.
    assert_eq!(dot_lanes16(&x, &y), 16_777_216.0 + 30.0);
}

#[test]
fn silu_mul_matches_the_formula() {
    let mut g: Vec<f32> = (0..37).map(|i| (i as f32 - 18.0) / 3.0).collect();
    let u: Vec<f32> = (0..37).map(|i| 1.0 + i as f32 / 10.0).collect();
    let want: Vec<f64> = g
        .iter()
        .zip(&u)
        .map(|(&x, &y)| f64::from(x) / (1.0 + (-f64::from(x)).exp()) * f64::from(y))
        .collect();
    silu_mul(&mut g, &u);
    for (got, want) in g.iter().zip(&want) {
        assert!(
            (f64::from(*got) - want).abs() <= 1e-6 * want.abs().max(1e-3),
            "{got} vs {want}"
        );
    }
}

#[test]
fn softmax_sums_to_one_and_keeps_order() {
    let mut x: Vec<f32> = (0..45).map(|i| (i as f32 * 0.37).sin() * 9.0).collect();
    let orig = x.clone();
    softmax(&mut x);
    let sum: f64 = x.iter().map(|&v| f64::from(v)).sum();
    assert!((sum - 1.0).abs() < 1e-6, "sum {sum}");
    let max: f64 = orig.iter().map(|&v| f64::from(v)).fold(f64::MIN, f64::max);
    let z: f64 = orig.iter().map(|&v| (f64::from(v) - max).exp()).sum();
    for (got, &o) in x.iter().zip(&orig) {
        let want = (f64::from(o) - max).exp() / z;
        assert!(
            (f64::from(*got) - want).abs() <= 1e-6 * want.max(1e-7),
            "{got} vs {want}"
        );
    }
}

#[test]
fn fma_acc_fuses() {
    // (1 + 2^-23)·(1 − 2^-23) = 1 − 2^-46: only a fused multiply-add keeps
    // the −2^-46 when adding −1.
    let mut acc = [-1.0f32];
    fma_acc(&mut acc, 1.0 + f32::EPSILON, &[1.0 - f32::EPSILON]);
    assert_eq!(acc[0], -(2f32.powi(-46)));
}

/// The f16-weight dots are the f32 dots of the widened weights, bit for
/// bit (widening is exact), for every length 0..=300 (16-lane order,
/// 64-lane fallback and the f64 tail) and any finite f16 pattern.
#[test]
fn f16_dots_equal_dots_of_widened_weights() {
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    for n in 0..=300usize {
        let w: Vec<half::f16> = (0..n)
            .map(|_| {
                let h = next() as u16;
                // Inf/NaN exponents folded into the finite range.
                half::f16::from_bits(if h & 0x7c00 == 0x7c00 { h & !0x4000 } else { h })
            })
            .collect();
        let x: Vec<f32> = (0..4 * n)
            .map(|_| (next() >> 40) as f32 / (1u64 << 22) as f32 - 2.0)
            .collect();
        let wide: Vec<f32> = w.iter().map(|h| h.to_f32()).collect();
        let x0 = &x[..n];
        assert_eq!(
            dot_f16_lanes16(&w, x0).to_bits(),
            dot_lanes16(&wide, x0).to_bits(),
            "lanes16 n {n}"
        );
        assert_eq!(
            dot_f16_vec64(&w, x0).to_bits(),
            dot_vec64(&wide, x0).to_bits(),
            "vec64 n {n}"
        );
        let mut o = [f32::NAN; 4];
        dot4_f16_lanes16(&w, &x, &mut o);
        for (v, g) in o.iter().enumerate() {
            let want = dot_lanes16(&wide, &x[v * n..(v + 1) * n]);
            assert_eq!(g.to_bits(), want.to_bits(), "dot4 n {n} vector {v}");
        }
    }
}

#[test]
#[should_panic]
fn dot4_f16_wrong_activation_length_panics() {
    let w = [half::f16::ONE; 16];
    dot4_f16_lanes16(&w, &[0.0; 63], &mut [0.0; 4]);
}
