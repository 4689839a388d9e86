//! The shared core of the K-quant kernels on aarch64 (Q2_K, Q3_K, Q4_K,
//! Q5_K against Q8_K activations, default numerics).
//!
//! The default order of these types ([`crate::quants::q4_k::dot_q4k_q8k`]
//! and its siblings) takes, per super-block, two exact integers — sumi =
//! Σ_k sc_k·Σ q·x over the sixteen 16-element groups k, and summ =
//! Σ_k m_k·bsums_k — and then a fixed scalar float sequence. Any exact
//! integer method gives the same integers, so each type only has to unpack
//! its levels into sixteen vectors of 16 ([`Prep`]); the integer sums are
//! formed here with `smull` + `addp` + `smlal` (plain NEON, [`isum_neon`])
//! or `sdot` + `mla` ([`isum_sdot`]; [`isum32_neon`] / [`isum32_sdot`] when
//! two groups share a scale), and the float sequence is written out
//! once in [`k_dots!`] exactly as the scalar reference writes it.

use super::dotprod::sdot;
use crate::blocks::QK_K;
use core::arch::aarch64::*;
use core::arch::asm;

/// One super-block, unpacked: its 256 levels as sixteen vectors of 16 in
/// element order, the scale of each 16-element group and its minimum (0 for
/// Q3_K, which has none). For the types with 32-element sub-blocks (Q4_K,
/// Q5_K) both groups of a sub-block carry its scale and minimum.
pub(super) struct Prep {
    pub(super) q: [int8x16_t; 16],
    pub(super) sc: [i16; QK_K / 16],
    pub(super) mins: [i16; QK_K / 16],
}

/// sumi = Σ_k sc_k·Σ_{i<16} q_k[i]·x[16k + i], exactly (plain NEON).
///
/// Exact for the K levels (|q| ≤ 31) and any i8 activations: a product is
/// at most 31·128 = 3968 in magnitude, so the pair sums (`addp` of the
/// `smull` results) stay within i16 (≤ 7936); the scaled accumulation is in
/// i32 (`smlal`), and |sumi| ≤ 256·31·128·63 < 2^31.
///
/// # Safety
/// `x` must be valid for 256 byte reads; NEON must be available.
#[inline(always)]
pub(super) unsafe fn isum_neon(p: &Prep, x: *const i8) -> i32 {
    // SAFETY: the caller upholds this function's `# Safety` contract (NEON
    // is present; `x` is valid for 256 bytes, the loads read 16k..16k + 16).
    unsafe {
        let mut lo = vdupq_n_s32(0);
        let mut hi = vdupq_n_s32(0);
        for k in 0..QK_K / 16 {
            let y = vld1q_s8(x.add(16 * k));
            let w = p.q[k];
            let pairs = vpaddq_s16(
                vmull_s8(vget_low_s8(w), vget_low_s8(y)),
                vmull_high_s8(w, y),
            );
            lo = vmlal_n_s16(lo, vget_low_s16(pairs), p.sc[k]);
            hi = vmlal_high_n_s16(hi, pairs, p.sc[k]);
        }
        vaddvq_s32(vaddq_s32(lo, hi))
    }
}

/// sumi as [`isum_neon`], with `sdot` forming the quad sums of each group
/// (exact: |quad| ≤ 4·31·128) and `mla` scaling them in i32.
///
/// # Safety
/// `x` must be valid for 256 byte reads; the caller must be compiled with
/// NEON and dotprod enabled (this is inlined into it).
#[inline(always)]
pub(super) unsafe fn isum_sdot(p: &Prep, x: *const i8) -> i32 {
    // SAFETY: the caller upholds this function's `# Safety` contract (NEON
    // and dotprod are present; `x` is valid for 256 bytes, the loads read
    // 16k..16k + 16).
    unsafe {
        let mut acc = vdupq_n_s32(0);
        for k in 0..QK_K / 16 {
            let y = vld1q_s8(x.add(16 * k));
            let quads = sdot!(vdupq_n_s32(0), p.q[k], y);
            acc = vmlaq_n_s32(acc, quads, i32::from(p.sc[k]));
        }
        vaddvq_s32(acc)
    }
}

/// sumi as [`isum_neon`] for types whose 16-element groups come in pairs
/// sharing one scale (Q4_K, Q5_K: `sc[2j] == sc[2j + 1]`): the pair sums of
/// both groups are added in i16 first (|·| ≤ 2·7936, exact), halving the
/// `smlal`s. The same exact integer.
///
/// # Safety
/// `x` must be valid for 256 byte reads; NEON must be available.
#[inline(always)]
pub(super) unsafe fn isum32_neon(p: &Prep, x: *const i8) -> i32 {
    // SAFETY: the caller upholds this function's `# Safety` contract (NEON
    // is present; `x` is valid for 256 bytes, the loads read 16k..16k + 16).
    unsafe {
        let pairs = |k: usize| {
            let y = vld1q_s8(x.add(16 * k));
            let w = p.q[k];
            vpaddq_s16(
                vmull_s8(vget_low_s8(w), vget_low_s8(y)),
                vmull_high_s8(w, y),
            )
        };
        let mut lo = vdupq_n_s32(0);
        let mut hi = vdupq_n_s32(0);
        for j in 0..QK_K / 32 {
            let s = vaddq_s16(pairs(2 * j), pairs(2 * j + 1));
            lo = vmlal_n_s16(lo, vget_low_s16(s), p.sc[2 * j]);
            hi = vmlal_high_n_s16(hi, s, p.sc[2 * j]);
        }
        vaddvq_s32(vaddq_s32(lo, hi))
    }
}

/// sumi as [`isum32_neon`] with `sdot`: both groups of a sub-block go into
/// one accumulator (exact: |lane| ≤ 8·31·128), then one `mla` by the scale.
///
/// # Safety
/// `x` must be valid for 256 byte reads; the caller must be compiled with
/// NEON and dotprod enabled (this is inlined into it).
#[inline(always)]
pub(super) unsafe fn isum32_sdot(p: &Prep, x: *const i8) -> i32 {
    // SAFETY: the caller upholds this function's `# Safety` contract (NEON
    // and dotprod are present; `x` is valid for 256 bytes, the loads read
    // 32j..32j + 32).
    unsafe {
        let mut acc = vdupq_n_s32(0);
        for j in 0..QK_K / 32 {
            let y0 = vld1q_s8(x.add(32 * j));
            let y1 = vld1q_s8(x.add(32 * j + 16));
            let s = sdot!(sdot!(vdupq_n_s32(0), p.q[2 * j], y0), p.q[2 * j + 1], y1);
            acc = vmlaq_n_s32(acc, s, i32::from(p.sc[2 * j]));
        }
        vaddvq_s32(acc)
    }
}

/// summ = Σ_k mins_k·bsums_k, exactly (|bsums_k| ≤ 16·128, mins ≤ 63).
///
/// # Safety
/// NEON must be available.
#[inline(always)]
pub(super) unsafe fn summ(p: &Prep, bsums: &[i16; QK_K / 16]) -> i32 {
    // SAFETY: the caller upholds this function's `# Safety` contract (NEON
    // is present); both arrays hold 16 i16, the loads read 0..8 and 8..16.
    unsafe {
        let (b0, b1) = (vld1q_s16(bsums.as_ptr()), vld1q_s16(bsums.as_ptr().add(8)));
        let (m0, m1) = (
            vld1q_s16(p.mins.as_ptr()),
            vld1q_s16(p.mins.as_ptr().add(8)),
        );
        let mut acc = vmull_s16(vget_low_s16(b0), vget_low_s16(m0));
        acc = vmlal_high_s16(acc, b0, m0);
        acc = vmlal_s16(acc, vget_low_s16(b1), vget_low_s16(m1));
        acc = vmlal_high_s16(acc, b1, m1);
        vaddvq_s32(acc)
    }
}

/// `(v >> s) & mask` on 16 bytes, for a shift `s` < 8 known after unrolling.
///
/// # Safety
/// NEON must be available.
#[inline(always)]
pub(super) unsafe fn bits(v: uint8x16_t, s: usize, mask: u8) -> uint8x16_t {
    // SAFETY: the caller upholds this function's `# Safety` contract (NEON
    // is present); register operations only.
    unsafe { vandq_u8(vshlq_u8(v, vdupq_n_s8(-(s as i8))), vdupq_n_u8(mask)) }
}

/// `value` where bit `bit` of each byte of `v` is set, else 0.
///
/// # Safety
/// NEON must be available.
#[inline(always)]
pub(super) unsafe fn bit_as(v: uint8x16_t, bit: usize, value: u8) -> uint8x16_t {
    // SAFETY: the caller upholds this function's `# Safety` contract (NEON
    // is present); register operations only.
    unsafe { vandq_u8(vtstq_u8(v, vdupq_n_u8(1 << bit)), vdupq_n_u8(value)) }
}

/// The low two bits of the 256 levels of a Q2_K / Q3_K block: group
/// k = 8h + 2j + t (elements 128h + 32j + 16t ..+16) is bits 2j..2j+1 of
/// `qs[32h + 16t..+16]`. `each(k, t, low)` finishes group k.
///
/// # Safety
/// NEON must be available.
#[inline(always)]
pub(super) unsafe fn unpack_2bit(
    qs: &[u8; QK_K / 4],
    mut each: impl FnMut(usize, usize, uint8x16_t) -> int8x16_t,
) -> [int8x16_t; 16] {
    // SAFETY: the caller upholds this function's `# Safety` contract (NEON
    // is present); `qs` holds 64 bytes, the loads read 32h + 16t ..+16.
    unsafe {
        let mut q = [vdupq_n_s8(0); 16];
        for h in 0..2 {
            for t in 0..2 {
                let raw = vld1q_u8(qs.as_ptr().add(32 * h + 16 * t));
                for j in 0..4 {
                    let k = 8 * h + 2 * j + t;
                    q[k] = each(k, t, bits(raw, 2 * j, 3));
                }
            }
        }
        q
    }
}

/// Generates a K-quant × Q8_K single dot `$dot(w, x)` and its 4-row
/// companion `$dot4(w, x, out)` in the default order: per super-block,
/// `$prep(wb)` unpacks the weights ([`Prep`], once for the 4 rows), `$isum`
/// forms the exact sumi, [`summ`] the exact summ (types with `$dmin`), and
/// the float work is the scalar reference's, operation for operation:
/// acc += d_x·d_w·f32(sumi) − d_x·dmin_w·f32(summ) (left to right, each
/// operation rounded to f32, no fused multiply-add), or acc +=
/// d_x·d_w·f32(sumi) without `$dmin`. Bodies are compiled with `$feat`; the
/// generated functions are safe wrappers only handed out by constructors
/// taking the detection token of `$feat`.
macro_rules! k_dots {
    ($(#[$doc:meta])* $dot:ident, $dot4:ident, $feat:literal, $wt:ty, $prep:path, $isum:path
     $(, $dmin:ident)?) => {
        $(#[$doc])*
        pub(super) fn $dot(w: &[$wt], x: &[$crate::blocks::BlockQ8K]) -> f32 {
            assert_eq!(w.len(), x.len(), "block counts differ");
            #[target_feature(enable = $feat)]
            unsafe fn imp(w: &[$wt], x: &[$crate::blocks::BlockQ8K]) -> f32 {
                // SAFETY: the caller upholds this function's `# Safety`
                // contract (the CPU features in `$feat` are present).
                unsafe {
                    use $crate::arm::neon::f16_to_f32;
                    let mut acc = 0f32;
                    for (wb, xb) in w.iter().zip(x) {
                        let p = $prep(wb);
                        // `xb.qs` is 256 bytes: the loads in `$isum` are in bounds.
                        let sumi = $isum(&p, xb.qs.as_ptr());
                        #[allow(unused_mut)]
                        let mut t = xb.d * f16_to_f32(wb.d) * sumi as f32;
                        $( t = t - xb.d * f16_to_f32(wb.$dmin)
                            * $crate::arm::kq::summ(&p, &xb.bsums) as f32; )?
                        acc += t;
                    }
                    acc
                }
            }
            // SAFETY: only reachable through constructors that take the
            // detection token of `$feat`; block counts checked above.
            unsafe { imp(w, x) }
        }

        #[doc = concat!("Four [`", stringify!($dot), "`] dots of one weight row with the 4 \
            activation rows stored back to back in `x` (each weight block unpacked once), \
            bit-identical to the single-row kernel.\n\n# Panics\n\
            When `x.len() != 4 * w.len()`.")]
        pub(super) fn $dot4(w: &[$wt], x: &[$crate::blocks::BlockQ8K], out: &mut [f32; 4]) {
            assert_eq!(
                x.len(),
                4 * w.len(),
                "dot4: activation is not 4 rows of the weight's length"
            );
            #[target_feature(enable = $feat)]
            unsafe fn imp(w: &[$wt], x: &[$crate::blocks::BlockQ8K], out: &mut [f32; 4]) {
                // SAFETY: the caller upholds this function's `# Safety`
                // contract (the CPU features in `$feat` are present).
                unsafe {
                    use $crate::arm::neon::f16_to_f32;
                    let n = w.len();
                    let mut acc = [0f32; 4];
                    for (i, wb) in w.iter().enumerate() {
                        let p = $prep(wb);
                        let d = f16_to_f32(wb.d);
                        for (v, a) in acc.iter_mut().enumerate() {
                            let xb = &x[v * n + i];
                            // `xb.qs` is 256 bytes: the loads in `$isum` are in bounds.
                            let sumi = $isum(&p, xb.qs.as_ptr());
                            #[allow(unused_mut)]
                            let mut t = xb.d * d * sumi as f32;
                            $( t = t - xb.d * f16_to_f32(wb.$dmin)
                                * $crate::arm::kq::summ(&p, &xb.bsums) as f32; )?
                            *a += t;
                        }
                    }
                    *out = acc;
                }
            }
            // SAFETY: only reachable through constructors that take the
            // detection token of `$feat`; `x` holds 4·n blocks (checked above).
            unsafe { imp(w, x, out) }
        }
    };
}
pub(super) use k_dots;
