//! Prints a GGUF file's metadata (arrays abbreviated) and tensor table.
//!
//! `cargo run --release --example inspect -- --model M.gguf`

mod common;

use common::{die, Args};
use edge_llama::gguf::{GgufFile, Value};

const USAGE: &str = "inspect --model M.gguf";

fn main() {
    let args = Args::parse(USAGE, &[]);
    args.only(USAGE, &["--model"]);
    let path = args.required(USAGE, "--model");
    let file = GgufFile::open(&path).unwrap_or_else(|e| die(e));
    println!(
        "GGUF v{}, alignment {}, data at {}",
        file.version(),
        file.alignment(),
        file.data_offset()
    );
    for (key, value) in file.metadata() {
        match value {
            Value::Array(a) => println!("{key} = [{} × {}]", a.len(), a.elem_type()),
            Value::String(s) if s.chars().count() > 120 => {
                let head: String = s.chars().take(120).collect();
                println!("{key} = {head:?}… ({} bytes)", s.len())
            }
            other => println!("{key} = {other:?}"),
        }
    }
    for t in file.tensors() {
        println!(
            "{:<32} {:<6} {:?} {} bytes",
            t.name,
            t.dtype.name(),
            t.shape,
            t.data.len()
        );
    }
}
