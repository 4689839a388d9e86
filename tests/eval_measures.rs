//! KL divergence, top-1 agreement, |Δp| and perplexity of `compare_models`
//! against an independent f64 computation in this file, on two different
//! models (a synthetic F32 model as baseline and the same weights in Q4_0).
//! Swapping the two models must not pass the same check.

use edge_llama::eval::{compare_models, perplexity, Comparison, Windows};
use edge_llama::kernels::GgmlType;
use edge_llama::synthetic::SyntheticSpec;
use edge_llama::{Model, ModelOptions, SessionOptions};

fn model(t: GgmlType) -> Model {
    let spec = SyntheticSpec::tiny(t);
    let path = std::env::temp_dir().join(format!(
        "edge-llama-measures-{t}-{}.gguf",
        std::process::id()
    ));
    spec.write(&path).expect("write");
    let m = Model::open_with(
        &path,
        ModelOptions {
            threads: 1,
            ..Default::default()
        },
    )
    .expect("open");
    let _ = std::fs::remove_file(&path);
    m
}

/// Log-softmax in f64.
fn log_probs(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().map(|&v| v as f64).fold(f64::MIN, f64::max);
    let lse = max
        + logits
            .iter()
            .map(|&v| (v as f64 - max).exp())
            .sum::<f64>()
            .ln();
    logits.iter().map(|&v| v as f64 - lse).collect()
}

fn argmax(x: &[f64]) -> usize {
    (0..x.len()).fold(0, |b, i| if x[i] > x[b] { i } else { b })
}

/// The figures computed here: mean/max KL(baseline ‖ model), top-1
/// agreement, max |Δp| at the baseline's top token, and the model's mean
/// negative log-likelihood of the next token.
#[derive(Debug)]
struct Hand {
    kld_mean: f64,
    kld_max: f64,
    kld_median: f64,
    top1: f64,
    max_abs_dp: f64,
    nll: f64,
    n: usize,
}

/// Every window from a fresh session with BOS first, scored positions
/// ctx/2 ..= ctx−2 predicting the next token of the text.
fn by_hand(model: &Model, baseline: &Model, tokens: &[u32], ctx: usize) -> Hand {
    let n_vocab = model.config().n_vocab;
    let (mut klds, mut top1, mut max_dp, mut nll) = (Vec::new(), 0, 0.0f64, 0.0);
    for c in 0..tokens.len() / ctx {
        let mut window = tokens[c * ctx..(c + 1) * ctx].to_vec();
        window[0] = 1;
        let run = |m: &Model| {
            let mut s = m.new_session(SessionOptions::default()).expect("session");
            s.eval_all(&window).expect("eval")
        };
        let (lm, lb) = (run(model), run(baseline));
        for j in ctx / 2..ctx - 1 {
            let q = log_probs(&lm[j * n_vocab..(j + 1) * n_vocab]);
            let p = log_probs(&lb[j * n_vocab..(j + 1) * n_vocab]);
            klds.push(
                p.iter()
                    .zip(&q)
                    .map(|(a, b)| a.exp() * (a - b))
                    .sum::<f64>(),
            );
            let top = argmax(&p);
            top1 += usize::from(argmax(&q) == top);
            max_dp = max_dp.max((q[top].exp() - p[top].exp()).abs());
            nll -= q[tokens[c * ctx + j + 1] as usize];
        }
    }
    let n = klds.len();
    let mut sorted = klds.clone();
    sorted.sort_by(f64::total_cmp);
    let mid = (n - 1) as f64 / 2.0;
    let kld_median = (sorted[mid.floor() as usize] + sorted[mid.ceil() as usize]) / 2.0;
    Hand {
        kld_mean: klds.iter().sum::<f64>() / n as f64,
        kld_max: klds.iter().cloned().fold(0.0, f64::max),
        kld_median,
        top1: top1 as f64 / n as f64,
        max_abs_dp: max_dp,
        nll: nll / n as f64,
        n,
    }
}

/// Whether `c` agrees with the hand figures (relative 1e-5: the library
/// stores log-probs as f32 and evaluates a window in two batches).
fn agrees(c: &Comparison, h: &Hand) -> Result<(), String> {
    let close = |a: f64, b: f64, what: &str| {
        if (a - b).abs() <= 1e-5 * b.abs().max(1e-3) {
            Ok(())
        } else {
            Err(format!("{what}: library {a}, by hand {b}"))
        }
    };
    close(c.kld.mean, h.kld_mean, "mean KLD")?;
    close(c.kld.max, h.kld_max, "max KLD")?;
    close(c.kld.median, h.kld_median, "median KLD")?;
    close(c.max_abs_dp, h.max_abs_dp, "max |Δp|")?;
    close(c.perplexity.nll, h.nll, "mean NLL")?;
    close(c.perplexity.ppl, h.nll.exp(), "perplexity")?;
    if c.top1 != h.top1 || c.perplexity.n_scored != h.n {
        return Err(format!(
            "top-1 {} vs {}, n {} vs {}",
            c.top1, h.top1, c.perplexity.n_scored, h.n
        ));
    }
    Ok(())
}

#[test]
fn kld_and_perplexity_match_an_independent_computation() {
    let base = model(GgmlType::F32);
    let q4 = model(GgmlType::Q4_0);
    let tokens: Vec<u32> = (0..48u32).map(|i| 3 + (i * 97 + 13) % 297).collect();
    let ctx = 16;
    let windows = Windows::new(&tokens, ctx, None, Some(1)).expect("windows");
    assert_eq!(windows.first_scored(), ctx / 2);

    let hand = by_hand(&q4, &base, &tokens, ctx);
    println!("by hand: {hand:?}");
    assert!(hand.kld_mean > 1e-4, "the models must differ: {hand:?}");
    let got = compare_models(&q4, &base, &windows, &mut |_, _| {}).expect("compare");
    println!("library: {got:?}");
    agrees(&got, &hand).unwrap_or_else(|e| panic!("{e}"));
    let ppl = perplexity(&q4, &windows, &mut |_, _| {}).expect("perplexity");
    assert_eq!(ppl, got.perplexity);

    // The arguments swapped: KL(q4 ‖ base) and the baseline's perplexity,
    // which must not pass for KL(base ‖ q4) and the Q4_0 model's.
    let swapped = compare_models(&base, &q4, &windows, &mut |_, _| {}).expect("compare");
    assert!(
        agrees(&swapped, &hand).is_err(),
        "swapped arguments gave the same figures: {swapped:?}"
    );
    // And it is right for what it is.
    agrees(&swapped, &by_hand(&base, &q4, &tokens, ctx)).unwrap_or_else(|e| panic!("{e}"));
}
