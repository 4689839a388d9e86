//! Inputs the fuzz targets (`fuzz/`, issue 13) found, kept in the regular
//! suite so `cargo test` guards them without nightly, plus the session
//! memory limit that keeps a hostile file from asking for unbounded memory.
//!
//! Inputs live in `tests/data/fuzz/<target>/`, one file each, in the
//! target's own input format; each test runs the target's checks on them.

use std::path::PathBuf;

use edge_llama::gguf::{GgufFile, Value};
use edge_llama::kernels::{scalar, BlockQ8K, BlockQ8_0, BlockQ8_1, GgmlType, QK, QK_K};
use edge_llama::quantize::quantize_values;
use edge_llama::synthetic::SyntheticSpec;
use edge_llama::tensor::dequantize;
use edge_llama::{Error, KvCacheConfig, Model, ModelOptions, SessionOptions};
use half::f16;

/// The inputs kept for `target`; fails when there are none (a test that
/// checks nothing must not pass).
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fuzz")
        .join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("directory entry").path();
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (
                path.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                bytes,
            )
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no inputs in {}", dir.display());
    out
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Largest magnitude for which quantizers promise finite outputs (scales
/// are f16).
const FINITE_RANGE: f32 = 65504.0;

/// The `quantize_roundtrip` target's checks on one row of values.
fn quantize_roundtrip(name: &str, values: &[f32]) {
    let in_range = |x: &[f32]| x.iter().all(|v| v.is_finite() && v.abs() <= FINITE_RANGE);
    for dtype in (0..64).filter_map(GgmlType::from_id) {
        let block = dtype.block_elems();
        let n = values.len() / block * block;
        if n == 0 {
            continue;
        }
        let x = &values[..n];
        let bytes = match quantize_values(name, x, n, dtype) {
            Ok(b) => b,
            Err(Error::UnsupportedTensorType { .. }) => continue,
            Err(e) => panic!("{name}: {dtype}: {e}"),
        };
        let mut out = vec![0.0f32; n];
        match dequantize(name, dtype, &bytes, &mut out) {
            Ok(()) => {}
            // Every type the quantizer writes is one `dequantize` reads.
            Err(e) => panic!("{name}: {dtype}: {e}"),
        }
        for (xb, ob) in x.chunks(block).zip(out.chunks(block)) {
            if in_range(xb) {
                assert!(
                    ob.iter().all(|v| v.is_finite()),
                    "{name}: {dtype} gave {ob:?}"
                );
            }
        }
    }
    let n = values.len() / QK * QK;
    let x = &values[..n];
    let mut q0 = vec![
        BlockQ8_0 {
            d: f16::ZERO,
            qs: [0; QK]
        };
        n / QK
    ];
    scalar::quantize_act_q8_0(x, &mut q0);
    let zero1 = BlockQ8_1 {
        d: f16::ZERO,
        s: f16::ZERO,
        qs: [0; QK],
    };
    let mut q1 = vec![zero1; n / QK];
    scalar::quantize_act_q8_1(x, &mut q1);
    let n = values.len() / QK_K * QK_K;
    let mut qk = vec![
        BlockQ8K {
            d: 0.0,
            qs: [0; QK_K],
            bsums: [0; QK_K / 16]
        };
        n / QK_K
    ];
    scalar::quantize_row_q8_k(&values[..n], &mut qk);
    for (xb, b) in values[..n].chunks(QK_K).zip(&qk) {
        if in_range(xb) {
            assert!(b.d.is_finite(), "{name}: q8_K scale {}", b.d);
        }
    }
}

#[test]
fn quantize_roundtrip_inputs() {
    for (name, bytes) in inputs("quantize_roundtrip") {
        quantize_roundtrip(&name, &f32s(&bytes));
    }
}

/// Found by `quantize_roundtrip`: a block whose largest magnitude is ~1e-38
/// made the inverse scale of Q8_K (and Q6_K's) +inf, and `nearest_int`'s
/// debug assertion fired. Such values now saturate; the scale is 0, so the
/// block dequantizes to zeros.
#[test]
fn q8_k_and_q6_k_of_a_block_of_tiny_values() {
    let x: Vec<f32> = (0..QK_K).map(|i| (i as f32 - 128.0) * 1e-40).collect();
    let mut y = vec![
        BlockQ8K {
            d: 0.0,
            qs: [0; QK_K],
            bsums: [0; QK_K / 16]
        };
        1
    ];
    scalar::quantize_row_q8_k(&x, &mut y);
    assert_eq!(y[0].d, 0.0);
    let bytes = quantize_values("tiny", &x, QK_K, GgmlType::Q6K).expect("q6_K");
    let mut out = vec![1.0f32; QK_K];
    dequantize("tiny", GgmlType::Q6K, &bytes, &mut out).expect("dequantize");
    assert!(out.iter().all(|v| *v == 0.0), "{out:?}");
}

/// The `gguf` target's walk over a file that opened: every metadata value
/// (arrays element by element) and every tensor view.
fn walk_gguf(name: &str, file: &GgufFile) {
    fn visit(v: &Value<'_>) {
        let _ = (format!("{v:?}"), v.as_u64(), v.as_i64(), v.as_str());
        if let Some(a) = v.as_array() {
            assert_eq!(a.iter().inspect(visit).count(), a.len());
        }
    }
    for (_, v) in file.metadata() {
        visit(&v);
    }
    for t in file.tensors() {
        let _ = (t.row_len(), t.n_rows(), t.row_bytes(), t.n_elements());
        if t.data.len() <= 1 << 16 {
            match t.to_f32_vec() {
                Ok(v) => assert_eq!(v.len() as u64, t.n_elements(), "{name}: {}", t.name),
                Err(Error::UnsupportedTensorType { .. }) => {}
                Err(e) => panic!("{name}: {}: {e}", t.name),
            }
        }
    }
}

#[test]
fn gguf_inputs() {
    for (name, bytes) in inputs("gguf") {
        if let Ok(file) = GgufFile::from_bytes(bytes) {
            walk_gguf(&name, &file);
        }
    }
}

/// Found by `gguf`: a tensor of row length 0 whose other dimensions
/// multiply past 2^64 opened (0 elements), and `TensorView::n_rows`
/// overflowed. The reader now refuses a row count that overflows.
#[test]
fn a_zero_row_length_with_an_overflowing_row_count_is_refused() {
    let (_, bytes) = inputs("gguf")
        .into_iter()
        .find(|(n, _)| n == "zero-row-length-huge-row-count")
        .expect("the input is kept");
    match GgufFile::from_bytes(bytes) {
        Err(Error::BadTensor { reason, .. }) => assert!(reason.contains("row count"), "{reason}"),
        other => panic!("expected BadTensor, got {other:?}"),
    }
}

/// Found by `gguf` (second long run): a shape like [32, 2^62, 0] passed the
/// row-count check (the rows multiply to 0) while its element count,
/// multiplied in dimension order as `TensorView::n_elements` does,
/// overflows. The reader now checks both.
#[test]
fn an_element_count_overflowing_before_a_zero_dimension_is_refused() {
    let (_, bytes) = inputs("gguf")
        .into_iter()
        .find(|(n, _)| n == "element-count-overflows-before-a-zero-dimension")
        .expect("the input is kept");
    match GgufFile::from_bytes(bytes) {
        Err(Error::BadTensor { reason, .. }) => assert!(reason.contains("overflows"), "{reason}"),
        other => panic!("expected BadTensor, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Session memory limit (a model file must not make us allocate without bound)

fn tiny_model(tag: &str) -> Model {
    let path = std::env::temp_dir().join(format!(
        "edge-llama-fuzz-reg-{tag}-{}.gguf",
        std::process::id()
    ));
    SyntheticSpec::tiny(GgmlType::Q8_0)
        .write(&path)
        .expect("write model");
    let model = Model::open_with(
        &path,
        ModelOptions {
            threads: 1,
            ..Default::default()
        },
    )
    .expect("open");
    let _ = std::fs::remove_file(&path);
    model
}

#[test]
fn a_session_beyond_the_default_limit_is_a_typed_error() {
    let model = tiny_model("default-limit");
    // 2^28 positions of a 2-layer model with KV width 32 in f16: 64 GiB of
    // cache. Refused before anything is allocated.
    let kv = KvCacheConfig {
        capacity: 1 << 28,
        ..KvCacheConfig::default()
    };
    match model.new_session(SessionOptions { kv }) {
        Err(Error::TooLarge { needed, limit, .. }) => {
            assert_eq!(limit, edge_llama::kv_cache::DEFAULT_MAX_SESSION_BYTES);
            assert!(needed >= 64 << 30, "needed {needed}");
        }
        Err(e) => panic!("expected TooLarge, got {e}"),
        Ok(_) => panic!("a 64 GiB session was created"),
    }
}

#[test]
fn the_session_limit_is_configurable_and_covers_what_is_allocated() {
    let model = tiny_model("configured-limit");
    let kv = KvCacheConfig {
        capacity: 512,
        ..KvCacheConfig::default()
    };
    let needed = model.config().session_bytes(&kv).expect("no overflow");
    // The cache alone: 2 layers x (keys + values) x 512 x 32 x 2 bytes.
    let cache = 2 * 2 * 512 * 32 * 2;
    let session = model
        .new_session(SessionOptions { kv })
        .expect("fits the default");
    assert_eq!(session.kv_bytes(), cache);
    assert!(
        needed > cache as u64,
        "estimate {needed} must include scratch"
    );

    let tight = KvCacheConfig {
        max_session_bytes: needed - 1,
        ..kv
    };
    assert!(matches!(
        model.new_session(SessionOptions { kv: tight }),
        Err(Error::TooLarge { .. })
    ));
    let exact = KvCacheConfig {
        max_session_bytes: needed,
        ..kv
    };
    model
        .new_session(SessionOptions { kv: exact })
        .expect("exactly at the limit");
}

#[test]
fn restoring_a_session_respects_the_callers_limit() {
    let model = tiny_model("restore-limit");
    let kv = KvCacheConfig {
        capacity: 64,
        ..KvCacheConfig::default()
    };
    let mut session = model.new_session(SessionOptions { kv }).expect("session");
    session.eval(&[1, 5, 9]).expect("eval");
    let path =
        std::env::temp_dir().join(format!("edge-llama-fuzz-reg-{}.elss", std::process::id()));
    session.save(&path).expect("save");
    let needed = model.config().session_bytes(&kv).expect("no overflow");
    let refused = model.restore_session_with_limit(&path, needed - 1);
    let restored = model.restore_session_with_limit(&path, needed);
    let _ = std::fs::remove_file(&path);
    match refused {
        Err(Error::TooLarge {
            needed: n, limit, ..
        }) => assert!(n > limit),
        Err(e) => panic!("expected TooLarge, got {e}"),
        Ok(_) => panic!("restored past the limit"),
    }
    let restored = restored.expect("restored within the limit");
    assert_eq!(restored.position(), 3);
    assert_eq!(restored.kv_config().max_session_bytes, needed);
}
