//! Several sessions over one mapped model, from several threads.

mod common;

use edge_llama::{Model, ModelOptions, Session, SessionOptions};

fn assert_send_sync<T: Send + Sync>() {}
fn assert_send<T: Send>() {}

#[test]
fn model_is_send_and_sync_and_sessions_are_send() {
    assert_send_sync::<Model>();
    assert_send::<Session>();
}

#[test]
fn sessions_on_threads_agree_with_a_lone_session() {
    let Some(dir) = common::fixtures() else {
        return;
    };
    let model = Model::open_with(dir.join("tiny-gqa-q8_0.gguf"), ModelOptions { threads: 2 })
        .expect("open");
    let prompts: Vec<Vec<u32>> = (0..4)
        .map(|k| (0..12).map(|i| 100 + 31 * i + 7 * k).collect())
        .collect();
    let alone: Vec<Vec<f32>> = prompts
        .iter()
        .map(|p| {
            let mut s = model
                .new_session(SessionOptions::default())
                .expect("session");
            s.eval(p).expect("eval").to_vec()
        })
        .collect();
    let together: Vec<Vec<f32>> = std::thread::scope(|scope| {
        let handles: Vec<_> = prompts
            .iter()
            .map(|p| {
                let model = model.clone();
                scope.spawn(move || {
                    let mut s = model
                        .new_session(SessionOptions::default())
                        .expect("session");
                    // Feed in two batches: tokens after existing ones.
                    s.eval(&p[..5]).expect("eval");
                    s.eval(&p[5..]).expect("eval").to_vec()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    assert_eq!(alone, together);
}
