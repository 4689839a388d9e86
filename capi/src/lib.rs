//! The C API of edge-llama, declared in `include/edge_llama.h`.
//!
//! Every entry point is an `extern "C"` function that returns an
//! [`EdgeLlamaStatus`]; its body runs inside one guard, which
//! catches any panic and records a thread-local message for
//! `edge_llama_last_error()`. Handles are boxed Rust values passed to C as
//! opaque pointers: [`EdgeLlamaModel`], [`EdgeLlamaSession`],
//! [`EdgeLlamaSampler`], [`EdgeLlamaChat`], [`EdgeLlamaCancel`]. Rust callers can use the same
//! functions (the crate is also an rlib); the tests do.

#![warn(missing_docs)]

pub mod cancel;
pub mod chat;
pub mod model;
pub mod sampler;
pub mod saved;
pub mod session;
pub mod status;

pub use cancel::*;
pub use chat::*;
pub use model::*;
pub use sampler::*;
pub use saved::*;
pub use session::*;
pub use status::*;

use std::ffi::c_char;

/// The message of the last call of this API on the calling thread: why it
/// failed, or "" when it succeeded. Never NULL. The string belongs to the
/// library and stays valid until the next call of the API on this thread;
/// copy it to keep it.
#[no_mangle]
pub extern "C" fn edge_llama_last_error() -> *const c_char {
    last_error_ptr()
}

/// Writes the library version ("MAJOR.MINOR.PATCH", a static string: never
/// free it) to `*out`.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_version(out: *mut *const c_char) -> EdgeLlamaStatus {
    guard(|| {
        let v = concat!(env!("CARGO_PKG_VERSION"), "\0");
        // SAFETY: the caller's guarantee.
        unsafe { write_out(out, v.as_ptr().cast::<c_char>(), "out") }
    })
}

/// Writes to `*threads` the thread count a model opened with `threads` 0
/// uses: the physical cores, or on a big.LITTLE ARM board only the
/// performance cores (those with the highest cpufreq maximum).
///
/// # Safety
/// `threads` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn edge_llama_default_threads(threads: *mut u32) -> EdgeLlamaStatus {
    guard(|| {
        let n = edge_llama::model::default_threads().threads;
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        // SAFETY: the caller's guarantee.
        unsafe { write_out(threads, n, "threads") }
    })
}
