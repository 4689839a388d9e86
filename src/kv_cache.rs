//! The key/value cache: a ring buffer of `capacity` positions per layer with
//! `n_sink` "attention sink" positions kept forever.
//!
//! Position p (absolute, counting from 0) lives in slot p while p < capacity.
//! Past that, slots `0..n_sink` keep the first positions and the other
//! `capacity - n_sink` slots form a ring holding the most recent positions,
//! the oldest overwritten first. Keys are stored with RoPE applied at their
//! absolute position, so relative distances stay right as positions keep
//! counting. Memory is allocated once, when the cache is created.

use crate::error::{Error, Result};
use edge_llama_kernels::{BlockQ8_0, Kernels, QK};
use half::f16;

/// Element type of the cached keys and values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum KvType {
    /// 4 bytes per element.
    F32,
    /// 2 bytes per element (llama.cpp's default).
    #[default]
    F16,
    /// Q8_0 blocks of 32: 34 bytes per 32 elements.
    Q8_0,
}

/// Cache settings for a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvCacheConfig {
    /// Positions kept per layer (default 4096). At least `n_sink + 1`.
    pub capacity: usize,
    /// First positions kept forever once the ring wraps (default 4).
    pub n_sink: usize,
    /// Storage type (default f16).
    pub dtype: KvType,
    /// Most bytes a session may allocate for this cache and its scratch
    /// buffers together (default [`DEFAULT_MAX_SESSION_BYTES`]). Creating a
    /// session that would need more is [`Error::TooLarge`], so that a model
    /// file cannot make a session ask for an unbounded amount of memory.
    pub max_session_bytes: u64,
}

/// Default [`KvCacheConfig::max_session_bytes`]: 8 GiB, above what Llama 2
/// 13B needs at 4096 positions in f32 (6.4 GiB of cache).
pub const DEFAULT_MAX_SESSION_BYTES: u64 = 8 << 30;

impl KvType {
    /// Bytes one cached element takes, as (numerator, denominator): f32 4/1,
    /// f16 2/1, q8_0 34/32.
    pub fn bytes_per_elem(self) -> (u64, u64) {
        match self {
            KvType::F32 => (4, 1),
            KvType::F16 => (2, 1),
            KvType::Q8_0 => (std::mem::size_of::<BlockQ8_0>() as u64, QK as u64),
        }
    }
}

impl Default for KvCacheConfig {
    fn default() -> Self {
        KvCacheConfig {
            capacity: 4096,
            n_sink: 4,
            dtype: KvType::F16,
            max_session_bytes: DEFAULT_MAX_SESSION_BYTES,
        }
    }
}

/// One layer's keys or values: `capacity` rows of `kv_dim` elements.
enum Store {
    F32(Vec<f32>),
    F16(Vec<f16>),
    Q8_0(Vec<BlockQ8_0>),
}

impl Store {
    fn new(dtype: KvType, elems: usize) -> Store {
        match dtype {
            KvType::F32 => Store::F32(vec![0.0; elems]),
            KvType::F16 => Store::F16(vec![f16::ZERO; elems]),
            KvType::Q8_0 => Store::Q8_0(vec![
                BlockQ8_0 {
                    d: f16::ZERO,
                    qs: [0; QK]
                };
                elems / QK
            ]),
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Store::F32(v) => std::mem::size_of_val(v.as_slice()),
            Store::F16(v) => std::mem::size_of_val(v.as_slice()),
            Store::Q8_0(v) => std::mem::size_of_val(v.as_slice()),
        }
    }

    /// Writes `x` at element offset `at`.
    fn write(&mut self, k: &Kernels, at: usize, x: &[f32]) {
        match self {
            Store::F32(v) => v[at..at + x.len()].copy_from_slice(x),
            Store::F16(v) => {
                for (o, &i) in v[at..at + x.len()].iter_mut().zip(x) {
                    *o = f16::from_f32(i);
                }
            }
            Store::Q8_0(v) => (k.quantize_q8_0)(x, &mut v[at / QK..(at + x.len()) / QK]),
        }
    }
}

/// A borrowed row (one head at one position) of cached keys or values.
#[derive(Clone, Copy)]
pub(crate) enum Row<'a> {
    F32(&'a [f32]),
    F16(&'a [f16]),
    Q8_0(&'a [BlockQ8_0]),
}

/// Keys and values of every layer for one session.
pub struct KvCache {
    config: KvCacheConfig,
    kv_dim: usize,
    head_dim: usize,
    keys: Vec<Store>,
    values: Vec<Store>,
}

impl KvCache {
    /// Allocates a cache for `n_layers` layers of `kv_dim` = `n_kv_heads * head_dim` elements.
    pub(crate) fn new(
        config: KvCacheConfig,
        n_layers: usize,
        kv_dim: usize,
        head_dim: usize,
    ) -> Result<KvCache> {
        if config.capacity == 0 || config.n_sink >= config.capacity {
            return Err(Error::InvalidArgument(format!(
                "KV cache capacity {} must exceed n_sink {}",
                config.capacity, config.n_sink
            )));
        }
        if config.dtype == KvType::Q8_0 && !head_dim.is_multiple_of(QK) {
            return Err(Error::InvalidArgument(format!(
                "q8_0 KV cache needs a head dimension divisible by {QK}, model has {head_dim}"
            )));
        }
        let elems = config
            .capacity
            .checked_mul(kv_dim)
            .ok_or_else(|| Error::InvalidArgument("KV cache size overflows".into()))?;
        Ok(KvCache {
            config,
            kv_dim,
            head_dim,
            keys: (0..n_layers)
                .map(|_| Store::new(config.dtype, elems))
                .collect(),
            values: (0..n_layers)
                .map(|_| Store::new(config.dtype, elems))
                .collect(),
        })
    }

    /// The settings this cache was made with.
    pub fn config(&self) -> KvCacheConfig {
        self.config
    }

    /// Bytes held by keys and values of all layers.
    pub fn bytes(&self) -> usize {
        self.keys.iter().chain(&self.values).map(Store::bytes).sum()
    }

    /// The slot that absolute position `pos` occupies.
    pub fn slot(&self, pos: usize) -> usize {
        let KvCacheConfig {
            capacity, n_sink, ..
        } = self.config;
        if pos < capacity {
            pos
        } else {
            n_sink + (pos - n_sink) % (capacity - n_sink)
        }
    }

    /// Positions a query at `pos` attends to (all cached ones once `pos` is
    /// written), in chronological order: sinks first, then the window.
    pub fn attended(&self, pos: usize) -> impl Iterator<Item = usize> {
        let KvCacheConfig {
            capacity, n_sink, ..
        } = self.config;
        let (sinks, start) = if pos < capacity {
            (0..0, 0)
        } else {
            (0..n_sink, pos + 1 - (capacity - n_sink))
        };
        sinks.chain(start..=pos)
    }

    /// Stores the key and value vectors (`kv_dim` each) of `pos` in `layer`.
    pub(crate) fn write(
        &mut self,
        k: &Kernels,
        layer: usize,
        pos: usize,
        key: &[f32],
        value: &[f32],
    ) {
        let at = self.slot(pos) * self.kv_dim;
        self.keys[layer].write(k, at, key);
        self.values[layer].write(k, at, value);
    }

    fn row<'a>(&'a self, store: &'a Store, pos: usize, kv_head: usize) -> Row<'a> {
        let at = self.slot(pos) * self.kv_dim + kv_head * self.head_dim;
        let n = self.head_dim;
        match store {
            Store::F32(v) => Row::F32(&v[at..at + n]),
            Store::F16(v) => Row::F16(&v[at..at + n]),
            Store::Q8_0(v) => Row::Q8_0(&v[at / QK..(at + n) / QK]),
        }
    }

    /// The key of `kv_head` at `pos` in `layer`.
    pub(crate) fn key(&self, layer: usize, pos: usize, kv_head: usize) -> Row<'_> {
        self.row(&self.keys[layer], pos, kv_head)
    }

    /// The value of `kv_head` at `pos` in `layer`.
    pub(crate) fn value(&self, layer: usize, pos: usize, kv_head: usize) -> Row<'_> {
        self.row(&self.values[layer], pos, kv_head)
    }

    /// The f16 values of `kv_head` in `layer` at positions `0..n` as one
    /// slice, position p's row at `p * stride`, with `stride` (`kv_dim`):
    /// `None` unless the cache is f16 and `1 <= n <= capacity` (below the
    /// capacity, position p is slot p).
    pub(crate) fn values_f16(
        &self,
        layer: usize,
        kv_head: usize,
        n: usize,
    ) -> Option<(&[f16], usize)> {
        match &self.values[layer] {
            Store::F16(v) if (1..=self.config.capacity).contains(&n) => {
                let at = kv_head * self.head_dim;
                let end = (n - 1) * self.kv_dim + at + self.head_dim;
                Some((v.get(at..end)?, self.kv_dim))
            }
            _ => None,
        }
    }
}

/// The cache in a saved session: slots `0..n` of every layer, keys then
/// values, as little-endian bytes (f32; f16 bits; Q8_0 as its f16 scale and
/// 32 signed bytes).
impl KvCache {
    /// Decoder layers held.
    pub(crate) fn n_layers(&self) -> usize {
        self.keys.len()
    }

    /// Encoded bytes of one slot (one position, every kv head) of one layer.
    pub(crate) fn slot_bytes(&self) -> usize {
        match self.config.dtype {
            KvType::F32 => self.kv_dim * 4,
            KvType::F16 => self.kv_dim * 2,
            KvType::Q8_0 => self.kv_dim / QK * (2 + QK),
        }
    }

    /// Writes slots `0..n` of keys then values, layer by layer.
    pub(crate) fn encode_slots(
        &self,
        n: usize,
        out: &mut impl std::io::Write,
    ) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(n * self.slot_bytes());
        for (k, v) in self.keys.iter().zip(&self.values) {
            for store in [k, v] {
                buf.clear();
                store.encode(n * self.kv_dim, &mut buf);
                out.write_all(&buf)?;
            }
        }
        Ok(())
    }

    /// Reads what [`KvCache::encode_slots`] wrote for `n` slots; `bytes`
    /// holds exactly `2 * n_layers * n * slot_bytes()` bytes (checked by
    /// the caller) and `n <= capacity`.
    pub(crate) fn decode_slots(&mut self, n: usize, bytes: &[u8]) {
        let per_store = n * self.slot_bytes();
        let elems = n * self.kv_dim;
        let stores = self.keys.iter_mut().zip(self.values.iter_mut());
        let mut chunks = bytes.chunks_exact(per_store.max(1));
        for (k, v) in stores {
            for store in [k, v] {
                if let Some(chunk) = chunks.next() {
                    store.decode(elems, chunk);
                }
            }
        }
    }
}

impl Store {
    /// Appends elements `0..elems` as little-endian bytes.
    fn encode(&self, elems: usize, out: &mut Vec<u8>) {
        match self {
            Store::F32(v) => v[..elems]
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Store::F16(v) => v[..elems]
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_bits().to_le_bytes())),
            Store::Q8_0(v) => v[..elems / QK].iter().for_each(|b| {
                out.extend_from_slice(&b.d.to_bits().to_le_bytes());
                out.extend(b.qs.iter().map(|&q| q as u8));
            }),
        }
    }

    /// Sets elements `0..elems` from what [`Store::encode`] wrote.
    fn decode(&mut self, elems: usize, bytes: &[u8]) {
        match self {
            Store::F32(v) => {
                for (o, c) in v[..elems].iter_mut().zip(bytes.chunks_exact(4)) {
                    *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                }
            }
            Store::F16(v) => {
                for (o, c) in v[..elems].iter_mut().zip(bytes.chunks_exact(2)) {
                    *o = f16::from_bits(u16::from_le_bytes([c[0], c[1]]));
                }
            }
            Store::Q8_0(v) => {
                for (b, c) in v[..elems / QK].iter_mut().zip(bytes.chunks_exact(2 + QK)) {
                    b.d = f16::from_bits(u16::from_le_bytes([c[0], c[1]]));
                    for (q, &x) in b.qs.iter_mut().zip(&c[2..]) {
                        *q = x as i8;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_wrap_after_sinks() {
        let c = KvCache::new(
            KvCacheConfig {
                capacity: 8,
                n_sink: 2,
                dtype: KvType::F32,
                ..KvCacheConfig::default()
            },
            1,
            32,
            32,
        )
        .unwrap();
        let slots: Vec<usize> = (0..14).map(|p| c.slot(p)).collect();
        assert_eq!(slots, [0, 1, 2, 3, 4, 5, 6, 7, 2, 3, 4, 5, 6, 7]);
        assert_eq!(c.attended(3).collect::<Vec<_>>(), [0, 1, 2, 3]);
        assert_eq!(c.attended(9).collect::<Vec<_>>(), [0, 1, 4, 5, 6, 7, 8, 9]);
        assert_eq!(
            c.attended(13).collect::<Vec<_>>(),
            [0, 1, 8, 9, 10, 11, 12, 13]
        );
    }
}
