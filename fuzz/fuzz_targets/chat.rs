//! Chat prompts: arbitrary role sequences and contents through both formats
//! (Llama 2 and ChatML) with both tokenizers (SPM and BPE).
//!
//! Input: a sequence of messages, each one byte `r` (role `r % 3`: system,
//! user, assistant), one length byte `n`, then `n` bytes of content (lossy
//! UTF-8). Checks: the format accepts exactly the valid role sequences
//! (optional first system message, then user/assistant alternating from
//! user); valid ones give in-range ids, with one BOS per user turn and one
//! EOS per answered turn (Llama 2) or one `<|im_start|>` per message plus
//! the open assistant header and one `<|im_end|>` per message (ChatML).
#![no_main]

use edge_llama::chat::{format_chatml, format_llama2};
use edge_llama::{Error, Message, Role, Tokenizer};
use edge_llama_fuzz::{bpe_tokenizer, spm_tokenizer};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn parse(mut data: &[u8]) -> Vec<Message> {
    let mut out = Vec::new();
    while let [r, n, rest @ ..] = data {
        let n = (*n as usize).min(rest.len());
        let role = match r % 3 {
            0 => Role::System,
            1 => Role::User,
            _ => Role::Assistant,
        };
        out.push(Message::new(role, String::from_utf8_lossy(&rest[..n])));
        data = &rest[n..];
    }
    out
}

/// Roles: optional first system message, then user/assistant alternating.
fn valid_roles(messages: &[Message]) -> Option<&[Message]> {
    let rest = match messages.first() {
        Some(m) if m.role == Role::System => &messages[1..],
        _ => messages,
    };
    let ok = rest.iter().enumerate().all(|(i, m)| {
        m.role
            == if i % 2 == 0 {
                Role::User
            } else {
                Role::Assistant
            }
    });
    ok.then_some(rest)
}

fn count(ids: &[u32], id: u32) -> usize {
    ids.iter().filter(|&&x| x == id).count()
}

fn token_id(tok: &Tokenizer, text: &str) -> Option<u32> {
    (0..tok.n_vocab() as u32).find(|&id| tok.token_text(id).ok() == Some(text))
}

fn check(tok: &Tokenizer, im: Option<(u32, u32)>, messages: &[Message]) {
    let turns = valid_roles(messages);
    let all_in_range = |ids: &[u32]| ids.iter().all(|&id| (id as usize) < tok.n_vocab());

    match (format_llama2(tok, messages), turns) {
        (Ok(ids), Some(rest)) => {
            assert!(all_in_range(&ids));
            let (bos, eos) = (tok.bos_id(), tok.eos_id());
            if let (Some(bos), Some(eos)) = (bos, eos) {
                assert_eq!(
                    count(&ids, bos),
                    rest.len().div_ceil(2),
                    "BOS per user turn"
                );
                assert_eq!(count(&ids, eos), rest.len() / 2, "EOS per answered turn");
            }
            if let Err(e) = tok.decode(&ids) {
                panic!("decoding a Llama 2 prompt: {e}");
            }
        }
        (Err(Error::Chat(_)), None) => {}
        (Err(Error::Chat(m)), Some(_)) if tok.bos_id().is_none() || tok.eos_id().is_none() => {
            assert!(m.contains("no"), "{m}")
        }
        (r, t) => panic!(
            "llama2: valid roles {:?}, result {:?}",
            t.is_some(),
            r.map(|v| v.len())
        ),
    }

    match (format_chatml(tok, messages), turns, im) {
        (Ok(ids), Some(rest), Some((start, end))) => {
            assert!(all_in_range(&ids));
            let n = messages.len();
            assert_eq!(count(&ids, start), n + rest.len() % 2, "<|im_start|> count");
            assert_eq!(count(&ids, end), n, "<|im_end|> count");
            if let Err(e) = tok.decode(&ids) {
                panic!("decoding a ChatML prompt: {e}");
            }
        }
        (Err(Error::Chat(_)), None, _) | (Err(Error::Chat(_)), _, None) => {}
        (r, t, im) => panic!(
            "chatml: valid roles {:?}, ids {im:?}, result {:?}",
            t.is_some(),
            r.map(|v| v.len())
        ),
    }
}

/// `<|im_start|>` and `<|im_end|>` of a tokenizer, looked up once.
fn im_ids(
    tok: &'static Tokenizer,
    cell: &'static OnceLock<Option<(u32, u32)>>,
) -> Option<(u32, u32)> {
    *cell.get_or_init(|| token_id(tok, "<|im_start|>").zip(token_id(tok, "<|im_end|>")))
}

fuzz_target!(|data: &[u8]| {
    static SPM_IM: OnceLock<Option<(u32, u32)>> = OnceLock::new();
    static BPE_IM: OnceLock<Option<(u32, u32)>> = OnceLock::new();
    let messages = parse(data);
    check(spm_tokenizer(), im_ids(spm_tokenizer(), &SPM_IM), &messages);
    check(bpe_tokenizer(), im_ids(bpe_tokenizer(), &BPE_IM), &messages);
});
