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
