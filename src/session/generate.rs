//! The token-by-token generate loop, with stop strings.

use super::Session;
use crate::error::Result;
use crate::model::ModelInner;
use crate::sampler::Sampler;
use std::sync::Arc;

/// One generated token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generated {
    /// Token id.
    pub id: u32,
    /// Text released with this token: text that became complete with it
    /// (may be empty, e.g. inside a multi-byte character, for control
    /// tokens, or while it could be the start of a stop string), plus any
    /// text held back earlier that turned out not to be one.
    pub text: String,
    /// True for an end-of-generation token (the last item).
    pub eog: bool,
    /// True when this token completed a stop string (the last item): `text`
    /// ends where the stop string starts, and the stop string itself is not
    /// emitted.
    pub stop: bool,
}

/// Iterator returned by [`Session::generate`].
pub struct Generate<'s> {
    session: &'s mut Session,
    sampler: &'s mut Sampler,
    model: Arc<ModelInner>,
    /// Bytes of an incomplete UTF-8 character, held until it completes.
    pending: Vec<u8>,
    remaining: usize,
    done: bool,
    stops: StopStrings,
}

impl<'s> Generate<'s> {
    pub(super) fn new(
        session: &'s mut Session,
        sampler: &'s mut Sampler,
        model: Arc<ModelInner>,
        max_tokens: usize,
    ) -> Generate<'s> {
        Generate {
            session,
            sampler,
            model,
            pending: Vec::new(),
            remaining: max_tokens,
            done: false,
            stops: StopStrings::default(),
        }
    }

    /// Ends generation at the first occurrence of any of `stops` in the
    /// generated text, wherever token boundaries fall. The stop string is
    /// not emitted; text that could be the start of one is held back until
    /// it is known not to be (or generation ends). Empty strings are
    /// ignored. The tokens that produced the stop string stay evaluated in
    /// the session.
    pub fn stop_at<I, S>(mut self, stops: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.stops.strings = stops
            .into_iter()
            .map(Into::into)
            .filter(|s| !s.is_empty())
            .collect();
        self
    }

    /// Ends the generation early and returns the text still held back (as
    /// the possible start of a stop string, or an incomplete character).
    pub fn finish(mut self) -> String {
        let tail = take_complete_utf8(&mut self.pending, true);
        self.stops.held.push_str(&tail);
        std::mem::take(&mut self.stops.held)
    }

    fn step(&mut self) -> Result<Generated> {
        let id = self.sampler.sample(self.session.logits())?;
        // Evaluate before recording: a cancelled evaluation leaves the
        // sampler as it was.
        self.session.eval(&[id])?;
        self.sampler.accept(id);
        self.remaining -= 1;
        let tok = &self.model.tokenizer;
        let eog = tok.is_eog(id);
        if !eog {
            self.pending.extend_from_slice(&tok.token_bytes(id)?);
        }
        let last = eog || self.remaining == 0;
        let text = take_complete_utf8(&mut self.pending, last);
        let (text, stop) = self.stops.filter(text, last);
        if eog || stop {
            self.done = true;
        }
        Ok(Generated {
            id,
            text,
            eog,
            stop,
        })
    }
}

impl Iterator for Generate<'_> {
    type Item = Result<Generated>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.remaining == 0 {
            return None;
        }
        let r = self.step();
        if r.is_err() {
            self.done = true;
        }
        Some(r)
    }
}

/// Stop strings and the text held back while it could start one.
#[derive(Default)]
pub(crate) struct StopStrings {
    strings: Vec<String>,
    held: String,
}

impl StopStrings {
    /// Adds `new` text; returns the text that can be released and whether a
    /// stop string was completed (then the text ends before it). At the
    /// `last` token everything not part of a stop string is released.
    pub(crate) fn filter(&mut self, new: String, last: bool) -> (String, bool) {
        if self.strings.is_empty() {
            return (new, false);
        }
        self.held.push_str(&new);
        let first_match = self
            .strings
            .iter()
            .filter_map(|s| self.held.find(s.as_str()))
            .min();
        if let Some(at) = first_match {
            self.held.truncate(at);
            return (std::mem::take(&mut self.held), true);
        }
        let keep = if last { 0 } else { self.prefix_len() };
        let tail = self.held.split_off(self.held.len() - keep);
        (std::mem::replace(&mut self.held, tail), false)
    }

    /// Length of the longest end of `held` that begins some stop string.
    fn prefix_len(&self) -> usize {
        let longest = self.strings.iter().map(String::len).max().unwrap_or(0);
        let h = &self.held;
        (h.len().saturating_sub(longest)..h.len())
            .filter(|&i| h.is_char_boundary(i))
            .find(|&i| self.strings.iter().any(|s| s.starts_with(&h[i..])))
            .map_or(0, |i| h.len() - i)
    }
}

/// Removes and returns the longest prefix of `buf` that is complete UTF-8
/// (invalid bytes become U+FFFD); an incomplete character at the end stays in
/// `buf` unless `flush`.
pub(crate) fn take_complete_utf8(buf: &mut Vec<u8>, flush: bool) -> String {
    let keep = match std::str::from_utf8(buf) {
        Ok(_) => 0,
        Err(e) if e.error_len().is_none() && !flush => buf.len() - e.valid_up_to(),
        Err(_) => 0,
    };
    let tail = buf.split_off(buf.len() - keep);
    let text = String::from_utf8_lossy(buf).into_owned();
    *buf = tail;
    text
}

#[cfg(test)]
mod tests {
    use super::{take_complete_utf8, StopStrings};

    #[test]
    fn utf8_is_never_split() {
        let euro = "€".as_bytes();
        let mut buf = vec![b'a', euro[0]];
        assert_eq!(take_complete_utf8(&mut buf, false), "a");
        buf.extend_from_slice(&euro[1..]);
        assert_eq!(take_complete_utf8(&mut buf, false), "€");
        assert!(buf.is_empty());
        buf.push(euro[0]);
        assert_eq!(take_complete_utf8(&mut buf, true), "\u{fffd}");
    }

    fn stops(s: &[&str]) -> StopStrings {
        StopStrings {
            strings: s.iter().map(|s| s.to_string()).collect(),
            held: String::new(),
        }
    }

    /// Feeds `pieces` (one per token) and returns what each released.
    fn run(st: &mut StopStrings, pieces: &[&str]) -> Vec<(String, bool)> {
        let n = pieces.len();
        pieces
            .iter()
            .enumerate()
            .map(|(i, p)| st.filter(p.to_string(), i + 1 == n))
            .collect()
    }

    #[test]
    fn stop_string_across_three_pieces_is_not_emitted() {
        let mut st = stops(&["</end>"]);
        let out = run(&mut st, &["ok </", "en", "d> tail"]);
        assert_eq!(
            out,
            [
                ("ok ".to_string(), false),
                (String::new(), false),
                (String::new(), true)
            ]
        );
    }

    #[test]
    fn a_false_start_is_released_when_it_stops_matching() {
        let mut st = stops(&["STOP"]);
        let out = run(&mut st, &["a ST", "x", "y"]);
        assert_eq!(out[0], ("a ".to_string(), false));
        assert_eq!(out[1], ("STx".to_string(), false));
        assert_eq!(out[2], ("y".to_string(), false));
    }

    #[test]
    fn held_text_is_released_at_the_last_token() {
        let mut st = stops(&["\n\n"]);
        let out = run(&mut st, &["line\n"]);
        assert_eq!(out, [("line\n".to_string(), false)]);
    }

    #[test]
    fn the_earliest_of_several_stop_strings_wins() {
        let mut st = stops(&["a", "b c"]);
        let out = run(&mut st, &["xb c a", "z"]);
        assert_eq!(out[0], ("x".to_string(), true));
    }

    #[test]
    fn multibyte_prefixes_are_held_on_char_boundaries() {
        let mut st = stops(&["€€"]);
        let out = run(&mut st, &["x€", "€y"]);
        assert_eq!(out[0], ("x".to_string(), false));
        assert_eq!(out[1], (String::new(), true));
    }
}
