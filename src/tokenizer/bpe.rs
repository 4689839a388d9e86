//! Byte-level BPE tokenizer (GPT-2 style), as llama.cpp runs it for
//! `tokenizer.ggml.model = "gpt2"` (SmolLM2, Llama 3, GPT-2, StarCoder, ...).
//!
//! Encoding, exactly as llama.cpp's `llm_tokenizer_bpe`:
//! 1. **Pre-tokenize**: split the text into words with the regex sequence that
//!    `tokenizer.ggml.pre` names. Each regex of the sequence splits every piece
//!    that the previous one produced; text between matches is kept as pieces
//!    too. The regexes are implemented by hand, following llama.cpp's own
//!    splitters (`unicode_regex_split_custom_gpt2` / `_llama3`) and its
//!    category-collapsed `std::regex` path for the simple ones (`\p{N}`, ...).
//!    Character classes: `\p{L}`, `\p{N}`, `\p{P}` are Unicode general
//!    categories (tables from `regex-syntax`), `\s` is the Unicode
//!    `White_Space` property (the same 25 code points as llama.cpp's table).
//! 2. **Byte-encode** every word: each UTF-8 byte becomes one character of the
//!    GPT-2 byte-to-unicode map (printable Latin-1 bytes map to themselves, the
//!    other 68 to U+0100.. in byte order).
//! 3. **Merge**: start from the characters of the encoded word and repeatedly
//!    merge the adjacent pair with the lowest merge rank (its index in
//!    `tokenizer.ggml.merges`; ties: leftmost).
//! 4. **Look up** each final symbol; a symbol missing from the vocabulary
//!    falls back to the tokens of its single bytes (llama.cpp's behaviour).
//!
//! Special (control) tokens such as `<|im_start|>` are in the vocabulary but
//! [`BpeTokenizer::encode`] never parses them out of the text.

use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use crate::{Error, Result};

/// llama.cpp token types (`tokenizer.ggml.token_type`).
const TOKEN_TYPE_NORMAL: i32 = 1;
const TOKEN_TYPE_USER_DEFINED: i32 = 4;

/// Marks a symbol that takes part in no merge.
const NO_SYM: u32 = u32::MAX;

/// The pre-tokenizer families this module implements, named after llama.cpp's
/// `LLAMA_VOCAB_PRE_TYPE_*` groups that share one regex sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreTokenizer {
    /// `LLAMA_VOCAB_PRE_TYPE_DEFAULT` (`pre` = `default` or absent):
    /// `[\p{P}\$\+<=>\^~\|]+`, then the GPT-2 regex, then `\p{N}+`, then
    /// `[0-9][0-9][0-9]`.
    Default,
    /// `LLAMA_VOCAB_PRE_TYPE_GPT2` and friends (`gpt-2`, `phi-2`, `mpt`,
    /// `olmo`, `jais`, ...): the GPT-2 regex
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`.
    Gpt2,
    /// `LLAMA_VOCAB_PRE_TYPE_SMOLLM` and the others that share its sequence
    /// (`smollm`, `starcoder`, `refact`, `command-r`, `codeshell`, `exaone`,
    /// `minerva-7b`): `\p{N}` (every digit alone), then the GPT-2 regex.
    DigitsThenGpt2,
    /// `LLAMA_VOCAB_PRE_TYPE_LLAMA3` (`llama3`, `llama-v3`, `llama-bpe`,
    /// `falcon3`, `dbrx`, `smaug-bpe`): the Llama 3 regex
    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
    /// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`.
    Llama3,
}

impl PreTokenizer {
    /// Maps a `tokenizer.ggml.pre` value to its family;
    /// `Error::Tokenizer` for names this module does not implement.
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "" | "default" => PreTokenizer::Default,
            "gpt2" | "gpt-2" | "phi-2" | "mpt" | "olmo" | "jais" | "roberta-bpe" | "jina-es"
            | "jina-de" | "jina-v1-en" | "jina-v2-es" | "jina-v2-de" | "jina-v2-code"
            | "gigachat" => PreTokenizer::Gpt2,
            "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone"
            | "minerva-7b" => PreTokenizer::DigitsThenGpt2,
            "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "dbrx" | "smaug-bpe" => {
                PreTokenizer::Llama3
            }
            other => {
                return Err(Error::Tokenizer(format!(
                    "unsupported pre-tokenizer {other:?} (tokenizer.ggml.pre); supported: \
                     default, gpt2 family, smollm family, llama3 family"
                )))
            }
        })
    }
}

/// What the optional GGUF keys of a BPE vocabulary say; see
/// [`BpeTokenizer::from_parts`].
#[derive(Debug, Clone, Default)]
pub struct BpeSpecial {
    /// `tokenizer.ggml.bos_token_id`.
    pub bos: Option<u32>,
    /// `tokenizer.ggml.eos_token_id`.
    pub eos: Option<u32>,
    /// `tokenizer.ggml.unknown_token_id`.
    pub unk: Option<u32>,
    /// `tokenizer.ggml.padding_token_id`.
    pub pad: Option<u32>,
    /// `tokenizer.ggml.add_bos_token`; when `None` the pre-tokenizer's
    /// llama.cpp default applies (true for the Llama 3 family, else false).
    pub add_bos: Option<bool>,
    /// `tokenizer.ggml.add_eos_token` (`None`: false).
    pub add_eos: Option<bool>,
    /// End-of-generation ids besides EOS: `tokenizer.ggml.eot_token_id`,
    /// `tokenizer.ggml.eom_token_id`. [`BpeTokenizer::from_parts`] adds the
    /// tokens whose text llama.cpp treats as end-of-generation
    /// (`<|im_end|>`, `<|endoftext|>`, `<|eot_id|>`, ...).
    pub extra_eog: Vec<u32>,
}

/// Token texts that llama.cpp treats as end of generation when present.
const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|eom_id|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "<end_of_utterance>",
];

/// A byte-level BPE tokenizer built from GGUF metadata.
///
/// Invariants: `tokens`, `types` and `pieces` have one entry per token id
/// (`n_vocab` entries); every id stored in `token_to_id`, `bos`, `eos`, `unk`
/// and `pad` is `< n_vocab`; `merges` values are ranks in `0..n_merges` and
/// interned symbol ids of `sym_ids`.
#[derive(Debug, Clone)]
pub struct BpeTokenizer {
    tokens: Vec<String>,
    types: Vec<i32>,
    /// Raw bytes of each token (the byte map reversed); empty for control
    /// and other non-text tokens.
    pieces: Vec<Box<[u8]>>,
    token_to_id: HashMap<String, u32>,
    /// Interned strings that appear in merges (both sides and results).
    sym_ids: HashMap<String, u32>,
    /// (left symbol, right symbol) → (rank, merged symbol).
    merges: HashMap<(u32, u32), (u32, u32)>,
    pre: PreTokenizer,
    /// llama.cpp's `tokenizer_ignore_merges`: a whole word that is a token is
    /// emitted as it is, without merging (Llama 3 family).
    ignore_merges: bool,
    /// Boxed to keep the struct (and `Tokenizer`'s enum) small.
    byte_to_char: Box<[char; 256]>,
    char_to_byte: HashMap<char, u8>,
    classes: CharClasses,
    special: BpeSpecial,
    add_bos: bool,
}

impl BpeTokenizer {
    /// Builds the tokenizer from a GGUF file's `tokenizer.ggml.*` metadata:
    /// `tokens` (required), `token_type` (optional, default all normal),
    /// `merges` (required), `pre` (optional, default `"default"`), and the
    /// optional bos/eos/unknown/padding ids and `add_bos_token`.
    ///
    /// Errors: `Error::Tokenizer` for an unsupported pre-tokenizer or
    /// inconsistent metadata; the reader's errors for missing or mistyped keys.
    pub fn from_gguf(file: &crate::gguf::GgufFile) -> Result<Self> {
        let tokens = file.get_array("tokenizer.ggml.tokens")?.strings()?;
        let types = match file.get_array("tokenizer.ggml.token_type") {
            Ok(arr) => Some(arr.to_i64_vec()?),
            Err(Error::MissingKey(_)) => None,
            Err(e) => return Err(e),
        };
        let merges = file.get_array("tokenizer.ggml.merges")?.strings()?;
        let pre = file.opt_str("tokenizer.ggml.pre")?;
        let special = BpeSpecial {
            bos: file.opt_u32("tokenizer.ggml.bos_token_id")?,
            eos: file.opt_u32("tokenizer.ggml.eos_token_id")?,
            unk: file.opt_u32("tokenizer.ggml.unknown_token_id")?,
            pad: file.opt_u32("tokenizer.ggml.padding_token_id")?,
            add_bos: file.opt_bool("tokenizer.ggml.add_bos_token")?,
            add_eos: file.opt_bool("tokenizer.ggml.add_eos_token")?,
            extra_eog: [
                file.opt_u32("tokenizer.ggml.eot_token_id")?,
                file.opt_u32("tokenizer.ggml.eom_token_id")?,
            ]
            .into_iter()
            .flatten()
            .collect(),
        };
        let types = match types {
            None => None,
            Some(v) => Some(
                v.into_iter()
                    .map(|t| {
                        i32::try_from(t)
                            .map_err(|_| Error::Tokenizer(format!("token type {t} out of range")))
                    })
                    .collect::<Result<Vec<i32>>>()?,
            ),
        };
        Self::from_parts(&tokens, types.as_deref(), &merges, pre, special)
    }

    /// Builds the tokenizer from decoded metadata.
    ///
    /// - `tokens`: token texts in the byte-encoded alphabet, indexed by id.
    /// - `types`: llama.cpp token types per id (`None`: all normal).
    /// - `merges`: `"left right"` strings; rank = index (first occurrence of a
    ///   pair wins); entries without a separating space are ignored.
    /// - `pre`: `tokenizer.ggml.pre` (`None` = `"default"`).
    pub fn from_parts(
        tokens: &[&str],
        types: Option<&[i32]>,
        merges: &[&str],
        pre: Option<&str>,
        mut special: BpeSpecial,
    ) -> Result<Self> {
        let n_vocab = tokens.len();
        if n_vocab == 0 {
            return Err(Error::Tokenizer("empty vocabulary".into()));
        }
        if u32::try_from(n_vocab).is_err() {
            return Err(Error::Tokenizer(format!("vocabulary too large: {n_vocab}")));
        }
        let types: Vec<i32> = match types {
            Some(t) if t.len() != n_vocab => {
                return Err(Error::Tokenizer(format!(
                    "{} token types for {n_vocab} tokens",
                    t.len()
                )))
            }
            Some(t) => t.to_vec(),
            None => vec![TOKEN_TYPE_NORMAL; n_vocab],
        };
        let named = [
            ("bos", special.bos),
            ("eos", special.eos),
            ("unknown", special.unk),
            ("padding", special.pad),
        ];
        let eog = special
            .extra_eog
            .iter()
            .map(|&id| ("end-of-generation", Some(id)));
        for (name, id) in named.into_iter().chain(eog) {
            if let Some(id) = id {
                if id as usize >= n_vocab {
                    return Err(Error::Tokenizer(format!(
                        "{name} token id {id} out of range (vocabulary has {n_vocab} tokens)"
                    )));
                }
            }
        }
        let pre_kind = PreTokenizer::from_name(pre.unwrap_or("default"))?;

        let (byte_to_char, char_to_byte) = byte_maps();

        let mut token_to_id = HashMap::with_capacity(n_vocab);
        for (i, t) in tokens.iter().enumerate() {
            // llama.cpp assigns in order, so a duplicated text maps to its last id.
            token_to_id.insert((*t).to_string(), i as u32);
        }

        // Intern merge strings and build the rank table.
        let mut sym_ids: HashMap<String, u32> = HashMap::new();
        let mut intern = |s: &str| -> u32 {
            if let Some(&id) = sym_ids.get(s) {
                return id;
            }
            let id = sym_ids.len() as u32;
            sym_ids.insert(s.to_string(), id);
            id
        };
        let mut merge_map = HashMap::with_capacity(merges.len());
        for (rank, m) in merges.iter().enumerate() {
            // llama.cpp: split at the first space at byte index >= 1.
            let Some(pos) = m.as_bytes().iter().skip(1).position(|&b| b == b' ') else {
                continue;
            };
            let pos = pos + 1;
            let (left, right) = (&m[..pos], &m[pos + 1..]);
            let merged = format!("{left}{right}");
            let l = intern(left);
            let r = intern(right);
            let res = intern(&merged);
            merge_map.entry((l, r)).or_insert((rank as u32, res));
        }

        let pieces = tokens
            .iter()
            .zip(&types)
            .map(|(t, &ty)| match ty {
                TOKEN_TYPE_NORMAL => decode_token_text(t, &char_to_byte),
                TOKEN_TYPE_USER_DEFINED => t.as_bytes().to_vec().into_boxed_slice(),
                _ => Box::default(),
            })
            .collect();

        for text in EOG_TEXTS {
            if let Some(&id) = token_to_id.get(*text) {
                if !special.extra_eog.contains(&id) {
                    special.extra_eog.push(id);
                }
            }
        }

        let add_bos = special.add_bos.unwrap_or(pre_kind == PreTokenizer::Llama3);
        Ok(BpeTokenizer {
            tokens: tokens.iter().map(|t| (*t).to_string()).collect(),
            types,
            pieces,
            token_to_id,
            sym_ids,
            merges: merge_map,
            pre: pre_kind,
            ignore_merges: pre_kind == PreTokenizer::Llama3,
            byte_to_char: Box::new(byte_to_char),
            char_to_byte,
            classes: CharClasses::new()?,
            special,
            add_bos,
        })
    }

    /// Number of tokens in the vocabulary.
    pub fn n_vocab(&self) -> usize {
        self.tokens.len()
    }

    /// The pre-tokenizer in use.
    pub fn pre_tokenizer(&self) -> PreTokenizer {
        self.pre
    }

    /// BOS token id, if the file names one.
    pub fn bos(&self) -> Option<u32> {
        self.special.bos
    }

    /// EOS token id, if the file names one.
    pub fn eos(&self) -> Option<u32> {
        self.special.eos
    }

    /// Unknown-token id, if the file names one.
    pub fn unk(&self) -> Option<u32> {
        self.special.unk
    }

    /// Padding token id, if the file names one.
    pub fn pad(&self) -> Option<u32> {
        self.special.pad
    }

    /// Whether a BOS token should be put before a prompt
    /// (`tokenizer.ggml.add_bos_token`, else llama.cpp's default for the
    /// pre-tokenizer: true for the Llama 3 family, false otherwise).
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }

    /// Whether a prompt should end with EOS (`tokenizer.ggml.add_eos_token`,
    /// default false); [`BpeTokenizer::encode`] never appends it.
    pub fn add_eos(&self) -> bool {
        self.special.add_eos.unwrap_or(false)
    }

    /// Whether generation should stop at `id`: EOS, an eot/eom id named in
    /// the metadata, or a token whose text llama.cpp treats as end of
    /// generation (e.g. `<|im_end|>`, `<|endoftext|>`).
    pub fn is_eog(&self, id: u32) -> bool {
        self.special.eos == Some(id) || self.special.extra_eog.contains(&id)
    }

    /// [`BpeTokenizer::encode`] with the BOS token first when `add_bos` and
    /// the vocabulary names one.
    pub fn encode_with_bos(&self, text: &str, add_bos: bool) -> Vec<u32> {
        let mut out = Vec::new();
        if add_bos {
            out.extend(self.special.bos);
        }
        out.extend(self.encode(text));
        out
    }

    /// The token's text as stored in the vocabulary (byte-encoded alphabet).
    pub fn token_text(&self, id: u32) -> Result<&str> {
        self.tokens
            .get(id as usize)
            .map(String::as_str)
            .ok_or(Error::TokenOutOfRange {
                id,
                n_vocab: self.n_vocab(),
            })
    }

    /// The token's llama.cpp type (1 normal, 2 unknown, 3 control,
    /// 4 user-defined, 5 unused, 6 byte).
    pub fn token_type(&self, id: u32) -> Result<i32> {
        self.types
            .get(id as usize)
            .copied()
            .ok_or(Error::TokenOutOfRange {
                id,
                n_vocab: self.n_vocab(),
            })
    }

    /// Whether the token is a control token (type 3), e.g. `<|im_end|>`.
    pub fn is_control(&self, id: u32) -> bool {
        self.types.get(id as usize) == Some(&3)
    }

    /// The id of a token given its vocabulary text (byte-encoded alphabet),
    /// e.g. `"<|im_start|>"`.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.token_to_id.get(text).copied()
    }

    /// The raw bytes this token stands for: normal tokens with the byte map
    /// reversed, user-defined tokens as their text; control, unknown, unused
    /// and undefined tokens give no bytes (as llama.cpp's `token_to_piece`
    /// without `special`). A character outside the byte map (not produced by
    /// a well-formed vocabulary) is kept as its own UTF-8 bytes.
    ///
    /// Concatenating the bytes of `encode(s)` gives back `s` exactly.
    pub fn token_bytes(&self, id: u32) -> Result<Cow<'_, [u8]>> {
        self.pieces
            .get(id as usize)
            .map(|p| Cow::Borrowed(&p[..]))
            .ok_or(Error::TokenOutOfRange {
                id,
                n_vocab: self.n_vocab(),
            })
    }

    /// Token ids for `text`: no BOS, no special-token parsing (a `<|im_start|>`
    /// in the text is tokenized as plain characters).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        if text.is_empty() {
            return out;
        }
        let cpts: Vec<char> = text.chars().collect();
        let lens = self.pre_tokenize(&cpts);
        let mut start = 0;
        let mut word = String::new();
        let mut utf8 = [0u8; 4];
        for len in lens {
            word.clear();
            for &c in &cpts[start..start + len] {
                for &b in c.encode_utf8(&mut utf8).as_bytes() {
                    word.push(self.byte_to_char[b as usize]);
                }
            }
            start += len;
            self.encode_word(&word, &mut out);
        }
        out
    }

    /// Splits `cpts` into pre-tokens; returns their lengths in code points.
    fn pre_tokenize(&self, cpts: &[char]) -> Vec<usize> {
        let cls = &self.classes;
        let mut offs = vec![cpts.len()];
        match self.pre {
            PreTokenizer::Gpt2 => {
                offs = split_gpt2(cpts, &offs, cls);
            }
            PreTokenizer::DigitsThenGpt2 => {
                offs = split_matches(cpts, &offs, |c| cls.collapsed_number(c), Repeat::One);
                offs = split_gpt2(cpts, &offs, cls);
            }
            PreTokenizer::Default => {
                offs = split_matches(
                    cpts,
                    &offs,
                    |c| cls.collapsed_punct_default(c),
                    Repeat::Greedy,
                );
                offs = split_gpt2(cpts, &offs, cls);
                offs = split_matches(cpts, &offs, |c| cls.collapsed_number(c), Repeat::Greedy);
                offs = split_matches(cpts, &offs, |c| c.is_ascii_digit(), Repeat::Exactly3);
            }
            PreTokenizer::Llama3 => {
                offs = split_llama3(cpts, &offs, cls);
            }
        }
        offs
    }

    /// BPE-merges one byte-encoded word and appends its token ids.
    fn encode_word(&self, word: &str, out: &mut Vec<u32>) {
        if self.ignore_merges {
            if let Some(&id) = self.token_to_id.get(word) {
                out.push(id);
                return;
            }
        }
        // Symbols: byte range in `word`, symbol id, linked list.
        struct Sym {
            start: usize,
            len: usize,
            sym: u32,
            prev: Option<usize>,
            next: Option<usize>,
        }
        let n = word.chars().count();
        let mut syms: Vec<Sym> = Vec::with_capacity(n);
        for (i, (start, c)) in word.char_indices().enumerate() {
            let len = c.len_utf8();
            let sym = self
                .sym_ids
                .get(&word[start..start + len])
                .copied()
                .unwrap_or(NO_SYM);
            syms.push(Sym {
                start,
                len,
                sym,
                prev: i.checked_sub(1),
                next: (i + 1 < n).then_some(i + 1),
            });
        }

        // Min-heap on (rank, left index); entries carry the pair they were
        // made for so stale ones can be recognised.
        // (rank, left index, right index, left symbol, right symbol)
        type Bigram = Reverse<(u32, usize, usize, u32, u32)>;
        let mut heap: BinaryHeap<Bigram> = BinaryHeap::new();
        let push = |heap: &mut BinaryHeap<_>, syms: &[Sym], l: usize, r: usize| {
            let (a, b) = (syms[l].sym, syms[r].sym);
            if a == NO_SYM || b == NO_SYM {
                return;
            }
            if let Some(&(rank, _)) = self.merges.get(&(a, b)) {
                heap.push(Reverse((rank, l, r, a, b)));
            }
        };
        for i in 1..n {
            push(&mut heap, &syms, i - 1, i);
        }
        while let Some(Reverse((_, l, r, a, b))) = heap.pop() {
            // Stale: one side already merged away or grown since.
            if syms[l].len == 0 || syms[r].len == 0 || syms[l].sym != a || syms[r].sym != b {
                continue;
            }
            let merged = match self.merges.get(&(a, b)) {
                Some(&(_, m)) => m,
                None => continue,
            };
            syms[l].len += syms[r].len;
            syms[l].sym = merged;
            syms[r].len = 0;
            let next = syms[r].next;
            syms[l].next = next;
            if let Some(nx) = next {
                syms[nx].prev = Some(l);
            }
            if let Some(p) = syms[l].prev {
                push(&mut heap, &syms, p, l);
            }
            if let Some(nx) = next {
                push(&mut heap, &syms, l, nx);
            }
        }

        for s in syms.iter().filter(|s| s.len > 0) {
            let text = &word[s.start..s.start + s.len];
            if let Some(&id) = self.token_to_id.get(text) {
                out.push(id);
            } else {
                // llama.cpp: fall back to the tokens of the single bytes of
                // the (encoded) text; only ASCII bytes can name a token.
                for &b in text.as_bytes() {
                    if b.is_ascii() {
                        let mut tmp = [0u8; 4];
                        let s1 = (b as char).encode_utf8(&mut tmp);
                        if let Some(&id) = self.token_to_id.get(&*s1) {
                            out.push(id);
                        }
                    }
                }
            }
        }
    }

    /// The byte that a character of the byte-encoded alphabet stands for.
    pub fn char_to_byte(&self, c: char) -> Option<u8> {
        self.char_to_byte.get(&c).copied()
    }
}

/// The GPT-2 byte-to-unicode map and its inverse: bytes `!`..`~`,
/// `¡`..`¬`, `®`..`ÿ` map to the same code point; the other 68 bytes map to
/// U+0100 + n in increasing byte order.
fn byte_maps() -> ([char; 256], HashMap<char, u8>) {
    let mut map = ['\0'; 256];
    let mut assigned = [false; 256];
    for b in (0x21..=0x7Eu32).chain(0xA1..=0xAC).chain(0xAE..=0xFF) {
        map[b as usize] = char::from_u32(b).unwrap_or('\0');
        assigned[b as usize] = true;
    }
    let mut n = 0u32;
    for b in 0..256usize {
        if !assigned[b] {
            map[b] = char::from_u32(256 + n).unwrap_or('\0');
            n += 1;
        }
    }
    let inv = (0..256usize).map(|b| (map[b], b as u8)).collect();
    (map, inv)
}

/// Reverses the byte map over a token's text.
fn decode_token_text(text: &str, char_to_byte: &HashMap<char, u8>) -> Box<[u8]> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match char_to_byte.get(&c) {
            Some(&b) => out.push(b),
            None => {
                let mut tmp = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
            }
        }
    }
    out.into_boxed_slice()
}

// ---------------------------------------------------------------------------
// Character classes

/// The regex category of a code point, as llama.cpp's flags see it. Every
/// code point has exactly one category; whitespace is tested apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cat {
    Letter,
    Number,
    Punct,
    Other,
}

/// Flags of one code point: category and `\s`.
#[derive(Debug, Clone, Copy)]
struct Flags {
    cat: Cat,
    ws: bool,
}

impl Flags {
    fn letter(self) -> bool {
        self.cat == Cat::Letter
    }
    fn number(self) -> bool {
        self.cat == Cat::Number
    }
}

/// Unicode general-category tables for `\p{L}`, `\p{N}` and `\p{P}`:
/// sorted, disjoint inclusive code-point ranges.
#[derive(Debug, Clone)]
struct CharClasses {
    letter: Vec<(u32, u32)>,
    number: Vec<(u32, u32)>,
    punct: Vec<(u32, u32)>,
}

impl CharClasses {
    fn new() -> Result<Self> {
        Ok(CharClasses {
            letter: class_ranges(r"\p{L}")?,
            number: class_ranges(r"\p{N}")?,
            punct: class_ranges(r"\p{P}")?,
        })
    }

    fn flags(&self, c: char) -> Flags {
        let ws = c.is_whitespace();
        let cat = if c.is_ascii() {
            if c.is_ascii_alphabetic() {
                Cat::Letter
            } else if c.is_ascii_digit() {
                Cat::Number
            } else if c.is_ascii_punctuation() && !"$+<=>^`|~".contains(c) {
                Cat::Punct
            } else {
                Cat::Other
            }
        } else {
            let cp = c as u32;
            if in_ranges(&self.letter, cp) {
                Cat::Letter
            } else if in_ranges(&self.number, cp) {
                Cat::Number
            } else if in_ranges(&self.punct, cp) {
                Cat::Punct
            } else {
                Cat::Other
            }
        };
        Flags { cat, ws }
    }

    /// `\p{N}` in llama.cpp's collapsed `std::regex` path: ASCII `0-9`, or a
    /// non-ASCII, non-whitespace code point of category N.
    fn collapsed_number(&self, c: char) -> bool {
        if c.is_ascii() {
            return c.is_ascii_digit();
        }
        let f = self.flags(c);
        !f.ws && f.number()
    }

    /// `[\p{P}\$\+<=>\^~\|]` in llama.cpp's collapsed path: the ASCII
    /// punctuation of its table plus `$+<=>^~|`, or a non-ASCII,
    /// non-whitespace code point of category P.
    fn collapsed_punct_default(&self, c: char) -> bool {
        if c.is_ascii() {
            return c.is_ascii_punctuation() && c != '`';
        }
        let f = self.flags(c);
        !f.ws && f.cat == Cat::Punct
    }
}

fn class_ranges(pattern: &str) -> Result<Vec<(u32, u32)>> {
    use regex_syntax::hir::{Class, HirKind};
    let hir = regex_syntax::Parser::new()
        .parse(pattern)
        .map_err(|e| Error::Tokenizer(format!("unicode class {pattern}: {e}")))?;
    match hir.kind() {
        HirKind::Class(Class::Unicode(cls)) => Ok(cls
            .ranges()
            .iter()
            .map(|r| (r.start() as u32, r.end() as u32))
            .collect()),
        _ => Err(Error::Tokenizer(format!(
            "unicode class {pattern}: not a class"
        ))),
    }
}

fn in_ranges(ranges: &[(u32, u32)], cp: u32) -> bool {
    let i = ranges.partition_point(|&(_, hi)| hi < cp);
    i < ranges.len() && ranges[i].0 <= cp
}

// ---------------------------------------------------------------------------
// Splitters. Each takes the code points of the whole text and the current
// pieces (lengths in code points, summing to `cpts.len()`), and returns the
// finer pieces.

/// How many consecutive matching code points one match takes.
#[derive(Debug, Clone, Copy)]
enum Repeat {
    /// `[x]`: one.
    One,
    /// `[x]+`: a maximal run.
    Greedy,
    /// `[x][x][x]`: exactly three (leftmost, non-overlapping).
    Exactly3,
}

/// A regex that is a single character class (repeated as `rep` says), as
/// llama.cpp's `std::regex` path splits with it: every match becomes a
/// piece, and so does every stretch of text between matches.
fn split_matches(
    cpts: &[char],
    offsets: &[usize],
    pred: impl Fn(char) -> bool,
    rep: Repeat,
) -> Vec<usize> {
    let mut out = Vec::with_capacity(offsets.len());
    let mut start = 0;
    for &len in offsets {
        let chunk = &cpts[start..start + len];
        start += len;
        let mut gap_start = 0;
        let mut i = 0;
        while i < chunk.len() {
            let m = match rep {
                Repeat::One => usize::from(pred(chunk[i])),
                Repeat::Greedy => chunk[i..].iter().take_while(|&&c| pred(c)).count(),
                Repeat::Exactly3 => {
                    if chunk.len() - i >= 3 && chunk[i..i + 3].iter().all(|&c| pred(c)) {
                        3
                    } else {
                        0
                    }
                }
            };
            if m == 0 {
                i += 1;
                continue;
            }
            if i > gap_start {
                out.push(i - gap_start);
            }
            out.push(m);
            i += m;
            gap_start = i;
        }
        if chunk.len() > gap_start {
            out.push(chunk.len() - gap_start);
        }
    }
    out
}

/// Cursor over one piece of text for the hand-written splitters: positions
/// outside the piece read as "out of range".
struct Piece<'a> {
    cpts: &'a [char],
    cls: &'a CharClasses,
    ini: usize,
    end: usize,
    prev_end: usize,
    out: &'a mut Vec<usize>,
}

impl Piece<'_> {
    fn cpt(&self, pos: usize) -> Option<char> {
        (self.ini <= pos && pos < self.end).then(|| self.cpts[pos])
    }
    /// `None` stands for llama.cpp's all-zero flags of an out-of-range position.
    fn flags(&self, pos: usize) -> Option<Flags> {
        self.cpt(pos).map(|c| self.cls.flags(c))
    }
    fn is_letter(&self, pos: usize) -> bool {
        self.flags(pos).is_some_and(Flags::letter)
    }
    fn is_number(&self, pos: usize) -> bool {
        self.flags(pos).is_some_and(Flags::number)
    }
    fn is_ws(&self, pos: usize) -> bool {
        self.flags(pos).is_some_and(|f| f.ws)
    }
    /// `[^\s\p{L}\p{N}]` at `pos` (false out of range).
    fn is_other(&self, pos: usize) -> bool {
        self.flags(pos)
            .is_some_and(|f| !(f.ws || f.letter() || f.number()))
    }
    /// Ends the current token at `end`; returns its length.
    fn add(&mut self, end: usize) -> usize {
        let len = end - self.prev_end;
        if len > 0 {
            self.out.push(len);
        }
        self.prev_end = end;
        len
    }
}

/// llama.cpp's `unicode_regex_split_custom_gpt2`:
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
fn split_gpt2(cpts: &[char], offsets: &[usize], cls: &CharClasses) -> Vec<usize> {
    let mut out = Vec::with_capacity(offsets.len());
    let mut start = 0;
    for &len in offsets {
        let (ini, end) = (start, start + len);
        start = end;
        let mut p = Piece {
            cpts,
            cls,
            ini,
            end,
            prev_end: ini,
            out: &mut out,
        };
        let mut pos = ini;
        while pos < end {
            let cpt = cpts[pos];
            // 's|'t|'re|'ve|'m|'ll|'d
            if cpt == '\'' && pos + 1 < end {
                let next = cpts[pos + 1];
                if matches!(next, 's' | 't' | 'm' | 'd') {
                    pos += p.add(pos + 2);
                    continue;
                }
                if pos + 2 < end {
                    let nn = cpts[pos + 2];
                    if matches!((next, nn), ('r', 'e') | ('v', 'e') | ('l', 'l')) {
                        pos += p.add(pos + 3);
                        continue;
                    }
                }
            }
            let sp = usize::from(cpt == ' ');
            let at = if cpt == ' ' { pos + 1 } else { pos };
            // ' ?\p{L}+'
            if p.is_letter(at) {
                pos = at;
                while p.is_letter(pos) {
                    pos += 1;
                }
                p.add(pos);
                continue;
            }
            // ' ?\p{N}+'
            if p.is_number(at) {
                pos = at;
                while p.is_number(pos) {
                    pos += 1;
                }
                p.add(pos);
                continue;
            }
            // ' ?[^\s\p{L}\p{N}]+'
            if p.is_other(at) {
                pos += sp;
                while p.is_other(pos) {
                    pos += 1;
                }
                p.add(pos);
                continue;
            }
            let mut n_ws = 0;
            while p.is_ws(pos + n_ws) {
                n_ws += 1;
            }
            // '\s+(?!\S)'
            if n_ws > 1 && p.cpt(pos + n_ws).is_some() {
                pos += n_ws - 1;
                p.add(pos);
                continue;
            }
            // '\s+'
            if n_ws > 0 {
                pos += n_ws;
                p.add(pos);
                continue;
            }
            // no match
            pos += 1;
            p.add(pos);
        }
    }
    out
}

/// llama.cpp's `unicode_regex_split_custom_llama3`:
/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
/// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`.
fn split_llama3(cpts: &[char], offsets: &[usize], cls: &CharClasses) -> Vec<usize> {
    let mut out = Vec::with_capacity(offsets.len());
    let mut start = 0;
    for &len in offsets {
        let (ini, end) = (start, start + len);
        start = end;
        let mut p = Piece {
            cpts,
            cls,
            ini,
            end,
            prev_end: ini,
            out: &mut out,
        };
        let mut pos = ini;
        while pos < end {
            let cpt = cpts[pos];
            let flags = cls.flags(cpt);
            // (?i:'s|'t|'re|'ve|'m|'ll|'d)
            if cpt == '\'' && pos + 1 < end {
                let next = cpts[pos + 1].to_ascii_lowercase();
                if matches!(next, 's' | 't' | 'm' | 'd') {
                    pos += p.add(pos + 2);
                    continue;
                }
                if pos + 2 < end {
                    let nn = cpts[pos + 2].to_ascii_lowercase();
                    if matches!((next, nn), ('r', 'e') | ('v', 'e') | ('l', 'l')) {
                        pos += p.add(pos + 3);
                        continue;
                    }
                }
            }
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if !(cpt == '\r' || cpt == '\n' || flags.number())
                && (flags.letter() || p.is_letter(pos + 1))
            {
                pos += 1;
                while p.is_letter(pos) {
                    pos += 1;
                }
                p.add(pos);
                continue;
            }
            // \p{N}{1,3}
            if flags.number() {
                let mut first = pos;
                while p.is_number(pos) {
                    pos += 1;
                    if pos - first >= 3 {
                        p.add(pos);
                        first = pos;
                    }
                }
                p.add(pos);
                continue;
            }
            // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
            let at = if cpt == ' ' { pos + 1 } else { pos };
            let at_other = match p.flags(at) {
                Some(f) => !(f.ws || f.letter() || f.number()),
                // llama.cpp tests the out-of-range flags (all zero) with the
                // current code point's flags, which are never zero.
                None => true,
            };
            if at_other {
                pos = at;
                while p.is_other(pos) {
                    pos += 1;
                }
                while matches!(p.cpt(pos), Some('\r' | '\n')) {
                    pos += 1;
                }
                p.add(pos);
                continue;
            }
            let mut n_ws = 0;
            let mut last_rn = 0;
            while p.is_ws(pos + n_ws) {
                if matches!(cpts[pos + n_ws], '\r' | '\n') {
                    last_rn = pos + n_ws + 1;
                }
                n_ws += 1;
            }
            // \s*[\r\n]+
            if last_rn > 0 {
                pos = last_rn;
                p.add(pos);
                continue;
            }
            // \s+(?!\S)
            if n_ws > 1 && p.cpt(pos + n_ws).is_some() {
                pos += n_ws - 1;
                p.add(pos);
                continue;
            }
            // \s+
            if n_ws > 0 {
                pos += n_ws;
                p.add(pos);
                continue;
            }
            pos += 1;
            p.add(pos);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cls() -> CharClasses {
        CharClasses::new().unwrap()
    }

    fn pieces(text: &str, f: impl Fn(&[char], &[usize]) -> Vec<usize>) -> Vec<String> {
        let cpts: Vec<char> = text.chars().collect();
        let lens = f(&cpts, &[cpts.len()]);
        assert_eq!(lens.iter().sum::<usize>(), cpts.len());
        let mut s = 0;
        lens.iter()
            .map(|&l| {
                let p: String = cpts[s..s + l].iter().collect();
                s += l;
                p
            })
            .collect()
    }

    #[test]
    fn byte_map_is_a_bijection_onto_printables() {
        let (map, inv) = byte_maps();
        assert_eq!(inv.len(), 256);
        assert_eq!(map[b' ' as usize], '\u{120}'); // 'Ġ'
        assert_eq!(map[b'\n' as usize], '\u{10A}'); // 'Ċ'
        assert_eq!(map[b'a' as usize], 'a');
        assert_eq!(map[0], '\u{100}');
        assert_eq!(map[0xAD], '\u{143}');
    }

    #[test]
    fn categories_are_general_categories_not_alphabetic() {
        let c = cls();
        // U+17B6 KHMER VOWEL SIGN AA is Alphabetic but Mc, not \p{L}.
        assert!('\u{17B6}'.is_alphabetic());
        assert_eq!(c.flags('\u{17B6}').cat, Cat::Other);
        assert_eq!(c.flags('½').cat, Cat::Number);
        assert_eq!(c.flags('ü').cat, Cat::Letter);
        assert_eq!(c.flags('«').cat, Cat::Punct);
        assert_eq!(c.flags('$').cat, Cat::Other);
        assert!(c.flags('\u{3000}').ws);
    }

    #[test]
    fn gpt2_split() {
        let c = cls();
        let f = |t: &[char], o: &[usize]| split_gpt2(t, o, &c);
        assert_eq!(
            pieces("Hello, world!  it's 42   x\n", f),
            ["Hello", ",", " world", "!", " ", " it", "'s", " 42", "  ", " x", "\n"]
        );
        assert_eq!(pieces("   ", f), ["   "]);
        assert_eq!(pieces(" ", f), [" "]);
    }

    #[test]
    fn digits_then_gpt2_split() {
        let c = cls();
        let f = |t: &[char], o: &[usize]| {
            let o = split_matches(t, o, |ch| c.collapsed_number(ch), Repeat::One);
            split_gpt2(t, &o, &c)
        };
        assert_eq!(pieces("a 123  4", f), ["a", " ", "1", "2", "3", "  ", "4"]);
    }

    #[test]
    fn llama3_split() {
        let c = cls();
        let f = |t: &[char], o: &[usize]| split_llama3(t, o, &c);
        assert_eq!(
            pieces("Hello WORLD'S 12345 !!\n\n x", f),
            ["Hello", " WORLD", "'S", " ", "123", "45", " !!\n\n", " x"]
        );
    }

    #[test]
    fn exactly3_split_keeps_remainders_in_gaps() {
        let f =
            |t: &[char], o: &[usize]| split_matches(t, o, |c| c.is_ascii_digit(), Repeat::Exactly3);
        assert_eq!(pieces("12a34567", f), ["12a", "345", "67"]);
    }

    #[test]
    fn tiny_vocab_merges_by_rank() {
        // Alphabet a, b, c, Ġ; merges: "b c" (rank 0) before "a b" (rank 1).
        let tokens = ["a", "b", "c", "Ġ", "bc", "ab", "abc", "Ġa"];
        let merges = ["b c", "a b", "a bc", "Ġ a"];
        let t =
            BpeTokenizer::from_parts(&tokens, None, &merges, Some("gpt2"), BpeSpecial::default())
                .unwrap();
        // "abc": b+c first (rank 0), then a+bc (rank 2) → "abc".
        assert_eq!(t.encode("abc"), [6]);
        // "ab": a+b → "ab".
        assert_eq!(t.encode("ab"), [5]);
        // " a" → Ġa; " b" → Ġ, b
        assert_eq!(t.encode(" a b"), [7, 3, 1]);
        assert_eq!(&*t.token_bytes(7).unwrap(), b" a");
        assert!(t.token_bytes(8).is_err());
        assert!(!t.add_bos());
    }

    #[test]
    fn unknown_pre_is_an_error() {
        let err =
            BpeTokenizer::from_parts(&["a"], None, &[], Some("no-such"), BpeSpecial::default())
                .unwrap_err();
        assert!(
            err.to_string().contains("unsupported pre-tokenizer"),
            "{err}"
        );
    }
}
