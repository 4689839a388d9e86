//! Argument parsing shared by the examples: `--name value` pairs (an
//! option may repeat) and flags; the thread-count line they print.
#![allow(dead_code)]

use std::collections::HashMap;
use std::str::FromStr;

/// Parsed command line.
pub struct Args {
    /// Every value given for each option, in order.
    values: HashMap<String, Vec<String>>,
    flags: Vec<String>,
}

/// Prints `msg` and the usage to stderr and exits with status 2.
pub fn fail(usage: &str, msg: &str) -> ! {
    eprintln!("error: {msg}\n\nusage: {usage}");
    std::process::exit(2)
}

/// Prints an error and exits with status 1.
pub fn die(msg: impl std::fmt::Display) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(1)
}

impl Args {
    /// Parses `std::env::args()`. `flags` lists the options that take no value.
    pub fn parse(usage: &str, flags: &[&str]) -> Args {
        let mut values = HashMap::new();
        let mut seen_flags = Vec::new();
        let mut it = std::env::args().skip(1);
        while let Some(a) = it.next() {
            if a == "-h" || a == "--help" {
                println!("usage: {usage}");
                std::process::exit(0);
            }
            if !a.starts_with('-') {
                fail(usage, &format!("unexpected argument {a:?}"));
            }
            if flags.contains(&a.as_str()) {
                seen_flags.push(a);
                continue;
            }
            match it.next() {
                Some(v) => values.entry(a).or_insert_with(Vec::new).push(v),
                None => fail(usage, &format!("{a} needs a value")),
            }
        }
        Args {
            values,
            flags: seen_flags,
        }
    }

    /// The last value of option `name`.
    fn last(&self, name: &str) -> Option<&String> {
        self.values.get(name).and_then(|v| v.last())
    }

    /// Every value of a repeatable option, in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.values.get(name).cloned().unwrap_or_default()
    }

    /// A required option.
    pub fn required(&self, usage: &str, name: &str) -> String {
        match self.last(name) {
            Some(v) => v.clone(),
            None => fail(usage, &format!("missing {name}")),
        }
    }

    /// An optional string option.
    pub fn opt(&self, name: &str) -> Option<String> {
        self.last(name).cloned()
    }

    /// An option parsed as `T`, with a default.
    pub fn get<T: FromStr>(&self, usage: &str, name: &str, default: T) -> T {
        match self.last(name) {
            None => default,
            Some(v) => v
                .parse()
                .unwrap_or_else(|_| fail(usage, &format!("invalid value {v:?} for {name}"))),
        }
    }

    /// Whether a flag was given.
    pub fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }

    /// Fails on options not in `known`.
    pub fn only(&self, usage: &str, known: &[&str]) {
        for k in self.values.keys() {
            if !known.contains(&k.as_str()) {
                fail(usage, &format!("unknown option {k}"));
            }
        }
    }
}

/// "N threads (why)": `--threads` when given (non-zero), else the library's
/// default choice.
pub fn threads_line(model: &edge_llama::Model, requested: usize) -> String {
    if requested == 0 {
        let choice = edge_llama::model::default_threads();
        format!("{} threads ({})", model.threads(), choice.reason)
    } else {
        format!("{} threads (--threads)", model.threads())
    }
}

/// Prints one line to stderr when the model file did not align some weight
/// tensors (GGUF `general.alignment` 1 or 2) and they were copied into
/// memory; prints nothing for a normally aligned file.
pub fn report_realigned(model: &edge_llama::Model) {
    let copied = model.realigned_tensors();
    if !copied.is_empty() {
        let bytes: usize = copied.iter().map(|(_, b)| b).sum();
        eprintln!(
            "note: {} weight tensors are not aligned in the file (general.alignment {}); copied into memory ({bytes} bytes)",
            copied.len(),
            model.gguf().alignment()
        );
    }
}
