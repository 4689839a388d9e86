//! include/edge_llama.h is exactly what cbindgen makes of capi/src with
//! capi/cbindgen.toml: every exported function, constant and struct layout
//! in the header matches the Rust side. `EDGE_LLAMA_BLESS=1` rewrites it.

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn header_is_current() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("capi/cbindgen.toml parses");
    // cbindgen follows the `mod` declarations of lib.rs.
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen generates the header");
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    let generated = String::from_utf8(generated).expect("UTF-8 header");

    let header = crate_dir.join("../include/edge_llama.h");
    if std::env::var_os("EDGE_LLAMA_BLESS").is_some() {
        std::fs::write(&header, &generated).expect("write include/edge_llama.h");
        return;
    }
    let current = std::fs::read_to_string(&header).unwrap_or_default();
    if current != generated {
        let line = current
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or(
                current.lines().count().min(generated.lines().count()),
                |i| i,
            )
            + 1;
        panic!(
            "include/edge_llama.h is not what capi/src declares (first difference at line {line}); \
             regenerate it with: EDGE_LLAMA_BLESS=1 cargo test -p edge-llama-capi --test header"
        );
    }
}

/// The header declares every function the crate exports, and nothing else:
/// the names after `edge_llama_status ` / `const char *` in the header equal
/// the `#[no_mangle]` functions in the source.
#[test]
fn header_declares_exactly_the_exported_functions() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&crate_dir.join("src"), &mut files);
    let mut exported = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read source");
        let mut lines = text.lines();
        while let Some(l) = lines.next() {
            if l.trim() == "#[no_mangle]" {
                let decl = lines.next().expect("a function after #[no_mangle]");
                let name = decl
                    .split("fn ")
                    .nth(1)
                    .and_then(|r| r.split('(').next())
                    .expect("fn NAME(");
                exported.push(name.to_string());
            }
        }
    }
    let header = std::fs::read_to_string(crate_dir.join("../include/edge_llama.h"))
        .expect("read include/edge_llama.h");
    let mut declared = Vec::new();
    for l in header.lines() {
        if l.starts_with(' ') || l.starts_with('/') || l.starts_with('#') || l.starts_with('*') {
            continue;
        }
        // A declaration line: `TYPE NAME(ARGS…`.
        let Some((head, _)) = l.split_once('(') else {
            continue;
        };
        if l.starts_with("typedef") {
            continue;
        }
        if let Some(name) = head.split_whitespace().last() {
            let name = name.trim_start_matches('*');
            if name.starts_with("edge_llama_") {
                declared.push(name.to_string());
            }
        }
    }
    exported.sort();
    declared.sort();
    assert!(
        exported.len() >= 25,
        "found only {} exported functions",
        exported.len()
    );
    assert_eq!(declared, exported);
}
