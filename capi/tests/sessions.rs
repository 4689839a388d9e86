//! Saved sessions, cancellation and stop strings through the C API.

mod common;

use common::*;
use edge_llama::kernels::GgmlType;
use edge_llama::synthetic::SyntheticSpec;
use edge_llama_capi::*;
use std::ffi::{c_char, c_void, CString};
use std::path::PathBuf;
use std::ptr::{null, null_mut};

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("edge-llama-capi-{}-{name}", std::process::id()))
}

/// A new session and greedy sampler on `model`.
fn session_and_sampler(
    model: *const EdgeLlamaModel,
) -> (*mut EdgeLlamaSession, *mut EdgeLlamaSampler) {
    let (mut session, mut sampler) = (null_mut(), null_mut());
    let params = greedy_params();
    // SAFETY: live model handle, valid out pointers.
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
    (session, sampler)
}

/// Runs edge_llama_session_generate collecting into `data`; returns the
/// status and the count it reported.
fn run(
    session: *mut EdgeLlamaSession,
    sampler: *mut EdgeLlamaSampler,
    prompt: Option<&str>,
    n: u32,
    stops: &[&str],
    data: &mut Collected,
) -> (EdgeLlamaStatus, usize) {
    let prompt = prompt.map(cstr);
    let stops: Vec<CString> = stops.iter().map(|s| cstr(s)).collect();
    let stop_ptrs: Vec<*const c_char> = stops.iter().map(|s| s.as_ptr()).collect();
    let mut count = usize::MAX;
    // SAFETY: live handles; every pointer outlives the call.
    let status = unsafe {
        edge_llama_session_generate(
            session,
            sampler,
            prompt.as_ref().map_or(null(), |p| p.as_ptr()),
            n,
            stop_ptrs.as_ptr(),
            stop_ptrs.len(),
            Some(collect),
            (data as *mut Collected).cast(),
            &mut count,
        )
    };
    (status, count)
}

fn position(session: *const EdgeLlamaSession) -> usize {
    let mut pos = usize::MAX;
    assert_eq!(
        // SAFETY: live handle, writable out.
        unsafe { edge_llama_session_position(session, &mut pos) },
        EDGE_LLAMA_OK
    );
    pos
}

#[test]
fn a_restored_session_continues_exactly_as_the_saved_one() {
    let model = open_model(1);
    let (a, sampler) = session_and_sampler(model);
    let mut first = Collected::default();
    assert_eq!(
        run(a, sampler, Some("Once upon a time"), 4, &[], &mut first).0,
        EDGE_LLAMA_OK
    );
    let path = temp("state.elss");
    let cpath = cstr(path.to_str().expect("UTF-8"));
    assert_eq!(
        // SAFETY: live handle and C string.
        unsafe { edge_llama_session_save(a, cpath.as_ptr()) },
        EDGE_LLAMA_OK,
        "{}",
        last_error()
    );
    let mut want = Collected::default();
    assert_eq!(run(a, sampler, None, 6, &[], &mut want).0, EDGE_LLAMA_OK);
    assert_eq!(want.tokens.len(), 6);

    // A new session from the file.
    let mut b = null_mut();
    // SAFETY: as above.
    let status = unsafe { edge_llama_session_restore(model, cpath.as_ptr(), &mut b) };
    assert_eq!(status, EDGE_LLAMA_OK, "{}", last_error());
    assert_eq!(position(b), position(a) - 6);
    let mut got = Collected::default();
    assert_eq!(run(b, sampler, None, 6, &[], &mut got).0, EDGE_LLAMA_OK);
    assert_eq!(got.tokens, want.tokens);
    assert_eq!(got.text, want.text);

    // In place, into a session with the same (default) cache settings.
    let (c, _s) = session_and_sampler(model);
    // SAFETY: as above.
    let status = unsafe { edge_llama_session_restore_into(c, cpath.as_ptr()) };
    assert_eq!(status, EDGE_LLAMA_OK, "{}", last_error());
    let mut again = Collected::default();
    assert_eq!(run(c, sampler, None, 6, &[], &mut again).0, EDGE_LLAMA_OK);
    assert_eq!(again.tokens, want.tokens);
    std::fs::remove_file(&path).ok();
    // SAFETY: handles from above, freed once.
    unsafe {
        for s in [a, b, c] {
            edge_llama_session_free(s);
        }
        edge_llama_sampler_free(sampler);
        edge_llama_sampler_free(_s);
        edge_llama_model_free(model);
    }
}

#[test]
fn bad_state_files_are_refused_and_leave_the_session_as_it_was() {
    let model = open_model(1);
    let (s, sampler) = session_and_sampler(model);
    let mut c = Collected::default();
    assert_eq!(
        run(s, sampler, Some("hello there"), 3, &[], &mut c).0,
        EDGE_LLAMA_OK
    );
    let good = temp("good.elss");
    let cgood = cstr(good.to_str().expect("UTF-8"));
    assert_eq!(
        // SAFETY: live handle and C string.
        unsafe { edge_llama_session_save(s, cgood.as_ptr()) },
        EDGE_LLAMA_OK
    );
    let bytes = std::fs::read(&good).expect("read state");

    let garbage = temp("garbage.elss");
    std::fs::write(&garbage, b"definitely not a session").expect("write");
    let truncated = temp("truncated.elss");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).expect("write");
    // Saved from another model: the same shape with Q4_0 weights.
    let other_model_path = temp("other.gguf");
    SyntheticSpec::tiny(GgmlType::Q4_0)
        .write(&other_model_path)
        .expect("write model");
    let other_path = cstr(other_model_path.to_str().expect("UTF-8"));
    let mut other = null_mut();
    assert_eq!(
        // SAFETY: valid C string and out pointer.
        unsafe { edge_llama_model_open(other_path.as_ptr(), 1, &mut other) },
        EDGE_LLAMA_OK
    );
    let (os, osampler) = session_and_sampler(other);
    assert_eq!(
        run(
            os,
            osampler,
            Some("hello"),
            2,
            &[],
            &mut Collected::default()
        )
        .0,
        EDGE_LLAMA_OK
    );
    let foreign = temp("foreign.elss");
    let cforeign = cstr(foreign.to_str().expect("UTF-8"));
    assert_eq!(
        // SAFETY: as above.
        unsafe { edge_llama_session_save(os, cforeign.as_ptr()) },
        EDGE_LLAMA_OK
    );

    let cases: [(PathBuf, EdgeLlamaStatus, &str); 4] = [
        (temp("missing.elss"), EDGE_LLAMA_ERR_IO, "missing.elss"),
        (
            garbage.clone(),
            EDGE_LLAMA_ERR_BAD_FILE,
            "not a saved session",
        ),
        (truncated.clone(), EDGE_LLAMA_ERR_BAD_FILE, "truncated"),
        (foreign.clone(), EDGE_LLAMA_ERR_BAD_FILE, "another model"),
    ];
    let before = position(s);
    for (path, status, words) in &cases {
        let p = cstr(path.to_str().expect("UTF-8"));
        let mut out = std::ptr::dangling_mut::<EdgeLlamaSession>();
        // SAFETY: live handles, C strings, writable out.
        unsafe {
            assert_eq!(
                edge_llama_session_restore(model, p.as_ptr(), &mut out),
                *status,
                "{path:?}"
            );
            assert!(out.is_null());
            assert!(last_error().contains(words), "{path:?}: {}", last_error());
            assert_eq!(
                edge_llama_session_restore_into(s, p.as_ptr()),
                *status,
                "{path:?}"
            );
        }
        assert_eq!(
            position(s),
            before,
            "a failed restore leaves the session alone"
        );
    }
    assert_eq!(
        // SAFETY: as above.
        unsafe { edge_llama_session_save(s, null()) },
        EDGE_LLAMA_ERR_INVALID_ARGUMENT
    );
    for p in [&good, &garbage, &truncated, &foreign, &other_model_path] {
        std::fs::remove_file(p).ok();
    }
    // SAFETY: handles from above, freed once.
    unsafe {
        edge_llama_session_free(s);
        edge_llama_session_free(os);
        edge_llama_sampler_free(sampler);
        edge_llama_sampler_free(osampler);
        edge_llama_model_free(model);
        edge_llama_model_free(other);
    }
}

#[test]
fn a_cancel_request_returns_cancelled_and_the_session_keeps_working() {
    let model = open_model(1);
    let (s, sampler) = session_and_sampler(model);
    let mut cancel = null_mut();
    // SAFETY: live handles; valid pointers throughout.
    unsafe {
        assert_eq!(
            edge_llama_session_cancel_handle(s, &mut cancel),
            EDGE_LLAMA_OK
        );
        let tokens = [1u32, 5, 9, 13];
        assert_eq!(edge_llama_cancel_request(cancel), EDGE_LLAMA_OK);
        assert_eq!(
            edge_llama_session_eval(s, tokens.as_ptr(), 4),
            EDGE_LLAMA_ERR_CANCELLED
        );
        assert!(last_error().contains("cancelled"), "{}", last_error());
        assert_eq!(position(s), 0, "the cancelled batch is not kept");
        assert_eq!(
            edge_llama_session_eval(s, tokens.as_ptr(), 4),
            EDGE_LLAMA_OK,
            "the request was used up"
        );
        assert_eq!(position(s), 4);
        // A request withdrawn before anything runs cancels nothing.
        edge_llama_cancel_request(cancel);
        edge_llama_cancel_clear(cancel);
        assert_eq!(
            edge_llama_session_eval(s, tokens.as_ptr(), 1),
            EDGE_LLAMA_OK
        );
        assert_eq!(
            edge_llama_cancel_request(null()),
            EDGE_LLAMA_ERR_INVALID_ARGUMENT
        );
    }
    // From inside the callback (as a UI thread would, between tokens): the
    // tokens passed before the request stay evaluated.
    struct State {
        collected: Collected,
        cancel: *const EdgeLlamaCancel,
    }
    unsafe extern "C" fn cancel_after_two(
        token: u32,
        text: *const c_char,
        len: usize,
        user: *mut c_void,
    ) -> i32 {
        // SAFETY: the test passes a live State.
        let state = unsafe { &mut *user.cast::<State>() };
        // SAFETY: forwarded as received.
        unsafe {
            collect(
                token,
                text,
                len,
                (&mut state.collected as *mut Collected).cast(),
            )
        };
        if state.collected.tokens.len() == 2 {
            // SAFETY: a live cancel handle.
            unsafe { edge_llama_cancel_request(state.cancel) };
        }
        0
    }
    let mut state = State {
        collected: Collected::default(),
        cancel,
    };
    let before = position(s);
    let mut n = 0usize;
    // SAFETY: live handles; `state` outlives the call.
    let status = unsafe {
        edge_llama_session_generate(
            s,
            sampler,
            null(),
            10,
            null(),
            0,
            Some(cancel_after_two),
            (&mut state as *mut State).cast(),
            &mut n,
        )
    };
    assert_eq!(status, EDGE_LLAMA_ERR_CANCELLED);
    assert_eq!(n, 2);
    assert_eq!(position(s), before + 2);
    let mut more = Collected::default();
    // The cancelled step's logits are gone: going on needs new text.
    let (status, _) = run(s, sampler, None, 3, &[], &mut more);
    assert_eq!(status, EDGE_LLAMA_ERR_INVALID_ARGUMENT);
    assert!(last_error().contains("logits"), "{}", last_error());
    let (status, _) = run(s, sampler, Some(" and then"), 3, &[], &mut more);
    assert_eq!(status, EDGE_LLAMA_OK, "{}", last_error());
    assert_eq!(more.tokens.len(), 3);
    // SAFETY: handles from above, freed once (the cancel handle after the session).
    unsafe {
        edge_llama_session_free(s);
        edge_llama_cancel_free(cancel);
        edge_llama_sampler_free(sampler);
        edge_llama_model_free(model);
    }
}

#[test]
fn a_stop_string_across_two_tokens_ends_generation_and_is_not_emitted() {
    let model = open_model(1);
    let (s, sampler) = session_and_sampler(model);
    let mut free_run = Collected::default();
    assert_eq!(
        run(s, sampler, Some("Once upon a time"), 16, &[], &mut free_run).0,
        EDGE_LLAMA_OK
    );
    let texts: Vec<usize> = free_run.pieces.iter().map(String::len).collect();
    // A stop string made of the last character of one token's text and the
    // first character of the next one's.
    let text = &free_run.text;
    let mut at = 0usize;
    let mut stop = None;
    for w in texts.windows(2) {
        let (a, b) = (w[0], w[1]);
        if a > 0 && b > 0 {
            let last = text[..at + a].chars().next_back().expect("a char");
            let first = text[at + a..].chars().next().expect("a char");
            if !last.is_whitespace() && !first.is_whitespace() {
                stop = Some(format!("{last}{first}"));
                break;
            }
        }
        at += a;
    }
    let stop = stop.expect("two neighbouring tokens with text");
    let cut = text.find(&stop).expect("the stop string occurs");
    // SAFETY: live handle.
    unsafe { edge_llama_session_reset(s) };
    let mut stopped = Collected::default();
    let (status, n) = run(
        s,
        sampler,
        Some("Once upon a time"),
        16,
        &[&stop, "never-occurs"],
        &mut stopped,
    );
    assert_eq!(status, EDGE_LLAMA_OK, "{}", last_error());
    assert_eq!(stopped.text, text[..cut], "stop {stop:?}");
    assert!(n < 16, "generation ended at the stop string");

    // Bad stop arrays are argument errors.
    let one = cstr("x");
    let bad: [*const c_char; 2] = [one.as_ptr(), null()];
    // SAFETY: live handles; `bad` readable for 2 pointers.
    unsafe {
        let st = edge_llama_session_generate(
            s,
            sampler,
            null(),
            1,
            bad.as_ptr(),
            2,
            None,
            null_mut(),
            null_mut(),
        );
        assert_eq!(st, EDGE_LLAMA_ERR_INVALID_ARGUMENT);
        assert!(last_error().contains("stop[1] is NULL"), "{}", last_error());
        let st = edge_llama_session_generate(
            s,
            sampler,
            null(),
            1,
            null(),
            1,
            None,
            null_mut(),
            null_mut(),
        );
        assert_eq!(st, EDGE_LLAMA_ERR_INVALID_ARGUMENT);
        let mut chat = null_mut();
        assert_eq!(
            edge_llama_chat_new(model, null(), null(), null(), 4, &mut chat),
            EDGE_LLAMA_OK
        );
        assert_eq!(
            edge_llama_chat_set_stop_strings(chat, bad.as_ptr(), 2),
            EDGE_LLAMA_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            edge_llama_chat_set_stop_strings(chat, bad.as_ptr(), 1),
            EDGE_LLAMA_OK
        );
        let mut cancel = null_mut();
        assert_eq!(
            edge_llama_chat_cancel_handle(chat, &mut cancel),
            EDGE_LLAMA_OK
        );
        edge_llama_cancel_request(cancel);
        let hi = cstr("hi");
        assert_eq!(
            edge_llama_chat_send(chat, hi.as_ptr(), None, null_mut(), null_mut()),
            EDGE_LLAMA_ERR_CANCELLED
        );
        assert_eq!(
            edge_llama_chat_send(chat, hi.as_ptr(), None, null_mut(), null_mut()),
            EDGE_LLAMA_OK,
            "{}",
            last_error()
        );
        edge_llama_cancel_free(cancel);
        edge_llama_chat_free(chat);
        edge_llama_session_free(s);
        edge_llama_sampler_free(sampler);
        edge_llama_model_free(model);
    }
}

#[test]
fn default_threads_is_at_least_one() {
    let mut n = 0u32;
    // SAFETY: writable out.
    assert_eq!(unsafe { edge_llama_default_threads(&mut n) }, EDGE_LLAMA_OK);
    assert!(n >= 1);
    assert_eq!(n as usize, edge_llama::model::default_threads().threads);
}

/// A cancel handle pointer that may cross threads (the header allows it).
#[derive(Clone, Copy)]
struct SharedCancel(*const EdgeLlamaCancel);
// SAFETY: a cancel handle may be used by any number of threads at once; it
// wraps an Arc<AtomicBool>.
unsafe impl Send for SharedCancel {}

#[test]
fn another_thread_cancels_a_long_prompt() {
    let model = open_model(1);
    let (s, sampler) = session_and_sampler(model);
    let mut cancel = null_mut();
    assert_eq!(
        // SAFETY: live handle, writable out.
        unsafe { edge_llama_session_cancel_handle(s, &mut cancel) },
        EDGE_LLAMA_OK
    );
    let shared = SharedCancel(cancel);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let started = std::sync::Arc::new(std::sync::Barrier::new(2));
    let canceller = {
        let (done, started) = (done.clone(), started.clone());
        std::thread::spawn(move || {
            let shared = shared;
            started.wait();
            // Keep asking until the evaluation has answered.
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                // SAFETY: the handle lives until after this thread is joined.
                unsafe { edge_llama_cancel_request(shared.0) };
                std::thread::yield_now();
            }
        })
    };
    // Long enough (about 24 batches) that the canceller, spinning on the
    // other core, gets in before the end even on a loaded machine.
    let tokens: Vec<u32> = (0..3000).map(|i| 1 + (i * 7919) % 200).collect();
    started.wait();
    let t0 = std::time::Instant::now();
    // SAFETY: live handle; `tokens` readable.
    let status = unsafe { edge_llama_session_eval(s, tokens.as_ptr(), tokens.len()) };
    let latency = t0.elapsed();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    canceller.join().expect("canceller");
    assert_eq!(status, EDGE_LLAMA_ERR_CANCELLED, "{}", last_error());
    let kept = position(s);
    assert!(
        kept < tokens.len(),
        "kept {kept} of {} positions",
        tokens.len()
    );
    println!("cancelled after {latency:?} with {kept} positions kept");
    // The session keeps working: withdraw a request the canceller may have
    // left, then evaluate the rest.
    // SAFETY: live handles.
    unsafe {
        edge_llama_cancel_clear(cancel);
        let rest = &tokens[kept..];
        assert_eq!(
            edge_llama_session_eval(s, rest.as_ptr(), rest.len()),
            EDGE_LLAMA_OK,
            "{}",
            last_error()
        );
    }
    assert_eq!(position(s), tokens.len());
    // SAFETY: handles from above, freed once; no thread uses them any more.
    unsafe {
        edge_llama_cancel_free(cancel);
        edge_llama_session_free(s);
        edge_llama_sampler_free(sampler);
        edge_llama_model_free(model);
    }
}
