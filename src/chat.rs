//! Chat prompts: Meta's Llama 2 format (system / user / assistant) and
//! ChatML, built at the token level, and a [`Chat`] that keeps one session
//! across turns and evaluates only each turn's new tokens.
//!
//! Llama 2 (as Meta's reference code): a system message is folded into the
//! first user message as `<<SYS>>\n{system}\n<</SYS>>\n\n{user}`; each
//! completed exchange is
//! `[BOS] + encode("[INST] {user} [/INST] {assistant} ") + [EOS]`; the open user turn is `[BOS] + encode("[INST] {user} [/INST]")`.
//! Contents are trimmed; BOS/EOS are inserted as ids, never parsed from text.

use crate::error::{Error, Result};
use crate::model::Model;
use crate::sampler::{Sampler, SamplerConfig};
use crate::session::{Session, SessionOptions};
use crate::tokenizer::Tokenizer;
use std::time::{Duration, Instant};

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Instructions for the assistant (at most one, first).
    System,
    /// The person talking.
    User,
    /// The model.
    Assistant,
}

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Author.
    pub role: Role,
    /// Text (trimmed when formatted).
    pub content: String,
}

impl Message {
    /// A message with `role` and `content`.
    pub fn new(role: Role, content: impl Into<String>) -> Message {
        Message {
            role,
            content: content.into(),
        }
    }
}

/// The prompt format of a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChatFormat {
    /// Meta's Llama 2 chat format (`[INST]`, `<<SYS>>`).
    Llama2,
    /// ChatML (`<|im_start|>role\n…<|im_end|>\n`), e.g. SmolLM2.
    ChatMl,
}

impl ChatFormat {
    /// The format a model's `tokenizer.chat_template` names: ChatML when the
    /// template uses `<|im_start|>`, Llama 2 otherwise (also when absent).
    pub fn from_template(template: Option<&str>) -> ChatFormat {
        match template {
            Some(t) if t.contains("<|im_start|>") => ChatFormat::ChatMl,
            _ => ChatFormat::Llama2,
        }
    }

    /// The default system message a ChatML template inserts when the
    /// conversation has none (SmolLM2's does), read from the template text
    /// `'<|im_start|>system\n…<|im_end|>`.
    pub fn default_system(template: &str) -> Option<String> {
        let start = template.find("<|im_start|>system\n")? + "<|im_start|>system\n".len();
        let rest = &template[start..];
        let end = rest.find("<|im_end|>")?;
        let text = &rest[..end];
        (!text.contains("{{") && !text.contains('\'')).then(|| text.to_string())
    }

    /// The format of `model`.
    pub fn of(model: &Model) -> ChatFormat {
        let t = model
            .gguf()
            .opt_str("tokenizer.chat_template")
            .ok()
            .flatten();
        ChatFormat::from_template(t)
    }
}

/// Checks roles: an optional first system message, then user and assistant
/// alternating, starting with user. Returns (system, the rest).
fn split_system(messages: &[Message]) -> Result<(Option<&str>, &[Message])> {
    let (system, rest) = match messages.first() {
        Some(m) if m.role == Role::System => (Some(m.content.trim()), &messages[1..]),
        _ => (None, messages),
    };
    for (i, m) in rest.iter().enumerate() {
        let expected = if i % 2 == 0 {
            Role::User
        } else {
            Role::Assistant
        };
        if m.role != expected {
            return Err(Error::Chat(format!(
                "message {} has role {:?}, expected {expected:?} (after an optional first system message, roles must alternate user/assistant)",
                i + usize::from(system.is_some()),
                m.role
            )));
        }
    }
    Ok((system, rest))
}

fn require(id: Option<u32>, what: &str) -> Result<u32> {
    id.ok_or_else(|| Error::Chat(format!("the vocabulary has no {what} token")))
}

/// Tokens of a Llama 2 conversation: every completed exchange, then the open
/// user turn when the last message is from the user.
pub fn format_llama2(tok: &Tokenizer, messages: &[Message]) -> Result<Vec<u32>> {
    let (system, rest) = split_system(messages)?;
    let bos = require(tok.bos_id(), "BOS")?;
    let eos = require(tok.eos_id(), "EOS")?;
    let mut out = Vec::new();
    for (i, pair) in rest.chunks(2).enumerate() {
        let mut user = pair[0].content.trim().to_string();
        if i == 0 {
            if let Some(sys) = system {
                user = format!("<<SYS>>\n{sys}\n<</SYS>>\n\n{user}");
            }
        }
        out.push(bos);
        match pair.get(1) {
            Some(a) => {
                let text = format!("[INST] {} [/INST] {} ", user.trim(), a.content.trim());
                out.extend(tok.encode(&text, false));
                out.push(eos);
            }
            None => out.extend(tok.encode(&format!("[INST] {} [/INST]", user.trim()), false)),
        }
    }
    Ok(out)
}

/// Finds the id of the token whose text is exactly `text`.
fn token_id(tok: &Tokenizer, text: &str) -> Option<u32> {
    (0..tok.n_vocab() as u32).find(|&id| tok.token_text(id).ok() == Some(text))
}

/// Ids of ChatML's `<|im_start|>` and `<|im_end|>`.
#[derive(Clone, Copy, Debug)]
struct ChatMlIds {
    start: u32,
    end: u32,
}

impl ChatMlIds {
    fn find(tok: &Tokenizer) -> Result<ChatMlIds> {
        Ok(ChatMlIds {
            start: require(token_id(tok, "<|im_start|>"), "<|im_start|>")?,
            end: require(token_id(tok, "<|im_end|>"), "<|im_end|>")?,
        })
    }
}

fn chatml_message(tok: &Tokenizer, ids: ChatMlIds, role: &str, content: &str, out: &mut Vec<u32>) {
    out.push(ids.start);
    out.extend(tok.encode(&format!("{role}\n{}", content.trim()), false));
    out.push(ids.end);
    out.extend(tok.encode("\n", false));
}

fn chatml_open(tok: &Tokenizer, ids: ChatMlIds, out: &mut Vec<u32>) {
    out.push(ids.start);
    out.extend(tok.encode("assistant\n", false));
}

/// Tokens of a ChatML conversation; ends with the open assistant header when
/// the last message is from the user.
pub fn format_chatml(tok: &Tokenizer, messages: &[Message]) -> Result<Vec<u32>> {
    let (system, rest) = split_system(messages)?;
    let ids = ChatMlIds::find(tok)?;
    let mut out = Vec::new();
    if let Some(sys) = system {
        chatml_message(tok, ids, "system", sys, &mut out);
    }
    for m in rest {
        let role = if m.role == Role::User {
            "user"
        } else {
            "assistant"
        };
        chatml_message(tok, ids, role, &m.content, &mut out);
    }
    if rest.len() % 2 == 1 {
        chatml_open(tok, ids, &mut out);
    }
    Ok(out)
}

/// What one [`Chat::send`] did.
#[derive(Clone, Debug)]
pub struct Reply {
    /// The reply text.
    pub text: String,
    /// Tokens evaluated for the user's turn (before the reply).
    pub prompt_tokens: Vec<u32>,
    /// Tokens the model generated (including a final end token, if any).
    pub reply_tokens: Vec<u32>,
    /// Whether the model ended the reply itself (rather than the token limit).
    pub ended: bool,
    /// Whether the reply ended at one of [`Chat::stop_strings`] (not part of `text`).
    pub stopped: bool,
    /// Time spent generating the reply (after the prompt was evaluated).
    pub generation_time: Duration,
    /// Time spent evaluating the turn's prompt tokens.
    pub prompt_time: Duration,
}

/// A conversation with a model that keeps its KV cache across turns.
pub struct Chat {
    model: Model,
    session: Session,
    sampler: Sampler,
    format: ChatFormat,
    chatml: Option<ChatMlIds>,
    system: Option<String>,
    history: Vec<Message>,
    /// Most tokens generated for one reply.
    pub max_reply_tokens: usize,
    /// Strings that end a reply, matched across token boundaries and not
    /// emitted (see [`Generate::stop_at`](crate::Generate::stop_at)).
    pub stop_strings: Vec<String>,
}

impl Chat {
    /// Starts a chat with an optional system message.
    pub fn new(
        model: &Model,
        session: SessionOptions,
        sampler: SamplerConfig,
        system: Option<String>,
    ) -> Result<Chat> {
        let format = ChatFormat::of(model);
        let chatml = match format {
            ChatFormat::ChatMl => Some(ChatMlIds::find(model.tokenizer())?),
            ChatFormat::Llama2 => None,
        };
        let system = match (system, format) {
            (None, ChatFormat::ChatMl) => model
                .gguf()
                .opt_str("tokenizer.chat_template")
                .ok()
                .flatten()
                .and_then(ChatFormat::default_system),
            (s, _) => s,
        };
        Ok(Chat {
            model: model.clone(),
            session: model.new_session(session)?,
            sampler: Sampler::new(sampler, model.config().n_vocab)?,
            format,
            chatml,
            system,
            history: Vec::new(),
            max_reply_tokens: 512,
            stop_strings: Vec::new(),
        })
    }

    /// The prompt format in use.
    pub fn format(&self) -> ChatFormat {
        self.format
    }

    /// The session (position, cache size).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Cancels a running [`Chat::send`] from another thread (see
    /// [`CancelHandle`](crate::CancelHandle)); `send` then returns
    /// [`Error::Cancelled`] and the turn is dropped.
    pub fn cancel_handle(&self) -> crate::CancelHandle {
        self.session.cancel_handle()
    }

    /// The conversation so far.
    pub fn history(&self) -> &[Message] {
        &self.history
    }

    /// Forgets the conversation (the system message stays).
    pub fn reset(&mut self) {
        self.session.reset();
        self.sampler.reset();
        self.history.clear();
    }

    /// Tokens to evaluate for the user's next turn, given the history.
    fn turn_tokens(&self, user: &str) -> Result<Vec<u32>> {
        let tok = self.model.tokenizer();
        let first = self.history.is_empty();
        let mut messages = Vec::with_capacity(2);
        if first {
            if let Some(s) = &self.system {
                messages.push(Message::new(Role::System, s.clone()));
            }
        }
        messages.push(Message::new(Role::User, user));
        match (self.format, self.chatml) {
            (ChatFormat::ChatMl, Some(_)) => format_chatml(tok, &messages),
            _ => format_llama2(tok, &messages),
        }
    }

    /// Sends a user message; streams the reply's text to `on_text` as it is
    /// generated and returns it. Only the new turn's tokens are evaluated.
    ///
    /// On an error (such as [`Error::Cancelled`]) the turn is not added to
    /// the history and its tokens are dropped from the session, so the next
    /// `send` starts a clean turn (when the cache has wrapped since the turn
    /// began they cannot be dropped; then [`Chat::reset`] starts over).
    pub fn send(&mut self, user: &str, on_text: impl FnMut(&str)) -> Result<Reply> {
        let start = self.session.position();
        let reply = self.send_turn(user, on_text);
        if reply.is_err() {
            let _ = self.session.truncate(start);
        }
        reply
    }

    fn send_turn(&mut self, user: &str, mut on_text: impl FnMut(&str)) -> Result<Reply> {
        let prompt = self.turn_tokens(user)?;
        let t0 = Instant::now();
        self.session.eval(&prompt)?;
        for &t in &prompt {
            self.sampler.accept(t);
        }
        let prompt_time = t0.elapsed();
        let t1 = Instant::now();
        let mut text = String::new();
        let mut reply_tokens = Vec::new();
        let mut ended = false;
        let mut stopped = false;
        let mut gen = self
            .session
            .generate(&[], &mut self.sampler, self.max_reply_tokens)?
            .stop_at(self.stop_strings.iter().cloned());
        for g in gen.by_ref() {
            let g = g?;
            reply_tokens.push(g.id);
            let is_end = g.eog || Some(g.id) == self.chatml.map(|c| c.end);
            // An end token's own text is empty; its item may carry text
            // held back as a possible stop string.
            on_text(&g.text);
            text.push_str(&g.text);
            stopped = g.stop;
            if is_end {
                ended = true;
                break;
            }
        }
        // Text held back as a possible stop string when the ChatML end
        // token (not an end-of-generation token for every vocabulary) came.
        let held = gen.finish();
        on_text(&held);
        text.push_str(&held);
        let generation_time = t1.elapsed();
        // Close the assistant turn in the cache as the format requires.
        match self.chatml {
            Some(ids) => {
                let mut close = Vec::new();
                if !ended {
                    close.push(ids.end);
                }
                close.extend(self.model.tokenizer().encode("\n", false));
                self.session.eval(&close)?;
            }
            None => {
                let eos = require(self.model.tokenizer().eos_id(), "EOS")?;
                if reply_tokens.last() != Some(&eos) {
                    self.session.eval(&[eos])?;
                }
            }
        }
        self.history.push(Message::new(Role::User, user));
        self.history
            .push(Message::new(Role::Assistant, text.clone()));
        Ok(Reply {
            text,
            prompt_tokens: prompt,
            reply_tokens,
            ended,
            stopped,
            generation_time,
            prompt_time,
        })
    }
}
