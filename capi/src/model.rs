//! Model handles: open, free, facts about the model, tokens to text and back.

use crate::status::{
    arg_ref, arg_slice, arg_str, guard, need_out, write_out, CError, EdgeLlamaStatus,
    EDGE_LLAMA_ERR_BUFFER_TOO_SMALL,
};
use edge_llama::{Model, ModelOptions};
use std::ffi::{c_char, CStr};

/// A token id that stands for "none" (e.g. a model without a BOS token).
pub const EDGE_LLAMA_NO_TOKEN: u32 = 0xFFFF_FFFF;

/// An opened model (a memory-mapped GGUF file). Opaque.
pub struct EdgeLlamaModel {
    pub(crate) model: Model,
}

/// Facts about an opened model, filled by `edge_llama_model_get_info`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct EdgeLlamaModelInfo {
    /// Vocabulary size: token ids are `0 .. n_vocab - 1`; logits have this length.
    pub n_vocab: u32,
    /// Embedding width.
    pub dim: u32,
    /// Decoder blocks.
    pub n_layers: u32,
    /// Query heads.
    pub n_heads: u32,
    /// Key/value heads.
    pub n_kv_heads: u32,
    /// Training context length in tokens.
    pub context_length: u32,
    /// Threads used for matrix-vector products.
    pub threads: u32,
    /// Beginning-of-sequence token, or `EDGE_LLAMA_NO_TOKEN`.
    pub bos_token: u32,
    /// End-of-sequence token, or `EDGE_LLAMA_NO_TOKEN`.
    pub eos_token: u32,
    /// Whether the model's prompts start with BOS.
    pub add_bos: bool,
    /// Kernel path chosen at run time: "scalar", "avx2", "avx512", "neon" or
    /// "dotprod". A static string: never free it.
    pub kernel_path: *const c_char,
}

fn static_kernel_name(name: &str) -> &'static CStr {
    match name {
        "scalar" => c"scalar",
        "avx2" => c"avx2",
        "avx512" => c"avx512",
        "neon" => c"neon",
        "dotprod" => c"dotprod",
        _ => c"unknown",
    }
}

fn to_u32(v: usize, what: &str) -> Result<u32, CError> {
    u32::try_from(v).map_err(|_| CError::invalid(format!("{what} = {v} does not fit in 32 bits")))
}

/// Opens the GGUF model at `path` (UTF-8) and writes a new handle to `*out`.
/// `threads` is the number of threads for matrix products; 0 picks the
/// default (the physical cores). The file is memory-mapped; no weights are
/// read until they are used.
///
/// On failure `*out` is set to NULL and the status says why (e.g.
/// `EDGE_LLAMA_ERR_IO` for a missing file, `EDGE_LLAMA_ERR_BAD_FILE` for a
/// file that is not a supported model).
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_model_open(
    path: *const c_char,
    threads: u32,
    out: *mut *mut EdgeLlamaModel,
) -> EdgeLlamaStatus {
    guard(|| {
        need_out(out, "out")?;
        // SAFETY: checked non-null above; the caller guarantees it is writable.
        unsafe { out.write(std::ptr::null_mut()) };
        // SAFETY: the caller guarantees `path` is NULL or a C string.
        let path = unsafe { arg_str(path, "path") }?;
        let threads = usize::try_from(threads).map_err(|_| CError::invalid("threads"))?;
        let model = Model::open_with(
            path,
            ModelOptions {
                threads,
                ..Default::default()
            },
        )?;
        let handle = Box::into_raw(Box::new(EdgeLlamaModel { model }));
        // SAFETY: as above.
        unsafe { write_out(out, handle, "out") }
    })
}

/// Frees a model handle. NULL is accepted and does nothing. Sessions,
/// samplers and chats made from the model hold their own reference to it and
/// stay usable; the file is unmapped when the last of them is freed.
///
/// # Safety
/// `model` is NULL or a handle from `edge_llama_model_open` not yet freed;
/// no other thread uses it during or after this call.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_model_free(model: *mut EdgeLlamaModel) -> EdgeLlamaStatus {
    guard(|| {
        if !model.is_null() {
            // SAFETY: the caller passes a handle made by Box::into_raw in
            // edge_llama_model_open, freed only once.
            drop(unsafe { Box::from_raw(model) });
        }
        Ok(())
    })
}

/// Writes facts about `model` to `*out`.
///
/// # Safety
/// `model` is NULL or a live model handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_model_get_info(
    model: *const EdgeLlamaModel,
    out: *mut EdgeLlamaModelInfo,
) -> EdgeLlamaStatus {
    guard(|| {
        // SAFETY: the caller guarantees a live handle or NULL.
        let m = &unsafe { arg_ref(model, "model") }?.model;
        let c = m.config();
        let tok = m.tokenizer();
        let info = EdgeLlamaModelInfo {
            n_vocab: to_u32(c.n_vocab, "n_vocab")?,
            dim: to_u32(c.dim, "dim")?,
            n_layers: to_u32(c.n_layers, "n_layers")?,
            n_heads: to_u32(c.n_heads, "n_heads")?,
            n_kv_heads: to_u32(c.n_kv_heads, "n_kv_heads")?,
            context_length: to_u32(c.context_length, "context_length")?,
            threads: to_u32(m.threads(), "threads")?,
            bos_token: tok.bos_id().unwrap_or(EDGE_LLAMA_NO_TOKEN),
            eos_token: tok.eos_id().unwrap_or(EDGE_LLAMA_NO_TOKEN),
            add_bos: tok.add_bos(),
            kernel_path: static_kernel_name(m.kernel_path()).as_ptr(),
        };
        // SAFETY: the caller guarantees `out` is NULL or writable.
        unsafe { write_out(out, info, "out") }
    })
}

/// Tokenizes the UTF-8 `text` with the model's tokenizer, with a leading BOS
/// when `add_bos`. Writes up to `capacity` ids to `tokens` and the number of
/// ids to `*n_tokens`. When `capacity` is too small, nothing is written to
/// `tokens`, `*n_tokens` is the number needed and the status is
/// `EDGE_LLAMA_ERR_BUFFER_TOO_SMALL` (call with `tokens` NULL and
/// `capacity` 0 to ask for the size).
///
/// # Safety
/// `model` is NULL or a live handle; `text` is NULL or a C string; `tokens`
/// is NULL or writable for `capacity` ids; `n_tokens` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_tokenize(
    model: *const EdgeLlamaModel,
    text: *const c_char,
    add_bos: bool,
    tokens: *mut u32,
    capacity: usize,
    n_tokens: *mut usize,
) -> EdgeLlamaStatus {
    guard(|| {
        // SAFETY: the caller's guarantees, as documented.
        let m = &unsafe { arg_ref(model, "model") }?.model;
        // SAFETY: as above.
        let text = unsafe { arg_str(text, "text") }?;
        need_out(n_tokens, "n_tokens")?;
        let ids = m.tokenizer().encode(text, add_bos);
        // SAFETY: as above.
        unsafe { write_out(n_tokens, ids.len(), "n_tokens") }?;
        if ids.len() > capacity {
            return Err(CError {
                status: EDGE_LLAMA_ERR_BUFFER_TOO_SMALL,
                message: format!(
                    "tokens: capacity {capacity} is too small for {} ids",
                    ids.len()
                ),
            });
        }
        if !ids.is_empty() {
            if tokens.is_null() {
                return Err(CError::invalid("tokens is NULL"));
            }
            // SAFETY: non-null and writable for `capacity >= ids.len()` ids.
            unsafe { std::ptr::copy_nonoverlapping(ids.as_ptr(), tokens, ids.len()) };
        }
        Ok(())
    })
}

/// Decodes `n_tokens` ids to UTF-8 text (invalid byte sequences become
/// U+FFFD; BOS/EOS and other control tokens give no text). Writes the text
/// and a terminating NUL to `buf` and its length in bytes, without the NUL,
/// to `*len`. When `capacity < *len + 1`, nothing is written to `buf` and
/// the status is `EDGE_LLAMA_ERR_BUFFER_TOO_SMALL`.
///
/// # Safety
/// `model` is NULL or a live handle; `tokens` is NULL or readable for
/// `n_tokens` ids; `buf` is NULL or writable for `capacity` bytes; `len` is
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_detokenize(
    model: *const EdgeLlamaModel,
    tokens: *const u32,
    n_tokens: usize,
    buf: *mut c_char,
    capacity: usize,
    len: *mut usize,
) -> EdgeLlamaStatus {
    guard(|| {
        // SAFETY: the caller's guarantees, as documented.
        let m = &unsafe { arg_ref(model, "model") }?.model;
        // SAFETY: as above.
        let ids = unsafe { arg_slice(tokens, n_tokens, "tokens") }?;
        need_out(len, "len")?;
        let text = m.tokenizer().decode(ids)?;
        // SAFETY: as above.
        unsafe { write_out(len, text.len(), "len") }?;
        if capacity < text.len() + 1 {
            return Err(CError {
                status: EDGE_LLAMA_ERR_BUFFER_TOO_SMALL,
                message: format!(
                    "buf: capacity {capacity} is too small for {} bytes and a NUL",
                    text.len()
                ),
            });
        }
        need_out(buf, "buf")?;
        // SAFETY: `buf` is non-null and the caller guarantees `capacity >=
        // text.len() + 1` writable bytes there.
        unsafe {
            std::ptr::copy_nonoverlapping(text.as_ptr().cast::<c_char>(), buf, text.len());
            buf.add(text.len()).write(0);
        }
        Ok(())
    })
}

/// Writes to `*out` whether `token` ends a generation (EOS, end-of-turn).
///
/// # Safety
/// `model` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_token_is_eog(
    model: *const EdgeLlamaModel,
    token: u32,
    out: *mut bool,
) -> EdgeLlamaStatus {
    guard(|| {
        // SAFETY: the caller's guarantees, as documented.
        let m = &unsafe { arg_ref(model, "model") }?.model;
        // SAFETY: as above.
        unsafe { write_out(out, m.tokenizer().is_eog(token), "out") }
    })
}
