//! Matrix-vector products as the model runs them (activation quantization
//! included), 1 and 2 threads, next to a plain memory read of the same
//! weight bytes (Σ u64, 1 and 2 threads), all in bytes of weights per
//! second. Run: `cargo bench --bench matvec`.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use edge_llama::__bench::{bench_matvec, BenchActivation};
use edge_llama::kernels::{self as k, GgmlType};
use half::f16;
use rayon::prelude::*;
use std::time::Duration;

/// xorshift32 bytes.
fn rand_bytes(n: usize, seed: u32) -> Vec<u8> {
    let mut s = seed.max(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 11) as u8
        })
        .collect()
}

/// Random weights of `dtype` with sane f16 scales (no NaN/subnormal effects).
fn weights(dtype: GgmlType, rows: usize, cols: usize) -> Vec<u8> {
    let (block_bytes, d_at) = match dtype {
        GgmlType::Q4_0 => (18, 0),
        GgmlType::Q8_0 => (34, 0),
        GgmlType::Q6K => (210, 208),
        _ => unreachable!("not benchmarked"),
    };
    let mut b = rand_bytes(
        dtype.row_bytes((rows * cols) as u64).unwrap_or(0) as usize,
        7,
    );
    let d = f16::from_f32(0.01).to_le_bytes();
    for blk in b.chunks_exact_mut(block_bytes) {
        blk[d_at..d_at + 2].copy_from_slice(&d);
    }
    b
}

fn pool(n: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .unwrap_or_else(|e| panic!("thread pool: {e}"))
}

fn bench(c: &mut Criterion) {
    let pools = [(1usize, None), (2usize, Some(pool(2)))];
    let best = *k::kernels();
    let cases = [
        (GgmlType::Q4_0, 4096usize, 4096usize),
        (GgmlType::Q4_0, 11008, 4096),
        (GgmlType::Q8_0, 4096, 4096),
        (GgmlType::Q8_0, 11008, 4096),
        (GgmlType::Q6K, 32000, 4096),
    ];
    for (dtype, rows, cols) in cases {
        let w = weights(dtype, rows, cols);
        let x: Vec<f32> = rand_bytes(cols, 3)
            .iter()
            .map(|&b| b as f32 / 128.0 - 1.0)
            .collect();
        let mut out = vec![0f32; rows];
        let mut act = BenchActivation::new(cols);
        let mut g = c.benchmark_group(format!("matvec_{dtype}_{rows}x{cols}"));
        g.throughput(Throughput::Bytes(w.len() as u64))
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
        let mut paths = vec![best];
        if rows == 4096 {
            paths.push(k::SCALAR);
        }
        for kern in &paths {
            for (t, p) in &pools {
                if kern.name == "scalar" && *t > 1 {
                    continue;
                }
                g.bench_function(format!("{}_t{t}", kern.name), |b| {
                    b.iter(|| {
                        bench_matvec(kern, p.as_ref(), &mut act, dtype, &w, rows, &x, &mut out)
                            .unwrap_or_else(|e| panic!("{e}"));
                        black_box(&out);
                    })
                });
            }
        }
        let words: Vec<u64> = w
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
            .collect();
        for (t, p) in &pools {
            g.bench_function(format!("memread_t{t}"), |b| match p {
                None => b.iter(|| {
                    black_box(&words)
                        .iter()
                        .fold(0u64, |a, &v| a.wrapping_add(v))
                }),
                Some(p) => b.iter(|| {
                    p.install(|| {
                        black_box(&words)
                            .par_chunks(words.len().div_ceil(*t))
                            .map(|c| c.iter().fold(0u64, |a, &v| a.wrapping_add(v)))
                            .reduce(|| 0, u64::wrapping_add)
                    })
                }),
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
