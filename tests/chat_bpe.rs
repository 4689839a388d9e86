//! ChatML formatting and the `Chat` object on a tiny byte-level BPE
//! vocabulary written here with our GGUF writer (no SmolLM2 needed):
//! `<|endoftext|>`, `<|im_start|>`, `<|im_end|>` as control tokens, the 256
//! byte tokens, and the merges `u s`, `us e`, `use r`. Expected token ids are
//! spelled out from that vocabulary, not computed by the tokenizer.

use edge_llama::chat::format_chatml;
use edge_llama::gguf::{OwnedValue, ValueType};
use edge_llama::kernels::GgmlType;
use edge_llama::synthetic::SyntheticSpec;
use edge_llama::{
    Chat, ChatFormat, Message, Model, ModelOptions, Role, SamplerConfig, SessionOptions,
};

const IM_START: u32 = 1;
const IM_END: u32 = 2;
/// `user`, one token through the three merges.
const USER: u32 = 3 + 256 + 2;
const NEWLINE: u32 = 3 + b'\n' as u32;
const SYSTEM_DEFAULT: &str = "You are a tiny test model.";

/// GPT-2's byte-to-character map (printable bytes stand for themselves, the
/// others take code points from 256 on, in byte order).
fn byte_char(b: u8) -> char {
    let printable = |x: u32| (0x21..=0x7E).contains(&x) || (0xA1..=0xAC).contains(&x) || x >= 0xAE;
    if printable(b as u32) {
        char::from(b)
    } else {
        let n = (0..b as u32).filter(|&x| !printable(x)).count() as u32;
        char::from_u32(256 + n).expect("valid code point")
    }
}

/// The ids of `text` as single-byte tokens (id = 3 + byte).
fn bytes(text: &str) -> Vec<u32> {
    text.bytes().map(|b| 3 + b as u32).collect()
}

/// Writes the synthetic model with the tiny BPE vocabulary and a ChatML
/// template holding a default system message; returns the opened model.
fn model(tag: &str) -> Model {
    let mut tokens: Vec<String> = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
        .map(String::from)
        .to_vec();
    tokens.extend((0..=255u8).map(|b| byte_char(b).to_string()));
    tokens.extend(["us", "use", "user"].map(String::from));
    let types: Vec<i32> = (0..tokens.len())
        .map(|i| if i < 3 { 3 } else { 1 })
        .collect();
    let spec = SyntheticSpec {
        n_vocab: tokens.len(),
        ..SyntheticSpec::tiny(GgmlType::F32)
    };
    let mut w = spec.build().expect("build");
    let strings = |v: Vec<String>| {
        OwnedValue::Array(
            ValueType::String,
            v.into_iter().map(OwnedValue::String).collect(),
        )
    };
    let s = |v: &str| OwnedValue::String(v.to_string());
    w.set_metadata("tokenizer.ggml.model", s("gpt2"));
    w.set_metadata("tokenizer.ggml.pre", s("gpt2"));
    w.set_metadata("tokenizer.ggml.tokens", strings(tokens));
    w.remove_metadata("tokenizer.ggml.scores");
    w.set_metadata(
        "tokenizer.ggml.token_type",
        OwnedValue::Array(
            ValueType::I32,
            types.into_iter().map(OwnedValue::I32).collect(),
        ),
    );
    w.set_metadata(
        "tokenizer.ggml.merges",
        strings(["u s", "us e", "use r"].map(String::from).to_vec()),
    );
    w.set_metadata("tokenizer.ggml.bos_token_id", OwnedValue::U32(IM_START));
    w.set_metadata("tokenizer.ggml.eos_token_id", OwnedValue::U32(IM_END));
    w.remove_metadata("tokenizer.ggml.unknown_token_id");
    w.set_metadata("tokenizer.ggml.add_bos_token", OwnedValue::Bool(false));
    w.set_metadata(
        "tokenizer.chat_template",
        s(&format!(
            "{{% if loop.first and messages[0]['role'] != 'system' %}}{{{{ '<|im_start|>system\n{SYSTEM_DEFAULT}<|im_end|>\n' }}}}{{% endif %}}{{{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}}}"
        )),
    );
    let path = std::env::temp_dir().join(format!(
        "edge-llama-chat-bpe-{tag}-{}.gguf",
        std::process::id()
    ));
    w.write_to_path(&path).expect("write");
    let model = Model::open_with(
        &path,
        ModelOptions {
            threads: 1,
            ..Default::default()
        },
    )
    .expect("open");
    let _ = std::fs::remove_file(&path);
    model
}

/// `<|im_start|>` role `\n` content `<|im_end|>` `\n`, from ids.
fn turn(role: Vec<u32>, content: &str) -> Vec<u32> {
    let mut v = vec![IM_START];
    v.extend(role);
    v.extend(bytes("\n"));
    v.extend(bytes(content));
    v.push(IM_END);
    v.push(NEWLINE);
    v
}

fn open_assistant() -> Vec<u32> {
    let mut v = vec![IM_START];
    v.extend(bytes("assistant\n"));
    v
}

#[test]
fn the_vocabulary_is_what_the_test_assumes() {
    let m = model("vocab");
    let tok = m.tokenizer();
    assert_eq!(ChatFormat::of(&m), ChatFormat::ChatMl);
    assert_eq!(tok.encode("user", false), vec![USER]);
    assert_eq!(tok.encode("a\n", false), vec![3 + 97, NEWLINE]);
    assert_eq!(tok.token_text(IM_END).expect("id"), "<|im_end|>");
}

#[test]
fn empty_content_and_system_only_conversations() {
    let m = model("empty");
    let tok = m.tokenizer();
    // An empty user message: its header, nothing, the end, then the open
    // assistant turn.
    let got = format_chatml(tok, &[Message::new(Role::User, "")]).expect("format");
    let mut want = turn(vec![USER], "");
    want.extend(open_assistant());
    assert_eq!(got, want);
    // Empty system and whitespace-only user content are trimmed to nothing.
    let got = format_chatml(
        tok,
        &[
            Message::new(Role::System, ""),
            Message::new(Role::User, "  \n"),
        ],
    )
    .expect("format");
    let mut want = turn(bytes("system"), "");
    want.extend(turn(vec![USER], ""));
    want.extend(open_assistant());
    assert_eq!(got, want);
    // Only a system message: that turn, and no open assistant header.
    let got = format_chatml(tok, &[Message::new(Role::System, "Be kind.")]).expect("format");
    assert_eq!(got, turn(bytes("system"), "Be kind."));
    // No messages at all: no tokens.
    assert_eq!(format_chatml(tok, &[]).expect("format"), Vec::<u32>::new());
}

#[test]
fn im_end_text_inside_a_message_stays_text() {
    let m = model("im-end");
    let tok = m.tokenizer();
    let text = "a <|im_end|> b<|im_start|>";
    let got = format_chatml(
        tok,
        &[
            Message::new(Role::User, text),
            Message::new(Role::Assistant, "<|im_end|>"),
            Message::new(Role::User, "ok"),
        ],
    )
    .expect("format");
    let mut want = turn(vec![USER], text);
    want.extend(turn(bytes("assistant"), "<|im_end|>"));
    want.extend(turn(vec![USER], "ok"));
    want.extend(open_assistant());
    assert_eq!(got, want);
    assert_eq!(got.iter().filter(|&&t| t == IM_END).count(), 3);
    assert_eq!(got.iter().filter(|&&t| t == IM_START).count(), 4);

    // Through Chat::send too: the user's text does not close the turn.
    let mut chat = Chat::new(
        &m,
        SessionOptions::default(),
        SamplerConfig::greedy(),
        Some("s".into()),
    )
    .expect("chat");
    chat.max_reply_tokens = 2;
    let reply = chat.send(text, |_| {}).expect("send");
    let mut want = turn(bytes("system"), "s");
    want.extend(turn(vec![USER], text));
    want.extend(open_assistant());
    assert_eq!(reply.prompt_tokens, want);
}

#[test]
fn default_system_message_comes_from_the_template() {
    let m = model("default-system");
    let mut chat =
        Chat::new(&m, SessionOptions::default(), SamplerConfig::greedy(), None).expect("chat");
    chat.max_reply_tokens = 1;
    let reply = chat.send("hi", |_| {}).expect("send");
    let mut want = turn(bytes("system"), SYSTEM_DEFAULT);
    want.extend(turn(vec![USER], "hi"));
    want.extend(open_assistant());
    assert_eq!(reply.prompt_tokens, want);

    // An explicit system message replaces the template's.
    let mut chat = Chat::new(
        &m,
        SessionOptions::default(),
        SamplerConfig::greedy(),
        Some("Other.".into()),
    )
    .expect("chat");
    chat.max_reply_tokens = 1;
    let reply = chat.send("hi", |_| {}).expect("send");
    let system = turn(bytes("system"), "Other.");
    assert_eq!(&reply.prompt_tokens[..system.len()], &system[..]);
}

/// After `send`, the cache holds prompt + reply + the closing tokens: the
/// position and the last logits equal a fresh session fed that sequence.
fn check_closing(m: &Model, chat: &Chat, history: &[u32]) {
    let mut fresh = m.new_session(SessionOptions::default()).expect("session");
    let logits = fresh.eval(history).expect("eval").to_vec();
    assert_eq!(chat.session().position(), history.len());
    let d = logits
        .iter()
        .zip(chat.session().logits())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        d < 1e-4,
        "cache differs from the expected history: max |Δ| {d}"
    );
}

#[test]
fn send_closes_the_assistant_turn() {
    let m = model("closing");
    // A reply cut by the token limit: `<|im_end|>` and `\n` are appended.
    let mut chat = Chat::new(
        &m,
        SessionOptions::default(),
        SamplerConfig::greedy(),
        Some("s".into()),
    )
    .expect("chat");
    chat.max_reply_tokens = 3;
    let first = chat.send("hi", |_| {}).expect("send");
    assert!(!first.ended && first.reply_tokens.len() == 3, "{first:?}");
    let mut history = first.prompt_tokens.clone();
    history.extend(&first.reply_tokens);
    history.extend([IM_END, NEWLINE]);
    check_closing(&m, &chat, &history);
    // The second turn evaluates only its own tokens, on top of that.
    let second = chat.send("ok", |_| {}).expect("send");
    let mut want = turn(vec![USER], "ok");
    want.extend(open_assistant());
    assert_eq!(second.prompt_tokens, want);
    history.extend(&second.prompt_tokens);
    history.extend(&second.reply_tokens);
    history.extend([IM_END, NEWLINE]);
    check_closing(&m, &chat, &history);

    // A reply the model ended with `<|im_end|>`: only `\n` is appended. Find
    // a seed whose sampled reply ends within the limit.
    let mut found = false;
    for seed in 0..64 {
        let sampler = SamplerConfig {
            seed,
            temperature: 1.5,
            top_k: 0,
            top_p: 1.0,
            ..SamplerConfig::default()
        };
        let mut chat =
            Chat::new(&m, SessionOptions::default(), sampler, Some("s".into())).expect("chat");
        chat.max_reply_tokens = 40;
        let reply = chat.send("hi", |_| {}).expect("send");
        if !reply.ended {
            continue;
        }
        assert_eq!(reply.reply_tokens.last(), Some(&IM_END));
        let mut history = reply.prompt_tokens.clone();
        history.extend(&reply.reply_tokens);
        history.push(NEWLINE);
        check_closing(&m, &chat, &history);
        found = true;
        break;
    }
    assert!(found, "no seed produced a reply ending with <|im_end|>");
}
