//! Single dot vs 4-activation-row dot of the K-mix types (Q2_K, Q3_K,
//! Q5_K, Q5_0, Q5_1, IQ4_NL) per x86 path, default numerics: 16 weight rows
//! of 4096 elements times 4 activation rows, either four `dot` calls per
//! weight row, one `dot4`, or one 8-row × 4 tile per 8 weight rows (the
//! fallbacks are `dot` calls); and for one activation row, `dot` per row vs
//! the 2-row kernel (where the path has one) and the 8-row × 1 tile. Throughput is in (weight block, activation row)
//! pairs, so 1/throughput is the time per row·block per activation row.
//! Run: `cargo bench --bench kq_rows`.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use edge_llama::kernels::{
    self as k, Block, BlockIq4Nl, BlockQ2K, BlockQ3K, BlockQ5K, BlockQ5_0, BlockQ5_1, Numerics,
    QuantType,
};
use std::time::Duration;

mod common;
use common::floats;

const N: usize = 4096;
const ROWS: usize = 16;

fn bench_type<T: QuantType>(c: &mut Criterion, name: &str) {
    let nb = N / T::ELEMS;
    let mut w = vec![T::zeroed(); ROWS * nb];
    T::quantize(&floats(1, ROWS * N), &mut w);
    let mut x = vec![T::Act::zeroed(); 4 * nb];
    T::quantize_act(&floats(2, 4 * N), &mut x);
    let mut g = c.benchmark_group(format!("kq_rows/{name}"));
    g.warm_up_time(Duration::from_millis(300));
    g.measurement_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements((ROWS * nb * 4) as u64));
    for path in ["avx2", "avx512"] {
        let Ok(kern) = k::kernels_for(path) else {
            continue;
        };
        let rk = kern.with_numerics(Numerics::Default).quant::<T>();
        g.bench_function(BenchmarkId::new("dot_x4", path), |b| {
            b.iter(|| {
                let mut s = 0f32;
                for r in w.chunks_exact(nb) {
                    for xv in x.chunks_exact(nb) {
                        s += (rk.dot)(r, xv);
                    }
                }
                black_box(s)
            })
        });
        g.bench_function(BenchmarkId::new("dot4", path), |b| {
            b.iter(|| {
                let mut o = [0f32; 4];
                for r in w.chunks_exact(nb) {
                    rk.dot4(r, &x, &mut o);
                    black_box(&o);
                }
            })
        });
        g.bench_function(BenchmarkId::new("tile8x4", path), |b| {
            b.iter(|| {
                let mut o = [[0f32; 8]; 4];
                for w8 in w.chunks_exact(8 * nb) {
                    rk.tile8::<4>(w8, &x, &mut o);
                    black_box(&o);
                }
            })
        });
    }
    g.finish();
    // One activation row (single tokens): `dot` per row vs the 8-row tile.
    let mut g = c.benchmark_group(format!("kq_rows_1/{name}"));
    g.warm_up_time(Duration::from_millis(300));
    g.measurement_time(Duration::from_secs(1));
    g.throughput(Throughput::Elements((ROWS * nb) as u64));
    let x1 = &x[..nb];
    for path in ["avx2", "avx512"] {
        let Ok(kern) = k::kernels_for(path) else {
            continue;
        };
        let rk = kern.with_numerics(Numerics::Default).quant::<T>();
        g.bench_function(BenchmarkId::new("dot", path), |b| {
            b.iter(|| w.chunks_exact(nb).map(|r| (rk.dot)(r, x1)).sum::<f32>())
        });
        if let Some(f) = rk.rows2 {
            g.bench_function(BenchmarkId::new("rows2", path), |b| {
                b.iter(|| {
                    let mut o = [0f32; 2];
                    for w2 in w.chunks_exact(2 * nb) {
                        f(w2, x1, &mut o);
                        black_box(&o);
                    }
                })
            });
        }
        g.bench_function(BenchmarkId::new("tile8x1", path), |b| {
            b.iter(|| {
                let mut o = [[0f32; 8]; 1];
                for w8 in w.chunks_exact(8 * nb) {
                    rk.tile8::<1>(w8, x1, &mut o);
                    black_box(&o);
                }
            })
        });
    }
    g.finish();
}

fn bench(c: &mut Criterion) {
    bench_type::<BlockQ2K>(c, "q2_k");
    bench_type::<BlockQ3K>(c, "q3_k");
    bench_type::<BlockQ5K>(c, "q5_k");
    bench_type::<BlockQ5_0>(c, "q5_0");
    bench_type::<BlockQ5_1>(c, "q5_1");
    bench_type::<BlockIq4Nl>(c, "iq4_nl");
}

criterion_group!(benches, bench);
criterion_main!(benches);
