//! Session handles: one conversation's KV cache, evaluation, and generation
//! with a token callback.

use crate::model::EdgeLlamaModel;
use crate::sampler::EdgeLlamaSampler;
use crate::status::{
    arg_mut, arg_ref, arg_slice, arg_str, guard, need_out, write_out, CError, CResult,
    EdgeLlamaStatus,
};
use edge_llama::{KvCacheConfig, KvType, Model, Session, SessionOptions};
use std::ffi::{c_char, c_void};

/// One conversation: its KV cache and position. Opaque. Holds its own
/// reference to the model.
pub struct EdgeLlamaSession {
    pub(crate) session: Session,
    /// The model the session runs (for its tokenizer).
    pub(crate) model: Model,
}

/// KV cache element type: f16 (llama.cpp's default, 2 bytes per element).
pub const EDGE_LLAMA_KV_F16: i32 = 0;
/// KV cache element type: f32 (4 bytes per element).
pub const EDGE_LLAMA_KV_F32: i32 = 1;
/// KV cache element type: Q8_0 blocks (34 bytes per 32 elements).
pub const EDGE_LLAMA_KV_Q8_0: i32 = 2;

/// Session settings; `edge_llama_session_params_default` fills the defaults.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EdgeLlamaSessionParams {
    /// Positions the KV cache holds (default 4096). Past it the cache is a
    /// sliding window that keeps the first `kv_sinks` positions.
    pub kv_capacity: u32,
    /// Positions kept forever once the window slides (default 4); less than
    /// `kv_capacity`.
    pub kv_sinks: u32,
    /// `EDGE_LLAMA_KV_F16`, `EDGE_LLAMA_KV_F32` or `EDGE_LLAMA_KV_Q8_0`.
    pub kv_type: i32,
}

impl EdgeLlamaSessionParams {
    fn from_options(o: &SessionOptions) -> EdgeLlamaSessionParams {
        EdgeLlamaSessionParams {
            kv_capacity: u32::try_from(o.kv.capacity).unwrap_or(u32::MAX),
            kv_sinks: u32::try_from(o.kv.n_sink).unwrap_or(u32::MAX),
            kv_type: match o.kv.dtype {
                KvType::F32 => EDGE_LLAMA_KV_F32,
                KvType::Q8_0 => EDGE_LLAMA_KV_Q8_0,
                _ => EDGE_LLAMA_KV_F16,
            },
        }
    }

    fn to_options(self) -> CResult<SessionOptions> {
        let dtype = match self.kv_type {
            EDGE_LLAMA_KV_F16 => KvType::F16,
            EDGE_LLAMA_KV_F32 => KvType::F32,
            EDGE_LLAMA_KV_Q8_0 => KvType::Q8_0,
            other => {
                return Err(CError::invalid(format!(
                    "kv_type {other} is not one of EDGE_LLAMA_KV_F16 (0), _F32 (1), _Q8_0 (2)"
                )))
            }
        };
        Ok(SessionOptions {
            kv: KvCacheConfig {
                capacity: self.kv_capacity as usize,
                n_sink: self.kv_sinks as usize,
                dtype,
                ..KvCacheConfig::default()
            },
        })
    }
}

/// The options from `params`, or the defaults when it is NULL.
///
/// # Safety
/// `params` is NULL or readable.
pub(crate) unsafe fn session_options(
    params: *const EdgeLlamaSessionParams,
) -> CResult<SessionOptions> {
    // SAFETY: the caller's guarantee.
    match unsafe { params.as_ref() } {
        Some(p) => p.to_options(),
        None => Ok(SessionOptions::default()),
    }
}

/// Called once per generated token, on the thread that called the
/// generating function. `text` points to `text_len` bytes of UTF-8 that
/// became complete with this token (possibly 0 bytes: inside a multi-byte
/// character, or for an end token), followed by a NUL; it is valid only
/// during the call. Return 0 to go on, anything else to stop generating
/// (the call then returns `EDGE_LLAMA_OK`).
pub type EdgeLlamaTokenCallback = Option<
    unsafe extern "C" fn(
        token: u32,
        text: *const c_char,
        text_len: usize,
        user_data: *mut c_void,
    ) -> i32,
>;

/// Writes the default session settings to `*out`: a 4096-position f16 KV
/// cache with 4 sink positions.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_session_params_default(
    out: *mut EdgeLlamaSessionParams,
) -> EdgeLlamaStatus {
    guard(|| {
        let p = EdgeLlamaSessionParams::from_options(&SessionOptions::default());
        // SAFETY: the caller's guarantee.
        unsafe { write_out(out, p, "out") }
    })
}

/// Starts a session on `model` with `params` (NULL: the defaults) and
/// writes it to `*out` (NULL on failure). The KV cache is allocated here.
///
/// # Safety
/// `model` is NULL or a live handle; `params` is NULL or readable; `out` is
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_session_new(
    model: *const EdgeLlamaModel,
    params: *const EdgeLlamaSessionParams,
    out: *mut *mut EdgeLlamaSession,
) -> EdgeLlamaStatus {
    guard(|| {
        need_out(out, "out")?;
        // SAFETY: checked non-null; the caller guarantees it is writable.
        unsafe { out.write(std::ptr::null_mut()) };
        // SAFETY: the caller's guarantees, as documented.
        let m = &unsafe { arg_ref(model, "model") }?.model;
        // SAFETY: as above.
        let options = unsafe { session_options(params) }?;
        let session = m.new_session(options)?;
        let handle = Box::into_raw(Box::new(EdgeLlamaSession {
            session,
            model: m.clone(),
        }));
        // SAFETY: as above.
        unsafe { write_out(out, handle, "out") }
    })
}

/// Frees a session and its KV cache. NULL is accepted and does nothing.
///
/// # Safety
/// `session` is NULL or a handle from this API not yet freed; no other
/// thread uses it.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_session_free(
    session: *mut EdgeLlamaSession,
) -> EdgeLlamaStatus {
    guard(|| {
        if !session.is_null() {
            // SAFETY: made by Box::into_raw in this crate, freed only once.
            drop(unsafe { Box::from_raw(session) });
        }
        Ok(())
    })
}

/// Evaluates `n_tokens` token ids after those already seen (at least one).
/// The logits of the last one are then available from
/// `edge_llama_session_logits`.
///
/// # Safety
/// `session` is NULL or a live handle used by no other thread; `tokens` is
/// NULL or readable for `n_tokens` ids.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_session_eval(
    session: *mut EdgeLlamaSession,
    tokens: *const u32,
    n_tokens: usize,
) -> EdgeLlamaStatus {
    guard(|| {
        // SAFETY: the caller's guarantees, as documented.
        let s = &mut unsafe { arg_mut(session, "session") }?.session;
        // SAFETY: as above.
        let tokens = unsafe { arg_slice(tokens, n_tokens, "tokens") }?;
        s.eval(tokens)?;
        Ok(())
    })
}

/// Points `*logits` at the logits of the last evaluated token and writes
/// their count (the vocabulary size, or 0 before any evaluation) to
/// `*n_logits`. The array belongs to the session: it is valid until the next
/// call that uses the session, and must not be freed.
///
/// # Safety
/// `session` is NULL or a live handle used by no other thread; `logits` and
/// `n_logits` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_session_logits(
    session: *const EdgeLlamaSession,
    logits: *mut *const f32,
    n_logits: *mut usize,
) -> EdgeLlamaStatus {
    guard(|| {
        // SAFETY: the caller's guarantees, as documented.
        let s = &unsafe { arg_ref(session, "session") }?.session;
        need_out(logits, "logits")?;
        need_out(n_logits, "n_logits")?;
        let l = s.logits();
        // SAFETY: both checked non-null; the caller guarantees they are writable.
        unsafe {
            write_out(logits, l.as_ptr(), "logits")?;
            write_out(n_logits, l.len(), "n_logits")
        }
    })
}

/// Writes the number of tokens evaluated so far (the absolute position of
/// the next one) to `*out`.
///
/// # Safety
/// `session` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_session_position(
    session: *const EdgeLlamaSession,
    out: *mut usize,
) -> EdgeLlamaStatus {
    guard(|| {
        // SAFETY: the caller's guarantees, as documented.
        let s = &unsafe { arg_ref(session, "session") }?.session;
        // SAFETY: as above.
        unsafe { write_out(out, s.position(), "out") }
    })
}

/// Forgets every evaluated token: the next one is at position 0.
///
/// # Safety
/// `session` is NULL or a live handle used by no other thread.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_session_reset(
    session: *mut EdgeLlamaSession,
) -> EdgeLlamaStatus {
    guard(|| {
        // SAFETY: the caller's guarantee.
        unsafe { arg_mut(session, "session") }?.session.reset();
        Ok(())
    })
}

/// Drops every position from `n_tokens` on (e.g. to rewind to a shared
/// prefix). `EDGE_LLAMA_ERR_CONTEXT` once the cache has wrapped.
///
/// # Safety
/// `session` is NULL or a live handle used by no other thread.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_session_truncate(
    session: *mut EdgeLlamaSession,
    n_tokens: usize,
) -> EdgeLlamaStatus {
    guard(|| {
        // SAFETY: the caller's guarantee.
        unsafe { arg_mut(session, "session") }?
            .session
            .truncate(n_tokens)?;
        Ok(())
    })
}

/// Calls `callback` for one generated token; `Ok(false)` when it asks to stop.
///
/// # Safety
/// `callback` is a valid function (or None) and accepts `user_data`.
pub(crate) unsafe fn call_token_callback(
    callback: EdgeLlamaTokenCallback,
    user_data: *mut c_void,
    token: u32,
    text: &str,
    buf: &mut Vec<u8>,
) -> bool {
    let Some(f) = callback else { return true };
    buf.clear();
    buf.extend_from_slice(text.as_bytes());
    buf.push(0);
    // SAFETY: `buf` holds `text.len()` bytes and a NUL and outlives the call;
    // the caller vouches for `f` and `user_data`.
    unsafe { f(token, buf.as_ptr().cast(), text.len(), user_data) == 0 }
}

/// The `n_stop` strings at `stop`, copied.
///
/// # Safety
/// `stop` is NULL or readable for `n_stop` pointers, each NULL or a C string.
pub(crate) unsafe fn stop_strings(
    stop: *const *const c_char,
    n_stop: usize,
) -> CResult<Vec<String>> {
    // SAFETY: the caller's guarantee.
    let ptrs = unsafe { arg_slice(stop, n_stop, "stop") }?;
    ptrs.iter()
        .enumerate()
        // SAFETY: the caller guarantees each pointer is NULL or a C string.
        .map(|(i, &p)| unsafe { arg_str(p, &format!("stop[{i}]")) }.map(str::to_string))
        .collect()
}

/// Generates up to `max_tokens` tokens after the UTF-8 `prompt`, calling
/// `callback` (may be NULL) with each one as it is produced, and writes the
/// number generated to `*n_generated` (may be NULL). The prompt is
/// tokenized with a leading BOS when the session is at position 0 and the
/// model's prompts start with BOS; NULL or "" continues after the tokens
/// evaluated before. Generation stops after an end-of-generation token
/// (which is passed to the callback, with empty text), after `max_tokens`,
/// when the callback returns non-zero, or at the first of the `n_stop` UTF-8
/// `stop` strings (may be NULL when `n_stop` is 0). A stop string is matched
/// across token boundaries and never passed to the callback: text that could
/// start one is held back until it is known not to. Every generated token
/// is evaluated, so a later call continues the text. A cancel request
/// (`edge_llama_cancel_request`) ends it with `EDGE_LLAMA_ERR_CANCELLED`;
/// the tokens passed to the callback before then stay evaluated, but the
/// logits of the last one are gone, so the next call needs a non-empty
/// prompt.
///
/// # Safety
/// `session` and `sampler` are NULL or live handles used by no other thread;
/// `prompt` is NULL or a C string; `stop` is NULL or readable for `n_stop`
/// pointers, each a C string; `callback` is NULL or a function that accepts
/// `user_data`; `n_generated` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_session_generate(
    session: *mut EdgeLlamaSession,
    sampler: *mut EdgeLlamaSampler,
    prompt: *const c_char,
    max_tokens: u32,
    stop: *const *const c_char,
    n_stop: usize,
    callback: EdgeLlamaTokenCallback,
    user_data: *mut c_void,
    n_generated: *mut usize,
) -> EdgeLlamaStatus {
    guard(|| {
        // SAFETY: the caller's guarantees, as documented.
        let handle = unsafe { arg_mut(session, "session") }?;
        let (s, model) = (&mut handle.session, &handle.model);
        // SAFETY: as above.
        let sampler = &mut unsafe { arg_mut(sampler, "sampler") }?.sampler;
        let prompt = if prompt.is_null() {
            ""
        } else {
            // SAFETY: as above.
            unsafe { arg_str(prompt, "prompt") }?
        };
        // SAFETY: as above.
        let stops = unsafe { stop_strings(stop, n_stop) }?;
        if !n_generated.is_null() {
            // SAFETY: non-null; the caller guarantees it is writable.
            unsafe { n_generated.write(0) };
        }
        let tokenizer = model.tokenizer();
        let tokens = if prompt.is_empty() {
            Vec::new()
        } else {
            tokenizer.encode(prompt, s.position() == 0 && tokenizer.add_bos())
        };
        let mut count = 0usize;
        let mut buf = Vec::new();
        let mut result = Ok(());
        for g in s
            .generate(&tokens, sampler, max_tokens as usize)?
            .stop_at(stops)
        {
            match g {
                Ok(g) => {
                    count += 1;
                    // SAFETY: the caller vouches for callback and user_data.
                    if !unsafe { call_token_callback(callback, user_data, g.id, &g.text, &mut buf) }
                    {
                        break;
                    }
                }
                Err(e) => {
                    result = Err(e.into());
                    break;
                }
            }
        }
        if !n_generated.is_null() {
            // SAFETY: as above.
            unsafe { n_generated.write(count) };
        }
        result
    })
}
