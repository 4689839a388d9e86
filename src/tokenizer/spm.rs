//! The Llama SentencePiece (SPM) tokenizer, as llama.cpp runs it for
//! `tokenizer.ggml.model = "llama"`.
//!
//! Encoding (see [`SpmTokenizer::encode`]):
//! 1. user-defined tokens (type 4) are cut out of the text first and emitted
//!    as themselves (llama.cpp does this even without special-token parsing);
//!    control tokens such as `<s>` are never recognised in text;
//! 2. each remaining piece of text gets one leading space when
//!    `add_space_prefix` is set and it is the first piece or follows a
//!    user-defined token, and every `' '` becomes U+2581 (`▁`);
//! 3. the piece is split into UTF-8 characters and the adjacent pair whose
//!    concatenation is a vocabulary token with the highest score is merged,
//!    repeatedly (ties: the leftmost pair), using a priority queue over
//!    adjacent pairs and a linked list of symbols;
//! 4. each final symbol becomes its token, or, when it is not in the
//!    vocabulary, one `<0xNN>` byte token per UTF-8 byte (the unknown token
//!    when the vocabulary has no byte token for that byte).

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use crate::error::{Error, Result};

/// The SentencePiece whitespace marker U+2581 ("▁") that stands for a space.
pub const SPACE_MARKER: &str = "\u{2581}";

/// The type of one vocabulary entry (`tokenizer.ggml.token_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TokenType {
    /// 0: undefined; treated like llama.cpp does (contributes no text).
    Undefined = 0,
    /// 1: an ordinary piece of text.
    Normal = 1,
    /// 2: the unknown token (`<unk>`).
    Unknown = 2,
    /// 3: a control token such as `<s>` or `</s>`; never produced from text.
    Control = 3,
    /// 4: a user-defined token, matched literally in text before merging.
    UserDefined = 4,
    /// 5: an unused token.
    Unused = 5,
    /// 6: a byte token `<0xNN>` for byte fallback.
    Byte = 6,
}

impl TokenType {
    /// The type for a GGUF `token_type` value, or `None` when it is not 0..=6.
    pub fn from_i64(v: i64) -> Option<TokenType> {
        Some(match v {
            0 => TokenType::Undefined,
            1 => TokenType::Normal,
            2 => TokenType::Unknown,
            3 => TokenType::Control,
            4 => TokenType::UserDefined,
            5 => TokenType::Unused,
            6 => TokenType::Byte,
            _ => return None,
        })
    }

    /// Whether a token of this type may be formed by merging characters of
    /// plain text (as in SentencePiece: normal, user-defined and unused
    /// pieces; never control, unknown or byte tokens).
    fn mergeable(self) -> bool {
        matches!(
            self,
            TokenType::Normal | TokenType::UserDefined | TokenType::Unused
        )
    }
}

/// Special token ids and flags of an SPM vocabulary. Every id must be below
/// the vocabulary size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpmSpecial {
    /// Beginning-of-sequence token (`<s>`, 1 in Llama 2).
    pub bos: Option<u32>,
    /// End-of-sequence token (`</s>`, 2 in Llama 2).
    pub eos: Option<u32>,
    /// Unknown token (`<unk>`, 0 in Llama 2); used when a byte has no byte token.
    pub unk: Option<u32>,
    /// Padding token, if any.
    pub pad: Option<u32>,
    /// Extra end-of-generation tokens (e.g. end-of-turn), besides `eos`.
    pub extra_eog: Vec<u32>,
    /// Whether prompts should start with BOS (`tokenizer.ggml.add_bos_token`).
    pub add_bos: bool,
    /// Whether prompts should end with EOS (`tokenizer.ggml.add_eos_token`).
    pub add_eos: bool,
    /// Whether a space is put in front of the text (`tokenizer.ggml.add_space_prefix`).
    pub add_space_prefix: bool,
}

impl Default for SpmSpecial {
    /// llama.cpp's defaults for an SPM vocabulary: bos 1, eos 2, unk 0, no pad,
    /// add BOS, no EOS, add the space prefix.
    fn default() -> Self {
        SpmSpecial {
            bos: Some(1),
            eos: Some(2),
            unk: Some(0),
            pad: None,
            extra_eog: Vec::new(),
            add_bos: true,
            add_eos: false,
            add_space_prefix: true,
        }
    }
}

/// A SentencePiece vocabulary with its scores and token types.
///
/// Invariants (checked by [`SpmTokenizer::new`]): the vocabulary is non-empty
/// with fewer than 2^32 entries, the three vectors have equal length, every
/// special id is in range, and every byte token's text is `<0xNN>`.
#[derive(Clone, Debug)]
pub struct SpmTokenizer {
    tokens: Vec<String>,
    scores: Vec<f32>,
    types: Vec<TokenType>,
    /// Text → id for tokens that plain text can produce ([`TokenType::mergeable`]).
    piece_to_id: HashMap<Box<str>, u32>,
    /// The byte token for each byte value.
    byte_to_id: Box<[Option<u32>; 256]>,
    /// User-defined tokens, longest text first (ties: lower id first).
    user_defined: Vec<u32>,
    /// Concatenated decoded bytes of every token; token i is
    /// `decoded[decoded_off[i]..decoded_off[i + 1]]`.
    decoded: Vec<u8>,
    decoded_off: Vec<usize>,
    special: SpmSpecial,
}

/// A symbol of the merge: a byte range of the escaped text, linked to its
/// neighbours. `len == 0` marks a symbol merged into its left neighbour.
#[derive(Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    prev: usize,
    next: usize,
}

const NONE: usize = usize::MAX;

/// A candidate merge of two adjacent symbols.
#[derive(Clone, Copy)]
struct Bigram {
    score: f32,
    left: usize,
    right: usize,
    /// Byte length of the merged text when the bigram was queued; a bigram
    /// whose symbols have changed since is stale.
    size: usize,
}

impl PartialEq for Bigram {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Bigram {}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Bigram {
    /// Higher score first; on equal scores, the leftmost pair first.
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.left.cmp(&self.left))
    }
}

fn parse_byte_token(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

impl SpmTokenizer {
    /// Builds a tokenizer from the vocabulary strings, their scores and types
    /// (same length, one entry per token id) and the special ids.
    ///
    /// Errors with [`Error::Tokenizer`] when the lengths differ, the vocabulary
    /// is empty or has 2^32 or more entries, a special id is out of range, or a
    /// byte token's text is not `<0xNN>`.
    pub fn new(
        tokens: Vec<String>,
        scores: Vec<f32>,
        types: Vec<TokenType>,
        special: SpmSpecial,
    ) -> Result<SpmTokenizer> {
        let n = tokens.len();
        if n == 0 {
            return Err(Error::Tokenizer(
                "tokenizer.ggml.tokens is empty".to_string(),
            ));
        }
        if u32::try_from(n).is_err() {
            return Err(Error::Tokenizer(format!(
                "tokenizer.ggml.tokens has {n} entries, more than token ids can address"
            )));
        }
        if scores.len() != n {
            return Err(Error::Tokenizer(format!(
                "tokenizer.ggml.scores has {} entries but tokenizer.ggml.tokens has {n}",
                scores.len()
            )));
        }
        if types.len() != n {
            return Err(Error::Tokenizer(format!(
                "tokenizer.ggml.token_type has {} entries but tokenizer.ggml.tokens has {n}",
                types.len()
            )));
        }
        let check = |name: &str, id: Option<u32>| -> Result<()> {
            match id {
                Some(id) if id as usize >= n => Err(Error::Tokenizer(format!(
                    "{name} = {id} is out of range (vocabulary has {n} tokens)"
                ))),
                _ => Ok(()),
            }
        };
        check("tokenizer.ggml.bos_token_id", special.bos)?;
        check("tokenizer.ggml.eos_token_id", special.eos)?;
        check("tokenizer.ggml.unknown_token_id", special.unk)?;
        check("tokenizer.ggml.padding_token_id", special.pad)?;
        for &id in &special.extra_eog {
            check("end-of-generation token id", Some(id))?;
        }

        let mut piece_to_id = HashMap::with_capacity(n);
        let mut byte_to_id = Box::new([None; 256]);
        let mut user_defined = Vec::new();
        let mut decoded = Vec::with_capacity(n * 4);
        let mut decoded_off = Vec::with_capacity(n + 1);
        decoded_off.push(0);
        for (i, (text, &ty)) in tokens.iter().zip(&types).enumerate() {
            let id = i as u32; // n < 2^32 checked above
            if ty.mergeable() {
                // Last one wins on duplicates, like llama.cpp's token_to_id map.
                piece_to_id.insert(Box::<str>::from(text.as_str()), id);
            }
            match ty {
                TokenType::Normal => {
                    decoded.extend_from_slice(text.replace(SPACE_MARKER, " ").as_bytes())
                }
                TokenType::UserDefined => {
                    if !text.is_empty() {
                        user_defined.push(id);
                    }
                    decoded.extend_from_slice(text.as_bytes());
                }
                TokenType::Byte => {
                    let b = parse_byte_token(text).ok_or_else(|| {
                        Error::Tokenizer(format!(
                            "token {id} has type byte (tokenizer.ggml.token_type = 6) but its text {text:?} is not <0xNN>"
                        ))
                    })?;
                    byte_to_id[b as usize].get_or_insert(id);
                    decoded.push(b);
                }
                // Control, unknown, unused and undefined tokens contribute no
                // text (llama.cpp's token_to_piece with special = false).
                TokenType::Control
                | TokenType::Unknown
                | TokenType::Unused
                | TokenType::Undefined => {}
            }
            decoded_off.push(decoded.len());
        }
        // llama.cpp falls back to a token whose text is the single byte.
        for (b, slot) in byte_to_id.iter_mut().enumerate() {
            if slot.is_none() && b < 0x80 {
                let s = [b as u8];
                if let Ok(s) = std::str::from_utf8(&s) {
                    *slot = piece_to_id.get(s).copied();
                }
            }
        }
        user_defined.sort_by(|&a, &b| {
            tokens[b as usize]
                .len()
                .cmp(&tokens[a as usize].len())
                .then(a.cmp(&b))
        });
        decoded.shrink_to_fit();
        Ok(SpmTokenizer {
            tokens,
            scores,
            types,
            piece_to_id,
            byte_to_id,
            user_defined,
            decoded,
            decoded_off,
            special,
        })
    }

    /// Number of tokens in the vocabulary.
    pub fn n_vocab(&self) -> usize {
        self.tokens.len()
    }

    /// The special ids and flags.
    pub fn special(&self) -> &SpmSpecial {
        &self.special
    }

    /// The type of token `id`.
    pub fn token_type(&self, id: u32) -> Result<TokenType> {
        self.types
            .get(id as usize)
            .copied()
            .ok_or(self.out_of_range(id))
    }

    /// The score of token `id` (higher merges first).
    pub fn token_score(&self, id: u32) -> Result<f32> {
        self.scores
            .get(id as usize)
            .copied()
            .ok_or(self.out_of_range(id))
    }

    fn out_of_range(&self, id: u32) -> Error {
        Error::TokenOutOfRange {
            id,
            n_vocab: self.tokens.len(),
        }
    }

    /// The raw vocabulary string of token `id` (with `▁` for spaces).
    pub fn token_text(&self, id: u32) -> Result<&str> {
        self.tokens
            .get(id as usize)
            .map(String::as_str)
            .ok_or(self.out_of_range(id))
    }

    /// The bytes token `id` contributes to decoded text: `▁` becomes a space,
    /// `<0xNN>` its byte, control/unknown/unused tokens nothing, user-defined
    /// tokens their text. Always borrowed.
    pub fn token_bytes(&self, id: u32) -> Result<Cow<'_, [u8]>> {
        let i = id as usize;
        if i >= self.tokens.len() {
            return Err(self.out_of_range(id));
        }
        Ok(Cow::Borrowed(
            &self.decoded[self.decoded_off[i]..self.decoded_off[i + 1]],
        ))
    }

    /// Tokenizes plain text (special tokens are never parsed, except
    /// user-defined ones, as in llama.cpp), with BOS first when `add_bos` and
    /// the vocabulary has one. EOS is never appended; see
    /// [`SpmSpecial::add_eos`].
    pub fn encode(&self, text: &str, add_bos: bool) -> Vec<u32> {
        let mut out = Vec::with_capacity(text.len() / 2 + 2);
        if add_bos {
            if let Some(bos) = self.special.bos {
                out.push(bos);
            }
        }
        if text.is_empty() {
            return out;
        }
        if self.user_defined.is_empty() {
            self.encode_fragment(text, true, &mut out);
            return out;
        }
        let mut prev_special = true;
        for frag in self.split_user_defined(text) {
            match frag {
                Fragment::Text(s) => {
                    self.encode_fragment(s, prev_special, &mut out);
                    prev_special = false;
                }
                Fragment::Token(id) => {
                    out.push(id);
                    prev_special = true;
                }
            }
        }
        out
    }

    /// Cuts user-defined tokens out of `text`, longest tokens first.
    fn split_user_defined<'t>(&self, text: &'t str) -> Vec<Fragment<'t>> {
        let mut frags = vec![Fragment::Text(text)];
        for &id in &self.user_defined {
            let pat = self.tokens[id as usize].as_str();
            if !frags
                .iter()
                .any(|f| matches!(f, Fragment::Text(s) if s.contains(pat)))
            {
                continue;
            }
            let mut next = Vec::with_capacity(frags.len() + 2);
            for f in frags {
                match f {
                    Fragment::Token(_) => next.push(f),
                    Fragment::Text(mut s) => {
                        while let Some(p) = s.find(pat) {
                            if p > 0 {
                                next.push(Fragment::Text(&s[..p]));
                            }
                            next.push(Fragment::Token(id));
                            s = &s[p + pat.len()..];
                        }
                        if !s.is_empty() {
                            next.push(Fragment::Text(s));
                        }
                    }
                }
            }
            frags = next;
        }
        frags
    }

    /// Escapes and merges one piece of raw text, appending its tokens.
    fn encode_fragment(&self, raw: &str, space_prefix: bool, out: &mut Vec<u32>) {
        let mut text = String::with_capacity(raw.len() + raw.len() / 2 + 3);
        if self.special.add_space_prefix && space_prefix {
            text.push_str(SPACE_MARKER);
        }
        for c in raw.chars() {
            if c == ' ' {
                text.push_str(SPACE_MARKER);
            } else {
                text.push(c);
            }
        }

        let mut symbols: Vec<Symbol> = Vec::with_capacity(text.len());
        for (start, c) in text.char_indices() {
            let idx = symbols.len();
            symbols.push(Symbol {
                start,
                len: c.len_utf8(),
                prev: if idx == 0 { NONE } else { idx - 1 },
                next: idx + 1,
            });
        }
        if let Some(last) = symbols.last_mut() {
            last.next = NONE;
        }

        let mut queue = BinaryHeap::with_capacity(symbols.len());
        for i in 1..symbols.len() {
            self.try_add_bigram(&text, &symbols, i - 1, i, &mut queue);
        }
        while let Some(b) = queue.pop() {
            let (l, r) = (symbols[b.left], symbols[b.right]);
            // Skip pairs whose symbols were merged since they were queued.
            if l.len == 0 || r.len == 0 || l.len + r.len != b.size || l.next != b.right {
                continue;
            }
            symbols[b.left].len += r.len;
            symbols[b.right].len = 0;
            symbols[b.left].next = r.next;
            if r.next != NONE {
                symbols[r.next].prev = b.left;
            }
            let prev = symbols[b.left].prev;
            let next = symbols[b.left].next;
            self.try_add_bigram(&text, &symbols, prev, b.left, &mut queue);
            self.try_add_bigram(&text, &symbols, b.left, next, &mut queue);
        }

        let mut i = if symbols.is_empty() { NONE } else { 0 };
        while i != NONE {
            let s = symbols[i];
            let piece = &text[s.start..s.start + s.len];
            if let Some(&id) = self.piece_to_id.get(piece) {
                out.push(id);
            } else {
                for &b in piece.as_bytes() {
                    if let Some(id) = self.byte_to_id[b as usize].or(self.special.unk) {
                        out.push(id);
                    }
                }
            }
            i = s.next;
        }
    }

    fn try_add_bigram(
        &self,
        text: &str,
        symbols: &[Symbol],
        left: usize,
        right: usize,
        queue: &mut BinaryHeap<Bigram>,
    ) {
        if left == NONE || right == NONE {
            return;
        }
        let (l, r) = (symbols[left], symbols[right]);
        // Adjacent symbols are contiguous in the text.
        let merged = &text[l.start..r.start + r.len];
        if let Some(&id) = self.piece_to_id.get(merged) {
            queue.push(Bigram {
                score: self.scores[id as usize],
                left,
                right,
                size: merged.len(),
            });
        }
    }
}

enum Fragment<'t> {
    Text(&'t str),
    Token(u32),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy vocabulary: `<unk>`, `<s>`, `</s>`, 256 byte tokens, then pieces.
    fn toy(pieces: &[(&str, f32, TokenType)]) -> SpmTokenizer {
        let mut tokens = vec!["<unk>".to_string(), "<s>".into(), "</s>".into()];
        let mut scores = vec![0.0; 3];
        let mut types = vec![TokenType::Unknown, TokenType::Control, TokenType::Control];
        for b in 0..=255u8 {
            tokens.push(format!("<0x{b:02X}>"));
            scores.push(0.0);
            types.push(TokenType::Byte);
        }
        for &(t, s, ty) in pieces {
            tokens.push(t.to_string());
            scores.push(s);
            types.push(ty);
        }
        SpmTokenizer::new(tokens, scores, types, SpmSpecial::default()).unwrap()
    }

    const N: TokenType = TokenType::Normal;

    #[test]
    fn merges_highest_score_first() {
        // "▁ab": pairs "▁a" (score -5) and "ab" (score -1): "ab" wins, then
        // "▁ab" is not a token, so the result is ["▁", "ab"].
        let t = toy(&[
            ("▁", -10.0, N),
            ("a", -3.0, N),
            ("b", -3.0, N),
            ("▁a", -5.0, N),
            ("ab", -1.0, N),
        ]);
        let ids = t.encode("ab", false);
        let texts: Vec<&str> = ids.iter().map(|&i| t.token_text(i).unwrap()).collect();
        assert_eq!(texts, ["▁", "ab"]);
    }

    #[test]
    fn ties_merge_leftmost() {
        // "▁aaa" with "aa" only: leftmost "aa" merges first → ["▁", "aa", "a"].
        let t = toy(&[("▁", -10.0, N), ("a", -3.0, N), ("aa", -1.0, N)]);
        let ids = t.encode("aaa", false);
        let texts: Vec<&str> = ids.iter().map(|&i| t.token_text(i).unwrap()).collect();
        assert_eq!(texts, ["▁", "aa", "a"]);
    }

    #[test]
    fn byte_fallback_and_control_not_merged() {
        let t = toy(&[
            ("▁", -10.0, N),
            ("<", -1.0, N),
            ("s", -1.0, N),
            (">", -1.0, N),
            ("<s", -1.0, N),
        ]);
        let ids = t.encode("é<s>", false);
        // "▁" then the two bytes of é, then "<s" and ">" (never "<s>" = 1).
        assert_eq!(ids[0], t.piece_to_id["▁"]);
        assert_eq!(&ids[1..3], &[3 + 0xC3, 3 + 0xA9]);
        assert!(!ids.contains(&1));
        assert_eq!(t.token_bytes(ids[1]).unwrap().as_ref(), &[0xC3]);
    }

    #[test]
    fn user_defined_cut_out() {
        let ud = TokenType::UserDefined;
        let t = toy(&[("▁", -10.0, N), ("x", -1.0, N), ("<ud>", 0.0, ud)]);
        let ids = t.encode("x<ud>x", false);
        let texts: Vec<&str> = ids.iter().map(|&i| t.token_text(i).unwrap()).collect();
        // After a user-defined token the next text gets the space prefix again.
        assert_eq!(texts, ["▁", "x", "<ud>", "▁", "x"]);
    }

    #[test]
    fn rejects_bad_vocab() {
        let e = SpmTokenizer::new(vec!["a".into()], vec![], vec![N], SpmSpecial::default());
        assert!(matches!(e, Err(Error::Tokenizer(m)) if m.contains("scores")));
        let e = SpmTokenizer::new(vec!["a".into()], vec![0.0], vec![N], SpmSpecial::default());
        assert!(matches!(e, Err(Error::Tokenizer(m)) if m.contains("bos_token_id")));
        let sp = SpmSpecial {
            bos: None,
            eos: None,
            unk: None,
            ..SpmSpecial::default()
        };
        let e = SpmTokenizer::new(vec!["<0xZZ>".into()], vec![0.0], vec![TokenType::Byte], sp);
        assert!(matches!(e, Err(Error::Tokenizer(m)) if m.contains("<0xNN>")));
    }
}
