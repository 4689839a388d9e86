//! Cancel handles: stop a session's running evaluation from another thread.

use crate::chat::EdgeLlamaChat;
use crate::session::EdgeLlamaSession;
use crate::status::{arg_ref, guard, need_out, write_out, EdgeLlamaStatus};
use edge_llama::CancelHandle;

/// Cancels the evaluation of one session (or chat) from any thread. Opaque;
/// unlike a session it may be used by several threads at once.
pub struct EdgeLlamaCancel {
    handle: CancelHandle,
}

fn new_handle(handle: CancelHandle, out: *mut *mut EdgeLlamaCancel) -> crate::status::CResult<()> {
    let boxed = Box::into_raw(Box::new(EdgeLlamaCancel { handle }));
    // SAFETY: the callers checked `out` is non-null; it is writable.
    unsafe { write_out(out, boxed, "out") }
}

/// Writes to `*out` a handle that cancels `session`'s running (or next)
/// evaluation: `edge_llama_session_eval` or `edge_llama_session_generate`
/// then returns `EDGE_LLAMA_ERR_CANCELLED`. The session checks before each
/// batch of up to 32 tokens and before each decoder layer; the positions of
/// the cancelled batch are not kept, the session stays consistent and
/// usable, and the request is used up. Free the handle with
/// `edge_llama_cancel_free` (before or after the session).
///
/// # Safety
/// `session` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_session_cancel_handle(
    session: *const EdgeLlamaSession,
    out: *mut *mut EdgeLlamaCancel,
) -> EdgeLlamaStatus {
    guard(|| {
        need_out(out, "out")?;
        // SAFETY: the caller's guarantees, as documented.
        let s = &unsafe { arg_ref(session, "session") }?.session;
        new_handle(s.cancel_handle(), out)
    })
}

/// Like `edge_llama_session_cancel_handle`, for a chat's session:
/// `edge_llama_chat_send` then returns `EDGE_LLAMA_ERR_CANCELLED`.
///
/// # Safety
/// `chat` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_chat_cancel_handle(
    chat: *const EdgeLlamaChat,
    out: *mut *mut EdgeLlamaCancel,
) -> EdgeLlamaStatus {
    guard(|| {
        need_out(out, "out")?;
        // SAFETY: the caller's guarantees, as documented.
        let chat = unsafe { arg_ref(chat, "chat") }?;
        new_handle(chat.cancel_handle(), out)
    })
}

/// Asks the session to stop its running evaluation (or its next one, if
/// none runs). Callable from any thread, also while the session is in use
/// on another; returns at once. Not async-signal-safe.
///
/// # Safety
/// `cancel` is NULL or a live cancel handle.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_cancel_request(
    cancel: *const EdgeLlamaCancel,
) -> EdgeLlamaStatus {
    guard(|| {
        // SAFETY: the caller's guarantee.
        unsafe { arg_ref(cancel, "cancel") }?.handle.cancel();
        Ok(())
    })
}

/// Withdraws a cancel request that no evaluation has answered yet.
///
/// # Safety
/// `cancel` is NULL or a live cancel handle.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_cancel_clear(
    cancel: *const EdgeLlamaCancel,
) -> EdgeLlamaStatus {
    guard(|| {
        // SAFETY: the caller's guarantee.
        unsafe { arg_ref(cancel, "cancel") }?.handle.clear();
        Ok(())
    })
}

/// Frees a cancel handle. NULL is accepted and does nothing.
///
/// # Safety
/// `cancel` is NULL or a handle from this API not yet freed, which no other
/// thread uses any more.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_cancel_free(cancel: *mut EdgeLlamaCancel) -> EdgeLlamaStatus {
    guard(|| {
        if !cancel.is_null() {
            // SAFETY: made by Box::into_raw in this module, freed once.
            drop(unsafe { Box::from_raw(cancel) });
        }
        Ok(())
    })
}
