//! [`crate::float_ops::transpose`] with AVX: 8×8 blocks transposed in
//! registers (unpack, shuffle, lane permute), the edges as the reference.

use core::arch::x86_64::*;

/// [`crate::float_ops::transpose`] on AVX.
pub(crate) fn transpose(from: &[f32], to: &mut [f32], batch: usize) {
    // SAFETY: placed only in tables built with an `Avx2` token (or a
    // token implying it), so AVX is present.
    unsafe { imp(from, to, batch) }
}

/// # Safety
/// The CPU must support AVX.
#[target_feature(enable = "avx2,fma")]
unsafe fn imp(from: &[f32], to: &mut [f32], batch: usize) {
    assert!(
        batch > 0 && from.len() == to.len() && from.len().is_multiple_of(batch),
        "transpose: lengths differ"
    );
    let rows = from.len() / batch;
    let (r8, b8) = (rows / 8 * 8, batch / 8 * 8);
    let (src, dst) = (from.as_ptr(), to.as_mut_ptr());
    // Eight output rows at a time, written front to back (eight streams,
    // rather than a few bytes in each of `batch` rows a power of two apart,
    // which share cache sets).
    for b0 in (0..b8).step_by(8) {
        for r0 in (0..r8).step_by(8) {
            // SAFETY: rows r0..r0 + 8 ≤ rows and columns b0..b0 + 8 ≤ batch
            // of `from`; output rows b0..b0 + 8, columns r0..r0 + 8 of `to`.
            unsafe {
                let r: [__m256; 8] =
                    std::array::from_fn(|i| _mm256_loadu_ps(src.add((r0 + i) * batch + b0)));
                let t0 = _mm256_unpacklo_ps(r[0], r[1]);
                let t1 = _mm256_unpackhi_ps(r[0], r[1]);
                let t2 = _mm256_unpacklo_ps(r[2], r[3]);
                let t3 = _mm256_unpackhi_ps(r[2], r[3]);
                let t4 = _mm256_unpacklo_ps(r[4], r[5]);
                let t5 = _mm256_unpackhi_ps(r[4], r[5]);
                let t6 = _mm256_unpacklo_ps(r[6], r[7]);
                let t7 = _mm256_unpackhi_ps(r[6], r[7]);
                let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
                let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
                let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
                let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
                let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
                let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
                let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
                let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
                let o = [
                    _mm256_permute2f128_ps::<0x20>(u0, u4),
                    _mm256_permute2f128_ps::<0x20>(u1, u5),
                    _mm256_permute2f128_ps::<0x20>(u2, u6),
                    _mm256_permute2f128_ps::<0x20>(u3, u7),
                    _mm256_permute2f128_ps::<0x31>(u0, u4),
                    _mm256_permute2f128_ps::<0x31>(u1, u5),
                    _mm256_permute2f128_ps::<0x31>(u2, u6),
                    _mm256_permute2f128_ps::<0x31>(u3, u7),
                ];
                for (k, o) in o.iter().enumerate() {
                    _mm256_storeu_ps(dst.add((b0 + k) * rows + r0), *o);
                }
            }
        }
    }
    // Columns b8.. of rows ..r8, then rows r8.. of every column.
    for r in 0..r8 {
        for b in b8..batch {
            to[b * rows + r] = from[r * batch + b];
        }
    }
    for r in r8..rows {
        for b in 0..batch {
            to[b * rows + r] = from[r * batch + b];
        }
    }
}
