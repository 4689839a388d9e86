//! Tokenizers built from GGUF metadata.
//!
//! [`Tokenizer`] wraps one kind of tokenizer, chosen by the GGUF key
//! `tokenizer.ggml.model`: `"llama"` is the SentencePiece tokenizer of
//! [`spm`]. Decoding ([`Tokenizer::decode`], [`StreamDecoder`]) is shared by
//! all kinds: it concatenates [`Tokenizer::token_bytes`] and converts to UTF-8.

pub mod bpe;
pub mod spm;

use std::borrow::Cow;

use crate::error::{Error, Result};
use crate::gguf::GgufFile;

pub use spm::{SpmSpecial, SpmTokenizer, TokenType};

/// A tokenizer: text ↔ token ids. Cheap to share across threads (`Send +
/// Sync`); `Clone` copies the vocabulary.
#[derive(Clone, Debug)]
pub struct Tokenizer {
    kind: Kind,
}

#[derive(Clone, Debug)]
enum Kind {
    Spm(SpmTokenizer),
    Bpe(bpe::BpeTokenizer),
}

/// Reads an optional array of the GGUF file, `None` when the key is absent.
fn opt_array<T>(
    file: &GgufFile,
    key: &str,
    convert: impl FnOnce(crate::gguf::ArrayValue<'_>) -> Result<T>,
) -> Result<Option<T>> {
    if file.get(key).is_none() {
        return Ok(None);
    }
    convert(file.get_array(key)?).map(Some)
}

impl Tokenizer {
    /// Builds the tokenizer described by the `tokenizer.ggml.*` metadata of a
    /// GGUF file.
    ///
    /// For `tokenizer.ggml.model = "llama"`: `tokens` (required), `scores`
    /// (default 0), `token_type` (default normal), `bos_token_id` (default 1),
    /// `eos_token_id` (default 2), `unknown_token_id` (default 0),
    /// `padding_token_id`, `eot_token_id`, `eom_token_id` (optional),
    /// `add_bos_token` (default true), `add_eos_token` (default false),
    /// `add_space_prefix` (default true). Defaults for ids apply only when in
    /// range. Any other model is [`Error::Tokenizer`].
    pub fn from_gguf(file: &GgufFile) -> Result<Tokenizer> {
        let model = file.get_str("tokenizer.ggml.model")?;
        match model {
            "llama" => Ok(Tokenizer::from_spm(spm_from_gguf(file)?)),
            "gpt2" => Ok(Tokenizer::from_bpe(bpe::BpeTokenizer::from_gguf(file)?)),
            other => Err(Error::Tokenizer(format!(
                "unsupported tokenizer model {other:?} (tokenizer.ggml.model); supported: \"llama\", \"gpt2\""
            ))),
        }
    }

    /// Wraps an already built SentencePiece tokenizer.
    pub fn from_spm(spm: SpmTokenizer) -> Tokenizer {
        Tokenizer {
            kind: Kind::Spm(spm),
        }
    }

    /// Wraps an already built byte-level BPE tokenizer.
    pub fn from_bpe(bpe: bpe::BpeTokenizer) -> Tokenizer {
        Tokenizer {
            kind: Kind::Bpe(bpe),
        }
    }

    /// Number of tokens in the vocabulary; valid ids are `0..n_vocab()`.
    pub fn n_vocab(&self) -> usize {
        match &self.kind {
            Kind::Spm(t) => t.n_vocab(),
            Kind::Bpe(t) => t.n_vocab(),
        }
    }

    /// The beginning-of-sequence token, if the vocabulary has one.
    pub fn bos_id(&self) -> Option<u32> {
        match &self.kind {
            Kind::Spm(t) => t.special().bos,
            Kind::Bpe(t) => t.bos(),
        }
    }

    /// The end-of-sequence token, if the vocabulary has one.
    pub fn eos_id(&self) -> Option<u32> {
        match &self.kind {
            Kind::Spm(t) => t.special().eos,
            Kind::Bpe(t) => t.eos(),
        }
    }

    /// The padding token, if the vocabulary has one.
    pub fn pad_id(&self) -> Option<u32> {
        match &self.kind {
            Kind::Spm(t) => t.special().pad,
            Kind::Bpe(t) => t.pad(),
        }
    }

    /// Whether a prompt should start with BOS (`tokenizer.ggml.add_bos_token`).
    pub fn add_bos(&self) -> bool {
        match &self.kind {
            Kind::Spm(t) => t.special().add_bos,
            Kind::Bpe(t) => t.add_bos(),
        }
    }

    /// Whether a prompt should end with EOS (`tokenizer.ggml.add_eos_token`);
    /// [`Tokenizer::encode`] never appends it, callers do.
    pub fn add_eos(&self) -> bool {
        match &self.kind {
            Kind::Spm(t) => t.special().add_eos,
            Kind::Bpe(t) => t.add_eos(),
        }
    }

    /// Whether generation should stop at `id`: EOS, or an end-of-turn /
    /// end-of-message token named in the metadata.
    pub fn is_eog(&self, id: u32) -> bool {
        match &self.kind {
            Kind::Spm(t) => t.special().eos == Some(id) || t.special().extra_eog.contains(&id),
            Kind::Bpe(t) => t.is_eog(id),
        }
    }

    /// Tokenizes plain text; special tokens written in the text (such as
    /// `<s>`) are never turned into their ids. BOS comes first when `add_bos`
    /// and the vocabulary has one; EOS is never appended (see
    /// [`Tokenizer::add_eos`]). The empty string gives no tokens but that BOS.
    pub fn encode(&self, text: &str, add_bos: bool) -> Vec<u32> {
        match &self.kind {
            Kind::Spm(t) => t.encode(text, add_bos),
            Kind::Bpe(t) => t.encode_with_bos(text, add_bos),
        }
    }

    /// The raw vocabulary string of `id` (SPM: with `▁` for spaces, `<0xNN>`
    /// for bytes). [`Error::TokenOutOfRange`] when `id >= n_vocab()`.
    pub fn token_text(&self, id: u32) -> Result<&str> {
        match &self.kind {
            Kind::Spm(t) => t.token_text(id),
            Kind::Bpe(t) => t.token_text(id),
        }
    }

    /// The bytes `id` contributes to decoded text (SPM: `▁` → space, `<0xNN>`
    /// → that byte, control and unknown tokens → nothing). A piece may be an
    /// incomplete UTF-8 sequence. [`Error::TokenOutOfRange`] when out of range.
    pub fn token_bytes(&self, id: u32) -> Result<Cow<'_, [u8]>> {
        match &self.kind {
            Kind::Spm(t) => t.token_bytes(id),
            Kind::Bpe(t) => t.token_bytes(id),
        }
    }

    /// Whether decoding drops one leading space of the first piece (the one
    /// the encoder's space prefix added).
    fn strips_leading_space(&self) -> bool {
        match &self.kind {
            Kind::Spm(t) => t.special().add_space_prefix,
            // Byte-level BPE adds no space prefix.
            Kind::Bpe(_) => false,
        }
    }

    /// Decodes ids to text. Invalid UTF-8 is replaced by U+FFFD (lossy). When
    /// the tokenizer adds a space prefix, one leading space of the first piece
    /// after an optional leading BOS is removed, so that
    /// `decode(&encode(s, b)) == s` for plain text `s` (without user-defined
    /// tokens). [`Error::TokenOutOfRange`] for an id out of range.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let mut d = self.stream_decoder();
        let mut text = String::new();
        for &id in ids {
            text.push_str(&d.push(id)?);
        }
        text.push_str(&d.finish());
        Ok(text)
    }

    /// A decoder that turns ids into text one at a time, never splitting a
    /// UTF-8 character; its concatenated output equals [`Tokenizer::decode`].
    pub fn stream_decoder(&self) -> StreamDecoder<'_> {
        StreamDecoder {
            tokenizer: self,
            pending: Vec::new(),
            at_start: true,
        }
    }
}

fn spm_from_gguf(file: &GgufFile) -> Result<SpmTokenizer> {
    const TOKENS: &str = "tokenizer.ggml.tokens";
    const SCORES: &str = "tokenizer.ggml.scores";
    const TYPES: &str = "tokenizer.ggml.token_type";
    let tokens: Vec<String> = file
        .get_array(TOKENS)?
        .strings()?
        .into_iter()
        .map(str::to_owned)
        .collect();
    let n = tokens.len();
    let scores = opt_array(file, SCORES, |a| a.to_f32_vec())?.unwrap_or_else(|| vec![0.0; n]);
    let types = match opt_array(file, TYPES, |a| a.to_i64_vec())? {
        None => vec![TokenType::Normal; n],
        Some(raw) => raw
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                TokenType::from_i64(v).ok_or_else(|| {
                    Error::Tokenizer(format!(
                        "{TYPES}[{i}] = {v} is not a token type (expected 0..=6)"
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?,
    };
    // llama.cpp's defaults for SPM ids, used only when they fit the vocabulary.
    let default_id = |id: u32| (id as usize) < n;
    let id_or = |key: &str, default: Option<u32>| -> Result<Option<u32>> {
        Ok(file.opt_u32(key)?.or(default.filter(|&d| default_id(d))))
    };
    let mut extra_eog = Vec::new();
    for key in ["tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"] {
        if let Some(id) = file.opt_u32(key)? {
            if id as usize >= n {
                return Err(Error::Tokenizer(format!(
                    "{key} = {id} is out of range (vocabulary has {n} tokens)"
                )));
            }
            extra_eog.push(id);
        }
    }
    let special = SpmSpecial {
        bos: id_or("tokenizer.ggml.bos_token_id", Some(1))?,
        eos: id_or("tokenizer.ggml.eos_token_id", Some(2))?,
        unk: id_or("tokenizer.ggml.unknown_token_id", Some(0))?,
        pad: id_or("tokenizer.ggml.padding_token_id", None)?,
        extra_eog,
        add_bos: file
            .opt_bool("tokenizer.ggml.add_bos_token")?
            .unwrap_or(true),
        add_eos: file
            .opt_bool("tokenizer.ggml.add_eos_token")?
            .unwrap_or(false),
        add_space_prefix: file
            .opt_bool("tokenizer.ggml.add_space_prefix")?
            .unwrap_or(true),
    };
    SpmTokenizer::new(tokens, scores, types, special)
}

/// Incremental decoder from [`Tokenizer::stream_decoder`].
///
/// [`StreamDecoder::push`] returns the text that became complete; bytes of
/// a UTF-8 character split across tokens (byte fallback) are held back until
/// the character is complete. Invalid sequences become U+FFFD as soon as they
/// are known to be invalid. Concatenating every `push` and the final
/// [`StreamDecoder::finish`] gives exactly [`Tokenizer::decode`] of the ids.
#[derive(Debug)]
pub struct StreamDecoder<'a> {
    tokenizer: &'a Tokenizer,
    /// Bytes not yet returned: at most an incomplete UTF-8 prefix (≤ 3 bytes)
    /// between calls.
    pending: Vec<u8>,
    /// No piece has been emitted yet (the leading-space strip is pending).
    at_start: bool,
}

impl StreamDecoder<'_> {
    /// Adds one token and returns the text completed by it (possibly empty).
    /// [`Error::TokenOutOfRange`] for an id out of range (state unchanged).
    pub fn push(&mut self, id: u32) -> Result<String> {
        let bytes = self.tokenizer.token_bytes(id)?;
        if self.at_start {
            if Some(id) == self.tokenizer.bos_id() {
                return Ok(String::new());
            }
            self.at_start = false;
            if self.tokenizer.strips_leading_space() {
                self.pending
                    .extend_from_slice(bytes.strip_prefix(b" ").unwrap_or(&bytes));
                return Ok(self.drain_complete());
            }
        }
        self.pending.extend_from_slice(&bytes);
        Ok(self.drain_complete())
    }

    /// Returns the rest (an incomplete UTF-8 sequence becomes U+FFFD) and
    /// resets the decoder to its initial state.
    pub fn finish(&mut self) -> String {
        let rest = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        self.at_start = true;
        rest
    }

    /// Moves the longest complete prefix of `pending` out as text.
    fn drain_complete(&mut self) -> String {
        let mut out = String::new();
        let mut consumed = 0;
        loop {
            let rest = &self.pending[consumed..];
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    consumed = self.pending.len();
                    break;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    out.push_str(&String::from_utf8_lossy(&rest[..valid]));
                    match e.error_len() {
                        // Incomplete at the end: wait for more bytes.
                        None => {
                            consumed += valid;
                            break;
                        }
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            consumed += valid + bad;
                        }
                    }
                }
            }
        }
        self.pending.drain(..consumed);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> Tokenizer {
        let mut tokens = vec!["<unk>".to_string(), "<s>".into(), "</s>".into()];
        let mut types = vec![TokenType::Unknown, TokenType::Control, TokenType::Control];
        for b in 0..=255u8 {
            tokens.push(format!("<0x{b:02X}>"));
            types.push(TokenType::Byte);
        }
        for t in ["▁", "a", "▁a"] {
            tokens.push(t.into());
            types.push(TokenType::Normal);
        }
        let scores = vec![0.0; tokens.len()];
        Tokenizer::from_spm(
            SpmTokenizer::new(tokens, scores, types, SpmSpecial::default()).unwrap(),
        )
    }

    #[test]
    fn round_trip_with_byte_fallback() {
        let t = toy();
        for s in ["", " ", "a a", "€ a😀", "  a\n"] {
            let ids = t.encode(s, false);
            assert_eq!(t.decode(&ids).unwrap(), s);
            let with_bos = t.encode(s, true);
            assert_eq!(with_bos[0], 1);
            assert_eq!(t.decode(&with_bos).unwrap(), s);
        }
    }

    #[test]
    fn stream_holds_incomplete_chars() {
        let t = toy();
        let ids = t.encode("€", false); // ▁, E2, 82, AC
        assert_eq!(ids.len(), 4);
        let mut d = t.stream_decoder();
        let parts: Vec<String> = ids.iter().map(|&i| d.push(i).unwrap()).collect();
        assert_eq!(parts, ["", "", "", "€"]);
        assert_eq!(d.finish(), "");
    }

    #[test]
    fn invalid_utf8_is_lossy() {
        let t = toy();
        // E2 82 then 'a': the broken sequence becomes one U+FFFD.
        let ids = [3 + 0xE2, 3 + 0x82, 3 + 0x61, 3 + 0xE2];
        assert_eq!(t.decode(&ids).unwrap(), "\u{FFFD}a\u{FFFD}");
        assert!(matches!(
            t.decode(&[100_000]),
            Err(Error::TokenOutOfRange { id: 100_000, .. })
        ));
    }
}
