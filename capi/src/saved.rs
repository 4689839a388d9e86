//! Saved sessions: write a session's state to a file and restore it, so a
//! long prompt is evaluated once.

use crate::model::EdgeLlamaModel;
use crate::session::EdgeLlamaSession;
use crate::status::{arg_mut, arg_ref, arg_str, guard, need_out, write_out, EdgeLlamaStatus};
use std::ffi::c_char;

/// Saves `session` (KV cache settings and contents, position, token
/// history, last logits) to the file `path` (UTF-8), atomically: `path`
/// holds either its old contents or the complete new state.
///
/// # Safety
/// `session` is NULL or a live handle used by no other thread; `path` is
/// NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_session_save(
    session: *const EdgeLlamaSession,
    path: *const c_char,
) -> EdgeLlamaStatus {
    guard(|| {
        // SAFETY: the caller's guarantees, as documented.
        let s = &unsafe { arg_ref(session, "session") }?.session;
        // SAFETY: as above.
        let path = unsafe { arg_str(path, "path") }?;
        s.save(path)?;
        Ok(())
    })
}

/// Restores a session saved with `edge_llama_session_save` as a new session
/// of `model` (with the saved KV cache settings) and writes it to `*out`
/// (NULL on failure). It goes on exactly as the saved one would have. The
/// file is checked completely first: a missing file is `EDGE_LLAMA_ERR_IO`;
/// a truncated, corrupted, future-version file or one saved from another
/// model is `EDGE_LLAMA_ERR_BAD_FILE`, with the reason in the message.
///
/// # Safety
/// `model` is NULL or a live handle; `path` is NULL or a C string; `out` is
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_session_restore(
    model: *const EdgeLlamaModel,
    path: *const c_char,
    out: *mut *mut EdgeLlamaSession,
) -> EdgeLlamaStatus {
    guard(|| {
        need_out(out, "out")?;
        // SAFETY: checked non-null; the caller guarantees it is writable.
        unsafe { out.write(std::ptr::null_mut()) };
        // SAFETY: the caller's guarantees, as documented.
        let m = &unsafe { arg_ref(model, "model") }?.model;
        // SAFETY: as above.
        let path = unsafe { arg_str(path, "path") }?;
        let session = m.restore_session(path)?;
        let handle = Box::into_raw(Box::new(EdgeLlamaSession {
            session,
            model: m.clone(),
        }));
        // SAFETY: as above.
        unsafe { write_out(out, handle, "out") }
    })
}

/// Replaces `session`'s state with the one saved in `path`. The file must
/// have the session's KV cache settings; on any error the session is left
/// exactly as it was.
///
/// # Safety
/// `session` is NULL or a live handle used by no other thread; `path` is
/// NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_session_restore_into(
    session: *mut EdgeLlamaSession,
    path: *const c_char,
) -> EdgeLlamaStatus {
    guard(|| {
        // SAFETY: the caller's guarantees, as documented.
        let s = &mut unsafe { arg_mut(session, "session") }?.session;
        // SAFETY: as above.
        let path = unsafe { arg_str(path, "path") }?;
        s.restore(path)?;
        Ok(())
    })
}
