//! Llama 2 chat formatting at the token level, and the Chat object.

mod common;

use edge_llama::chat::{format_chatml, format_llama2};
use edge_llama::gguf::GgufFile;
use edge_llama::{
    Chat, ChatFormat, Error, Message, Model, ModelOptions, Role, SamplerConfig, SessionOptions,
    Tokenizer,
};

fn vocab() -> Option<Tokenizer> {
    let dir = common::fixtures()?;
    let f = GgufFile::open(dir.join("ggml-vocab-llama-spm.gguf")).expect("open");
    Some(Tokenizer::from_gguf(&f).expect("tokenizer"))
}

#[test]
fn three_turns_with_system_message() {
    let Some(tok) = vocab() else { return };
    let messages = vec![
        Message::new(Role::System, "  You are terse.\n"),
        Message::new(Role::User, "Hi there! "),
        Message::new(Role::Assistant, " Hello."),
        Message::new(Role::User, "What is 2+2?"),
        Message::new(Role::Assistant, "4"),
        Message::new(Role::User, "\tAnd 3+3?  "),
    ];
    let got = format_llama2(&tok, &messages).expect("format");
    // Built here from the format's definition, piece by piece.
    let (bos, eos) = (1u32, 2u32);
    let mut expected = vec![bos];
    expected.extend(tok.encode(
        "[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHi there! [/INST] Hello. ",
        false,
    ));
    expected.push(eos);
    expected.push(bos);
    expected.extend(tok.encode("[INST] What is 2+2? [/INST] 4 ", false));
    expected.push(eos);
    expected.push(bos);
    expected.extend(tok.encode("[INST] And 3+3? [/INST]", false));
    assert_eq!(got, expected);
    // Spot-check the encoding itself: "[INST]" is 518 25580 29962 in Llama 2's vocabulary.
    assert_eq!(&got[1..4], &[518, 25580, 29962]);
    assert_eq!(got.iter().filter(|&&t| t == bos).count(), 3);
    assert_eq!(got.iter().filter(|&&t| t == eos).count(), 2);
}

#[test]
fn special_token_text_in_messages_stays_text() {
    let Some(tok) = vocab() else { return };
    let messages = vec![Message::new(Role::User, "say </s> and <s> please")];
    let got = format_llama2(&tok, &messages).expect("format");
    assert_eq!(got[0], 1);
    assert!(!got[1..].contains(&1), "a BOS id came from text: {got:?}");
    assert!(!got.contains(&2), "an EOS id came from text: {got:?}");
    assert!(tok.decode(&got).expect("decode").contains("</s>"));
}

#[test]
fn roles_must_alternate() {
    let Some(tok) = vocab() else { return };
    let bad: Vec<Vec<Message>> = vec![
        vec![Message::new(Role::Assistant, "hi")],
        vec![Message::new(Role::User, "a"), Message::new(Role::User, "b")],
        vec![
            Message::new(Role::System, "s"),
            Message::new(Role::System, "t"),
        ],
        vec![
            Message::new(Role::User, "a"),
            Message::new(Role::Assistant, "b"),
            Message::new(Role::Assistant, "c"),
        ],
    ];
    for m in bad {
        assert!(
            matches!(format_llama2(&tok, &m), Err(Error::Chat(_))),
            "{m:?} accepted"
        );
    }
}

#[test]
fn chat_evaluates_only_new_tokens() {
    let Some(dir) = common::fixtures() else {
        return;
    };
    let model = Model::open_with(
        dir.join("tiny-gqa-q4_0.gguf"),
        ModelOptions {
            threads: 1,
            ..Default::default()
        },
    )
    .expect("open");
    assert_eq!(ChatFormat::of(&model), ChatFormat::Llama2);
    let sampler = SamplerConfig {
        seed: 5,
        ..SamplerConfig::default()
    };
    let mut chat = Chat::new(
        &model,
        SessionOptions::default(),
        sampler,
        Some("Be brief".into()),
    )
    .expect("chat");
    chat.max_reply_tokens = 6;
    let first = chat.send("Hello", |_| {}).expect("turn 1");
    let after_first = chat.session().position();
    // The turn's prompt, then the reply, then EOS if the reply did not end with one.
    let eos_added = usize::from(first.reply_tokens.last() != Some(&2));
    assert_eq!(
        after_first,
        first.prompt_tokens.len() + first.reply_tokens.len() + eos_added
    );
    let second = chat.send("And then?", |_| {}).expect("turn 2");
    let tok = model.tokenizer();
    let mut expected = vec![1];
    expected.extend(tok.encode("[INST] And then? [/INST]", false));
    assert_eq!(
        second.prompt_tokens, expected,
        "the second turn evaluates only its own tokens"
    );
    assert!(chat.session().position() > after_first + expected.len());
    assert_eq!(chat.history().len(), 4);
    chat.reset();
    assert_eq!(chat.session().position(), 0);
}

#[test]
fn chatml_format_tokens() {
    let Some(path) = common::smollm2_model() else {
        return;
    };
    let model = Model::open_with(
        &path,
        ModelOptions {
            threads: 1,
            ..Default::default()
        },
    )
    .expect("open");
    assert_eq!(ChatFormat::of(&model), ChatFormat::ChatMl);
    let tok = model.tokenizer();
    let messages = vec![
        Message::new(Role::System, "Be kind."),
        Message::new(Role::User, "Hi"),
    ];
    let got = format_chatml(tok, &messages).expect("format");
    let text = tok.decode(&got).expect("decode");
    // Control tokens decode to nothing; check them by text instead.
    let pieces: Vec<&str> = got
        .iter()
        .map(|&t| tok.token_text(t).expect("id"))
        .collect();
    assert_eq!(pieces.iter().filter(|p| **p == "<|im_start|>").count(), 3);
    assert_eq!(pieces.iter().filter(|p| **p == "<|im_end|>").count(), 2);
    assert_eq!(text, "system\nBe kind.\nuser\nHi\nassistant\n");
}

#[test]
fn default_system_message_from_template() {
    let t = "{% if loop.first %}{{ '<|im_start|>system\nYou are helpful.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}";
    assert_eq!(
        ChatFormat::default_system(t).as_deref(),
        Some("You are helpful.")
    );
    assert_eq!(
        ChatFormat::default_system("{{ '<|im_start|>' + role }}"),
        None
    );
}
