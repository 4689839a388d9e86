//! The C API called from Rust exactly as C calls it: NULL arguments, bad
//! files, status codes and messages, generation through the callback with
//! its user_data, the model shared by threads.

mod common;

use common::*;
use edge_llama::kernels::GgmlType;
use edge_llama::synthetic::SyntheticSpec;
use edge_llama_capi::*;
use std::ffi::{c_char, c_void, CStr};
use std::ptr::{null, null_mut};

#[test]
fn null_arguments_are_errors_naming_the_argument() {
    let mut model = null_mut();
    // SAFETY: NULL is what is being tested; every pointer is NULL or valid.
    unsafe {
        assert_eq!(
            edge_llama_model_open(null(), 0, &mut model),
            EDGE_LLAMA_ERR_INVALID_ARGUMENT
        );
        assert!(last_error().contains("path is NULL"), "{}", last_error());
        assert!(model.is_null());
        let path = cstr("x.gguf");
        assert_eq!(
            edge_llama_model_open(path.as_ptr(), 0, null_mut()),
            EDGE_LLAMA_ERR_INVALID_ARGUMENT
        );
        assert!(last_error().contains("out is NULL"), "{}", last_error());
        let mut info = std::mem::MaybeUninit::uninit();
        assert_eq!(
            edge_llama_model_get_info(null(), info.as_mut_ptr()),
            EDGE_LLAMA_ERR_INVALID_ARGUMENT
        );
        assert!(last_error().contains("model is NULL"));
        assert_eq!(
            edge_llama_session_eval(null_mut(), null(), 0),
            EDGE_LLAMA_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            edge_llama_session_generate(
                null_mut(),
                null_mut(),
                null(),
                1,
                null(),
                0,
                None,
                null_mut(),
                null_mut()
            ),
            EDGE_LLAMA_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            edge_llama_chat_send(null_mut(), null(), None, null_mut(), null_mut()),
            EDGE_LLAMA_ERR_INVALID_ARGUMENT
        );
        // Freeing NULL is a no-op, like free(NULL).
        assert_eq!(edge_llama_model_free(null_mut()), EDGE_LLAMA_OK);
        assert_eq!(edge_llama_session_free(null_mut()), EDGE_LLAMA_OK);
        assert_eq!(edge_llama_sampler_free(null_mut()), EDGE_LLAMA_OK);
        assert_eq!(edge_llama_chat_free(null_mut()), EDGE_LLAMA_OK);
        assert_eq!(last_error(), "", "a success clears the message");
    }
}

#[test]
fn bad_files_are_status_codes_with_messages() {
    let mut model = std::ptr::dangling_mut::<EdgeLlamaModel>(); // must be overwritten with NULL
    let missing = cstr("/nonexistent/dir/model.gguf");
    // SAFETY: valid C string and out pointer.
    let status = unsafe { edge_llama_model_open(missing.as_ptr(), 0, &mut model) };
    assert_eq!(status, EDGE_LLAMA_ERR_IO);
    assert!(model.is_null());
    assert!(
        last_error().contains("/nonexistent/dir/model.gguf"),
        "{}",
        last_error()
    );

    let not_gguf =
        std::env::temp_dir().join(format!("edge-llama-capi-bad-{}.gguf", std::process::id()));
    std::fs::write(&not_gguf, b"this is not a gguf file").expect("write");
    let p = cstr(not_gguf.to_str().expect("UTF-8"));
    // SAFETY: as above.
    let status = unsafe { edge_llama_model_open(p.as_ptr(), 0, &mut model) };
    std::fs::remove_file(&not_gguf).ok();
    assert_eq!(status, EDGE_LLAMA_ERR_BAD_FILE);
    assert!(last_error().contains("not a GGUF file"), "{}", last_error());

    // A path that is not UTF-8.
    let bad_utf8 = [0xffu8, 0xfe, 0];
    // SAFETY: a NUL-terminated byte string.
    let status = unsafe { edge_llama_model_open(bad_utf8.as_ptr().cast(), 0, &mut model) };
    assert_eq!(status, EDGE_LLAMA_ERR_INVALID_ARGUMENT);
    assert!(last_error().contains("UTF-8"), "{}", last_error());
}

#[test]
fn the_last_error_belongs_to_the_thread() {
    // SAFETY: NULL path is the tested error.
    let status = unsafe { edge_llama_model_open(null(), 0, null_mut()) };
    assert_ne!(status, EDGE_LLAMA_OK);
    assert!(!last_error().is_empty());
    let other = std::thread::spawn(last_error).join().expect("thread");
    assert_eq!(other, "");
    assert!(!last_error().is_empty(), "still set on this thread");
}

#[test]
fn model_info_describes_the_model() {
    let model = open_model(1);
    let mut info = std::mem::MaybeUninit::uninit();
    assert_eq!(
        // SAFETY: live handle, writable out.
        unsafe { edge_llama_model_get_info(model, info.as_mut_ptr()) },
        EDGE_LLAMA_OK
    );
    // SAFETY: written by the call above.
    let info = unsafe { info.assume_init() };
    let spec = SyntheticSpec::tiny(GgmlType::Q8_0);
    assert_eq!(info.n_vocab as usize, spec.n_vocab);
    assert_eq!(info.dim as usize, spec.dim);
    assert_eq!(info.n_layers as usize, spec.n_layers);
    assert_eq!(info.threads, 1);
    // SAFETY: kernel_path is a static C string.
    let path = unsafe { CStr::from_ptr(info.kernel_path) }
        .to_str()
        .expect("UTF-8");
    assert!(
        ["scalar", "avx2", "avx512", "neon", "dotprod"].contains(&path),
        "{path}"
    );
    // SAFETY: handle from open_model, freed once.
    unsafe { edge_llama_model_free(model) };
}

#[test]
fn tokenize_reports_the_size_needed_and_round_trips() {
    let model = open_model(1);
    let text = cstr("hello world");
    let mut n = 0usize;
    // SAFETY: live handle; NULL buffer with capacity 0 asks for the size.
    let status = unsafe { edge_llama_tokenize(model, text.as_ptr(), true, null_mut(), 0, &mut n) };
    assert_eq!(status, EDGE_LLAMA_ERR_BUFFER_TOO_SMALL);
    assert!(n >= 2, "BOS and at least one token, got {n}");
    let mut ids = vec![0u32; n];
    // SAFETY: `ids` has room for n ids.
    let status =
        unsafe { edge_llama_tokenize(model, text.as_ptr(), true, ids.as_mut_ptr(), n, &mut n) };
    assert_eq!(status, EDGE_LLAMA_OK, "{}", last_error());
    let mut len = 0usize;
    // SAFETY: asks for the size first.
    let status = unsafe { edge_llama_detokenize(model, ids.as_ptr(), n, null_mut(), 0, &mut len) };
    assert_eq!(status, EDGE_LLAMA_ERR_BUFFER_TOO_SMALL);
    let mut buf = vec![0 as c_char; len + 1];
    // SAFETY: `buf` has len + 1 bytes.
    let status = unsafe {
        edge_llama_detokenize(
            model,
            ids.as_ptr(),
            n,
            buf.as_mut_ptr(),
            buf.len(),
            &mut len,
        )
    };
    assert_eq!(status, EDGE_LLAMA_OK, "{}", last_error());
    // SAFETY: NUL-terminated by the call.
    let back = unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_str()
        .expect("UTF-8");
    assert_eq!(back.trim_start(), "hello world");
    // SAFETY: handle from open_model, freed once.
    unsafe { edge_llama_model_free(model) };
}

#[test]
fn generate_streams_tokens_to_the_callback_with_user_data() {
    let model = open_model(1);
    let got = generate(model, "Once upon a time", 8);
    assert!(!got.tokens.is_empty() && got.tokens.len() <= 8);

    // The same tokens as the Rust API with the same settings.
    let m = edge_llama::Model::open_with(
        model_path(),
        edge_llama::ModelOptions {
            threads: 1,
            ..Default::default()
        },
    )
    .expect("open");
    let prompt = m
        .tokenizer()
        .encode("Once upon a time", m.tokenizer().add_bos());
    let mut s = m.new_session(Default::default()).expect("session");
    let mut sampler =
        edge_llama::Sampler::new(edge_llama::SamplerConfig::greedy(), m.config().n_vocab)
            .expect("sampler");
    let mut want = Vec::new();
    let mut want_text = String::new();
    for g in s.generate(&prompt, &mut sampler, 8).expect("generate") {
        let g = g.expect("token");
        want.push(g.id);
        want_text.push_str(&g.text);
    }
    assert_eq!(got.tokens, want);
    assert_eq!(got.text, want_text);
    // SAFETY: handle from open_model, freed once.
    unsafe { edge_llama_model_free(model) };
}

#[test]
fn a_nonzero_callback_return_stops_generation() {
    let model = open_model(1);
    let mut session = null_mut();
    let mut sampler = null_mut();
    let params = greedy_params();
    let mut got = Collected {
        stop_after: Some(3),
        ..Default::default()
    };
    let mut n = 0usize;
    let prompt = cstr("Once upon a time");
    // SAFETY: live handles; `got` outlives the call.
    unsafe {
        assert_eq!(
            edge_llama_session_new(model, null(), &mut session),
            EDGE_LLAMA_OK
        );
        assert_eq!(
            edge_llama_sampler_new(model, &params, &mut sampler),
            EDGE_LLAMA_OK
        );
        let status = edge_llama_session_generate(
            session,
            sampler,
            prompt.as_ptr(),
            20,
            null(),
            0,
            Some(collect),
            (&mut got as *mut Collected).cast(),
            &mut n,
        );
        assert_eq!(status, EDGE_LLAMA_OK, "{}", last_error());
        assert_eq!(n, 3);
        assert_eq!(got.tokens.len(), 3);
        let mut pos = 0usize;
        assert_eq!(
            edge_llama_session_position(session, &mut pos),
            EDGE_LLAMA_OK
        );
        let mut n_prompt = 0usize;
        edge_llama_tokenize(model, prompt.as_ptr(), true, null_mut(), 0, &mut n_prompt);
        assert_eq!(pos, n_prompt + 3, "every generated token was evaluated");
        // A NULL prompt continues after what the session has seen.
        got.stop_after = None;
        let status = edge_llama_session_generate(
            session,
            sampler,
            null(),
            2,
            null(),
            0,
            Some(collect),
            (&mut got as *mut Collected).cast(),
            &mut n,
        );
        assert_eq!(status, EDGE_LLAMA_OK, "{}", last_error());
        assert_eq!(got.tokens.len(), 3 + n);
        edge_llama_sampler_free(sampler);
        edge_llama_session_free(session);
        edge_llama_model_free(model);
    }
}

#[test]
fn invalid_settings_and_tokens_are_errors_and_the_session_stays_usable() {
    let model = open_model(1);
    let mut params = greedy_params();
    params.temperature = -1.0;
    let mut sampler = null_mut();
    let mut session = null_mut();
    // SAFETY: live handles and valid pointers throughout.
    unsafe {
        assert_eq!(
            edge_llama_sampler_new(model, &params, &mut sampler),
            EDGE_LLAMA_ERR_INVALID_ARGUMENT
        );
        assert!(last_error().contains("temperature"), "{}", last_error());
        assert!(sampler.is_null());
        params.temperature = 0.0;
        params.repeat_last_n = u32::MAX;
        assert_eq!(
            edge_llama_sampler_new(model, &params, &mut sampler),
            EDGE_LLAMA_ERR_INVALID_ARGUMENT
        );
        assert!(last_error().contains("repeat_last_n"), "{}", last_error());

        let mut sp = std::mem::MaybeUninit::uninit();
        assert_eq!(
            edge_llama_session_params_default(sp.as_mut_ptr()),
            EDGE_LLAMA_OK
        );
        let mut sp = sp.assume_init();
        assert_eq!(sp.kv_capacity, 4096);
        sp.kv_type = 7;
        assert_eq!(
            edge_llama_session_new(model, &sp, &mut session),
            EDGE_LLAMA_ERR_INVALID_ARGUMENT
        );
        assert!(last_error().contains("kv_type 7"), "{}", last_error());
        sp.kv_type = EDGE_LLAMA_KV_F32;
        sp.kv_capacity = 64;
        assert_eq!(
            edge_llama_session_new(model, &sp, &mut session),
            EDGE_LLAMA_OK,
            "{}",
            last_error()
        );

        let bad = [1u32, 999_999];
        assert_eq!(
            edge_llama_session_eval(session, bad.as_ptr(), bad.len()),
            EDGE_LLAMA_ERR_INVALID_ARGUMENT
        );
        assert!(last_error().contains("999999"), "{}", last_error());
        assert_eq!(
            edge_llama_session_eval(session, null(), 0),
            EDGE_LLAMA_ERR_INVALID_ARGUMENT
        );
        let good = [1u32, 2, 3];
        assert_eq!(
            edge_llama_session_eval(session, good.as_ptr(), 3),
            EDGE_LLAMA_OK,
            "{}",
            last_error()
        );
        let mut logits = null();
        let mut n_logits = 0usize;
        assert_eq!(
            edge_llama_session_logits(session, &mut logits, &mut n_logits),
            EDGE_LLAMA_OK
        );
        assert_eq!(n_logits, SyntheticSpec::tiny(GgmlType::Q8_0).n_vocab);
        let logits = std::slice::from_raw_parts(logits, n_logits);
        assert!(logits.iter().all(|x| x.is_finite()));

        params.repeat_last_n = 64;
        assert_eq!(
            edge_llama_sampler_new(model, &params, &mut sampler),
            EDGE_LLAMA_OK
        );
        let mut token = 0u32;
        assert_eq!(
            edge_llama_sampler_sample(sampler, logits.as_ptr(), logits.len() - 1, &mut token),
            EDGE_LLAMA_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            edge_llama_sampler_sample(sampler, logits.as_ptr(), logits.len(), &mut token),
            EDGE_LLAMA_OK
        );
        let argmax = logits
            .iter()
            .enumerate()
            .fold(0, |best, (i, &x)| if x > logits[best] { i } else { best });
        assert_eq!(token as usize, argmax, "greedy picks the largest logit");

        assert_eq!(
            edge_llama_session_truncate(session, 10),
            EDGE_LLAMA_ERR_CONTEXT
        );
        assert_eq!(edge_llama_session_truncate(session, 1), EDGE_LLAMA_OK);
        let mut pos = 0usize;
        edge_llama_session_position(session, &mut pos);
        assert_eq!(pos, 1);
        edge_llama_sampler_free(sampler);
        edge_llama_session_free(session);
        edge_llama_model_free(model);
    }
}

#[test]
fn a_session_outlives_its_model_handle() {
    let model = open_model(1);
    let mut session = null_mut();
    let mut sampler = null_mut();
    let params = greedy_params();
    // SAFETY: live handles; the model handle is freed while the session and
    // sampler, which hold their own references, are still used.
    unsafe {
        assert_eq!(
            edge_llama_session_new(model, null(), &mut session),
            EDGE_LLAMA_OK
        );
        assert_eq!(
            edge_llama_sampler_new(model, &params, &mut sampler),
            EDGE_LLAMA_OK
        );
        assert_eq!(edge_llama_model_free(model), EDGE_LLAMA_OK);
        let prompt = cstr("hello");
        let mut n = 0usize;
        let status = edge_llama_session_generate(
            session,
            sampler,
            prompt.as_ptr(),
            4,
            null(),
            0,
            None,
            null_mut(),
            &mut n,
        );
        assert_eq!(status, EDGE_LLAMA_OK, "{}", last_error());
        assert!(n > 0);
        edge_llama_sampler_free(sampler);
        edge_llama_session_free(session);
    }
}

/// A `*const EdgeLlamaModel` that may cross threads (the model is Sync).
#[derive(Clone, Copy)]
struct SharedModel(*const EdgeLlamaModel);
// SAFETY: the header promises a model handle may be used from any number of
// threads at once; EdgeLlamaModel wraps edge_llama::Model, which is Send + Sync.
unsafe impl Send for SharedModel {}

#[test]
fn one_model_serves_sessions_on_several_threads() {
    let model = open_model(2);
    let shared = SharedModel(model);
    let alone = generate(model, "The sky is", 6).tokens;
    let threads: Vec<_> = (0..3)
        .map(|_| {
            std::thread::spawn(move || {
                let shared = shared;
                generate(shared.0, "The sky is", 6).tokens
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().expect("thread"), alone);
    }
    // SAFETY: every thread has finished with it.
    unsafe { edge_llama_model_free(model) };
}

unsafe extern "C" fn append_text(text: *const c_char, text_len: usize, user_data: *mut c_void) {
    // SAFETY: the test passes a live String; the library passes text_len bytes.
    let (out, bytes) = unsafe {
        (
            &mut *user_data.cast::<String>(),
            std::slice::from_raw_parts(text.cast::<u8>(), text_len),
        )
    };
    out.push_str(std::str::from_utf8(bytes).expect("UTF-8"));
}

#[test]
fn chat_streams_the_reply() {
    let model = open_model(1);
    let params = greedy_params();
    let mut chat = null_mut();
    let system = cstr("Be brief.");
    let mut reply = String::new();
    let mut ended = true;
    // SAFETY: live handles; `reply` outlives the call.
    unsafe {
        assert_eq!(
            edge_llama_chat_new(model, null(), &params, system.as_ptr(), 6, &mut chat),
            EDGE_LLAMA_OK,
            "{}",
            last_error()
        );
        let user = cstr("Hello!");
        let status = edge_llama_chat_send(
            chat,
            user.as_ptr(),
            Some(append_text),
            (&mut reply as *mut String).cast(),
            &mut ended,
        );
        assert_eq!(status, EDGE_LLAMA_OK, "{}", last_error());
        assert_eq!(edge_llama_chat_reset(chat), EDGE_LLAMA_OK);
        edge_llama_chat_free(chat);
        edge_llama_model_free(model);
    }
    // The random model rarely ends by itself within 6 tokens; either way
    // the text streamed must be what the Rust chat gives.
    let m = edge_llama::Model::open_with(
        model_path(),
        edge_llama::ModelOptions {
            threads: 1,
            ..Default::default()
        },
    )
    .expect("open");
    let mut c = edge_llama::Chat::new(
        &m,
        Default::default(),
        edge_llama::SamplerConfig::greedy(),
        Some("Be brief.".into()),
    )
    .expect("chat");
    c.max_reply_tokens = 6;
    let want = c.send("Hello!", |_| {}).expect("send");
    assert_eq!(reply, want.text);
    assert_eq!(ended, want.ended);
}

#[test]
fn version_is_the_crate_version() {
    let mut v = null();
    // SAFETY: writable out pointer.
    assert_eq!(unsafe { edge_llama_version(&mut v) }, EDGE_LLAMA_OK);
    // SAFETY: a static C string.
    let v = unsafe { CStr::from_ptr(v) }.to_str().expect("UTF-8");
    assert_eq!(v, env!("CARGO_PKG_VERSION"));
}
