//! Quantization: f32 weights into GGUF tensor bytes of a given type
//! ([`quantize_values`]), and whole GGUF files from f32/f16/bf16 into one of
//! llama.cpp's mixes (Q4_K_M, Q5_K_M, Q3_K_M, Q2_K, Q6_K, Q8_0, Q4_0, …: the
//! tensor types its rules choose, [`mix`]) or f16 the way llama.cpp's
//! `llama-quantize` does ([`quantize_file`]): the same file, byte for byte.
//! Already quantized files (any [`REQUANTIZABLE`] type) are accepted only
//! with [`QuantizeOptions::allow_requantize`] (llama.cpp's
//! `--allow-requantize`): their tensors are dequantized to f32 and quantized
//! again, which compounds the rounding errors.
//! The block arithmetic is the reference (llama.cpp-identical) rounding of
//! `edge_llama_kernels::scalar`, so the bytes match llama.cpp's on the same input.
//!
//! ```no_run
//! use edge_llama::quantize::{quantize_file, QuantTarget, QuantizeOptions};
//!
//! let opts = QuantizeOptions { target: QuantTarget::Q4_0, ..QuantizeOptions::default() };
//! let report = quantize_file("model-f16.gguf", "model-q4_0.gguf", &opts)?;
//! println!("{:.2} bits per weight", report.bits_per_weight());
//! # Ok::<(), edge_llama::Error>(())
//! ```

pub mod mix;
pub mod mix_types;

pub use mix::{choose_types, MixModel, MixPlanner, QuantTarget, TensorRole};

use crate::error::{Error, Result};
use edge_llama_kernels::{block_bytes, with_quant_type, GgmlType, QuantType, QuantVisitor};
use half::{bf16, f16};

/// Quantizes `values` by the reference quantizer of the type visited.
struct QuantizeRows<'a> {
    values: &'a [f32],
}

impl QuantVisitor for QuantizeRows<'_> {
    type Output = Vec<u8>;
    fn visit<T: QuantType>(self) -> Vec<u8> {
        let mut blocks = vec![T::zeroed(); self.values.len() / T::ELEMS];
        T::quantize(self.values, &mut blocks);
        block_bytes(&blocks).to_vec()
    }
}

/// "f32, f16, bf16, q4_0, …": every type [`quantize_values`] writes.
fn target_type_names() -> String {
    let mut names: Vec<&str> = Vec::new();
    let all = edge_llama_kernels::quant::matmul_types().chain(mix_types::MIX_TYPES);
    for t in all {
        if !names.contains(&t.name()) {
            names.push(t.name());
        }
    }
    names.join(", ")
}

/// Encodes `values` (rows of `row_len` elements, row-major) as tensor bytes of
/// type `dtype`. Supported: f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0,
/// q2_K, q3_K, q4_K, q5_K, q6_K and iq4_nl (llama.cpp's reference
/// quantizers, byte for byte); the row length must be a multiple of the
/// type's block size.
pub fn quantize_values(
    name: &str,
    values: &[f32],
    row_len: usize,
    dtype: GgmlType,
) -> Result<Vec<u8>> {
    if row_len == 0
        || !values.len().is_multiple_of(row_len)
        || !row_len.is_multiple_of(dtype.block_elems())
    {
        return Err(Error::BadTensor {
            name: name.to_string(),
            reason: format!(
                "{} values in rows of {row_len} cannot be stored as {dtype} (block of {})",
                values.len(),
                dtype.block_elems()
            ),
        });
    }
    Ok(match dtype {
        GgmlType::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        GgmlType::F16 => values
            .iter()
            .flat_map(|&v| f16::from_f32(v).to_le_bytes())
            .collect(),
        GgmlType::BF16 => values
            .iter()
            .flat_map(|&v| bf16::from_f32(v).to_le_bytes())
            .collect(),
        other => match with_quant_type(other, QuantizeRows { values })
            .or_else(|| mix_types::quantize(other, values))
        {
            Some(bytes) => bytes,
            None => {
                return Err(Error::UnsupportedTensorType {
                    name: name.to_string(),
                    ty: other.to_string(),
                    context: format!(
                        "as a quantization target (supported: {})",
                        target_type_names()
                    ),
                })
            }
        },
    })
}

// ---------------------------------------------------------------------------
// Whole-file quantization.
// ---------------------------------------------------------------------------

use crate::gguf::{GgufFile, GgufWriter, OwnedValue};
use crate::tensor::TensorView;
use std::io::{self, Write};
use std::path::Path;

/// `general.quantization_version` written into every output (ggml's
/// `GGML_QNT_VERSION`, the block layout version of Q4_0/Q8_0/K-quants).
pub const QUANTIZATION_VERSION: u32 = 2;

/// Settings of [`quantize_file`].
#[derive(Clone, Debug)]
pub struct QuantizeOptions {
    /// The type of the ordinary 2-D weights.
    pub target: QuantTarget,
    /// Quantize every 2-D weight to `target`, the output head included (llama.cpp's
    /// `--pure`). When false, the output head (`output.weight`, or
    /// `token_embd.weight` when the model has no `output.weight`) of a Q4_0 file
    /// is Q6_K when its row length is a multiple of 256, else Q8_0, as llama.cpp does.
    pub pure: bool,
    /// Threads that quantize rows in parallel; 0 means rayon's global pool. The
    /// bytes written do not depend on it.
    pub threads: usize,
    /// Makes the output stream fail after this many bytes, as a full disk would
    /// (for testing that a failed run leaves nothing under the output name).
    pub fail_after_bytes: Option<u64>,
    /// Accept weights that are already quantized ([`REQUANTIZABLE`]), as
    /// llama.cpp's `--allow-requantize` does: each is dequantized to f32 with
    /// the reference `dequantize_row_*` and quantized to its planned type. A
    /// tensor already of its planned type is copied unchanged (as llama.cpp
    /// does), not dequantized and quantized again. When false, a quantized
    /// input weight is an [`Error::UnsupportedTensorType`].
    pub allow_requantize: bool,
}

impl Default for QuantizeOptions {
    /// Q8_0, default (not pure) mode, all threads, no simulated failure, no
    /// requantization.
    fn default() -> Self {
        QuantizeOptions {
            target: QuantTarget::Q8_0,
            pure: false,
            threads: 0,
            fail_after_bytes: None,
            allow_requantize: false,
        }
    }
}

/// What happens to one tensor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorPlan {
    /// Tensor name.
    pub name: String,
    /// Its type in the input.
    pub from: GgmlType,
    /// Its type in the output.
    pub to: GgmlType,
    /// GGUF shape (`shape[0]` contiguous).
    pub shape: Vec<u64>,
    /// Bytes of its data in the output.
    pub out_bytes: u64,
}

/// Summary of a quantization.
#[derive(Clone, Debug)]
pub struct QuantizeReport {
    /// Every tensor in output order (see [`plan`]).
    pub tensors: Vec<TensorPlan>,
    /// Total tensor-data bytes of the input.
    pub bytes_in: u64,
    /// Total tensor-data bytes of the output (without alignment padding).
    pub bytes_out: u64,
    /// Total number of weights (elements of all tensors).
    pub n_elements: u64,
}

impl QuantizeReport {
    /// Bits per weight of the output tensor data: `8 · bytes_out / n_elements`.
    pub fn bits_per_weight(&self) -> f64 {
        if self.n_elements == 0 {
            0.0
        } else {
            8.0 * self.bytes_out as f64 / self.n_elements as f64
        }
    }
}

/// Progress of a quantization, passed to the callback before each tensor.
#[derive(Clone, Copy, Debug)]
pub struct Progress<'a> {
    /// Tensors finished so far.
    pub done: usize,
    /// Tensors in the file.
    pub total: usize,
    /// The tensor about to be processed (`None` once all are done and the file
    /// is being written).
    pub tensor: Option<&'a TensorPlan>,
}

/// The output type of each tensor of `input` under `opts`, in the order the
/// output file holds them (llama.cpp's, [`mix::llama_cpp_order`]: tensors
/// outside the layers first, then layer by layer, by name within each).
/// Quantizable 2-D weights get the type [`MixPlanner`] chooses (the mix's
/// rules unless `pure`, then the fallback for row lengths its types cannot
/// hold); other tensors keep their type, except 1-D f16/bf16 tensors, which
/// are stored as f32. Errors: a quantizable tensor whose type is not
/// f32/f16/bf16 (`UnsupportedTensorType`; with `allow_requantize`, the
/// [`REQUANTIZABLE`] types are accepted too); a row length no type can hold
/// (`BadTensor`); a mix that needs `{arch}.block_count` on a file without it
/// (`BadConfig`).
pub fn plan(input: &GgufFile, opts: &QuantizeOptions) -> Result<Vec<TensorPlan>> {
    let tensors: Vec<TensorView<'_>> = input.tensors().collect();
    let names: Vec<&str> = tensors.iter().map(|t| t.name).collect();
    let mut planner = MixPlanner::new(opts.target, opts.pure, MixModel::from_gguf(input)?, &names);
    mix::llama_cpp_order(&names)
        .into_iter()
        .map(|i| {
            let t = &tensors[i];
            let row = t.row_len() as u64;
            let quantizable = mix::allows_quantization(t.name, t.shape);
            if quantizable {
                let float = matches!(t.dtype, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16);
                let requantizable = REQUANTIZABLE.contains(&t.dtype);
                if !(float || (requantizable && opts.allow_requantize)) {
                    let context = if requantizable {
                        "as quantizer input (the input file must be f32, f16 or bf16; \
                         this tensor is already quantized: allow requantization \
                         (--allow-requantize) to dequantize and quantize it again, \
                         at the cost of compounded rounding error)"
                    } else {
                        "as quantizer input (the input file must be f32, f16 or bf16, \
                         or with requantization allowed one of the quantized types \
                         the quantizer writes)"
                    };
                    return Err(Error::UnsupportedTensorType {
                        name: t.name.to_string(),
                        ty: t.dtype.to_string(),
                        context: context.into(),
                    });
                }
            }
            let chosen = planner.choose(t.name, t.shape, t.dtype)?;
            let to = if !quantizable
                && t.shape.len() == 1
                && matches!(t.dtype, GgmlType::F16 | GgmlType::BF16)
            {
                GgmlType::F32
            } else {
                chosen
            };
            if !row.is_multiple_of(to.block_elems() as u64) {
                return Err(Error::BadTensor {
                    name: t.name.to_string(),
                    reason: format!(
                        "row length {row} is not a multiple of the {to} block size {}; cannot quantize this file to {}",
                        to.block_elems(),
                        opts.target
                    ),
                });
            }
            let out_bytes = to
                .row_bytes(row)
                .and_then(|b| b.checked_mul(t.n_rows() as u64))
                .ok_or_else(|| Error::BadTensor {
                    name: t.name.to_string(),
                    reason: "output size overflows".into(),
                })?;
            Ok(TensorPlan {
                name: t.name.to_string(),
                from: t.dtype,
                to,
                shape: t.shape.to_vec(),
                out_bytes,
            })
        })
        .collect()
}

/// Quantized tensor types that [`QuantizeOptions::allow_requantize`] accepts
/// as input: those with a reference dequantizer (the kernels' quantized
/// types and [`mix_types::MIX_TYPES`]).
pub const REQUANTIZABLE: &[GgmlType] = &[
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q8_0,
    GgmlType::Q6K,
    GgmlType::Q2K,
    GgmlType::Q3K,
    GgmlType::Q4K,
    GgmlType::Q5K,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::IQ4NL,
];

/// The elements of a tensor as f32: exact conversions of f32, f16 and bf16;
/// for the [`REQUANTIZABLE`] types the reference dequantization
/// ([`edge_llama_kernels::QuantType::dequantize`] and
/// [`mix_types::dequantize`], the values the quantized
/// model computes with).
pub fn tensor_to_f32(t: &TensorView<'_>) -> Result<Vec<f32>> {
    let n = usize::try_from(t.n_elements()).map_err(|_| Error::BadTensor {
        name: t.name.to_string(),
        reason: "too many elements for this platform".into(),
    })?;
    match mix_types::dequantize(t.name, t.dtype, t.data, n) {
        Some(values) => values,
        None => t.to_f32_vec(),
    }
}

/// Quantizes `values` (rows of `row_len`) to `dtype`, splitting the rows over
/// the current rayon pool. Same bytes as [`quantize_values`]: blocks are
/// independent.
fn quantize_parallel(
    name: &str,
    values: &[f32],
    row_len: usize,
    dtype: GgmlType,
) -> Result<Vec<u8>> {
    use rayon::prelude::*;
    // Rows per job: at least 64 Ki elements so scheduling stays negligible.
    let rows_per_job = (65536 / row_len.max(1)).max(1);
    let parts: Vec<Vec<u8>> = values
        .par_chunks(rows_per_job * row_len.max(1))
        .map(|chunk| quantize_values(name, chunk, row_len, dtype))
        .collect::<Result<_>>()?;
    Ok(parts.concat())
}

/// Quantizes the GGUF file `input` into a GGUF stream on `out` (see
/// [`quantize_file`] for what is written). `progress` is called before each
/// tensor and once more before the file is written. Returns what was done.
pub fn quantize_to_writer<W: Write>(
    input: &GgufFile,
    out: &mut W,
    opts: &QuantizeOptions,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<QuantizeReport> {
    let plans = plan(input, opts)?;
    let mut w = GgufWriter::new();
    for (key, value) in input.metadata() {
        w.add_metadata(key, value.to_owned_value())?;
    }
    // llama.cpp replaces a key by removing it and appending the new value:
    // these two end the metadata, in this order.
    w.remove_metadata("general.quantization_version");
    w.add_metadata(
        "general.quantization_version",
        OwnedValue::U32(QUANTIZATION_VERSION),
    )?;
    w.remove_metadata("general.file_type");
    w.add_metadata(
        "general.file_type",
        OwnedValue::U32(opts.target.file_type()),
    )?;

    let pool = if opts.threads > 0 {
        Some(
            rayon::ThreadPoolBuilder::new()
                .num_threads(opts.threads)
                .build()
                .map_err(|e| {
                    Error::InvalidArgument(format!("thread pool of {}: {e}", opts.threads))
                })?,
        )
    } else {
        None
    };
    let total = plans.len();
    let (mut bytes_in, mut bytes_out, mut n_elements) = (0u64, 0u64, 0u64);
    for (i, p) in plans.iter().enumerate() {
        let t = input.tensor(&p.name).ok_or_else(|| Error::BadTensor {
            name: p.name.clone(),
            reason: "planned but not found in the input".into(),
        })?;
        progress(Progress {
            done: i,
            total,
            tensor: Some(p),
        });
        bytes_in += t.data.len() as u64;
        bytes_out += p.out_bytes;
        n_elements += t.n_elements();
        if p.to == t.dtype {
            w.add_tensor(t.name, t.dtype, t.shape, t.data)?;
            continue;
        }
        let values = tensor_to_f32(&t)?;
        let run = || quantize_parallel(t.name, &values, t.row_len(), p.to);
        let bytes = match &pool {
            Some(pool) => pool.install(run)?,
            None => run()?,
        };
        w.add_tensor(t.name, p.to, t.shape, bytes)?;
    }
    progress(Progress {
        done: total,
        total,
        tensor: None,
    });
    match opts.fail_after_bytes {
        Some(limit) => w.write(&mut FailAfter {
            inner: out,
            left: limit,
        })?,
        None => w.write(out)?,
    }
    Ok(QuantizeReport {
        tensors: plans,
        bytes_in,
        bytes_out,
        n_elements,
    })
}

/// Reads the f32/f16/bf16 GGUF file `input` (or, with
/// [`QuantizeOptions::allow_requantize`], a quantized one) and writes a quantized GGUF file
/// at `output`: every metadata key copied, `general.file_type` set to the
/// target's llama.cpp number and `general.quantization_version` to 2; tensors
/// in the input order with the types [`plan`] gives. Block arithmetic is
/// llama.cpp's reference rounding (Q8_0 and Q4_0 blocks byte-identical to its
/// quantizer on the same input).
///
/// The file is written as `OUTPUT.tmp-<pid>` beside `output`, flushed to disk
/// and renamed, so `output` is either untouched or the complete new file; on
/// error the temporary file is removed. The whole output is held in memory
/// before it is written (about the size of the output file).
pub fn quantize_file(
    input: impl AsRef<Path>,
    output: impl AsRef<Path>,
    opts: &QuantizeOptions,
) -> Result<QuantizeReport> {
    quantize_file_with_progress(input, output, opts, &mut |_| {})
}

/// [`quantize_file`] with a progress callback (called before each tensor and
/// once before the file is written).
pub fn quantize_file_with_progress(
    input: impl AsRef<Path>,
    output: impl AsRef<Path>,
    opts: &QuantizeOptions,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<QuantizeReport> {
    let file = GgufFile::open(input.as_ref())?;
    crate::gguf::writer::write_atomically(output.as_ref(), |out| {
        quantize_to_writer(&file, out, opts, progress)
    })
}

/// A writer that fails with `StorageFull`-like `Other` error once `left`
/// bytes have been written.
struct FailAfter<'w, W: Write> {
    inner: &'w mut W,
    left: u64,
}

impl<W: Write> Write for FailAfter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Err(io::Error::other(
                "simulated write failure (fail_after_bytes)",
            ));
        }
        let n = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.write(&buf[..n])?;
        self.left -= n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
