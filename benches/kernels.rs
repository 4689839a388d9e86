//! Dot-kernel throughput per available path on 4096-element rows, in bytes
//! of weights per second, next to a plain memory-read baseline (Σ u64 over
//! the same number of bytes). Run: `cargo bench --bench kernels`.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use edge_llama::kernels::{
    self as k, BlockQ4_0, BlockQ4_1, BlockQ6K, BlockQ8K, BlockQ8_0, BlockQ8_1,
};
use half::f16;

mod common;

const N: usize = 4096;

fn row(seed: u32) -> Vec<f32> {
    common::floats(seed, N)
}

fn memread(c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>, bytes: usize) {
    let words: Vec<u64> = (0..bytes.div_ceil(8) as u64).collect();
    c.throughput(Throughput::Bytes(bytes as u64));
    c.bench_with_input(BenchmarkId::new("memread_u64", bytes), &words, |b, w| {
        b.iter(|| black_box(w).iter().fold(0u64, |a, &v| a.wrapping_add(v)))
    });
}

fn bench(c: &mut Criterion) {
    let w = row(1);
    let x = row(2);
    let s = k::testing::FlatTable::new(&k::SCALAR);
    let mut w40 = vec![
        BlockQ4_0 {
            d: f16::ZERO,
            qs: [0; 16]
        };
        N / 32
    ];
    k::scalar::quantize_row_q4_0(&w, &mut w40);
    let mut w41 = vec![
        BlockQ4_1 {
            d: f16::ZERO,
            m: f16::ZERO,
            qs: [0; 16]
        };
        N / 32
    ];
    k::scalar::quantize_row_q4_1(&w, &mut w41);
    let mut w80 = vec![
        BlockQ8_0 {
            d: f16::ZERO,
            qs: [0; 32]
        };
        N / 32
    ];
    (s.quantize_q8_0)(&w, &mut w80);
    let mut w6k = vec![
        BlockQ6K {
            ql: [0; 128],
            qh: [0; 64],
            scales: [0; 16],
            d: f16::ZERO
        };
        N / 256
    ];
    k::scalar::quantize_row_q6k(&w, &mut w6k);
    let wh: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
    let mut x80 = vec![
        BlockQ8_0 {
            d: f16::ZERO,
            qs: [0; 32]
        };
        N / 32
    ];
    (s.quantize_q8_0)(&x, &mut x80);
    let mut x81 = vec![
        BlockQ8_1 {
            d: f16::ZERO,
            s: f16::ZERO,
            qs: [0; 32]
        };
        N / 32
    ];
    (s.quantize_q8_1)(&x, &mut x81);
    let mut x8k = vec![
        BlockQ8K {
            d: 0.0,
            qs: [0; 256],
            bsums: [0; 16]
        };
        N / 256
    ];
    (s.quantize_q8_k)(&x, &mut x8k);

    let paths: Vec<k::testing::FlatTable> = k::available()
        .iter()
        .filter_map(|n| k::kernels_for(n).ok())
        .map(|t| k::testing::FlatTable::new(&t))
        .collect();
    macro_rules! group {
        ($name:literal, $f:ident, $w:expr, $x:expr) => {{
            let bytes = std::mem::size_of_val(&$w[..]);
            let mut g = c.benchmark_group($name);
            g.throughput(Throughput::Bytes(bytes as u64));
            for p in &paths {
                g.bench_function(p.name, |b| {
                    b.iter(|| (p.$f)(black_box(&$w), black_box(&$x)))
                });
            }
            memread(&mut g, bytes);
            g.finish();
        }};
    }
    group!("dot_q4_0_q8_0", dot_q4_0_q8_0, w40, x80);
    group!("dot_q4_1_q8_1", dot_q4_1_q8_1, w41, x81);
    group!("dot_q8_0_q8_0", dot_q8_0_q8_0, w80, x80);
    group!("dot_q6k_q8k", dot_q6k_q8k, w6k, x8k);
    group!("dot_f16_f32", dot_f16_f32, wh, x);
    group!("dot_f32_f32", dot_f32_f32, w, x);
}

criterion_group!(benches, bench);
criterion_main!(benches);
