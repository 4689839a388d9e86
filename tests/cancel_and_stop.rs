//! Cancelling an evaluation from another thread, and stop strings in
//! `generate` and `Chat`.

mod common;

use edge_llama::{
    Chat, Error, KvCacheConfig, KvType, Model, ModelOptions, Sampler, SamplerConfig, SessionOptions,
};
use std::time::Instant;

fn model(variant: &str) -> Option<Model> {
    let dir = common::fixtures()?;
    Some(
        Model::open_with(
            dir.join(format!("tiny-gqa-{variant}.gguf")),
            ModelOptions {
                threads: 2,
                ..Default::default()
            },
        )
        .expect("open fixture"),
    )
}

fn prompt(n: usize) -> Vec<u32> {
    (0..n as u32).map(|i| 1 + (i * 37 + 11) % 500).collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn cancel_from_another_thread_in_the_middle_of_a_long_prompt() {
    let Some(model) = model("q4_0") else { return };
    let options = SessionOptions {
        kv: KvCacheConfig {
            capacity: 2048,
            n_sink: 4,
            dtype: KvType::F16,
            ..KvCacheConfig::default()
        },
    };
    let p = prompt(2000);
    // The uninterrupted evaluation, timed: the cancel comes at a third of
    // its time, so it lands mid-prompt however fast the machine is.
    let mut straight = model.new_session(options).expect("session");
    let t_straight = Instant::now();
    let expected = bits(straight.eval(&p).expect("eval"));
    let wait = t_straight.elapsed() / 3;
    let mut s = model.new_session(options).expect("session");
    let handle = s.cancel_handle();
    let (tx, rx) = std::sync::mpsc::channel::<Instant>();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(wait);
        let at = Instant::now();
        handle.cancel();
        tx.send(at).expect("send");
    });
    let t0 = Instant::now();
    let result = s.eval(&p).map(|_| ());
    let returned = Instant::now();
    canceller.join().expect("canceller");
    let cancelled_at = rx.recv().expect("cancel time");
    assert!(
        matches!(result, Err(Error::Cancelled)),
        "the prompt finished before the cancel ({:?}); make it longer",
        t0.elapsed()
    );
    let latency = returned.saturating_duration_since(cancelled_at);
    let kept = s.position();
    println!(
        "cancel latency: {:.3} ms; {kept} of {} tokens kept after {:.3} s",
        latency.as_secs_f64() * 1e3,
        p.len(),
        (cancelled_at - t0).as_secs_f64()
    );
    // Only whole batches are kept, in order; no logits from a cancelled call.
    assert!(kept < p.len());
    assert_eq!(kept % 128, 0, "whole batches of 128");
    assert_eq!(s.tokens(), &p[..kept]);
    assert!(s.logits().is_empty());
    assert!(
        !s.cancel_handle().is_cancelled(),
        "the request was answered"
    );

    // The session keeps working: evaluating the rest gives the logits of an
    // uninterrupted evaluation, bit for bit.
    let resumed = bits(s.eval(&p[kept..]).expect("eval the rest"));
    assert_eq!(resumed, expected);
}

#[test]
fn a_cancel_before_an_evaluation_cancels_it_and_clear_withdraws_it() {
    let Some(model) = model("q4_0") else { return };
    let mut s = model
        .new_session(SessionOptions::default())
        .expect("session");
    s.eval(&prompt(10)).expect("eval");
    let before = bits(s.logits());
    let h = s.cancel_handle();
    h.cancel();
    assert!(matches!(s.eval(&prompt(5)), Err(Error::Cancelled)));
    assert_eq!(s.position(), 10, "the cancelled batch is not kept");
    s.eval(&prompt(3)).expect("the next evaluation runs");
    assert_eq!(s.position(), 13);
    h.cancel();
    h.clear();
    s.eval(&prompt(1)).expect("a withdrawn cancel does nothing");
    // Generation: a cancelled step ends the iterator with the error.
    let mut sampler = Sampler::new(SamplerConfig::greedy(), model.config().n_vocab).expect("s");
    let mut gen = s.generate(&[], &mut sampler, 10).expect("generate");
    assert!(gen.next().expect("one").is_ok());
    h.cancel();
    assert!(matches!(gen.next(), Some(Err(Error::Cancelled))));
    assert!(gen.next().is_none());
    drop(gen);
    assert_eq!(s.position(), 15);
    assert!(!before.is_empty());
}

/// Greedy tokens and their texts, without stop strings.
fn plain_run(model: &Model, p: &[u32], n: usize) -> Vec<(u32, String)> {
    let mut s = model
        .new_session(SessionOptions::default())
        .expect("session");
    let mut sampler = Sampler::new(SamplerConfig::greedy(), model.config().n_vocab).expect("s");
    s.generate(p, &mut sampler, n)
        .expect("generate")
        .map(|g| {
            let g = g.expect("token");
            (g.id, g.text)
        })
        .collect()
}

/// A stop string made of the end of token `i`'s text and the start of
/// token `i + 1`'s, for the first `i` where both have text and the string
/// does not occur earlier.
fn spanning_stop(run: &[(u32, String)]) -> Option<(usize, String)> {
    let mut before = String::new();
    for i in 0..run.len() - 1 {
        let (a, b) = (&run[i].1, &run[i + 1].1);
        let a_end = a.char_indices().last().map(|(j, _)| j);
        let b_first = b.chars().next();
        if let (Some(j), Some(c)) = (a_end, b_first) {
            let stop = format!("{}{c}", &a[j..]);
            let text_so_far = format!("{before}{a}{b}");
            if text_so_far.find(&stop) == Some(before.len() + j) {
                return Some((i, stop));
            }
        }
        before.push_str(a);
    }
    None
}

#[test]
fn stop_string_spanning_two_tokens_ends_generation_and_is_not_emitted() {
    let Some(model) = model("q8_0") else { return };
    let p = prompt(8);
    let run = plain_run(&model, &p, 60);
    let (i, stop) = spanning_stop(&run).expect("two consecutive tokens with text");
    let full: String = run.iter().map(|(_, t)| t.as_str()).collect();
    let expected_text = &full[..full.find(&stop).expect("occurs")];

    let mut s = model
        .new_session(SessionOptions::default())
        .expect("session");
    let mut sampler = Sampler::new(SamplerConfig::greedy(), model.config().n_vocab).expect("s");
    let items: Vec<_> = s
        .generate(&p, &mut sampler, 60)
        .expect("generate")
        .stop_at(["never appears \u{1}", stop.as_str()])
        .map(|g| g.expect("token"))
        .collect();
    let text: String = items.iter().map(|g| g.text.as_str()).collect();
    assert_eq!(text, expected_text, "stop {stop:?} after token {i}");
    assert_eq!(
        items.len(),
        i + 2,
        "generation ends at the token completing the stop"
    );
    assert!(items.last().expect("items").stop);
    assert!(items[..i + 1].iter().all(|g| !g.stop));
    let ids: Vec<u32> = items.iter().map(|g| g.id).collect();
    let plain_ids: Vec<u32> = run[..i + 2].iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, plain_ids);
    // The session holds the prompt and every generated token.
    assert_eq!(s.position(), p.len() + i + 2);

    // Without a match, every character comes out, held-back ones included.
    let mut s = model
        .new_session(SessionOptions::default())
        .expect("session");
    let mut sampler = Sampler::new(SamplerConfig::greedy(), model.config().n_vocab).expect("s");
    let last_char = full.chars().last().expect("text").to_string();
    let never = format!("{last_char}\u{1}never");
    let text: String = s
        .generate(&p, &mut sampler, 60)
        .expect("generate")
        .stop_at([never])
        .map(|g| g.expect("token").text)
        .collect();
    assert_eq!(text, full);
}

#[test]
fn chat_reply_stops_at_a_stop_string() {
    let Some(model) = model("q8_0") else { return };
    let sampler = SamplerConfig::greedy();
    let mut chat =
        Chat::new(&model, SessionOptions::default(), sampler.clone(), None).expect("chat");
    chat.max_reply_tokens = 40;
    let full = chat.send("Hello there", |_| {}).expect("send");
    let chars: Vec<char> = full.text.chars().collect();
    assert!(chars.len() >= 6, "reply too short: {:?}", full.text);
    // Two characters from the middle of the reply, as a stop string.
    let stop: String = chars[chars.len() / 2..chars.len() / 2 + 2].iter().collect();
    let expected = &full.text[..full.text.find(&stop).expect("occurs")];

    let mut chat =
        Chat::new(&model, SessionOptions::default(), sampler.clone(), None).expect("chat");
    chat.max_reply_tokens = 40;
    chat.stop_strings = vec![stop.clone()];
    let mut streamed = String::new();
    let reply = chat
        .send("Hello there", |t| streamed.push_str(t))
        .expect("send");
    assert_eq!(reply.text, expected, "stop {stop:?}");
    assert_eq!(streamed, reply.text);
    assert!(reply.stopped);
    assert!(!full.stopped);
    // The conversation goes on after a stopped reply.
    chat.send("More", |_| {}).expect("second turn");
}

#[test]
fn a_cancelled_chat_turn_is_dropped_and_the_chat_goes_on() {
    let Some(model) = model("q8_0") else { return };
    let sampler = SamplerConfig::greedy();
    let mut fresh = Chat::new(&model, SessionOptions::default(), sampler.clone(), None).expect("c");
    fresh.max_reply_tokens = 8;
    let expected = fresh.send("Hi", |_| {}).expect("send").text;

    let mut chat = Chat::new(&model, SessionOptions::default(), sampler, None).expect("chat");
    chat.max_reply_tokens = 8;
    chat.cancel_handle().cancel();
    assert!(matches!(chat.send("Hi", |_| {}), Err(Error::Cancelled)));
    assert!(chat.history().is_empty());
    assert_eq!(chat.session().position(), 0);
    assert_eq!(chat.send("Hi", |_| {}).expect("send").text, expected);
}

#[test]
fn finish_returns_the_text_held_back_as_a_possible_stop_string() {
    let Some(model) = model("q8_0") else { return };
    let p = prompt(8);
    let run = plain_run(&model, &p, 20);
    let i = run
        .iter()
        .position(|(_, t)| !t.is_empty())
        .expect("a token with text");
    let last = run[i].1.chars().last().expect("text").to_string();
    let expected: String = run[..=i].iter().map(|(_, t)| t.as_str()).collect();

    let mut s = model
        .new_session(SessionOptions::default())
        .expect("session");
    let mut sampler = Sampler::new(SamplerConfig::greedy(), model.config().n_vocab).expect("s");
    let mut gen = s
        .generate(&p, &mut sampler, 20)
        .expect("generate")
        .stop_at([format!("{last}\u{1}")]);
    let mut text = String::new();
    for _ in 0..=i {
        text.push_str(&gen.next().expect("item").expect("token").text);
    }
    // The last character could begin the stop string: it is held back.
    assert_eq!(format!("{text}{last}"), expected);
    assert_eq!(gen.finish(), last);
}
