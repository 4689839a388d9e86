//! Arbitrary f32 rows (NaN, ±inf and subnormals included) through every
//! weight quantizer the crate has (`edge_llama::quantize::quantize_values`,
//! the kernels crate's reference quantizers) and back through its
//! dequantizer (`edge_llama::tensor::dequantize`), and through the
//! reference activation quantizers (Q8_0, Q8_1, Q8_K) and the Q8_0 one of
//! every kernel path this CPU runs.
//!
//! Checks: nothing panics; the bytes have the size the type implies; the
//! SIMD activation quantizers give the scalar reference's bits; finite
//! inputs in the documented range give finite outputs. The range: scales
//! are stored as f16, so a block whose largest magnitude exceeds 65504
//! (f16's largest finite value) may dequantize to ±inf — as in llama.cpp.
//! Within |x| ≤ 65504 every type must stay finite — except Q8_1's block
//! sum s = d·Σq, also an f16, which is finite only while the block's sum
//! stays within ±65504 (minus the rounding margin 16·d); larger sums give
//! s = ±inf, as in llama.cpp.
#![no_main]

use edge_llama::kernels::{available, GgmlType, QK, QK_K};
use edge_llama::kernels::{kernels_for, scalar, BlockQ8K, BlockQ8_0, BlockQ8_1};
use edge_llama::quantize::quantize_values;
use edge_llama::tensor::dequantize;
use edge_llama::Error;
use half::f16;
use libfuzzer_sys::fuzz_target;

/// Largest magnitude for which finite outputs are promised.
const FINITE_RANGE: f32 = 65504.0;

fn in_range(x: &[f32]) -> bool {
    x.iter().all(|v| v.is_finite() && v.abs() <= FINITE_RANGE)
}

fn weight_types() -> impl Iterator<Item = GgmlType> {
    (0..64).filter_map(GgmlType::from_id)
}

fn check_weights(values: &[f32]) {
    for dtype in weight_types() {
        let block = dtype.block_elems();
        let n = values.len() / block * block;
        if n == 0 {
            continue;
        }
        let x = &values[..n];
        // Two rows when the length allows, one otherwise.
        let row_len = if n.is_multiple_of(2 * block) {
            n / 2
        } else {
            n
        };
        let bytes = match quantize_values("fuzz", x, row_len, dtype) {
            Ok(b) => b,
            Err(Error::UnsupportedTensorType { .. }) => continue,
            Err(e) => panic!("{dtype}: quantizing {n} values in rows of {row_len}: {e}"),
        };
        assert_eq!(
            Some(bytes.len() as u64),
            dtype.row_bytes(n as u64),
            "{dtype} size"
        );
        let mut out = vec![0.0f32; n];
        match dequantize("fuzz", dtype, &bytes, &mut out) {
            Ok(()) => {}
            // Every type the quantizer writes is one `dequantize` reads.
            Err(e) => panic!("{dtype}: a quantized tensor does not dequantize: {e}"),
        }
        // Each block's range is its own: check block by block.
        for (xb, ob) in x.chunks(block).zip(out.chunks(block)) {
            if in_range(xb) {
                assert!(
                    ob.iter().all(|v| v.is_finite()),
                    "{dtype}: finite block {xb:?} dequantized to {ob:?}"
                );
            }
        }
    }
}

/// Q8_0 activation blocks (the quantizer of the kernel table, used by the
/// q8_0 KV cache) must carry the same numbers on every kernel path: the
/// same scale bits and, when the scale is nonzero, the same quants. Compared for blocks of finite values only: for NaN or ±inf
/// inputs the x86 conversions give -128 where the scalar and NEON ones
/// saturate (a block of garbage either way), and a zero scale makes the
/// quants irrelevant to every product (block of values below ~4e-37, whose
/// inverse scale is +inf).
fn check_activations(values: &[f32]) {
    let finite = |xb: &[f32]| xb.iter().all(|v| v.is_finite());
    let n = values.len() / QK * QK;
    if n > 0 {
        let x = &values[..n];
        let zero0 = BlockQ8_0 {
            d: f16::ZERO,
            qs: [0; QK],
        };
        let zero1 = BlockQ8_1 {
            d: f16::ZERO,
            s: f16::ZERO,
            qs: [0; QK],
        };
        let mut ref0 = vec![zero0; n / QK];
        let mut ref1 = vec![zero1; n / QK];
        scalar::quantize_act_q8_0(x, &mut ref0);
        scalar::quantize_act_q8_1(x, &mut ref1);
        for path in available() {
            let Ok(k) = kernels_for(path) else { continue };
            let mut y0 = vec![zero0; n / QK];
            (k.quantize_q8_0)(x, &mut y0);
            for (i, xb) in x.chunks(QK).enumerate() {
                if !finite(xb) {
                    continue;
                }
                let (a, r) = (&y0[i], &ref0[i]);
                assert_eq!(a.d.to_bits(), r.d.to_bits(), "{path} q8_0 scale of {xb:?}");
                if r.d != f16::ZERO {
                    assert_eq!(a.qs, r.qs, "{path} q8_0 quants of {xb:?}");
                }
            }
        }
        for ((xb, b0), b1) in x.chunks(QK).zip(&ref0).zip(&ref1) {
            if in_range(xb) {
                assert!(b0.d.to_f32().is_finite(), "q8_0 activation scale of {xb:?}");
                assert!(b1.d.to_f32().is_finite(), "q8_1 activation scale of {xb:?}");
                // s = d·Σq is an f16 as well: finite while the block's sum
                // (within 16·d of d·Σq) stays inside f16's range.
                let sum: f32 = xb.iter().sum();
                let amax = xb.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                if sum.abs() + 16.0 * amax / 127.0 <= FINITE_RANGE {
                    assert!(b1.s.to_f32().is_finite(), "q8_1 activation sum of {xb:?}");
                }
            }
        }
    }
    let n = values.len() / QK_K * QK_K;
    if n > 0 {
        let x = &values[..n];
        let zero = BlockQ8K {
            d: 0.0,
            qs: [0; QK_K],
            bsums: [0; QK_K / 16],
        };
        let mut reference = vec![zero; n / QK_K];
        scalar::quantize_row_q8_k(x, &mut reference);
        for (xb, b) in x.chunks(QK_K).zip(&reference) {
            if in_range(xb) {
                assert!(b.d.is_finite(), "q8_K scale of {xb:?}");
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // At most 4 super-blocks, so each run stays fast.
    let values: Vec<f32> = data
        .chunks_exact(4)
        .take(4 * QK_K)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    check_weights(&values);
    check_activations(&values);
});
