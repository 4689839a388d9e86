//! Config-level corruption: a structurally valid GGUF whose metadata or
//! tensors do not describe a runnable model gets the right `Error`.

use edge_llama::gguf::{GgufFile, GgufWriter, OwnedValue};
use edge_llama::kernels::GgmlType;
use edge_llama::synthetic::SyntheticSpec;
use edge_llama::{Error, Model, ModelOptions};

fn load(w: &GgufWriter<'_>) -> Result<Model, Error> {
    let mut bytes = Vec::new();
    w.write(&mut bytes).expect("write to memory");
    Model::from_gguf(
        GgufFile::from_bytes(bytes)?,
        ModelOptions {
            threads: 1,
            ..Default::default()
        },
    )
}

fn base() -> GgufWriter<'static> {
    SyntheticSpec::tiny(GgmlType::Q8_0).build().expect("build")
}

type Mutation = fn(&mut GgufWriter<'static>);
type Expect = fn(&Error) -> bool;

#[test]
fn inconsistent_models_are_rejected_with_the_right_error() {
    let cases: Vec<(&str, Mutation, Expect)> = vec![
        ("valid", |_| {}, |_| false),
        (
            "missing embedding_length",
            |w| {
                w.remove_metadata("llama.embedding_length");
            },
            |e| matches!(e, Error::MissingKey(k) if k == "llama.embedding_length"),
        ),
        (
            "missing block_count",
            |w| {
                w.remove_metadata("llama.block_count");
            },
            |e| matches!(e, Error::MissingKey(_)),
        ),
        (
            "missing architecture",
            |w| {
                w.remove_metadata("general.architecture");
            },
            |e| matches!(e, Error::MissingKey(_)),
        ),
        (
            "missing token list",
            |w| {
                w.remove_metadata("tokenizer.ggml.tokens");
            },
            |e| matches!(e, Error::MissingKey(_)),
        ),
        (
            "missing rms epsilon",
            |w| {
                w.remove_metadata("llama.attention.layer_norm_rms_epsilon");
            },
            |e| matches!(e, Error::MissingKey(_)),
        ),
        (
            "wrong architecture",
            |w| w.set_metadata("general.architecture", OwnedValue::String("gptx".into())),
            |e| matches!(e, Error::BadConfig(_)),
        ),
        (
            "head_count 0",
            |w| w.set_metadata("llama.attention.head_count", OwnedValue::U32(0)),
            |e| matches!(e, Error::BadConfig(_)),
        ),
        (
            "head_count_kv 0",
            |w| w.set_metadata("llama.attention.head_count_kv", OwnedValue::U32(0)),
            |e| matches!(e, Error::BadConfig(_)),
        ),
        (
            "kv heads do not divide heads",
            |w| w.set_metadata("llama.attention.head_count_kv", OwnedValue::U32(3)),
            |e| matches!(e, Error::BadConfig(_)),
        ),
        (
            "heads do not divide dim",
            |w| w.set_metadata("llama.attention.head_count", OwnedValue::U32(6)),
            |e| matches!(e, Error::BadConfig(_)),
        ),
        (
            "huge embedding_length",
            |w| w.set_metadata("llama.embedding_length", OwnedValue::U64(u64::MAX)),
            |e| matches!(e, Error::BadConfig(_)),
        ),
        (
            "embedding_length as string",
            |w| w.set_metadata("llama.embedding_length", OwnedValue::String("64".into())),
            |e| matches!(e, Error::WrongType { .. }),
        ),
        (
            "negative rms epsilon",
            |w| {
                w.set_metadata(
                    "llama.attention.layer_norm_rms_epsilon",
                    OwnedValue::F32(-1.0),
                )
            },
            |e| matches!(e, Error::BadConfig(_)),
        ),
        (
            "ffn length disagrees with tensors",
            |w| w.set_metadata("llama.feed_forward_length", OwnedValue::U32(96)),
            |e| matches!(e, Error::ShapeMismatch { .. }),
        ),
        (
            "more blocks than tensors",
            |w| w.set_metadata("llama.block_count", OwnedValue::U32(3)),
            |e| matches!(e, Error::MissingTensor(n) if n.starts_with("blk.2.")),
        ),
        (
            "rope dimension too large",
            |w| w.set_metadata("llama.rope.dimension_count", OwnedValue::U32(64)),
            |e| matches!(e, Error::BadConfig(_)),
        ),
        (
            "tokenizer scores too short",
            |w| w.set_metadata("tokenizer.ggml.scores", OwnedValue::f32_array([0.0f32])),
            |e| matches!(e, Error::Tokenizer(_)),
        ),
        (
            "bos id out of range",
            |w| w.set_metadata("tokenizer.ggml.bos_token_id", OwnedValue::U32(100_000)),
            |e| matches!(e, Error::Tokenizer(_)),
        ),
    ];
    for (name, mutate, expected) in cases {
        let mut w = base();
        mutate(&mut w);
        match load(&w) {
            Ok(_) if name == "valid" => {}
            Ok(_) => panic!("{name}: loaded without error"),
            Err(e) => assert!(expected(&e), "{name}: unexpected error {e:?}"),
        }
    }
}

#[test]
fn unsupported_weight_type_is_named() {
    let mut spec = SyntheticSpec::tiny(GgmlType::F32);
    spec.weight_type = GgmlType::F32;
    let w = spec.build().expect("build");
    assert!(load(&w).is_ok());
    // A model whose matrices are I8 cannot be multiplied.
    let path = std::env::temp_dir().join(format!("edge-llama-i8-{}.gguf", std::process::id()));
    let src = {
        let mut bytes = Vec::new();
        w.write(&mut bytes).expect("write");
        GgufFile::from_bytes(bytes).expect("parse")
    };
    let mut out = GgufWriter::new();
    for (k, v) in src.metadata() {
        out.add_metadata(k, v.to_owned_value()).expect("metadata");
    }
    for t in src.tensors() {
        if t.name == "blk.0.attn_q.weight" {
            let n = t.n_elements() as usize;
            out.add_tensor(t.name, GgmlType::I8, t.shape, vec![0u8; n])
                .expect("tensor");
        } else {
            out.add_tensor(t.name, t.dtype, t.shape, t.data.to_vec())
                .expect("tensor");
        }
    }
    out.write_to_path(&path).expect("write");
    let err = Model::open(&path).expect_err("I8 weights must be rejected");
    let _ = std::fs::remove_file(&path);
    assert!(
        matches!(&err, Error::UnsupportedTensorType { name, .. } if name == "blk.0.attn_q.weight"),
        "{err:?}"
    );
}

#[test]
fn missing_file_names_the_path() {
    let err = Model::open("/nonexistent/dir/model.gguf").expect_err("must fail");
    assert!(
        matches!(&err, Error::Io { path, .. } if path.ends_with("model.gguf")),
        "{err:?}"
    );
    assert!(err.to_string().contains("/nonexistent/dir/model.gguf"));
}

/// A kernel path this CPU cannot run is an `Error::Kernel` at open; the
/// options select the path and the numerics.
#[test]
fn unsupported_kernel_path_and_bad_numerics_are_errors() {
    use edge_llama::kernels::{KernelPath, Numerics};
    let path = std::env::temp_dir().join(format!("edge-llama-kv2-{}.gguf", std::process::id()));
    edge_llama::synthetic::SyntheticSpec::tiny(edge_llama::kernels::GgmlType::Q8_0)
        .write(&path)
        .expect("write");
    let foreign = if cfg!(target_arch = "x86_64") {
        KernelPath::Neon
    } else {
        KernelPath::Avx2
    };
    let r = Model::open_with(
        &path,
        ModelOptions {
            kernel_path: Some(foreign),
            ..Default::default()
        },
    );
    assert!(matches!(r, Err(Error::Kernel(_))), "{r:?}");
    let ok = Model::open_with(
        &path,
        ModelOptions {
            kernel_path: Some(KernelPath::Scalar),
            numerics: Some(Numerics::LlamaCpp),
            ..Default::default()
        },
    )
    .expect("scalar path");
    assert_eq!(ok.kernel_path(), "scalar");
    assert_eq!(ok.numerics(), Numerics::LlamaCpp);
    std::fs::remove_file(&path).ok();
}

/// An invalid `EDGE_LLAMA_NUMERICS` is an error at open naming the variable.
/// Runs itself in a child process with the variable set, so that no other
/// test of this binary sees it.
#[test]
fn invalid_numerics_variable_is_an_error_at_open() {
    const CHILD: &str = "EDGE_LLAMA_TEST_NUMERICS_CHILD";
    let path = std::env::temp_dir().join(format!(
        "edge-llama-kv2-num-{}-{}.gguf",
        std::process::id(),
        std::env::var_os(CHILD).is_some()
    ));
    if std::env::var_os(CHILD).is_some() {
        edge_llama::synthetic::SyntheticSpec::tiny(edge_llama::kernels::GgmlType::Q8_0)
            .write(&path)
            .expect("write");
        let r = Model::open(&path);
        std::fs::remove_file(&path).ok();
        match r {
            Err(Error::InvalidArgument(m)) => assert!(m.contains("EDGE_LLAMA_NUMERICS"), "{m}"),
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let out = std::process::Command::new(exe)
        .args(["--exact", "invalid_numerics_variable_is_an_error_at_open"])
        .env("EDGE_LLAMA_NUMERICS", "fastest")
        .env(CHILD, "1")
        .output()
        .expect("run child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {stdout}");
    assert!(stdout.contains("1 passed"), "child ran nothing: {stdout}");
}
