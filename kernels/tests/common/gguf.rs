//! A minimal GGUF reader for the kernel tests: tensor infos and bytes only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One tensor of a GGUF file.
pub struct TensorInfo {
    /// ggml type id.
    pub ty: u32,
    /// Dimensions, innermost first.
    pub dims: Vec<usize>,
    /// Absolute byte offset of the data in the file.
    pub offset: usize,
}

/// A GGUF file read whole into memory.
pub struct Gguf {
    pub data: Vec<u8>,
    pub tensors: BTreeMap<String, TensorInfo>,
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
    /// Skips a value of type `t`, returning it when it is a scalar integer.
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
    pub fn open(path: &Path) -> Gguf {
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
            let dims: Vec<usize> = (0..nd).map(|_| c.u64() as usize).collect();
            let ty = c.u32();
            let off = c.u64() as usize;
            infos.push((name, ty, dims, off));
        }
        let base = (c.p as u64).div_ceil(align) * align;
        let tensors = infos
            .into_iter()
            .map(|(name, ty, dims, off)| {
                let offset = base as usize + off;
                (name, TensorInfo { ty, dims, offset })
            })
            .collect();
        Gguf { data, tensors }
    }

    /// The f32 values of an F16 tensor.
    pub fn f16_values(&self, name: &str) -> Vec<f32> {
        let t = &self.tensors[name];
        assert_eq!(t.ty, 1, "{name} is not F16");
        let n: usize = t.dims.iter().product();
        self.data[t.offset..t.offset + 2 * n]
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect()
    }
}

/// `../shared/fixtures` with its `kquants/` folder, or `None` after
/// [`super::skip_missing`] (a failure under `EDGE_LLAMA_REQUIRE_DATA=1`).
pub fn fixtures() -> Option<PathBuf> {
    let dir = super::fixtures()?;
    if dir.join("kquants").is_dir() {
        Some(dir)
    } else {
        super::skip_missing(&format!("{} has no kquants/ folder", dir.display()));
        None
    }
}
