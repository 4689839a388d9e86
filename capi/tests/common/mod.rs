//! Helpers shared by the C API tests: a synthetic model, C strings, the
//! last error, a collecting token callback.
#![allow(dead_code)]

use edge_llama::kernels::GgmlType;
use edge_llama::synthetic::SyntheticSpec;
use edge_llama_capi::*;
use std::ffi::{c_char, c_void, CStr, CString};
use std::path::PathBuf;
use std::ptr::{null, null_mut};
use std::sync::OnceLock;

/// A small random-weight model written once for all tests.
pub fn model_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let path =
            std::env::temp_dir().join(format!("edge-llama-capi-{}.gguf", std::process::id()));
        SyntheticSpec::tiny(GgmlType::Q8_0)
            .write(&path)
            .expect("write the synthetic model");
        path
    })
}

pub fn cstr(s: &str) -> CString {
    CString::new(s).expect("no NUL")
}

pub fn last_error() -> String {
    // SAFETY: edge_llama_last_error never returns NULL; the string is valid
    // until the next call on this thread, and is copied at once.
    unsafe { CStr::from_ptr(edge_llama_last_error()) }
        .to_str()
        .expect("UTF-8 message")
        .to_string()
}

/// Opens the test model; panics with the library's message on failure.
pub fn open_model(threads: u32) -> *mut EdgeLlamaModel {
    let path = cstr(model_path().to_str().expect("UTF-8 temp path"));
    let mut model = null_mut();
    // SAFETY: valid C string and out pointer.
    let status = unsafe { edge_llama_model_open(path.as_ptr(), threads, &mut model) };
    assert_eq!(status, EDGE_LLAMA_OK, "{}", last_error());
    assert!(!model.is_null());
    model
}

pub fn greedy_params() -> EdgeLlamaSamplerParams {
    let mut p = std::mem::MaybeUninit::uninit();
    assert_eq!(
        // SAFETY: writable out pointer.
        unsafe { edge_llama_sampler_params_default(p.as_mut_ptr()) },
        EDGE_LLAMA_OK
    );
    // SAFETY: written by the call above.
    let mut p = unsafe { p.assume_init() };
    p.temperature = 0.0;
    p
}

/// What the callback collects through user_data.
#[derive(Default)]
pub struct Collected {
    pub tokens: Vec<u32>,
    pub text: String,
    /// The text of each callback, in order.
    pub pieces: Vec<String>,
    pub stop_after: Option<usize>,
}

pub unsafe extern "C" fn collect(
    token: u32,
    text: *const c_char,
    text_len: usize,
    user_data: *mut c_void,
) -> i32 {
    // SAFETY: the tests pass a live `Collected` as user_data.
    let c = unsafe { &mut *user_data.cast::<Collected>() };
    // SAFETY: the library passes text_len readable bytes followed by a NUL.
    let bytes = unsafe { std::slice::from_raw_parts(text.cast::<u8>(), text_len + 1) };
    assert_eq!(bytes[text_len], 0, "text is NUL-terminated");
    let piece = std::str::from_utf8(&bytes[..text_len]).expect("UTF-8 text");
    c.text.push_str(piece);
    c.pieces.push(piece.to_string());
    c.tokens.push(token);
    match c.stop_after {
        Some(n) if c.tokens.len() >= n => 1,
        _ => 0,
    }
}

/// Generates `n` greedy tokens after `prompt` on a new session of `model`.
pub fn generate(model: *const EdgeLlamaModel, prompt: &str, n: u32) -> Collected {
    let mut session = null_mut();
    let mut sampler = null_mut();
    let params = greedy_params();
    // SAFETY: live model handle, valid out pointers and params.
    unsafe {
        assert_eq!(
            edge_llama_session_new(model, null(), &mut session),
            EDGE_LLAMA_OK
        );
        assert_eq!(
            edge_llama_sampler_new(model, &params, &mut sampler),
            EDGE_LLAMA_OK
        );
    }
    let mut got = Collected::default();
    let mut n_generated = 0usize;
    let prompt = cstr(prompt);
    // SAFETY: live handles; `got` outlives the call.
    let status = unsafe {
        edge_llama_session_generate(
            session,
            sampler,
            prompt.as_ptr(),
            n,
            null(),
            0,
            Some(collect),
            (&mut got as *mut Collected).cast(),
            &mut n_generated,
        )
    };
    assert_eq!(status, EDGE_LLAMA_OK, "{}", last_error());
    assert_eq!(n_generated, got.tokens.len());
    // SAFETY: handles from the calls above, freed once.
    unsafe {
        assert_eq!(edge_llama_sampler_free(sampler), EDGE_LLAMA_OK);
        assert_eq!(edge_llama_session_free(session), EDGE_LLAMA_OK);
    }
    got
}
