//! The K-quant family and its fallbacks (Q2_K, Q3_K, Q4_K, Q5_K, Q5_0, Q5_1,
//! IQ4_NL) against llama.cpp's files and an independent f64 computation:
//!
//! - quantizing `tiny-gqa-f16.gguf`'s values with our reference quantizers
//!   gives, tensor by tensor, the bytes llama.cpp wrote into
//!   `kquants/tiny-gqa-*.gguf` (same f32 source values);
//! - our dequantizers agree with a decoder written here from the format
//!   description (walking the packed bytes the way ggml's loops do), and stay
//!   close to the source values;
//! - the fused dots agree with an f64 sum over the dequantized weights and
//!   activations.
//!
//! Skipped (with a message) when the fixtures are absent.

mod common;

use common::gguf::{fixtures, Gguf};
use edge_llama_kernels::quants::{iq4_nl::*, q2_k::*, q3_k::*, q4_k::*, q5_0::*, q5_1::*, q5_k::*};
use edge_llama_kernels::scalar::{
    quantize_act_q8_0, quantize_act_q8_1, quantize_row_q6k, quantize_row_q8_k,
};
use edge_llama_kernels::*;
use half::f16;
use std::collections::BTreeMap;

const TYPES: [(u32, &str); 7] = [
    (10, "Q2_K"),
    (11, "Q3_K"),
    (12, "Q4_K"),
    (13, "Q5_K"),
    (6, "Q5_0"),
    (7, "Q5_1"),
    (20, "IQ4_NL"),
];

fn fixture_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("kquants"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "gguf"))
        .collect();
    v.sort();
    assert_eq!(v.len(), 7, "expected the seven kquants fixtures");
    v
}

fn quantize<B: Block>(x: &[f32], zero: B, f: fn(&[f32], &mut [B])) -> Vec<u8> {
    let mut q = vec![zero; x.len() / B::ELEMS];
    f(x, &mut q);
    block_bytes(&q).to_vec()
}

/// Our quantization of `x` to type `t`, as bytes.
fn quantize_bytes(t: u32, x: &[f32]) -> Vec<u8> {
    match t {
        6 => quantize(x, BlockQ5_0::ZERO, quantize_row_q5_0),
        7 => quantize(x, BlockQ5_1::ZERO, quantize_row_q5_1),
        10 => quantize(x, BlockQ2K::ZERO, quantize_row_q2_k),
        11 => quantize(x, BlockQ3K::ZERO, quantize_row_q3_k),
        12 => quantize(x, BlockQ4K::ZERO, quantize_row_q4_k),
        13 => quantize(x, BlockQ5K::ZERO, quantize_row_q5_k),
        14 => {
            let z = BlockQ6K {
                ql: [0; 128],
                qh: [0; 64],
                scales: [0; 16],
                d: f16::ZERO,
            };
            quantize(x, z, quantize_row_q6k)
        }
        20 => quantize(x, BlockIq4Nl::ZERO, quantize_row_iq4_nl),
        _ => panic!("type {t} not handled"),
    }
}

/// The blocks of a byte slice (copied, so any alignment works).
fn blocks_of<B: Block>(bytes: &[u8]) -> Vec<B> {
    let size = std::mem::size_of::<B>();
    assert_eq!(bytes.len() % size, 0);
    bytes
        .chunks_exact(size)
        // SAFETY: each chunk holds size_of::<B>() bytes, read without an
        // alignment requirement; `B: Block` accepts every bit pattern.
        .map(|c| unsafe { std::ptr::read_unaligned(c.as_ptr().cast::<B>()) })
        .collect()
}

fn dequant<B: Block>(bytes: &[u8], f: fn(&[B], &mut [f32])) -> Vec<f32> {
    let blocks = blocks_of::<B>(bytes);
    let mut y = vec![0f32; blocks.len() * B::ELEMS];
    f(&blocks, &mut y);
    y
}

fn h(b: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
}

const KVALUES: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

/// Decodes one block of type `t` from its raw bytes, walking them as
/// ggml's `dequantize_row_*` loops do (written from the format, sharing no
/// code with the crate).
fn decode_block(t: u32, b: &[u8], y: &mut Vec<f32>) {
    match t {
        12 | 13 => {
            let (d, min) = (h(b, 0), h(b, 2));
            let sc = &b[4..16];
            let get = |j: usize| -> (u8, u8) {
                if j < 4 {
                    (sc[j] & 63, sc[j + 4] & 63)
                } else {
                    (
                        (sc[j + 4] & 0xF) | ((sc[j - 4] >> 6) << 4),
                        (sc[j + 4] >> 4) | ((sc[j] >> 6) << 4),
                    )
                }
            };
            let (qh, ql) = if t == 13 {
                (&b[16..48], &b[48..176])
            } else {
                (&b[0..0], &b[16..144])
            };
            let (mut u1, mut u2) = (1u8, 2u8);
            for c in 0..4 {
                let (s1, m1) = get(2 * c);
                let (s2, m2) = get(2 * c + 1);
                let (d1, mm1, d2, mm2) = (
                    d * s1 as f32,
                    min * m1 as f32,
                    d * s2 as f32,
                    min * m2 as f32,
                );
                let q = &ql[32 * c..32 * c + 32];
                for l in 0..32 {
                    let hb = if t == 13 && qh[l] & u1 != 0 { 16 } else { 0 };
                    y.push(d1 * ((q[l] & 0xF) + hb) as f32 - mm1);
                }
                for l in 0..32 {
                    let hb = if t == 13 && qh[l] & u2 != 0 { 16 } else { 0 };
                    y.push(d2 * ((q[l] >> 4) + hb) as f32 - mm2);
                }
                u1 <<= 2;
                u2 <<= 2;
            }
        }
        10 => {
            let (d, min) = (h(b, 80), h(b, 82));
            let mut is = 0;
            for n in 0..2 {
                let q = &b[16 + 32 * n..16 + 32 * n + 32];
                for shift in [0, 2, 4, 6] {
                    for half in 0..2 {
                        let s = b[is];
                        is += 1;
                        let (dl, ml) = (d * (s & 0xF) as f32, min * (s >> 4) as f32);
                        for l in 0..16 {
                            y.push(dl * ((q[16 * half + l] >> shift) & 3) as f32 - ml);
                        }
                    }
                }
            }
        }
        11 => {
            let d = h(b, 108);
            let hm = &b[0..32];
            let mut aux = [0u32; 4];
            for (i, a) in aux.iter_mut().take(3).enumerate() {
                *a = u32::from_le_bytes(b[96 + 4 * i..100 + 4 * i].try_into().unwrap());
            }
            let (k1, k2) = (0x0303_0303u32, 0x0f0f_0f0fu32);
            let tmp = aux[2];
            aux[2] = ((aux[0] >> 4) & k2) | (((tmp >> 4) & k1) << 4);
            aux[3] = ((aux[1] >> 4) & k2) | (((tmp >> 6) & k1) << 4);
            aux[0] = (aux[0] & k2) | ((tmp & k1) << 4);
            aux[1] = (aux[1] & k2) | (((tmp >> 2) & k1) << 4);
            let scales: Vec<i8> = aux
                .iter()
                .flat_map(|a| a.to_le_bytes())
                .map(|v| v as i8)
                .collect();
            let (mut is, mut m) = (0, 1u8);
            for n in 0..2 {
                let q = &b[32 + 32 * n..32 + 32 * n + 32];
                for shift in [0, 2, 4, 6] {
                    for half in 0..2 {
                        let dl = d * (scales[is] as i32 - 32) as f32;
                        is += 1;
                        for l in 16 * half..16 * half + 16 {
                            let v =
                                ((q[l] >> shift) & 3) as i32 - if hm[l] & m != 0 { 0 } else { 4 };
                            y.push(dl * v as f32);
                        }
                    }
                    m <<= 1;
                }
            }
        }
        6 | 7 => {
            let (d, m, at) = if t == 6 {
                (h(b, 0), 0.0, 2)
            } else {
                (h(b, 0), h(b, 2), 4)
            };
            let qh = u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
            let qs = &b[at + 4..at + 20];
            let off = if t == 6 { 16 } else { 0 };
            let mut out = [0f32; 32];
            for j in 0..16 {
                let x0 = (qs[j] & 0xF) as i32 | ((((qh >> j) << 4) & 0x10) as i32);
                let x1 = (qs[j] >> 4) as i32 | (((qh >> (j + 12)) & 0x10) as i32);
                if t == 6 {
                    out[j] = (x0 - off) as f32 * d;
                    out[j + 16] = (x1 - off) as f32 * d;
                } else {
                    out[j] = x0 as f32 * d + m;
                    out[j + 16] = x1 as f32 * d + m;
                }
            }
            y.extend_from_slice(&out);
        }
        20 => {
            let d = h(b, 0);
            let mut out = [0f32; 32];
            for j in 0..16 {
                out[j] = d * KVALUES[(b[2 + j] & 0xF) as usize] as f32;
                out[j + 16] = d * KVALUES[(b[2 + j] >> 4) as usize] as f32;
            }
            y.extend_from_slice(&out);
        }
        _ => panic!("type {t}"),
    }
}

fn block_size(t: u32) -> (usize, usize) {
    let g = GgmlType::from_id(t).unwrap();
    (g.block_elems(), g.block_bytes())
}

fn dequantize_bytes(t: u32, b: &[u8]) -> Vec<f32> {
    match t {
        6 => dequant(b, dequantize_row_q5_0),
        7 => dequant(b, dequantize_row_q5_1),
        10 => dequant(b, dequantize_row_q2_k),
        11 => dequant(b, dequantize_row_q3_k),
        12 => dequant(b, dequantize_row_q4_k),
        13 => dequant(b, dequantize_row_q5_k),
        20 => dequant(b, dequantize_row_iq4_nl),
        _ => panic!("type {t}"),
    }
}

/// Every tensor of a new type in the kquants fixtures: our quantization of
/// the f16 source equals llama.cpp's bytes (Q6_K tensors of these files are
/// checked too).
#[test]
fn quantizers_match_llama_cpp_bytes() {
    let Some(dir) = fixtures() else { return };
    let src = Gguf::open(&dir.join("tiny-gqa-f16.gguf"));
    let mut checked = BTreeMap::<u32, usize>::new();
    for file in fixture_files(&dir) {
        let q = Gguf::open(&file);
        for (name, info) in &q.tensors {
            if !TYPES.iter().any(|&(t, _)| t == info.ty) && info.ty != 14 {
                continue;
            }
            let x = src.f16_values(name);
            let ours = quantize_bytes(info.ty, &x);
            let theirs = &q.data[info.offset..info.offset + ours.len()];
            if ours != theirs {
                let first = ours.iter().zip(theirs).position(|(a, b)| a != b).unwrap();
                let (_, bb) = block_size(info.ty);
                panic!(
                    "{} {name} (type {}): first differing byte {first} of {} (block {}, byte {})",
                    file.display(),
                    info.ty,
                    ours.len(),
                    first / bb,
                    first % bb
                );
            }
            *checked.entry(info.ty).or_default() += 1;
        }
    }
    eprintln!("tensors checked per ggml type id: {checked:?}");
    for (t, name) in TYPES {
        assert!(checked.contains_key(&t), "no {name} tensor checked");
    }
}

/// Every tensor of a new type in the kquants fixtures: our dequantizer gives
/// the same f32 bits as the byte-walking decoder above, and the values stay
/// near the f16 source (relative RMS error below a per-type bound).
#[test]
fn dequantizers_match_format_and_source() {
    let Some(dir) = fixtures() else { return };
    let src = Gguf::open(&dir.join("tiny-gqa-f16.gguf"));
    let bound = |t: u32| match t {
        10 => 0.45,
        11 => 0.25,
        12 | 20 => 0.12,
        13 | 6 | 7 => 0.06,
        _ => unreachable!(),
    };
    let mut checked = 0;
    for file in fixture_files(&dir) {
        let q = Gguf::open(&file);
        for (name, info) in &q.tensors {
            if !TYPES.iter().any(|&(t, _)| t == info.ty) {
                continue;
            }
            let n: usize = info.dims.iter().product();
            let (be, bb) = block_size(info.ty);
            let bytes = &q.data[info.offset..info.offset + n / be * bb];
            let ours = dequantize_bytes(info.ty, bytes);
            let mut theirs = Vec::with_capacity(n);
            for b in bytes.chunks_exact(bb) {
                decode_block(info.ty, b, &mut theirs);
            }
            assert_eq!(ours.len(), n);
            for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
                assert_eq!(a.to_bits(), b.to_bits(), "{name} element {i}: {a} vs {b}");
            }
            let x = src.f16_values(name);
            let err: f64 = x
                .iter()
                .zip(&ours)
                .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
                .sum();
            let norm: f64 = x.iter().map(|&a| f64::from(a).powi(2)).sum();
            let rel = (err / norm).sqrt();
            assert!(
                rel < bound(info.ty),
                "{name} type {}: relative RMS error {rel}",
                info.ty
            );
            checked += 1;
        }
    }
    assert!(checked >= 7 * 9, "only {checked} tensors checked");
}

/// Small xorshift PRNG so the tests are reproducible without extra deps.
struct Rng(u64);
impl Rng {
    fn f(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.f()).collect()
    }
}

/// Checks `got` against the f64 sum of the products of `w` and `x`
/// (dequantized values), to within f32 rounding of the terms.
fn check_dot(what: &str, got: f32, w: &[f32], x: &[f32], extra: f64) {
    let exact: f64 = w
        .iter()
        .zip(x)
        .map(|(&a, &b)| f64::from(a) * f64::from(b))
        .sum::<f64>()
        + extra;
    let mag: f64 = w
        .iter()
        .zip(x)
        .map(|(&a, &b)| (f64::from(a) * f64::from(b)).abs())
        .sum();
    let tol = 1e-5 * mag + 1e-30;
    assert!(
        (f64::from(got) - exact).abs() <= tol,
        "{what}: dot {got} vs f64 {exact} (tolerance {tol})"
    );
}

/// Weight rows for the dot tests: rows of the fixture tensors of each type
/// when present (llama.cpp's bytes), else quantized random rows.
fn weight_rows(t: u32) -> Vec<Vec<u8>> {
    let mut rows = Vec::new();
    if let Some(dir) = fixtures() {
        for file in fixture_files(&dir) {
            let q = Gguf::open(&file);
            for info in q.tensors.values().filter(|i| i.ty == t) {
                let (be, bb) = block_size(t);
                let rb = info.dims[0] / be * bb;
                rows.push(q.data[info.offset..info.offset + rb].to_vec());
                rows.push(q.data[info.offset + rb..info.offset + 2 * rb].to_vec());
            }
        }
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ u64::from(t));
    for scale in [1.0f32, 1e-3, 50.0] {
        let x: Vec<f32> = rng.vec(1024).iter().map(|v| v * scale).collect();
        rows.push(quantize_bytes(t, &x));
    }
    rows
}

#[test]
fn k_dots_match_f64() {
    let mut rng = Rng(42);
    for t in [10u32, 11, 12, 13] {
        for (i, row) in weight_rows(t).iter().enumerate() {
            let w = dequantize_bytes(t, row);
            let xf = rng.vec(w.len());
            let mut xq = vec![
                BlockQ8K {
                    d: 0.0,
                    qs: [0; QK_K],
                    bsums: [0; QK_K / 16]
                };
                w.len() / QK_K
            ];
            quantize_row_q8_k(&xf, &mut xq);
            let x: Vec<f32> = xq
                .iter()
                .flat_map(|b| b.qs.iter().map(move |&q| f32::from(q) * b.d))
                .collect();
            let (got, got_llamacpp) = match t {
                10 => (
                    dot_q2k_q8k(&blocks_of(row), &xq),
                    dot_q2k_q8k_llamacpp(&blocks_of(row), &xq),
                ),
                11 => (
                    dot_q3k_q8k(&blocks_of(row), &xq),
                    dot_q3k_q8k_llamacpp(&blocks_of(row), &xq),
                ),
                12 => (
                    dot_q4k_q8k(&blocks_of(row), &xq),
                    dot_q4k_q8k_llamacpp(&blocks_of(row), &xq),
                ),
                _ => (
                    dot_q5k_q8k(&blocks_of(row), &xq),
                    dot_q5k_q8k_llamacpp(&blocks_of(row), &xq),
                ),
            };
            check_dot(&format!("type {t} row {i}"), got, &w, &x, 0.0);
            check_dot(
                &format!("type {t} row {i} llama.cpp order"),
                got_llamacpp,
                &w,
                &x,
                0.0,
            );
        }
    }
}

#[test]
fn q8_0_and_q8_1_dots_match_f64() {
    let mut rng = Rng(7);
    for t in [6u32, 7, 20] {
        for (i, row) in weight_rows(t).iter().enumerate() {
            let w = dequantize_bytes(t, row);
            let xf = rng.vec(w.len());
            let nb = w.len() / QK;
            let (got, x, extra) = if t == 7 {
                let mut xq = vec![
                    BlockQ8_1 {
                        d: f16::ZERO,
                        s: f16::ZERO,
                        qs: [0; QK]
                    };
                    nb
                ];
                quantize_act_q8_1(&xf, &mut xq);
                let wb: Vec<BlockQ5_1> = blocks_of(row);
                // The dot uses the stored s = d·Σq (an f16) for the m term;
                // the exact sum uses Σ m·d·q, so add their difference.
                let extra: f64 = wb
                    .iter()
                    .zip(&xq)
                    .map(|(a, b)| {
                        let sq: i32 = b.qs.iter().map(|&q| i32::from(q)).sum();
                        let dx = f64::from(b.d.to_f32());
                        f64::from(a.m.to_f32()) * (f64::from(b.s.to_f32()) - dx * f64::from(sq))
                    })
                    .sum();
                let x: Vec<f32> = xq
                    .iter()
                    .flat_map(|b| b.qs.iter().map(move |&q| f32::from(q) * b.d.to_f32()))
                    .collect();
                let both = (dot_q5_1_q8_1(&wb, &xq), dot_q5_1_q8_1_llamacpp(&wb, &xq));
                (both, x, extra)
            } else {
                let mut xq = vec![
                    BlockQ8_0 {
                        d: f16::ZERO,
                        qs: [0; QK]
                    };
                    nb
                ];
                quantize_act_q8_0(&xf, &mut xq);
                let x: Vec<f32> = xq
                    .iter()
                    .flat_map(|b| b.qs.iter().map(move |&q| f32::from(q) * b.d.to_f32()))
                    .collect();
                let both = if t == 6 {
                    let wb: Vec<BlockQ5_0> = blocks_of(row);
                    (dot_q5_0_q8_0(&wb, &xq), dot_q5_0_q8_0_llamacpp(&wb, &xq))
                } else {
                    let wb: Vec<BlockIq4Nl> = blocks_of(row);
                    (
                        dot_iq4_nl_q8_0(&wb, &xq),
                        dot_iq4_nl_q8_0_llamacpp(&wb, &xq),
                    )
                };
                (both, x, 0.0)
            };
            check_dot(&format!("type {t} row {i}"), got.0, &w, &x, extra);
            check_dot(
                &format!("type {t} row {i} llama.cpp order"),
                got.1,
                &w,
                &x,
                extra,
            );
        }
    }
}
