//! Byte-identity of the reference weight quantizers with llama.cpp's: every
//! Q8_0 / Q4_0 / Q6_K tensor of `tiny-gqa-{q8_0,q4_0}.gguf` (written by
//! llama.cpp's quantizer) must equal our quantization of the same tensor in
//! `tiny-gqa-f16.gguf`. Skipped (with a message) when the fixtures are absent,
//! a failure under `EDGE_LLAMA_REQUIRE_DATA=1`.

mod common;

use edge_llama_kernels::scalar::*;
use edge_llama_kernels::*;
use half::f16;
use std::collections::HashMap;
use std::path::PathBuf;

/// A minimal GGUF reader, enough for tensor infos (test-only).
struct Gguf {
    data: Vec<u8>,
    /// name → (ggml type id, element count, absolute byte offset)
    tensors: HashMap<String, (u32, usize, usize)>,
}

struct Cur<'a> {
    b: &'a [u8],
    p: usize,
}
impl Cur<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        let s = &self.b[self.p..self.p + n];
        self.p += n;
        s
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take(4).try_into().unwrap())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take(8).try_into().unwrap())
    }
    fn string(&mut self) -> String {
        let n = self.u64() as usize;
        String::from_utf8_lossy(self.take(n)).into_owned()
    }
    /// Skips a value of type `t`, returning it as u64 when it is a scalar int.
    fn value(&mut self, t: u32) -> Option<u64> {
        match t {
            0 | 1 | 7 => Some(u64::from(self.take(1)[0])),
            2 | 3 => Some(u64::from(u16::from_le_bytes(
                self.take(2).try_into().unwrap(),
            ))),
            4 | 5 => Some(u64::from(self.u32())),
            6 => {
                self.take(4);
                None
            }
            8 => {
                self.string();
                None
            }
            9 => {
                let et = self.u32();
                let n = self.u64();
                for _ in 0..n {
                    self.value(et);
                }
                None
            }
            10..=12 => Some(self.u64()),
            _ => panic!("bad gguf value type {t}"),
        }
    }
}

impl Gguf {
    fn open(path: &PathBuf) -> Gguf {
        let data = std::fs::read(path).unwrap();
        let mut c = Cur { b: &data, p: 0 };
        assert_eq!(c.take(4), b"GGUF");
        let _version = c.u32();
        let n_t = c.u64();
        let n_kv = c.u64();
        let mut align = 32u64;
        for _ in 0..n_kv {
            let k = c.string();
            let t = c.u32();
            let v = c.value(t);
            if k == "general.alignment" {
                align = v.unwrap();
            }
        }
        let mut infos = Vec::new();
        for _ in 0..n_t {
            let name = c.string();
            let nd = c.u32();
            let n: u64 = (0..nd).map(|_| c.u64()).product();
            let t = c.u32();
            let off = c.u64();
            infos.push((name, t, n as usize, off as usize));
        }
        let base = (c.p as u64).div_ceil(align) * align;
        let tensors = infos
            .into_iter()
            .map(|(name, t, n, off)| (name, (t, n, base as usize + off)))
            .collect();
        Gguf { data, tensors }
    }
    fn bytes(&self, off: usize, len: usize) -> &[u8] {
        &self.data[off..off + len]
    }
}

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
        for (name, &(t, n, off)) in &q.tensors {
            if ![2, 3, 8, 14].contains(&t) {
                continue;
            }
            let &(st, sn, soff) = &src.tensors[name];
            assert_eq!(
                (st, sn),
                (1, n),
                "{name}: source must be F16 of the same size"
            );
            let x: Vec<f32> = src
                .bytes(soff, 2 * n)
                .chunks_exact(2)
                .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect();
            let ours = quantize_bytes(t, &x);
            let theirs = q.bytes(off, ours.len());
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
