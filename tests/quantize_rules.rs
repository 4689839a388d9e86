//! The mix rules (which tensor gets which type) against the choices
//! llama.cpp made in the reference fixtures: a table written from
//! `kquants/*.ref.json` (tiny-gqa: 2 layers, 4 heads / 2 kv heads, dim 256,
//! ffn 768, vocabulary 32000) and from the SmolLM2 requantizations'
//! tensor-type counts (`smollm2/*.ref.json`: 30 layers, 9 / 3 heads, dim 576,
//! ffn 1536, tied embedding, 576-wide rows fall back), then the same
//! comparison against the fixture files themselves when they are present.

mod common;

use edge_llama::gguf::GgufFile;
use edge_llama::kernels::GgmlType;
use edge_llama::quantize::mix::{fallback, llama_cpp_order, use_more_bits};
use edge_llama::quantize::{choose_types, plan, MixModel, QuantTarget, QuantizeOptions};
use edge_llama::Error;
use std::collections::BTreeMap;

use GgmlType as G;
use QuantTarget as T;

fn model(n_layer: u32, n_head: u32, n_head_kv: u32) -> MixModel {
    MixModel {
        n_layer: Some(n_layer),
        n_head,
        n_head_kv,
        n_expert: 0,
        falcon: false,
        llama_70b: false,
    }
}

/// The tensors of a Llama file with `n_layer` layers, in the order llama.cpp's
/// converter writes them (not sorted), `tied` without `output.weight`.
fn llama_tensors(
    n_layer: usize,
    dim: u64,
    kv_dim: u64,
    ffn: u64,
    vocab: u64,
    tied: bool,
) -> Vec<(String, Vec<u64>)> {
    let mut t = vec![("token_embd.weight".to_string(), vec![dim, vocab])];
    for i in 0..n_layer {
        let p = |s: &str| format!("blk.{i}.{s}");
        t.push((p("attn_norm.weight"), vec![dim]));
        t.push((p("attn_q.weight"), vec![dim, dim]));
        t.push((p("attn_k.weight"), vec![dim, kv_dim]));
        t.push((p("attn_v.weight"), vec![dim, kv_dim]));
        t.push((p("attn_output.weight"), vec![dim, dim]));
        t.push((p("ffn_norm.weight"), vec![dim]));
        t.push((p("ffn_gate.weight"), vec![dim, ffn]));
        t.push((p("ffn_up.weight"), vec![dim, ffn]));
        t.push((p("ffn_down.weight"), vec![ffn, dim]));
    }
    t.push(("output_norm.weight".to_string(), vec![dim]));
    if !tied {
        t.push(("output.weight".to_string(), vec![dim, vocab]));
    }
    t
}

/// The types `target` gives the tensors (every 2-D one of type `input`,
/// norms F32), by name.
fn choose(
    target: QuantTarget,
    m: MixModel,
    tensors: &[(String, Vec<u64>)],
    input: GgmlType,
    embd: GgmlType,
) -> BTreeMap<String, GgmlType> {
    let list: Vec<(&str, &[u64], GgmlType)> = tensors
        .iter()
        .map(|(n, s)| {
            let ty = if s.len() == 1 {
                G::F32
            } else if n == "token_embd.weight" {
                embd
            } else {
                input
            };
            (n.as_str(), s.as_slice(), ty)
        })
        .collect();
    let types = choose_types(target, false, m, &list).expect("types");
    tensors.iter().map(|(n, _)| n.clone()).zip(types).collect()
}

fn tiny_gqa(target: QuantTarget) -> BTreeMap<String, GgmlType> {
    choose(
        target,
        model(2, 4, 2),
        &llama_tensors(2, 256, 128, 768, 32000, false),
        G::F16,
        G::F16,
    )
}

/// Per mix, the types of tiny-gqa's 2-D weights in llama.cpp's fixture
/// (`kquants/tiny-gqa-MIX.ref.json`, `tensor_types`): (token_embd, output,
/// then per layer 0 and 1: attn_q, attn_k, attn_v, attn_output, ffn_gate,
/// ffn_up, ffn_down).
/// One mix's expected types: (mix, [token_embd, output], per-layer rows).
type TableRow = (QuantTarget, [GgmlType; 2], [[GgmlType; 7]; 2]);

#[rustfmt::skip]
const TINY_GQA_TABLE: &[TableRow] = &[
    (T::Q4KM, [G::Q4K, G::Q6K], [
        [G::Q4K, G::Q4K, G::Q4K, G::Q4K, G::Q4K, G::Q4K, G::Q4K],
        [G::Q4K, G::Q4K, G::Q6K, G::Q4K, G::Q4K, G::Q4K, G::Q6K]]),
    (T::Q5KM, [G::Q5K, G::Q6K], [
        [G::Q5K, G::Q5K, G::Q5K, G::Q5K, G::Q5K, G::Q5K, G::Q5K],
        [G::Q5K, G::Q5K, G::Q6K, G::Q5K, G::Q5K, G::Q5K, G::Q6K]]),
    (T::Q3KM, [G::Q3K, G::Q6K], [
        [G::Q3K, G::Q3K, G::Q5K, G::Q4K, G::Q3K, G::Q3K, G::Q4K],
        [G::Q3K, G::Q3K, G::Q5K, G::Q4K, G::Q3K, G::Q3K, G::Q4K]]),
    (T::Q2K, [G::Q2K, G::Q6K], [
        [G::Q2K, G::Q2K, G::Q3K, G::Q3K, G::Q2K, G::Q2K, G::Q3K],
        [G::Q2K, G::Q2K, G::Q3K, G::Q3K, G::Q2K, G::Q2K, G::Q3K]]),
    (T::Q5_0, [G::Q5_0, G::Q6K], [[G::Q5_0; 7], [G::Q5_0; 7]]),
    (T::Q5_1, [G::Q5_1, G::Q6K], [[G::Q5_1; 7], [G::Q5_1; 7]]),
    (T::IQ4NL, [G::IQ4NL, G::Q6K], [[G::IQ4NL; 7], [G::IQ4NL; 7]]),
    // Earlier fixtures (tiny-gqa-q4_0.gguf, tiny-gqa-q8_0.gguf).
    (T::Q4_0, [G::Q4_0, G::Q6K], [[G::Q4_0; 7], [G::Q4_0; 7]]),
    (T::Q8_0, [G::Q8_0, G::Q8_0], [[G::Q8_0; 7], [G::Q8_0; 7]]),
];

const LAYER_TENSORS: [&str; 7] = [
    "attn_q",
    "attn_k",
    "attn_v",
    "attn_output",
    "ffn_gate",
    "ffn_up",
    "ffn_down",
];

#[test]
fn tiny_gqa_types_match_llama_cpp_table() {
    for &(target, [embd, out], layers) in TINY_GQA_TABLE {
        let got = tiny_gqa(target);
        let mut want = BTreeMap::new();
        want.insert("token_embd.weight".to_string(), embd);
        want.insert("output.weight".to_string(), out);
        want.insert("output_norm.weight".to_string(), G::F32);
        for (i, row) in layers.iter().enumerate() {
            for (name, ty) in LAYER_TENSORS.iter().zip(row) {
                want.insert(format!("blk.{i}.{name}.weight"), *ty);
            }
            want.insert(format!("blk.{i}.attn_norm.weight"), G::F32);
            want.insert(format!("blk.{i}.ffn_norm.weight"), G::F32);
        }
        assert_eq!(got, want, "{target}");
    }
}

/// Counts of each type, as in the ref.json `type_counts`.
fn counts(types: &BTreeMap<String, GgmlType>) -> BTreeMap<String, usize> {
    let mut c = BTreeMap::new();
    for ty in types.values() {
        *c.entry(ty.name().to_ascii_uppercase()).or_insert(0) += 1;
    }
    c
}

fn smollm2_shapes(target: QuantTarget) -> BTreeMap<String, GgmlType> {
    // 576 / 9 heads = 64 per head; kv 3 heads = 192.
    choose(
        target,
        model(30, 9, 3),
        &llama_tensors(30, 576, 192, 1536, 49152, true),
        G::Q4_1,
        G::Q8_0,
    )
}

#[test]
fn smollm2_type_counts_match_llama_cpp() {
    // `smollm2/smollm2-q4_k_m.ref.json` and `smollm2-q3_k_m.ref.json`.
    let expect = |pairs: &[(&str, usize)]| -> BTreeMap<String, usize> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    };
    assert_eq!(
        counts(&smollm2_shapes(T::Q4KM)),
        expect(&[
            ("F32", 61),
            ("Q4_K", 16),
            ("Q5_0", 166),
            ("Q6_K", 14),
            ("Q8_0", 15)
        ])
    );
    assert_eq!(
        counts(&smollm2_shapes(T::Q3KM)),
        expect(&[
            ("F32", 61),
            ("Q4_0", 120),
            ("Q4_K", 29),
            ("Q5_0", 58),
            ("Q5_1", 2),
            ("Q5_K", 1),
            ("Q8_0", 1)
        ])
    );
    // Where they come from: the tied head keeps 576-wide rows → Q8_0; Q4_K_M
    // gives layer 5's attn_v Q6_K (→ Q8_0) and its ffn_down (1536 wide) Q6_K.
    let q4km = smollm2_shapes(T::Q4KM);
    assert_eq!(q4km["token_embd.weight"], G::Q8_0);
    assert_eq!(q4km["blk.5.attn_v.weight"], G::Q8_0);
    assert_eq!(q4km["blk.5.ffn_down.weight"], G::Q6K);
    assert_eq!(q4km["blk.4.attn_v.weight"], G::Q5_0);
    assert_eq!(q4km["blk.4.ffn_down.weight"], G::Q4K);
    // Q3_K_M: the first two attn_v are Q5_K (→ Q5_1), layer 0's ffn_down Q5_K.
    let q3km = smollm2_shapes(T::Q3KM);
    assert_eq!(q3km["blk.1.attn_v.weight"], G::Q5_1);
    assert_eq!(q3km["blk.2.attn_v.weight"], G::Q5_0);
    assert_eq!(q3km["blk.0.ffn_down.weight"], G::Q5K);
    assert_eq!(q3km["blk.1.ffn_down.weight"], G::Q4K);
}

#[test]
fn other_mixes_follow_llama_cpp_rules() {
    // No fixture for these: the expected types are read off llama.cpp's
    // llama_tensor_get_type by hand, on SmolLM2's shapes (30 layers, gqa 3).
    let q4ks = smollm2_shapes(T::Q4KS);
    // attn_v: Q5_K for the first 4 (→ Q5_1 at 576 wide), then Q4_K (→ Q5_0).
    assert_eq!(q4ks["blk.3.attn_v.weight"], G::Q5_1);
    assert_eq!(q4ks["blk.4.attn_v.weight"], G::Q5_0);
    // ffn_down: Q5_K for layers < 30/8 = 3.
    assert_eq!(q4ks["blk.2.ffn_down.weight"], G::Q5K);
    assert_eq!(q4ks["blk.3.ffn_down.weight"], G::Q4K);
    let q3kl = smollm2_shapes(T::Q3KL);
    assert_eq!(q3kl["blk.7.ffn_down.weight"], G::Q5K);
    assert_eq!(q3kl["blk.7.attn_output.weight"], G::Q5_1);
    assert_eq!(q3kl["blk.7.attn_q.weight"], G::Q4_0);
    let q3ks = smollm2_shapes(T::Q3KS);
    assert_eq!(q3ks["blk.7.ffn_down.weight"], G::Q3K);
    assert_eq!(q3ks["blk.0.attn_v.weight"], G::Q4_0);
    let q6k = smollm2_shapes(T::Q6K);
    assert_eq!(q6k["blk.0.ffn_down.weight"], G::Q6K);
    assert_eq!(q6k["blk.0.attn_q.weight"], G::Q8_0);
    assert_eq!(q6k["token_embd.weight"], G::Q8_0);
    let q5ks = smollm2_shapes(T::Q5KS);
    assert_eq!(q5ks["blk.5.ffn_down.weight"], G::Q5K);
    assert_eq!(q5ks["blk.5.attn_v.weight"], G::Q5_1);
    // Q2_K with 4 or more query heads per kv head: attn_v Q4_K.
    let gqa4 = choose(
        T::Q2K,
        model(2, 8, 2),
        &llama_tensors(2, 256, 64, 768, 1000, false),
        G::F32,
        G::F32,
    );
    assert_eq!(gqa4["blk.0.attn_v.weight"], G::Q4K);
    // IQ4_NL: attn_v Q5_K with 4 or more query heads per kv head, and
    // ffn_down Q5_K in the first eighth of the layers (16 layers: 0 and 1).
    let iq4 = choose(
        T::IQ4NL,
        model(16, 8, 2),
        &llama_tensors(16, 256, 64, 768, 1000, false),
        G::F32,
        G::F32,
    );
    assert_eq!(iq4["blk.3.attn_v.weight"], G::Q5K);
    assert_eq!(iq4["blk.1.ffn_down.weight"], G::Q5K);
    assert_eq!(iq4["blk.2.ffn_down.weight"], G::IQ4NL);
    assert_eq!(iq4["blk.2.attn_q.weight"], G::IQ4NL);
    // A 70B-shaped Llama: Q4_K attn_v becomes Q5_K.
    let m70 = MixModel {
        llama_70b: true,
        ..model(80, 64, 8)
    };
    let big = choose(
        T::Q4KS,
        m70,
        &llama_tensors(80, 256, 256, 256, 1000, false),
        G::F32,
        G::F32,
    );
    assert_eq!(big["blk.10.attn_v.weight"], G::Q5K);
    assert_eq!(big["blk.10.attn_q.weight"], G::Q4K);
}

#[test]
fn layer_position_rule() {
    // use_more_bits(i, n): i < n/8, i >= 7n/8, or (i - n/8) % 3 == 2.
    let more: Vec<i64> = (0..30).filter(|&i| use_more_bits(i, 30)).collect();
    assert_eq!(more, [0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 26, 27, 28, 29]);
    let more: Vec<i64> = (0..2).filter(|&i| use_more_bits(i, 2)).collect();
    assert_eq!(more, [1]);
    let more: Vec<i64> = (0..32).filter(|&i| use_more_bits(i, 32)).collect();
    assert_eq!(
        more,
        [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]
    );
}

#[test]
fn fallback_types() {
    let f = |ty, n| fallback("t", ty, n).unwrap();
    assert_eq!(f(G::Q2K, 576), G::Q4_0);
    assert_eq!(f(G::Q3K, 576), G::Q4_0);
    assert_eq!(f(G::Q4K, 576), G::Q5_0);
    assert_eq!(f(G::Q5K, 576), G::Q5_1);
    assert_eq!(f(G::Q6K, 576), G::Q8_0);
    assert_eq!(f(G::Q4K, 512), G::Q4K);
    assert_eq!(f(G::Q6K, 48), G::F16);
    assert!(matches!(
        fallback("t", G::Q4_0, 48),
        Err(Error::BadTensor { .. })
    ));
}

#[test]
fn llama_cpp_tensor_order() {
    let names = [
        "token_embd.weight",
        "blk.10.attn_q.weight",
        "blk.2.ffn_up.weight",
        "blk.2.attn_norm.weight",
        "output.weight",
        "blk.1.attn_v.weight",
        "output_norm.weight",
    ];
    let order: Vec<&str> = llama_cpp_order(&names)
        .into_iter()
        .map(|i| names[i])
        .collect();
    assert_eq!(
        order,
        [
            "output.weight",
            "output_norm.weight",
            "token_embd.weight",
            "blk.1.attn_v.weight",
            "blk.2.attn_norm.weight",
            "blk.2.ffn_up.weight",
            "blk.10.attn_q.weight",
        ]
    );
}

#[test]
fn file_type_numbers_and_names() {
    // llama_cpp_ftype of each kquants fixture, and llama.cpp's LLAMA_FTYPE_*.
    let want = [
        (T::F32, 0),
        (T::F16, 1),
        (T::Q4_0, 2),
        (T::Q4_1, 3),
        (T::Q8_0, 7),
        (T::Q5_0, 8),
        (T::Q5_1, 9),
        (T::Q2K, 10),
        (T::Q3KS, 11),
        (T::Q3KM, 12),
        (T::Q3KL, 13),
        (T::Q4KS, 14),
        (T::Q4KM, 15),
        (T::Q5KS, 16),
        (T::Q5KM, 17),
        (T::Q6K, 18),
        (T::IQ4NL, 25),
    ];
    for (t, n) in want {
        assert_eq!(t.file_type(), n, "{t}");
        assert_eq!(t.name().parse::<QuantTarget>().unwrap(), t);
        assert_eq!(t.name().to_uppercase().parse::<QuantTarget>().unwrap(), t);
    }
    assert_eq!(want.len(), QuantTarget::ALL.len());
    assert_eq!("q4_k".parse::<QuantTarget>().unwrap(), T::Q4KM);
    assert!(matches!(
        "q4_k_x".parse::<QuantTarget>(),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn missing_layer_count_is_an_error_for_k_mixes() {
    let tensors = llama_tensors(2, 256, 128, 768, 1000, false);
    let list: Vec<(&str, &[u64], GgmlType)> = tensors
        .iter()
        .map(|(n, s)| (n.as_str(), s.as_slice(), G::F32))
        .collect();
    let m = MixModel {
        n_layer: None,
        ..model(2, 4, 2)
    };
    assert!(matches!(
        choose_types(T::Q4KM, false, m.clone(), &list),
        Err(Error::BadConfig(_))
    ));
    // Q4_0's rules do not use it; pure mode uses no rules.
    assert!(choose_types(T::Q4_0, false, m.clone(), &list).is_ok());
    assert!(choose_types(T::Q4KM, true, m, &list).is_ok());
}

// ---------------------------------------------------------------------------
// Against the fixture files.
// ---------------------------------------------------------------------------

const KQUANT_FIXTURES: [(QuantTarget, &str); 7] = [
    (T::Q4KM, "q4_k_m"),
    (T::Q5KM, "q5_k_m"),
    (T::Q3KM, "q3_k_m"),
    (T::Q2K, "q2_k"),
    (T::Q5_0, "q5_0"),
    (T::Q5_1, "q5_1"),
    (T::IQ4NL, "iq4_nl"),
];

#[test]
fn plan_of_tiny_gqa_equals_llama_cpp_files() {
    let Some(dir) = common::fixtures() else {
        return;
    };
    let input = GgufFile::open(dir.join("tiny-gqa-f16.gguf")).expect("f16 fixture");
    for (target, tag) in KQUANT_FIXTURES {
        let theirs = GgufFile::open(dir.join(format!("kquants/tiny-gqa-{tag}.gguf")))
            .expect("kquants fixture");
        let opts = QuantizeOptions {
            target,
            ..QuantizeOptions::default()
        };
        let ours: Vec<(String, GgmlType)> = plan(&input, &opts)
            .expect("plan")
            .into_iter()
            .map(|p| (p.name, p.to))
            .collect();
        // Same tensors, same types, same order as llama.cpp's file.
        let want: Vec<(String, GgmlType)> = theirs
            .tensors()
            .map(|t| (t.name.to_string(), t.dtype))
            .collect();
        assert_eq!(ours, want, "{tag}");
        let json = common::read_json(&dir.join(format!("kquants/tiny-gqa-{tag}.ref.json")));
        assert_eq!(
            u64::from(target.file_type()),
            json["llama_cpp_ftype"].as_u64().unwrap(),
            "{tag}"
        );
    }
}

#[test]
fn plan_of_smollm2_requantization_equals_llama_cpp_counts() {
    let Some(dir) = common::fixtures() else {
        return;
    };
    let Some(path) = common::smollm2_model() else {
        return;
    };
    let input = GgufFile::open(path).expect("SmolLM2");
    for (target, tag) in [(T::Q4KM, "q4_k_m"), (T::Q3KM, "q3_k_m")] {
        let opts = QuantizeOptions {
            target,
            allow_requantize: true,
            ..QuantizeOptions::default()
        };
        let mut ours = BTreeMap::new();
        for p in plan(&input, &opts).expect("plan") {
            *ours.entry(p.to.name().to_ascii_uppercase()).or_insert(0u64) += 1;
        }
        let json = common::read_json(&dir.join(format!("smollm2/smollm2-{tag}.ref.json")));
        let want: BTreeMap<String, u64> = json["type_counts"]
            .as_object()
            .expect("type_counts")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
            .collect();
        assert_eq!(ours, want, "{tag}");
    }
}
