//! Writes the seed corpus of every fuzz target into `<out>/<target>/`:
//! small models written by the project's own writer (`SyntheticSpec`), a
//! BPE variant, files exercising every metadata value type and tensor type,
//! a truncated file, text from the tokenizer fixtures, chat conversations
//! and f32 rows with special values. Every seed is small (< 100 KB), so
//! nothing binary is committed.

use std::fs;
use std::path::{Path, PathBuf};

use edge_llama::gguf::{GgufFile, GgufWriter, OwnedValue, ValueType};
use edge_llama::kernels::GgmlType;
use edge_llama::quantize::quantize_values;
use edge_llama::synthetic::SyntheticSpec;
use edge_llama::{KvCacheConfig, KvType, Model, ModelOptions, Result, SessionOptions};

fn main() {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/corpus".into()),
    );
    let fixtures = std::env::var_os("EDGE_LLAMA_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
        });
    if let Err(e) = run(&out, &fixtures) {
        eprintln!("seedgen: {e}");
        std::process::exit(1);
    }
}

struct Corpus {
    dir: PathBuf,
    n: usize,
}

impl Corpus {
    fn new(root: &Path, target: &str) -> std::io::Result<Corpus> {
        let dir = root.join(target);
        fs::create_dir_all(&dir)?;
        Ok(Corpus { dir, n: 0 })
    }

    fn add(&mut self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        self.n += 1;
        fs::write(self.dir.join(format!("seed-{:03}-{name}", self.n)), bytes)
    }
}

fn bytes_of(w: &GgufWriter<'_>) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    w.write(&mut v)?;
    Ok(v)
}

fn small(weight_type: GgmlType) -> SyntheticSpec {
    SyntheticSpec {
        dim: 32,
        n_layers: 1,
        n_heads: 2,
        n_kv_heads: 1,
        ffn_dim: 64,
        n_vocab: 260,
        weight_type,
        output_type: Some(weight_type),
        seed: 3,
    }
}

/// The model of the `session_state` fuzz target; must equal
/// `edge_llama_fuzz::session_model_spec` (fuzz/src/lib.rs).
fn session_model_spec() -> SyntheticSpec {
    SyntheticSpec {
        dim: 64,
        n_layers: 1,
        n_heads: 2,
        n_kv_heads: 1,
        ffn_dim: 64,
        n_vocab: 260,
        weight_type: GgmlType::Q8_0,
        output_type: Some(GgmlType::Q8_0),
        seed: 11,
    }
}

/// GPT-2's byte-to-character map (printable Latin-1 bytes stand for
/// themselves, the other 68 map to U+0100.. in byte order).
fn gpt2_byte_chars() -> Vec<String> {
    let printable = |b: u32| (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || b >= 0xae;
    let mut next = 256;
    (0..256u32)
        .map(|b| {
            let c = if printable(b) {
                b
            } else {
                next += 1;
                next - 1
            };
            char::from_u32(c).map(String::from).unwrap_or_default()
        })
        .collect()
}

/// The small Q8_0 model with a byte-level BPE vocabulary of 260 tokens.
fn bpe_model() -> Result<Vec<u8>> {
    let mut w = small(GgmlType::Q8_0).build()?;
    let mut tokens = vec![
        "<|endoftext|>".to_string(),
        "<|im_start|>".into(),
        "<|im_end|>".into(),
    ];
    tokens.extend(gpt2_byte_chars());
    tokens.push("Ġt".into());
    let mut types = vec![3; 3];
    types.resize(tokens.len(), 1);
    w.set_metadata("tokenizer.ggml.model", OwnedValue::from("gpt2"));
    w.set_metadata("tokenizer.ggml.pre", OwnedValue::from("smollm"));
    w.set_metadata("tokenizer.ggml.tokens", OwnedValue::string_array(tokens));
    w.set_metadata("tokenizer.ggml.token_type", OwnedValue::i32_array(types));
    w.set_metadata("tokenizer.ggml.merges", OwnedValue::string_array(["Ġ t"]));
    w.remove_metadata("tokenizer.ggml.scores");
    w.set_metadata(
        "tokenizer.chat_template",
        OwnedValue::from("<|im_start|>{{ role }}"),
    );
    bytes_of(&w)
}

/// One metadata entry of every value type, nested arrays included, and one
/// tensor of each type the quantizer writes.
fn every_type() -> Result<Vec<u8>> {
    let mut w = GgufWriter::new();
    w.add_metadata("u8", OwnedValue::U8(7))?;
    w.add_metadata("i8", OwnedValue::I8(-7))?;
    w.add_metadata("u16", OwnedValue::U16(700))?;
    w.add_metadata("i16", OwnedValue::I16(-700))?;
    w.add_metadata("u32", OwnedValue::U32(70_000))?;
    w.add_metadata("i32", OwnedValue::I32(-70_000))?;
    w.add_metadata("u64", OwnedValue::U64(7 << 40))?;
    w.add_metadata("i64", OwnedValue::I64(-7 << 40))?;
    w.add_metadata("f32", OwnedValue::F32(0.5))?;
    w.add_metadata("f64", OwnedValue::F64(-0.25))?;
    w.add_metadata("bool", OwnedValue::Bool(true))?;
    w.add_metadata("string", OwnedValue::from("héllo"))?;
    w.add_metadata("floats", OwnedValue::f32_array([1.0, f32::NAN, -0.0]))?;
    w.add_metadata(
        "nested",
        OwnedValue::Array(
            ValueType::Array,
            vec![
                OwnedValue::string_array(["a", "bc"]),
                OwnedValue::i32_array([1, -2, 3]),
            ],
        ),
    )?;
    let values: Vec<f32> = (0..512)
        .map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0)
        .collect();
    for (name, t) in [
        ("f32", GgmlType::F32),
        ("f16", GgmlType::F16),
        ("bf16", GgmlType::BF16),
        ("q4_0", GgmlType::Q4_0),
        ("q4_1", GgmlType::Q4_1),
        ("q8_0", GgmlType::Q8_0),
        ("q6_k", GgmlType::Q6K),
    ] {
        let bytes = quantize_values(name, &values, 256, t)?;
        w.add_tensor(name, t, &[256, 2], bytes)?;
    }
    bytes_of(&w)
}

/// The first `n` tokens of a tokenizer fixture's metadata, no tensors.
fn vocab_head(path: &Path, n: usize) -> Result<Option<Vec<u8>>> {
    let Ok(file) = GgufFile::open(path) else {
        eprintln!("seedgen: {} unavailable, skipped", path.display());
        return Ok(None);
    };
    let mut w = GgufWriter::new();
    for (key, value) in file.metadata() {
        let v = match value.as_array() {
            Some(a) if a.len() > n => OwnedValue::Array(
                a.elem_type(),
                a.iter().take(n).map(|e| e.to_owned_value()).collect(),
            ),
            _ => value.to_owned_value(),
        };
        if key == "tokenizer.chat_template" {
            continue;
        }
        w.add_metadata(key, v)?;
    }
    bytes_of(&w).map(Some)
}

fn texts(fixtures: &Path) -> Vec<String> {
    let mut out: Vec<String> = [
        "Hello world",
        " Hello World!",
        "  leading spaces and trailing  ",
        "tabs\tand\nnew\nlines\r\n",
        "日本語のテキスト and emoji 😀🦀",
        "<s> [INST] <<SYS>> not special </s>",
        "<|im_start|>user\nhi<|im_end|>",
        "numbers 1234567890 3.14159 -42",
        "\u{0}\u{1f}\u{7f}\u{80}\u{ffff}",
        "▁ lower one eighth block",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Ok(inp) = fs::read_to_string(fixtures.join("ggml-vocab-llama-spm.gguf.inp")) {
        out.extend(inp.split("\n__ggml_vocab_test__\n").map(str::to_string));
    }
    out
}

fn write_message(out: &mut Vec<u8>, role: u8, text: &str) {
    let b = text.as_bytes();
    let n = b.len().min(255);
    out.push(role);
    out.push(n as u8);
    out.extend_from_slice(&b[..n]);
}

fn f32_bytes(x: impl IntoIterator<Item = f32>) -> Vec<u8> {
    x.into_iter().flat_map(f32::to_le_bytes).collect()
}

fn run(out: &Path, fixtures: &Path) -> Result<()> {
    let io = |e: std::io::Error| edge_llama::Error::Io {
        path: out.to_path_buf(),
        source: e,
    };

    // Models: both GGUF targets start from them.
    let mut models: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, t) in [
        ("f32", GgmlType::F32),
        ("f16", GgmlType::F16),
        ("q4_0", GgmlType::Q4_0),
        ("q4_1", GgmlType::Q4_1),
        ("q8_0", GgmlType::Q8_0),
    ] {
        models.push((format!("model-{name}.gguf"), bytes_of(&small(t).build()?)?));
    }
    let tied = SyntheticSpec {
        output_type: None,
        ..small(GgmlType::Q4_0)
    };
    models.push(("model-q4_0-tied.gguf".into(), bytes_of(&tied.build()?)?));
    let mut aligned = small(GgmlType::Q8_0).build()?;
    aligned.set_alignment(64)?;
    models.push(("model-q8_0-align64.gguf".into(), bytes_of(&aligned)?));
    models.push(("model-bpe-q8_0.gguf".into(), bpe_model()?));

    let mut gguf = Corpus::new(out, "gguf").map_err(io)?;
    let mut model_open = Corpus::new(out, "model_open").map_err(io)?;
    for (name, bytes) in &models {
        gguf.add(name, bytes).map_err(io)?;
        model_open.add(name, bytes).map_err(io)?;
    }
    // A file whose last tensor's data is cut short.
    let (_, q8) = &models[4];
    model_open
        .add("model-q8_0-truncated.gguf", &q8[..q8.len() - 100])
        .map_err(io)?;
    gguf.add("model-q8_0-truncated.gguf", &q8[..q8.len() - 100])
        .map_err(io)?;
    gguf.add("every-type.gguf", &every_type()?).map_err(io)?;
    if let Some(v) = vocab_head(&fixtures.join("ggml-vocab-llama-spm.gguf"), 300)? {
        gguf.add("vocab-llama-spm-300.gguf", &v).map_err(io)?;
    }

    // Tokenizers: text (mode 0, 2 = with BOS) and ids (mode 1, 3 = wrapped).
    let texts = texts(fixtures);
    for target in ["tokenizer_spm", "tokenizer_bpe"] {
        let mut c = Corpus::new(out, target).map_err(io)?;
        for (i, t) in texts.iter().enumerate() {
            let mut b = vec![if i % 2 == 0 { 0 } else { 2 }];
            b.extend_from_slice(t.as_bytes());
            c.add("text", &b).map_err(io)?;
        }
        let ids: Vec<u32> = vec![
            1,
            15043,
            3186,
            29871,
            13,
            0,
            2,
            259,
            31999,
            32000,
            49151,
            49152,
            u32::MAX,
        ];
        for mode in [1u8, 3] {
            let mut b = vec![mode];
            b.extend(ids.iter().flat_map(|i| i.to_le_bytes()));
            c.add("ids", &b).map_err(io)?;
        }
    }

    // Chat: role byte (0 system, 1 user, 2 assistant), length, content.
    let mut chat = Corpus::new(out, "chat").map_err(io)?;
    let convs: [&[(u8, &str)]; 5] = [
        &[(1, "Hello!")],
        &[
            (0, "You are terse."),
            (1, "Hi"),
            (2, "Hello."),
            (1, "What is 2+2?"),
        ],
        &[(1, "  spaced  "), (2, "")],
        &[(2, "assistant first")],
        &[(0, "sys"), (0, "two systems"), (1, "<s>[INST]<|im_start|>")],
    ];
    for conv in convs {
        let mut b = Vec::new();
        for &(role, text) in conv {
            write_message(&mut b, role, text);
        }
        chat.add("conversation", &b).map_err(io)?;
    }

    // Quantizers: ordinary rows, rows with special values, extreme scales.
    let mut quant = Corpus::new(out, "quantize_roundtrip").map_err(io)?;
    let wave = |scale: f32| (0..256).map(move |i| ((i * 37 % 101) as f32 - 50.0) / 50.0 * scale);
    quant.add("normal", &f32_bytes(wave(1.0))).map_err(io)?;
    quant.add("large", &f32_bytes(wave(65504.0))).map_err(io)?;
    quant.add("tiny", &f32_bytes(wave(1e-38))).map_err(io)?;
    let specials = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MIN_POSITIVE / 4.0,
        -f32::MIN_POSITIVE,
        f32::MAX,
        65520.0,
        -0.0,
    ];
    quant
        .add(
            "specials",
            &f32_bytes(specials.iter().copied().cycle().take(256)),
        )
        .map_err(io)?;
    quant
        .add("zeros", &f32_bytes(std::iter::repeat_n(0.0, 256)))
        .map_err(io)?;
    // Saved sessions of the session_state target's model (flag byte 1:
    // the target recomputes the checksum, so mutations get past it).
    let mut sessions = Corpus::new(out, "session_state").map_err(io)?;
    let mut spec_bytes = Vec::new();
    session_model_spec().build()?.write(&mut spec_bytes)?;
    let model = Model::from_gguf(
        GgufFile::from_bytes(spec_bytes)?,
        ModelOptions {
            threads: 1,
            ..Default::default()
        },
    )?;
    let tmp = std::env::temp_dir().join(format!("edge-llama-seedgen-{}.elss", std::process::id()));
    for (name, capacity, dtype, n_tokens, truncate_to) in [
        ("f32-5", 16, KvType::F32, 5, None),
        ("f16-wrapped-12", 8, KvType::F16, 12, None),
        ("q8_0-3", 8, KvType::Q8_0, 3, None),
        ("f16-truncated-no-logits", 16, KvType::F16, 6, Some(4)),
        ("f32-empty", 4, KvType::F32, 0, None),
    ] {
        let kv = KvCacheConfig {
            capacity,
            n_sink: 2,
            dtype,
            ..KvCacheConfig::default()
        };
        let mut session = model.new_session(SessionOptions { kv })?;
        let tokens: Vec<u32> = (0..n_tokens).map(|i| 3 + (i * 37) % 250).collect();
        if !tokens.is_empty() {
            session.eval(&tokens)?;
        }
        if let Some(n) = truncate_to {
            session.truncate(n)?;
        }
        session.save(&tmp)?;
        let mut b = vec![1u8];
        b.extend(fs::read(&tmp).map_err(io)?);
        sessions.add(name, &b).map_err(io)?;
    }
    let _ = fs::remove_file(&tmp);

    eprintln!(
        "seedgen: wrote seeds to {} (gguf {}, model_open {}, chat {}, quantize {}, sessions {})",
        out.display(),
        gguf.n,
        model_open.n,
        chat.n,
        quant.n,
        sessions.n
    );
    Ok(())
}
