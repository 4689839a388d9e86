//! Quantization mixes: which tensor type each weight of a file gets, the way
//! llama.cpp's `llama-quantize` chooses it in its default mode (its
//! `llama_tensor_get_type`, no importance matrix).
//!
//! A mix ([`QuantTarget`], llama.cpp's `llama_ftype`) names a default type
//! (Q4_K for Q4_K_M) and rules that give some tensors more bits: the output
//! head, the value projections (`attn_v`), the feed-forward down projections
//! (`ffn_down`) and `attn_output`, by the layer's position among the layers
//! ([`use_more_bits`]), the number of query heads per key/value head and the
//! number of experts. A type whose block does not divide a tensor's row
//! length falls back to a 32-element type ([`fallback`]): Q2_K and Q3_K to
//! Q4_0, Q4_K to Q5_0, Q5_K to Q5_1, Q6_K to Q8_0, then F16 if even that does
//! not fit.
//!
//! [`MixPlanner`] applies the rules to the tensors of a file in llama.cpp's
//! order ([`llama_cpp_order`]); the counters it keeps (the how-many-th
//! `attn_v` this is) depend on that order.

use crate::error::{Error, Result};
use crate::gguf::GgufFile;
use edge_llama_kernels::GgmlType;
use std::cmp::Ordering;

/// What a whole file is converted to (llama.cpp's `llama_ftype`): the type of
/// its ordinary 2-D weights and, unless [`pure`](super::QuantizeOptions::pure),
/// the rules that give some tensors another type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QuantTarget {
    /// Every weight f32 (`LLAMA_FTYPE_ALL_F32` = 0).
    F32,
    /// 2-D weights f16 (`LLAMA_FTYPE_MOSTLY_F16` = 1).
    F16,
    /// 2-D weights Q8_0 (`LLAMA_FTYPE_MOSTLY_Q8_0` = 7).
    Q8_0,
    /// Q6_K, output head Q6_K (`LLAMA_FTYPE_MOSTLY_Q6_K` = 18).
    Q6K,
    /// Q5_K with Q6_K for half the `attn_v` and `ffn_down` layers
    /// (`LLAMA_FTYPE_MOSTLY_Q5_K_M` = 17).
    Q5KM,
    /// Q5_K, output head Q6_K (`LLAMA_FTYPE_MOSTLY_Q5_K_S` = 16).
    Q5KS,
    /// Q5_1, output head Q6_K (`LLAMA_FTYPE_MOSTLY_Q5_1` = 9).
    Q5_1,
    /// Q5_0, output head Q6_K (`LLAMA_FTYPE_MOSTLY_Q5_0` = 8).
    Q5_0,
    /// Q4_K with Q6_K for half the `attn_v` and `ffn_down` layers
    /// (`LLAMA_FTYPE_MOSTLY_Q4_K_M` = 15).
    Q4KM,
    /// Q4_K with Q5_K for the first `attn_v` and `ffn_down` layers
    /// (`LLAMA_FTYPE_MOSTLY_Q4_K_S` = 14).
    Q4KS,
    /// Q4_1, output head Q6_K (`LLAMA_FTYPE_MOSTLY_Q4_1` = 3).
    Q4_1,
    /// IQ4_NL (4-bit non-linear levels), Q5_K for the first `ffn_down`
    /// layers (`LLAMA_FTYPE_MOSTLY_IQ4_NL` = 25).
    IQ4NL,
    /// Q4_0, output head Q6_K (`LLAMA_FTYPE_MOSTLY_Q4_0` = 2).
    Q4_0,
    /// Q3_K with Q5_K `attn_v`, `ffn_down`, `attn_output`
    /// (`LLAMA_FTYPE_MOSTLY_Q3_K_L` = 13).
    Q3KL,
    /// Q3_K with Q4_K/Q5_K `attn_v`, `ffn_down`, Q4_K `attn_output`
    /// (`LLAMA_FTYPE_MOSTLY_Q3_K_M` = 12).
    Q3KM,
    /// Q3_K, output head Q6_K (`LLAMA_FTYPE_MOSTLY_Q3_K_S` = 11).
    Q3KS,
    /// Q2_K with Q3_K `attn_v` (Q4_K with ≥ 4 query heads per kv head),
    /// `ffn_down`, `attn_output` (`LLAMA_FTYPE_MOSTLY_Q2_K` = 10).
    Q2K,
}

impl QuantTarget {
    /// Every target, in order of decreasing size (as llama.cpp lists them).
    pub const ALL: [QuantTarget; 17] = [
        QuantTarget::F32,
        QuantTarget::F16,
        QuantTarget::Q8_0,
        QuantTarget::Q6K,
        QuantTarget::Q5KM,
        QuantTarget::Q5KS,
        QuantTarget::Q5_1,
        QuantTarget::Q5_0,
        QuantTarget::Q4KM,
        QuantTarget::Q4KS,
        QuantTarget::Q4_1,
        QuantTarget::IQ4NL,
        QuantTarget::Q4_0,
        QuantTarget::Q3KL,
        QuantTarget::Q3KM,
        QuantTarget::Q3KS,
        QuantTarget::Q2K,
    ];

    /// The type of the ordinary 2-D weights (llama.cpp's
    /// `llama_ftype_get_default_type`).
    pub fn dtype(self) -> GgmlType {
        use QuantTarget::*;
        match self {
            F32 => GgmlType::F32,
            F16 => GgmlType::F16,
            Q8_0 => GgmlType::Q8_0,
            Q6K => GgmlType::Q6K,
            Q5KM | Q5KS => GgmlType::Q5K,
            Q5_1 => GgmlType::Q5_1,
            Q5_0 => GgmlType::Q5_0,
            Q4KM | Q4KS => GgmlType::Q4K,
            Q4_1 => GgmlType::Q4_1,
            IQ4NL => GgmlType::IQ4NL,
            Q4_0 => GgmlType::Q4_0,
            Q3KL | Q3KM | Q3KS => GgmlType::Q3K,
            Q2K => GgmlType::Q2K,
        }
    }

    /// The value of `general.file_type` (llama.cpp's `LLAMA_FTYPE_*` number).
    pub fn file_type(self) -> u32 {
        use QuantTarget::*;
        match self {
            F32 => 0,
            F16 => 1,
            Q4_0 => 2,
            Q4_1 => 3,
            Q8_0 => 7,
            Q5_0 => 8,
            Q5_1 => 9,
            Q2K => 10,
            Q3KS => 11,
            Q3KM => 12,
            Q3KL => 13,
            Q4KS => 14,
            Q4KM => 15,
            Q5KS => 16,
            Q5KM => 17,
            Q6K => 18,
            IQ4NL => 25,
        }
    }

    /// Lower-case name as `llama-quantize` spells it (`"q4_k_m"`, `"q8_0"`,
    /// `"f16"`, …).
    pub fn name(self) -> &'static str {
        use QuantTarget::*;
        match self {
            F32 => "f32",
            F16 => "f16",
            Q8_0 => "q8_0",
            Q6K => "q6_k",
            Q5KM => "q5_k_m",
            Q5KS => "q5_k_s",
            Q5_1 => "q5_1",
            Q5_0 => "q5_0",
            Q4KM => "q4_k_m",
            Q4KS => "q4_k_s",
            Q4_1 => "q4_1",
            IQ4NL => "iq4_nl",
            Q4_0 => "q4_0",
            Q3KL => "q3_k_l",
            Q3KM => "q3_k_m",
            Q3KS => "q3_k_s",
            Q2K => "q2_k",
        }
    }

    /// Whether the 2-D weights are quantized (not f32/f16).
    pub fn is_quantized(self) -> bool {
        !matches!(self, QuantTarget::F32 | QuantTarget::F16)
    }

    /// Whether the rules depend on the layer count (`{arch}.block_count`).
    fn needs_layer_count(self) -> bool {
        use QuantTarget::*;
        matches!(self, Q2K | Q3KM | Q3KL | Q4KM | Q4KS | Q5KM | IQ4NL)
    }
}

impl std::fmt::Display for QuantTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for QuantTarget {
    type Err = Error;

    /// Parses a name of [`QuantTarget::name`] (case-insensitive; `q4_k` means
    /// `q4_k_m`, `q5_k` `q5_k_m` and `q3_k` `q3_k_m`, as in llama-quantize).
    fn from_str(s: &str) -> Result<Self> {
        let lower = s.to_ascii_lowercase();
        let alias = match lower.as_str() {
            "q4_k" => Some(QuantTarget::Q4KM),
            "q5_k" => Some(QuantTarget::Q5KM),
            "q3_k" => Some(QuantTarget::Q3KM),
            _ => None,
        };
        alias
            .or_else(|| QuantTarget::ALL.into_iter().find(|t| t.name() == lower))
            .ok_or_else(|| {
                let known: Vec<&str> = QuantTarget::ALL.iter().map(|t| t.name()).collect();
                Error::InvalidArgument(format!(
                    "unknown quantization type {s:?} (known: {})",
                    known.join(", ")
                ))
            })
    }
}

/// The model facts the rules read (llama.cpp's hyperparameters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MixModel {
    /// Decoder blocks (`{arch}.block_count`); `None` when the file lacks it.
    pub n_layer: Option<u32>,
    /// Query heads (`{arch}.attention.head_count`, 0 when absent).
    pub n_head: u32,
    /// Key/value heads (`{arch}.attention.head_count_kv`, default `n_head`).
    pub n_head_kv: u32,
    /// Experts per MoE layer (`{arch}.expert_count`, 0 when absent).
    pub n_expert: u32,
    /// `general.architecture` is `falcon` (llama.cpp has Falcon-only rules).
    pub falcon: bool,
    /// llama.cpp's `LLM_TYPE_70B`: a Llama with 80 layers and grouped-query
    /// attention (its `attn_v` gets at least Q5_K in the K mixes).
    pub llama_70b: bool,
}

impl MixModel {
    /// Reads the facts from `file`'s metadata. A missing key gives its
    /// default; a key of the wrong type is an error.
    pub fn from_gguf(file: &GgufFile) -> Result<MixModel> {
        let arch = file.opt_str("general.architecture")?.unwrap_or("");
        let key = |k: &str| format!("{arch}.{k}");
        let n_layer = file.opt_u32(&key("block_count"))?;
        let n_head = file.opt_u32(&key("attention.head_count"))?.unwrap_or(0);
        let n_head_kv = file
            .opt_u32(&key("attention.head_count_kv"))?
            .unwrap_or(n_head);
        let n_expert = file.opt_u32(&key("expert_count"))?.unwrap_or(0);
        Ok(MixModel {
            n_layer,
            n_head,
            n_head_kv,
            n_expert,
            falcon: arch == "falcon",
            llama_70b: arch == "llama" && n_layer == Some(80) && n_head != n_head_kv,
        })
    }

    /// Query heads per key/value head (0 when `n_head_kv` is 0).
    pub fn n_gqa(&self) -> u32 {
        self.n_head.checked_div(self.n_head_kv).unwrap_or(0)
    }
}

/// The role of a tensor, from its name (llama.cpp's `tensor_category`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TensorRole {
    /// `output.weight`.
    Output,
    /// `token_embd.weight`.
    TokenEmbd,
    /// A value projection: `attn_v`, or the fused `attn_qkv` / `attn_kv_b`.
    AttnV,
    /// `attn_k`.
    AttnK,
    /// `attn_q`.
    AttnQ,
    /// `attn_output`.
    AttnOutput,
    /// `ffn_up*`.
    FfnUp,
    /// `ffn_gate*`.
    FfnGate,
    /// `ffn_down*`.
    FfnDown,
    /// Anything else.
    Other,
}

impl TensorRole {
    /// The role of the tensor called `name`.
    pub fn of(name: &str) -> TensorRole {
        if name == "output.weight" {
            TensorRole::Output
        } else if name == "token_embd.weight" || name == "per_layer_token_embd.weight" {
            TensorRole::TokenEmbd
        } else if ["attn_qkv.weight", "attn_kv_b.weight", "attn_v.weight"]
            .iter()
            .any(|p| name.contains(p))
        {
            TensorRole::AttnV
        } else if name.contains("attn_k.weight") {
            TensorRole::AttnK
        } else if name.contains("attn_q.weight") {
            TensorRole::AttnQ
        } else if name.contains("attn_output.weight") {
            TensorRole::AttnOutput
        } else if name.contains("ffn_up") {
            TensorRole::FfnUp
        } else if name.contains("ffn_gate") {
            TensorRole::FfnGate
        } else if name.contains("ffn_down") {
            TensorRole::FfnDown
        } else {
            TensorRole::Other
        }
    }
}

/// llama.cpp's choice of layers that get more bits: the first and last
/// eighth of the `n_layers` layers and every third one between them.
pub fn use_more_bits(i_layer: i64, n_layers: i64) -> bool {
    i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2
}

/// The type llama.cpp falls back to when `ty`'s block does not divide a row
/// of `row_len` elements: Q2_K and Q3_K → Q4_0, Q4_K → Q5_0, Q5_K → Q5_1,
/// Q6_K → Q8_0, and F16 when the fallback does not fit either. `ty` itself
/// when it fits. Error for a 32-element type that does not fit (llama.cpp
/// defines no fallback for it).
pub fn fallback(name: &str, ty: GgmlType, row_len: u64) -> Result<GgmlType> {
    if row_len.is_multiple_of(ty.block_elems() as u64) {
        return Ok(ty);
    }
    let to = match ty {
        GgmlType::Q2K | GgmlType::Q3K => GgmlType::Q4_0,
        GgmlType::Q4K => GgmlType::Q5_0,
        GgmlType::Q5K => GgmlType::Q5_1,
        GgmlType::Q6K => GgmlType::Q8_0,
        _ => {
            return Err(Error::BadTensor {
                name: name.to_string(),
                reason: format!(
                    "row length {row_len} is not a multiple of the {ty} block size {}, \
                     and {ty} has no fallback type",
                    ty.block_elems()
                ),
            })
        }
    };
    Ok(if row_len.is_multiple_of(to.block_elems() as u64) {
        to
    } else {
        GgmlType::F16
    })
}

/// Whether llama.cpp's quantizer changes this tensor's type at all (its
/// `tensor_allows_quantization`, for the names a Llama-family file holds):
/// 2-D or larger weights other than norms, expert gates and position/token-type
/// embeddings. `shape` is the GGUF shape; trailing 1s do not count as
/// dimensions, as in ggml.
pub fn allows_quantization(name: &str, shape: &[u64]) -> bool {
    let n_dims = shape.iter().rposition(|&d| d != 1).map_or(1, |i| i + 1);
    name.ends_with("weight")
        && n_dims >= 2
        && !name.contains("_norm.weight")
        && !name.contains("ffn_gate_inp.weight")
        && name != "position_embd.weight"
        && name != "token_types.weight"
}

/// The layer index llama.cpp reads from a name `blk.N.…` (`None` otherwise).
fn layer_of(name: &str) -> Option<i64> {
    let rest = name.strip_prefix("blk.")?;
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    rest[..digits].parse().ok()
}

/// llama.cpp's tensor order (its model loader's `weight_name_comparer`):
/// tensors outside `blk.N.` first, then by layer number, and by name (bytes)
/// within each. Returns indices into `names`. Quantized files are written in
/// this order, and the rules' counters follow it.
pub fn llama_cpp_order(names: &[&str]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..names.len()).collect();
    idx.sort_by(|&a, &b| {
        let (la, lb) = (
            layer_of(names[a]).unwrap_or(-1),
            layer_of(names[b]).unwrap_or(-1),
        );
        match la.cmp(&lb) {
            Ordering::Equal => names[a].as_bytes().cmp(names[b].as_bytes()),
            other => other,
        }
    });
    idx
}

/// Applies a mix's rules to the tensors of one file, one at a time, in
/// [`llama_cpp_order`] (the rules count `attn_v` and `ffn_down` tensors as
/// they go).
#[derive(Clone, Debug)]
pub struct MixPlanner {
    target: QuantTarget,
    pure: bool,
    model: MixModel,
    tied: bool,
    n_attention_wv: i64,
    i_attention_wv: i64,
    i_ffn_down: i64,
    i_ffn_gate: i64,
    i_ffn_up: i64,
}

impl MixPlanner {
    /// A planner for a file holding the tensors `names`. `pure` applies the
    /// default type to every quantizable tensor (the fallback still applies).
    pub fn new(target: QuantTarget, pure: bool, model: MixModel, names: &[&str]) -> MixPlanner {
        MixPlanner {
            target,
            pure,
            model,
            tied: !names
                .iter()
                .any(|n| TensorRole::of(n) == TensorRole::Output),
            n_attention_wv: names
                .iter()
                .filter(|n| TensorRole::of(n) == TensorRole::AttnV)
                .count() as i64,
            i_attention_wv: 0,
            i_ffn_down: 0,
            i_ffn_gate: 0,
            i_ffn_up: 0,
        }
    }

    /// The output type of the next tensor, `name` with GGUF shape `shape` and
    /// input type `current`. Call in [`llama_cpp_order`]. Errors: a rule
    /// needs `{arch}.block_count` and the file lacks it; an MoE tensor name
    /// without a valid layer; a row length no type of the mix can hold.
    pub fn choose(&mut self, name: &str, shape: &[u64], current: GgmlType) -> Result<GgmlType> {
        if !allows_quantization(name, shape) {
            return Ok(current);
        }
        let default = self.target.dtype();
        if !self.target.is_quantized() {
            return Ok(default);
        }
        let row_len = shape.first().copied().unwrap_or(0);
        let ty = if self.pure {
            default
        } else {
            self.rules(name, row_len, default)?
        };
        fallback(name, ty, row_len)
    }

    fn n_layer(&self) -> Result<i64> {
        match self.model.n_layer {
            Some(n) => Ok(i64::from(n)),
            None if !self.target.needs_layer_count() => Ok(0),
            None => Err(Error::BadConfig(format!(
                "the {} rules need the layer count ({{arch}}.block_count), which the file lacks",
                self.target
            ))),
        }
    }

    /// `(layer, layer count)` of the next tensor counted by `counter`
    /// (llama.cpp's `layer_info`: with experts, the layer is read from the name).
    fn layer_info(&self, counter: i64, name: &str) -> Result<(i64, i64)> {
        let n_layer = self.n_layer()?;
        if self.model.n_expert <= 1 {
            return Ok((counter, n_layer));
        }
        match layer_of(name) {
            Some(i) if (0..n_layer).contains(&i) => Ok((i, n_layer)),
            _ => Err(Error::BadTensor {
                name: name.to_string(),
                reason: format!("no layer in 0..{n_layer} in the name of an expert tensor"),
            }),
        }
    }

    /// llama.cpp's `llama_tensor_get_type_impl` for the mixes of
    /// [`QuantTarget`] without an importance matrix.
    fn rules(&mut self, name: &str, row_len: u64, default: GgmlType) -> Result<GgmlType> {
        use GgmlType as G;
        use QuantTarget as T;
        let ft = self.target;
        let m = &self.model;
        let role = TensorRole::of(name);
        let mut ty = default;
        if role == TensorRole::Output || (self.tied && role == TensorRole::TokenEmbd) {
            if m.falcon || !row_len.is_multiple_of(default.block_elems() as u64) {
                ty = G::Q8_0;
            } else if ty != G::Q8_0 {
                ty = G::Q6K;
            }
            return Ok(ty);
        }
        match role {
            TensorRole::AttnV => {
                let (i, n) = (self.i_attention_wv, self.n_attention_wv);
                ty = match ft {
                    T::Q2K if m.n_gqa() >= 4 => G::Q4K,
                    T::Q2K => G::Q3K,
                    T::Q3KM if i < 2 => G::Q5K,
                    T::Q3KM => G::Q4K,
                    T::Q3KL => G::Q5K,
                    T::IQ4NL if m.n_gqa() >= 4 => G::Q5K,
                    T::Q4KM | T::Q5KM if use_more_bits(i, n) => G::Q6K,
                    T::Q4KS if i < 4 => G::Q5K,
                    _ => ty,
                };
                if m.llama_70b && matches!(ty, G::Q3K | G::Q4K) {
                    ty = G::Q5K;
                }
                if m.n_expert == 8 {
                    ty = G::Q8_0;
                }
                self.i_attention_wv += 1;
            }
            TensorRole::AttnK if m.n_expert == 8 => ty = G::Q8_0,
            TensorRole::FfnDown => {
                let (i, n) = self.layer_info(self.i_ffn_down, name)?;
                ty = match ft {
                    T::Q2K => G::Q3K,
                    T::Q3KM if i < n / 16 => G::Q5K,
                    T::Q3KM if !m.falcon || use_more_bits(i, n) => G::Q4K,
                    T::Q3KM => G::Q3K,
                    T::Q3KL if m.falcon => G::Q4K,
                    T::Q3KL => G::Q5K,
                    T::Q4KM if m.falcon && i < n / 16 => G::Q6K,
                    T::Q4KM if m.falcon && use_more_bits(i, n) => G::Q5K,
                    T::Q4KM if m.falcon => G::Q4K,
                    // No importance matrix: llama.cpp's IQ4_NL rule applies.
                    T::IQ4NL if i < n / 8 => G::Q5K,
                    T::Q4KM | T::Q5KM if use_more_bits(i, n) => G::Q6K,
                    T::Q4KS if !m.falcon && i < n / 8 => G::Q5K,
                    _ => ty,
                };
                self.i_ffn_down += 1;
            }
            TensorRole::AttnOutput => {
                ty = match (m.falcon, m.n_expert == 8, ft) {
                    (false, true, T::Q2K | T::Q3KS | T::Q3KM | T::Q4KS | T::Q4KM | T::IQ4NL) => {
                        G::Q5K
                    }
                    (false, false, T::Q2K) => G::Q3K,
                    (false, false, T::Q3KM) => G::Q4K,
                    (false, false, T::Q3KL) => G::Q5K,
                    (true, _, T::Q3KL) => G::Q4K,
                    _ => ty,
                };
            }
            TensorRole::FfnGate => {
                // No rule of these mixes changes ffn_gate; llama.cpp still
                // resolves the layer (an error for a bad expert name).
                self.layer_info(self.i_ffn_gate, name)?;
                self.i_ffn_gate += 1;
            }
            TensorRole::FfnUp => {
                self.layer_info(self.i_ffn_up, name)?;
                self.i_ffn_up += 1;
            }
            _ => {}
        }
        Ok(ty)
    }
}

/// The type `target` gives each tensor `(name, GGUF shape, current type)` of
/// `tensors` (returned in the same order as `tensors`; the rules are applied
/// in [`llama_cpp_order`]). Errors as [`MixPlanner::choose`].
pub fn choose_types(
    target: QuantTarget,
    pure: bool,
    model: MixModel,
    tensors: &[(&str, &[u64], GgmlType)],
) -> Result<Vec<GgmlType>> {
    let names: Vec<&str> = tensors.iter().map(|t| t.0).collect();
    let mut planner = MixPlanner::new(target, pure, model, &names);
    let mut out = vec![GgmlType::F32; tensors.len()];
    for i in llama_cpp_order(&names) {
        let (name, shape, current) = tensors[i];
        out[i] = planner.choose(name, shape, current)?;
    }
    Ok(out)
}
