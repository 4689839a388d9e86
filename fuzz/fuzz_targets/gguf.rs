//! The GGUF reader on arbitrary bytes: opening never panics, and a file that
//! opens serves every metadata value and every tensor view consistently.
#![no_main]

use edge_llama::gguf::GgufFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = GgufFile::from_bytes(data.to_vec()) {
        edge_llama_fuzz::walk_gguf(&file);
    }
});
