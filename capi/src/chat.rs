//! Chat handles: a conversation in the model's own chat format (Llama 2 or
//! ChatML), keeping the KV cache across turns.

use crate::model::EdgeLlamaModel;
use crate::sampler::{sampler_config, EdgeLlamaSamplerParams};
use crate::session::stop_strings;
use crate::session::{session_options, EdgeLlamaSessionParams};
use crate::status::{arg_mut, arg_ref, arg_str, guard, need_out, write_out, EdgeLlamaStatus};
use edge_llama::Chat;
use std::ffi::{c_char, c_void};

/// A conversation: its session, sampler, system message and history. Opaque.
pub struct EdgeLlamaChat {
    chat: Chat,
}

impl EdgeLlamaChat {
    /// The cancel handle of the chat's session.
    pub(crate) fn cancel_handle(&self) -> edge_llama::CancelHandle {
        self.chat.session().cancel_handle()
    }
}

/// Called with each piece of a reply's text as it is generated, on the
/// thread that called `edge_llama_chat_send`: `text_len` bytes of UTF-8
/// followed by a NUL, valid only during the call.
pub type EdgeLlamaTextCallback =
    Option<unsafe extern "C" fn(text: *const c_char, text_len: usize, user_data: *mut c_void)>;

/// Starts a chat on `model` with `session_params` and `sampler_params`
/// (each NULL: the defaults) and an optional UTF-8 `system` message (NULL:
/// none, or the model's default system message for ChatML models that have
/// one). `max_reply_tokens` limits each reply (0: 512). Writes the handle to
/// `*out` (NULL on failure).
///
/// # Safety
/// `model` is NULL or a live handle; the params are NULL or readable;
/// `system` is NULL or a C string; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_chat_new(
    model: *const EdgeLlamaModel,
    session_params: *const EdgeLlamaSessionParams,
    sampler_params: *const EdgeLlamaSamplerParams,
    system: *const c_char,
    max_reply_tokens: u32,
    out: *mut *mut EdgeLlamaChat,
) -> EdgeLlamaStatus {
    guard(|| {
        need_out(out, "out")?;
        // SAFETY: checked non-null; the caller guarantees it is writable.
        unsafe { out.write(std::ptr::null_mut()) };
        // SAFETY: the caller's guarantees, as documented.
        let m = &unsafe { arg_ref(model, "model") }?.model;
        // SAFETY: as above.
        let session = unsafe { session_options(session_params) }?;
        // SAFETY: as above.
        let sampler = unsafe { sampler_config(sampler_params) }?;
        let system = if system.is_null() {
            None
        } else {
            // SAFETY: as above.
            Some(unsafe { arg_str(system, "system") }?.to_string())
        };
        let mut chat = Chat::new(m, session, sampler, system)?;
        if max_reply_tokens > 0 {
            chat.max_reply_tokens = max_reply_tokens as usize;
        }
        let handle = Box::into_raw(Box::new(EdgeLlamaChat { chat }));
        // SAFETY: as above.
        unsafe { write_out(out, handle, "out") }
    })
}

/// Frees a chat. NULL is accepted and does nothing.
///
/// # Safety
/// `chat` is NULL or a handle from `edge_llama_chat_new` not yet freed; no
/// other thread uses it.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_chat_free(chat: *mut EdgeLlamaChat) -> EdgeLlamaStatus {
    guard(|| {
        if !chat.is_null() {
            // SAFETY: made by Box::into_raw in edge_llama_chat_new, freed once.
            drop(unsafe { Box::from_raw(chat) });
        }
        Ok(())
    })
}

/// Sends the UTF-8 `user` message and generates the reply, streaming its
/// text to `callback` (may be NULL). Only the new turn's tokens are
/// evaluated. Writes to `*ended` (may be NULL) whether the model ended the
/// reply itself rather than reaching the reply limit.
///
/// # Safety
/// `chat` is NULL or a live handle used by no other thread; `user` is NULL
/// or a C string; `callback` is NULL or a function that accepts
/// `user_data`; `ended` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_chat_send(
    chat: *mut EdgeLlamaChat,
    user: *const c_char,
    callback: EdgeLlamaTextCallback,
    user_data: *mut c_void,
    ended: *mut bool,
) -> EdgeLlamaStatus {
    guard(|| {
        // SAFETY: the caller's guarantees, as documented.
        let chat = &mut unsafe { arg_mut(chat, "chat") }?.chat;
        // SAFETY: as above.
        let user = unsafe { arg_str(user, "user") }?;
        let mut buf = Vec::new();
        let reply = chat.send(user, |text| {
            if let Some(f) = callback {
                buf.clear();
                buf.extend_from_slice(text.as_bytes());
                buf.push(0);
                // SAFETY: `buf` holds the text and a NUL for the call; the
                // caller vouches for `f` and `user_data`.
                unsafe { f(buf.as_ptr().cast(), text.len(), user_data) };
            }
        })?;
        if !ended.is_null() {
            // SAFETY: non-null; the caller guarantees it is writable.
            unsafe { ended.write(reply.ended) };
        }
        Ok(())
    })
}

/// Forgets the conversation (the system message stays).
///
/// # Safety
/// `chat` is NULL or a live handle used by no other thread.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_chat_reset(chat: *mut EdgeLlamaChat) -> EdgeLlamaStatus {
    guard(|| {
        // SAFETY: the caller's guarantee.
        unsafe { arg_mut(chat, "chat") }?.chat.reset();
        Ok(())
    })
}

/// Sets the strings that end a reply (`n_stop` UTF-8 strings at `stop`;
/// 0 clears them). A stop string is matched across token boundaries and is
/// not part of the reply. The strings are copied.
///
/// # Safety
/// `chat` is NULL or a live handle used by no other thread; `stop` is NULL
/// or readable for `n_stop` pointers, each NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_chat_set_stop_strings(
    chat: *mut EdgeLlamaChat,
    stop: *const *const c_char,
    n_stop: usize,
) -> EdgeLlamaStatus {
    guard(|| {
        // SAFETY: the caller's guarantees, as documented.
        let chat = &mut unsafe { arg_mut(chat, "chat") }?.chat;
        // SAFETY: as above.
        let stops = unsafe { stop_strings(stop, n_stop) }?;
        chat.stop_strings = stops;
        Ok(())
    })
}
