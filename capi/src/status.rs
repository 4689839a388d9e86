//! Status codes, the thread-local last-error message, and [`guard`], which
//! every entry point runs its body in: no panic crosses into C.

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What a function of the C API returns: `EDGE_LLAMA_OK` (0) or one of the
/// `EDGE_LLAMA_ERR_*` codes, with `edge_llama_last_error()` saying more.
pub type EdgeLlamaStatus = i32;

/// Success.
pub const EDGE_LLAMA_OK: EdgeLlamaStatus = 0;
/// A null pointer, a string that is not UTF-8, a value out of range, a token
/// id outside the vocabulary, invalid sampler settings or chat messages, a
/// KV cache larger than the session memory limit (8 GiB), or an unknown or
/// unsupported kernel path in `EDGE_LLAMA_KERNELS`.
pub const EDGE_LLAMA_ERR_INVALID_ARGUMENT: EdgeLlamaStatus = 1;
/// A file could not be opened, mapped, read or written.
pub const EDGE_LLAMA_ERR_IO: EdgeLlamaStatus = 2;
/// A model or session-state file that is malformed, unsupported, or (for a
/// state file) belongs to another model.
pub const EDGE_LLAMA_ERR_BAD_FILE: EdgeLlamaStatus = 3;
/// An operation the session's cache state does not allow (e.g. truncating
/// after the ring buffer wrapped).
pub const EDGE_LLAMA_ERR_CONTEXT: EdgeLlamaStatus = 4;
/// The operation was cancelled through an `edge_llama_cancel` handle; the
/// session is consistent and usable.
pub const EDGE_LLAMA_ERR_CANCELLED: EdgeLlamaStatus = 5;
/// An output buffer is too small; the length needed was written to the
/// length out-parameter.
pub const EDGE_LLAMA_ERR_BUFFER_TOO_SMALL: EdgeLlamaStatus = 6;
/// Any other error of the library.
pub const EDGE_LLAMA_ERR_OTHER: EdgeLlamaStatus = 7;
/// A bug: the library panicked and the panic was caught at the boundary.
/// The handles passed to that call may be inconsistent: only free them.
pub const EDGE_LLAMA_ERR_INTERNAL: EdgeLlamaStatus = 8;

/// An error on its way to C: a status code and its message.
#[derive(Debug)]
pub(crate) struct CError {
    pub status: EdgeLlamaStatus,
    pub message: String,
}

impl CError {
    pub fn invalid(message: impl Into<String>) -> CError {
        CError {
            status: EDGE_LLAMA_ERR_INVALID_ARGUMENT,
            message: message.into(),
        }
    }
}

impl From<edge_llama::Error> for CError {
    fn from(e: edge_llama::Error) -> CError {
        use edge_llama::Error as E;
        let status = match &e {
            E::Io { .. } => EDGE_LLAMA_ERR_IO,
            E::BadMagic(_)
            | E::BigEndian
            | E::UnsupportedVersion(_)
            | E::Truncated { .. }
            | E::CountTooLarge { .. }
            | E::BadValueType { .. }
            | E::NestingTooDeep { .. }
            | E::BadUtf8 { .. }
            | E::Duplicate { .. }
            | E::BadAlignment(_)
            | E::UnknownTensorType { .. }
            | E::UnsupportedTensorType { .. }
            | E::BadTensor { .. }
            | E::OverlappingTensors { .. }
            | E::MissingKey(_)
            | E::WrongType { .. }
            | E::MissingTensor(_)
            | E::ShapeMismatch { .. }
            | E::BadConfig(_)
            | E::Tokenizer(_) => EDGE_LLAMA_ERR_BAD_FILE,
            E::TokenOutOfRange { .. }
            | E::Sampler(_)
            | E::Chat(_)
            | E::InvalidArgument(_)
            | E::TooLarge { .. }
            | E::Kernel(_) => EDGE_LLAMA_ERR_INVALID_ARGUMENT,
            E::Context(_) => EDGE_LLAMA_ERR_CONTEXT,
            E::Cancelled => EDGE_LLAMA_ERR_CANCELLED,
            E::SessionFile { .. } => EDGE_LLAMA_ERR_BAD_FILE,
            _ => EDGE_LLAMA_ERR_OTHER,
        };
        CError {
            status,
            message: e.to_string(),
        }
    }
}

pub(crate) type CResult<T> = Result<T, CError>;

thread_local! {
    /// The message of the last call on this thread ("" after a success).
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: &str) {
    // A message never holds NUL in practice; if it does, cut it there.
    let bytes = message.as_bytes();
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let text = CString::new(&bytes[..end]).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = text);
}

/// The thread's last message, as a pointer that stays valid until the next
/// call of the API on this thread.
pub(crate) fn last_error_ptr() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

/// Runs `body`, catching any panic: clears the thread's last error, then
/// returns `EDGE_LLAMA_OK`, or sets it and returns the error's status.
pub(crate) fn guard(body: impl FnOnce() -> CResult<()>) -> EdgeLlamaStatus {
    set_last_error("");
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => EDGE_LLAMA_OK,
        Ok(Err(e)) => {
            set_last_error(&e.message);
            e.status
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            set_last_error(&format!("internal error (panic caught): {what}"));
            EDGE_LLAMA_ERR_INTERNAL
        }
    }
}

/// `ptr` as a shared reference; an error naming `what` when null.
///
/// # Safety
/// A non-null `ptr` must point to a live, properly aligned `T` that nothing
/// mutates for `'a`.
pub(crate) unsafe fn arg_ref<'a, T>(ptr: *const T, what: &str) -> CResult<&'a T> {
    // SAFETY: the caller guarantees a non-null ptr is valid for 'a.
    unsafe { ptr.as_ref() }.ok_or_else(|| CError::invalid(format!("{what} is NULL")))
}

/// `ptr` as an exclusive reference; an error naming `what` when null.
///
/// # Safety
/// A non-null `ptr` must point to a live, properly aligned `T` that nothing
/// else uses for `'a`.
pub(crate) unsafe fn arg_mut<'a, T>(ptr: *mut T, what: &str) -> CResult<&'a mut T> {
    // SAFETY: the caller guarantees a non-null ptr is valid and unaliased for 'a.
    unsafe { ptr.as_mut() }.ok_or_else(|| CError::invalid(format!("{what} is NULL")))
}

/// A NUL-terminated UTF-8 string argument.
///
/// # Safety
/// A non-null `ptr` must point to a NUL-terminated string that lives for `'a`.
pub(crate) unsafe fn arg_str<'a>(ptr: *const c_char, what: &str) -> CResult<&'a str> {
    if ptr.is_null() {
        return Err(CError::invalid(format!("{what} is NULL")));
    }
    // SAFETY: non-null, and the caller guarantees NUL termination and lifetime.
    let s = unsafe { CStr::from_ptr(ptr) };
    s.to_str()
        .map_err(|e| CError::invalid(format!("{what} is not valid UTF-8: {e}")))
}

/// A slice argument: `len` elements at `ptr` (`ptr` may be null when `len` is 0).
///
/// # Safety
/// A non-null `ptr` must point to `len` initialized elements living for `'a`.
pub(crate) unsafe fn arg_slice<'a, T>(ptr: *const T, len: usize, what: &str) -> CResult<&'a [T]> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(CError::invalid(format!(
            "{what} is NULL but its length is {len}"
        )));
    }
    // SAFETY: non-null, and the caller guarantees `len` valid elements.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Writes `value` to the out-parameter `out`.
///
/// # Safety
/// A non-null `out` must be valid for a write of `T`.
pub(crate) unsafe fn write_out<T>(out: *mut T, value: T, what: &str) -> CResult<()> {
    if out.is_null() {
        return Err(CError::invalid(format!("{what} is NULL")));
    }
    // SAFETY: non-null, and the caller guarantees it is writable; `write`
    // does not drop whatever garbage was there.
    unsafe { out.write(value) };
    Ok(())
}

/// Checks that an out-parameter is not null before any work is done.
pub(crate) fn need_out<T>(out: *mut T, what: &str) -> CResult<()> {
    if out.is_null() {
        Err(CError::invalid(format!("{what} is NULL")))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last_error() -> String {
        // SAFETY: last_error_ptr always points to a live NUL-terminated string.
        unsafe { CStr::from_ptr(last_error_ptr()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn a_panic_becomes_a_status_and_a_message() {
        let status = guard(|| panic!("boom in the body"));
        assert_eq!(status, EDGE_LLAMA_ERR_INTERNAL);
        assert!(
            last_error().contains("boom in the body"),
            "{}",
            last_error()
        );
        assert_eq!(guard(|| Ok(())), EDGE_LLAMA_OK);
        assert_eq!(last_error(), "");
    }

    #[test]
    fn error_variants_map_to_their_status() {
        let io = edge_llama::Error::Io {
            path: "x".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert_eq!(CError::from(io).status, EDGE_LLAMA_ERR_IO);
        assert_eq!(
            CError::from(edge_llama::Error::BadMagic(*b"abcd")).status,
            EDGE_LLAMA_ERR_BAD_FILE
        );
        assert_eq!(
            CError::from(edge_llama::Error::Sampler("t".into())).status,
            EDGE_LLAMA_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            CError::from(edge_llama::Error::Context("c".into())).status,
            EDGE_LLAMA_ERR_CONTEXT
        );
        assert_eq!(
            CError::from(edge_llama::Error::Cancelled).status,
            EDGE_LLAMA_ERR_CANCELLED
        );
        let too_large = edge_llama::Error::TooLarge {
            what: "KV cache".into(),
            needed: 2,
            limit: 1,
        };
        assert_eq!(
            CError::from(too_large).status,
            EDGE_LLAMA_ERR_INVALID_ARGUMENT
        );
    }

    #[test]
    fn a_message_with_nul_is_cut_there() {
        let status = guard(|| Err(CError::invalid("before\0after")));
        assert_eq!(status, EDGE_LLAMA_ERR_INVALID_ARGUMENT);
        assert_eq!(last_error(), "before");
    }
}
