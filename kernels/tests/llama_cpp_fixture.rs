//! Byte-identity of the reference weight quantizers with llama.cpp's: every
//! Q8_0 / Q4_0 / Q6_K tensor of `tiny-gqa-{q8_0,q4_0}.gguf` (written by
//! llama.cpp's quantizer) must equal our quantization of the same tensor in
//! `tiny-gqa-f16.gguf`. Skipped (with a message) when the fixtures are absent,
//! a failure under `EDGE_LLAMA_REQUIRE_DATA=1`.

mod common;

use common::gguf::Gguf;
use edge_llama_kernels::scalar::*;
use edge_llama_kernels::*;
use half::f16;
use std::collections::HashMap;

fn quantize_bytes(t: u32, x: &[f32]) -> Vec<u8> {
    let n = x.len();
    match t {
        2 => {
            let mut q = vec![
                BlockQ4_0 {
                    d: f16::ZERO,
                    qs: [0; 16]
                };
                n / QK
            ];
            quantize_row_q4_0(x, &mut q);
            block_bytes(&q).to_vec()
        }
        3 => {
            let mut q = vec![
                BlockQ4_1 {
                    d: f16::ZERO,
                    m: f16::ZERO,
                    qs: [0; 16]
                };
                n / QK
            ];
            quantize_row_q4_1(x, &mut q);
            block_bytes(&q).to_vec()
        }
        8 => {
            let mut q = vec![
                BlockQ8_0 {
                    d: f16::ZERO,
                    qs: [0; QK]
                };
                n / QK
            ];
            quantize_row_q8_0(x, &mut q);
            block_bytes(&q).to_vec()
        }
        14 => {
            let mut q = vec![
                BlockQ6K {
                    ql: [0; 128],
                    qh: [0; 64],
                    scales: [0; 16],
                    d: f16::ZERO
                };
                n / QK_K
            ];
            quantize_row_q6k(x, &mut q);
            block_bytes(&q).to_vec()
        }
        _ => panic!("type {t} not handled"),
    }
}

#[test]
fn quantizers_match_llama_cpp_bytes() {
    let Some(dir) = common::fixtures() else {
        return;
    };
    let src = Gguf::open(&dir.join("tiny-gqa-f16.gguf"));
    let mut checked = HashMap::<u32, usize>::new();
    for file in ["tiny-gqa-q8_0.gguf", "tiny-gqa-q4_0.gguf"] {
        let q = Gguf::open(&dir.join(file));
        for (name, info) in &q.tensors {
            let t = info.ty;
            if ![2, 3, 8, 14].contains(&t) {
                continue;
            }
            let n: usize = info.dims.iter().product();
            let source = &src.tensors[name];
            assert_eq!(
                (source.ty, source.dims.iter().product::<usize>()),
                (1, n),
                "{name}: source must be F16 of the same size"
            );
            let x = src.f16_values(name);
            let ours = quantize_bytes(t, &x);
            let theirs = &q.data[info.offset..info.offset + ours.len()];
            if ours != theirs {
                let first = ours.iter().zip(theirs).position(|(a, b)| a != b).unwrap();
                panic!(
                    "{file} {name} (type {t}): first differing byte {first} of {}",
                    ours.len()
                );
            }
            *checked.entry(t).or_default() += 1;
        }
    }
    eprintln!("tensors checked per ggml type: {checked:?}");
    assert!(checked.contains_key(&14), "expected a Q6_K tensor");
    assert!(checked.contains_key(&2) && checked.contains_key(&8));
}
