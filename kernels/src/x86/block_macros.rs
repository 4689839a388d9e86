//! Macros that generate the x86 quantized dot kernels from a per-block
//! integer kernel, shared by the AVX2 and AVX-512 (VNNI) builds. Each
//! documents the order of its float operations; every generated kernel is
//! bit-identical to the scalar reference of that order.

/// Generates a quantized dot over 32-element blocks from `$block` (which
/// returns a block's eight partial integer sums, lane j = elements
/// 4j..4j+3), in llama.cpp's x86 order: per block, the lanes are converted
/// to f32 (exact) and added into eight f32 lanes by one FMA with d_w·d_x;
/// the optional `$m`, `$s` fields accumulate Σ m_w·s_x (Q4_1) in a scalar
/// FMA chain added after the horizontal sum. Bit-identical to the scalar
/// reference.
macro_rules! dot_blocks8 {
    ($(#[$doc:meta])* $name:ident, $feat:literal, $wt:ty, $xt:ty, $block:ident $(, $m:ident, $s:ident)?) => {
        $(#[$doc])*
        ///
        /// # Safety
        #[doc = concat!("The CPU must support ", $feat, ".")]
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn $name(w: &[$wt], x: &[$xt]) -> f32 {
            #[allow(unused_imports)]
            use $crate::x86::avx2::imp::{head_f16x2, hsum_ps, lane1};
            #[allow(unused_imports)]
            use core::mem::offset_of;
            assert_eq!(w.len(), x.len());
            let mut acc = _mm256_setzero_ps();
            // Lane 1 carries Σ m_w·s_x (Q4_1); the other lanes are unused.
            #[allow(unused_mut, unused_variables)]
            let mut summs = _mm_setzero_ps();
            for (wb, xb) in w.iter().zip(x) {
                let (ws, xs) = (head_f16x2(wb), head_f16x2(xb));
                let d = _mm256_broadcastss_ps(_mm_mul_ps(ws, xs));
                $( summs = _mm_fmadd_ps(ws, xs, summs); const { assert!(offset_of!($wt, $m) == 2 && offset_of!($xt, $s) == 2) }; )?
                acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps($block(wb, xb)), acc);
            }
            #[allow(unused_mut)]
            let mut sum = hsum_ps(acc);
            $( sum += lane1(summs); const { assert!(offset_of!($wt, $m) == 2) }; )?
            sum
        }
    };
}
pub(crate) use dot_blocks8;

/// Generates the 2-row companion of a [`dot_blocks8`] kernel: two weight
/// rows (back to back in `w`) times one activation row, for single-token
/// products. Each row keeps exactly the single-row kernel's accumulators
/// and operations, so `out[r]` is bit-identical to it; two rows at once
/// overlap the latency of their FMA chains. Both rows are prefetched
/// [`PREFETCH_BLOCKS`] ahead.
macro_rules! dot2_blocks8 {
    ($(#[$doc:meta])* $name:ident, $feat:literal, $wt:ty, $xt:ty, $block:ident $(, $m:ident, $s:ident)?) => {
        $(#[$doc])*
        ///
        /// # Safety
        #[doc = concat!("The CPU must support ", $feat, ".")]
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn $name(w: &[$wt], x: &[$xt], out: &mut [f32; 2]) {
            #[allow(unused_imports)]
            use $crate::x86::avx2::imp::{head_f16x2, hsum_ps, lane1};
            #[allow(unused_imports)]
            use core::mem::offset_of;
            use $crate::x86::avx2::PREFETCH_BLOCKS;
            let n = x.len();
            assert_eq!(w.len(), 2 * n, "dot2: weights are not 2 rows of the activation's length");
            let (w0, w1) = w.split_at(n);
            let mut acc = [_mm256_setzero_ps(); 2];
            #[allow(unused_mut, unused_variables)]
            let mut summs = [_mm_setzero_ps(); 2];
            for (i, xb) in x.iter().enumerate() {
                if i % 4 == 0 {
                    for row in [w0, w1] {
                        // A prefetch never faults: an address past the row is harmless.
                        let p = row.as_ptr().wrapping_add(i + PREFETCH_BLOCKS).cast::<i8>();
                        _mm_prefetch::<_MM_HINT_T0>(p);
                        _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(64));
                    }
                }
                let xs = head_f16x2(xb);
                for (r, wb) in [&w0[i], &w1[i]].into_iter().enumerate() {
                    let ws = head_f16x2(wb);
                    let d = _mm256_broadcastss_ps(_mm_mul_ps(ws, xs));
                    $( summs[r] = _mm_fmadd_ps(ws, xs, summs[r]); const { assert!(offset_of!($wt, $m) == 2 && offset_of!($xt, $s) == 2) }; )?
                    acc[r] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps($block(wb, xb)), acc[r]);
                }
            }
            for r in 0..2 {
                #[allow(unused_mut)]
                let mut sum = hsum_ps(acc[r]);
                $( sum += lane1(summs[r]); const { assert!(offset_of!($wt, $m) == 2) }; )?
                out[r] = sum;
            }
        }
    };
}
pub(crate) use dot2_blocks8;

/// Generates a quantized dot in the order llama.cpp uses for repacked
/// (Q4_0) weights: each block's exact integer sum (the lanes of `$block`
/// reduced, eight blocks at a time), converted to f32 (exact: |sum| < 2^24)
/// and added with one scalar FMA by d_w·d_x, in block order; with the
/// optional `$m`, `$s` fields (Q4_1) each block then adds m_w·s_x with a
/// second FMA. Bit-identical to the scalar reference.
macro_rules! dot_block_sums {
    ($(#[$doc:meta])* $name:ident, $feat:literal, $wt:ty, $xt:ty, $block:ident $(, $m:ident, $s:ident)?) => {
        $(#[$doc])*
        ///
        /// # Safety
        #[doc = concat!("The CPU must support ", $feat, ".")]
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn $name(w: &[$wt], x: &[$xt]) -> f32 {
            use $crate::x86::avx2::imp::{f16_to_f32, f16x8, hsum_epi32, reduce8};
            assert_eq!(w.len(), x.len());
            let mut acc = 0f32;
            let mut wc = w.chunks_exact(8);
            let mut xc = x.chunks_exact(8);
            for (w8, x8) in (&mut wc).zip(&mut xc) {
                let sums = _mm256_cvtepi32_ps(reduce8(std::array::from_fn(|k| $block(&w8[k], &x8[k]))));
                let d = _mm256_mul_ps(
                    f16x8(std::array::from_fn(|k| w8[k].d)),
                    f16x8(std::array::from_fn(|k| x8[k].d)),
                );
                let (mut sv, mut dv) = ([0f32; 8], [0f32; 8]);
                #[allow(unused_mut, unused_variables)]
                let (mut mv, mut xsv) = ([0f32; 8], [0f32; 8]);
                // SAFETY: all arrays hold 8 f32.
                unsafe {
                    _mm256_storeu_ps(sv.as_mut_ptr(), sums);
                    _mm256_storeu_ps(dv.as_mut_ptr(), d);
                    $(
                        _mm256_storeu_ps(mv.as_mut_ptr(), f16x8(std::array::from_fn(|k| w8[k].$m)));
                        _mm256_storeu_ps(xsv.as_mut_ptr(), f16x8(std::array::from_fn(|k| x8[k].$s)));
                    )?
                }
                for k in 0..8 {
                    acc = sv[k].mul_add(dv[k], acc);
                    $( acc = mv[k].mul_add(xsv[k], acc); let _ = stringify!($m); )?
                }
            }
            for (wb, xb) in wc.remainder().iter().zip(xc.remainder()) {
                let sumi = hsum_epi32($block(wb, xb)) as f32;
                acc = sumi.mul_add(f16_to_f32(wb.d) * f16_to_f32(xb.d), acc);
                $( acc = f16_to_f32(wb.$m).mul_add(f16_to_f32(xb.$s), acc); )?
            }
            acc
        }
    };
}
pub(crate) use dot_block_sums;

/// How far ahead (in blocks) the two-row kernels prefetch each row. Two
/// interleaved row streams defeat the hardware prefetcher; 160 Q4_0 blocks
/// (2.8 KiB) ahead measured best on a TinyLlama-shaped model (48: no gain
/// over one row, 96: +2%, 160: +8%, 256: +4%).
pub(crate) const PREFETCH_BLOCKS: usize = 160;

/// Generates the 2-row companion of a [`dot_block_sums`] kernel: two weight
/// rows (back to back in `w`) times one activation row, for single-token
/// products. Each row's FMA chain is exactly the single-row kernel's, so
/// `out[r]` is bit-identical to it; two chains at once halve the time
/// their latency costs. Both rows are prefetched [`PREFETCH_BLOCKS`] ahead.
/// The optional `$m`, `$s` fields add m_w·s_x per block as the single-row
/// kernel does.
macro_rules! dot2_block_sums {
    ($(#[$doc:meta])* $name:ident, $feat:literal, $wt:ty, $xt:ty, $block:ident $(, $m:ident, $s:ident)?) => {
        $(#[$doc])*
        ///
        /// # Safety
        #[doc = concat!("The CPU must support ", $feat, ".")]
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn $name(w: &[$wt], x: &[$xt], out: &mut [f32; 2]) {
            use $crate::x86::avx2::imp::{f16_to_f32, f16x8, hsum_epi32, reduce8};
            use $crate::x86::avx2::PREFETCH_BLOCKS;
            let n = x.len();
            assert_eq!(w.len(), 2 * n, "dot2: weights are not 2 rows of the activation's length");
            let (w0, w1) = w.split_at(n);
            let (mut a0, mut a1) = (0f32, 0f32);
            let full = n / 8 * 8;
            for i in (0..full).step_by(8) {
                for row in [w0, w1] {
                    // Eight blocks span three cache lines. A prefetch never
                    // faults, so an address past the row is harmless.
                    let p = row.as_ptr().wrapping_add(i + PREFETCH_BLOCKS).cast::<i8>();
                    for line in 0..3 {
                        _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(64 * line));
                    }
                }
                let x8 = &x[i..i + 8];
                let (r0, r1) = (&w0[i..i + 8], &w1[i..i + 8]);
                let xd = f16x8(std::array::from_fn(|k| x8[k].d));
                let s0 = _mm256_cvtepi32_ps(reduce8(std::array::from_fn(|k| $block(&r0[k], &x8[k]))));
                let s1 = _mm256_cvtepi32_ps(reduce8(std::array::from_fn(|k| $block(&r1[k], &x8[k]))));
                let d0 = _mm256_mul_ps(f16x8(std::array::from_fn(|k| r0[k].d)), xd);
                let d1 = _mm256_mul_ps(f16x8(std::array::from_fn(|k| r1[k].d)), xd);
                #[allow(unused_mut)]
                let mut v = [[0f32; 8]; 7];
                // SAFETY: each row of `v` holds 8 f32.
                unsafe {
                    _mm256_storeu_ps(v[0].as_mut_ptr(), s0);
                    _mm256_storeu_ps(v[1].as_mut_ptr(), d0);
                    _mm256_storeu_ps(v[2].as_mut_ptr(), s1);
                    _mm256_storeu_ps(v[3].as_mut_ptr(), d1);
                    $(
                        _mm256_storeu_ps(v[4].as_mut_ptr(), f16x8(std::array::from_fn(|k| r0[k].$m)));
                        _mm256_storeu_ps(v[5].as_mut_ptr(), f16x8(std::array::from_fn(|k| r1[k].$m)));
                        _mm256_storeu_ps(v[6].as_mut_ptr(), f16x8(std::array::from_fn(|k| x8[k].$s)));
                    )?
                }
                for k in 0..8 {
                    a0 = v[0][k].mul_add(v[1][k], a0);
                    a1 = v[2][k].mul_add(v[3][k], a1);
                    $(
                        a0 = v[4][k].mul_add(v[6][k], a0);
                        a1 = v[5][k].mul_add(v[6][k], a1);
                        let _ = stringify!($m);
                    )?
                }
            }
            for ((b0, b1), xb) in w0[full..].iter().zip(&w1[full..]).zip(&x[full..]) {
                let xd = f16_to_f32(xb.d);
                a0 = (hsum_epi32($block(b0, xb)) as f32).mul_add(f16_to_f32(b0.d) * xd, a0);
                a1 = (hsum_epi32($block(b1, xb)) as f32).mul_add(f16_to_f32(b1.d) * xd, a1);
                $(
                    a0 = f16_to_f32(b0.$m).mul_add(f16_to_f32(xb.$s), a0);
                    a1 = f16_to_f32(b1.$m).mul_add(f16_to_f32(xb.$s), a1);
                )?
            }
            *out = [a0, a1];
        }
    };
}
pub(crate) use dot2_block_sums;

/// Generates the 8-row tile companion of a [`dot_block_sums`] kernel: eight
/// weight rows (back to back in `w`) times `V` activation rows (back to
/// back in `x`), the way llama.cpp's repacked kernels run: the eight rows'
/// exact block sums side by side in one register, one vector FMA per block
/// and activation row. Lane r of `out[v]` is bit-identical to the
/// single-row kernel on (w_r, x_v). Each row's next blocks are prefetched:
/// eight interleaved streams defeat the hardware prefetcher otherwise.
/// The optional `$m`, `$s` fields add m_w·s_x per block as the single-row
/// kernel does.
macro_rules! dot8_block_sums {
    ($(#[$doc:meta])* $name:ident, $feat:literal, $wt:ty, $xt:ty, $prep:ident, $block:ident $(, $m:ident, $s:ident)?) => {
        $(#[$doc])*
        ///
        /// # Safety
        #[doc = concat!("The CPU must support ", $feat, ".")]
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn $name<const V: usize>(w: &[$wt], x: &[$xt], out: &mut [[f32; 8]; V]) {
            use $crate::x86::avx2::imp::{f16_to_f32, f16x8, reduce8};
            let n = x.len() / V;
            assert_eq!(x.len(), V * n, "dot8: activation is not {V} rows");
            assert_eq!(w.len(), 8 * n, "dot8: weights are not 8 rows of the activation's length");
            let mut acc = [_mm256_setzero_ps(); V];
            for i in 0..n {
                for r in 0..8 {
                    if let Some(ahead) = w.get(r * n + i + 16).filter(|_| i + 16 < n) {
                        _mm_prefetch::<_MM_HINT_T0>((ahead as *const $wt).cast());
                    }
                }
                let p: [_; 8] = std::array::from_fn(|r| $prep(&w[r * n + i]));
                let wd = f16x8(std::array::from_fn(|r| w[r * n + i].d));
                $( let wm = f16x8(std::array::from_fn(|r| w[r * n + i].$m)); )?
                for (v, a) in acc.iter_mut().enumerate() {
                    let xb = &x[v * n + i];
                    let sums = _mm256_cvtepi32_ps(reduce8(std::array::from_fn(|r| $block(p[r], xb))));
                    let d = _mm256_mul_ps(wd, _mm256_set1_ps(f16_to_f32(xb.d)));
                    *a = _mm256_fmadd_ps(sums, d, *a);
                    $( *a = _mm256_fmadd_ps(wm, _mm256_set1_ps(f16_to_f32(xb.$s)), *a); )?
                }
            }
            for (o, a) in out.iter_mut().zip(acc) {
                // SAFETY: `o` holds 8 f32.
                unsafe { _mm256_storeu_ps(o.as_mut_ptr(), a) };
            }
        }
    };
}
pub(crate) use dot8_block_sums;

/// Generates the 4-row companion of a [`dot_block_sums`] kernel: each
/// weight block prepared once by `$prep`, four independent FMA chains
/// (one per activation row), each bit-identical to the single-row kernel.
/// The optional `$m`, `$s` fields add m_w·s_x per block as the single-row
/// kernel does.
macro_rules! dot4_block_sums {
    ($(#[$doc:meta])* $name:ident, $feat:literal, $wt:ty, $xt:ty, $prep:ident, $block:ident $(, $m:ident, $s:ident)?) => {
        $(#[$doc])*
        ///
        /// # Safety
        #[doc = concat!("The CPU must support ", $feat, ".")]
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn $name(w: &[$wt], x: &[$xt], out: &mut [f32; 4]) {
            use $crate::x86::avx2::imp::{f16_to_f32, f16x8, hsum_epi32, reduce8};
            let n = w.len();
            assert_eq!(x.len(), 4 * n, "dot4: activation is not 4 rows of the weight's length");
            let xs: [&[$xt]; 4] = [&x[..n], &x[n..2 * n], &x[2 * n..3 * n], &x[3 * n..]];
            let mut acc = [0f32; 4];
            let full = n / 8 * 8;
            for (i, w8) in w[..full].chunks_exact(8).enumerate() {
                let p: [_; 8] = std::array::from_fn(|k| $prep(&w8[k]));
                let wd = f16x8(std::array::from_fn(|k| w8[k].d));
                let (mut sv, mut dv) = ([[0f32; 8]; 4], [[0f32; 8]; 4]);
                #[allow(unused_mut, unused_variables)]
                let (mut mv, mut xsv) = ([0f32; 8], [[0f32; 8]; 4]);
                $(
                    // SAFETY: `mv` holds 8 f32.
                    unsafe { _mm256_storeu_ps(mv.as_mut_ptr(), f16x8(std::array::from_fn(|k| w8[k].$m))) };
                )?
                for v in 0..4 {
                    let x8 = &xs[v][8 * i..8 * i + 8];
                    let sums = _mm256_cvtepi32_ps(reduce8(std::array::from_fn(|k| $block(p[k], &x8[k]))));
                    let d = _mm256_mul_ps(wd, f16x8(std::array::from_fn(|k| x8[k].d)));
                    // SAFETY: all rows hold 8 f32.
                    unsafe {
                        _mm256_storeu_ps(sv[v].as_mut_ptr(), sums);
                        _mm256_storeu_ps(dv[v].as_mut_ptr(), d);
                        $( _mm256_storeu_ps(xsv[v].as_mut_ptr(), f16x8(std::array::from_fn(|k| x8[k].$s))); )?
                    }
                }
                for k in 0..8 {
                    for v in 0..4 {
                        acc[v] = sv[v][k].mul_add(dv[v][k], acc[v]);
                        $( acc[v] = mv[k].mul_add(xsv[v][k], acc[v]); let _ = stringify!($m); )?
                    }
                }
            }
            for (v, a) in acc.iter_mut().enumerate() {
                for (wb, xb) in w[full..].iter().zip(&xs[v][full..]) {
                    let sumi = hsum_epi32($block($prep(wb), xb)) as f32;
                    *a = sumi.mul_add(f16_to_f32(wb.d) * f16_to_f32(xb.d), *a);
                    $( *a = f16_to_f32(wb.$m).mul_add(f16_to_f32(xb.$s), *a); )?
                }
            }
            *out = acc;
        }
    };
}
pub(crate) use dot4_block_sums;

/// Generates the 4-row companion of a [`dot_blocks8`] kernel: one weight
/// row times 4 activation rows stored back to back in `x`. Each weight
/// block is prepared once by `$prep` (nibbles unpacked, signs split) and
/// multiplied with the 4 activation blocks by `$block`; every activation
/// row gets its own accumulators, updated with exactly the operations and
/// order of the single-row kernel, so `out[v]` is bit-identical to the
/// single-row kernel on (w, x_v).
macro_rules! dot4_blocks8 {
    ($(#[$doc:meta])* $name:ident, $feat:literal, $wt:ty, $xt:ty, $prep:ident, $block:ident $(, $m:ident, $s:ident)?) => {
        $(#[$doc])*
        ///
        /// # Safety
        #[doc = concat!("The CPU must support ", $feat, ".")]
        #[target_feature(enable = $feat)]
        pub(crate) unsafe fn $name(w: &[$wt], x: &[$xt], out: &mut [f32; 4]) {
            #[allow(unused_imports)]
            use $crate::x86::avx2::imp::{head_f16x2, hsum_ps, lane1};
            #[allow(unused_imports)]
            use core::mem::offset_of;
            let n = w.len();
            assert_eq!(x.len(), 4 * n, "dot4: activation is not 4 rows of the weight's length");
            let xs: [&[$xt]; 4] = [&x[..n], &x[n..2 * n], &x[2 * n..3 * n], &x[3 * n..]];
            let mut acc = [_mm256_setzero_ps(); 4];
            #[allow(unused_mut, unused_variables)]
            let mut summs = [_mm_setzero_ps(); 4];
            for (i, wb) in w.iter().enumerate() {
                let p = $prep(wb);
                let ws = head_f16x2(wb);
                for v in 0..4 {
                    let xb = &xs[v][i];
                    let xs2 = head_f16x2(xb);
                    let d = _mm256_broadcastss_ps(_mm_mul_ps(ws, xs2));
                    $( summs[v] = _mm_fmadd_ps(ws, xs2, summs[v]); const { assert!(offset_of!($wt, $m) == 2 && offset_of!($xt, $s) == 2) }; )?
                    acc[v] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps($block(p, xb)), acc[v]);
                }
            }
            for v in 0..4 {
                #[allow(unused_mut)]
                let mut sum = hsum_ps(acc[v]);
                $( sum += lane1(summs[v]); const { assert!(offset_of!($wt, $m) == 2) }; )?
                out[v] = sum;
            }
        }
    };
}
pub(crate) use dot4_blocks8;

/// Generates the default-numerics kernels of a 32-element weight type whose
/// order is the one of [`dot_blocks8`] (Q5_0, Q5_1, IQ4_NL): the AVX2 and
/// AVX-512 VNNI single dots, 4-activation-row dots and 2-row dots (single
/// tokens), their safe wrappers, and the constructors `avx2(Avx2)` and
/// `avx512_vnni(Avx512Vnni)` (each kernel only reachable through the token
/// of its instruction set).
/// `$prep` unpacks a weight block into its 32 levels as bytes (once per
/// block for the 4 activation rows); `$avx2` and `$vnni` turn levels and the
/// activation's 32 bytes into the eight exact i32 lanes of four products
/// (`maddubs`/`madd` and `vpdpbusd` respectively). The optional `$m`, `$s`
/// fields add m_w·s_x per block (Q5_1). Every generated kernel has, per
/// (weight row, activation row), the bits of the scalar reference.
macro_rules! blocks8_kernels {
    ($wt:ty, $xt:ty, $quantize:expr, $prep:ident, $avx2:path, $vnni:path $(, $m:ident, $s:ident)?) => {
        mod rows {
            use super::*;
            use $crate::x86::block_macros::{dot2_blocks8, dot4_blocks8, dot_blocks8};
            use $crate::x86::q5_0::load32;

            #[target_feature(enable = "avx2,fma,f16c")]
            #[inline]
            fn avx2_block(p: __m256i, x: &$xt) -> __m256i {
                $avx2(p, load32(&x.qs))
            }
            #[target_feature(enable = "avx2,fma,f16c")]
            #[inline]
            fn avx2_one(w: &$wt, x: &$xt) -> __m256i {
                avx2_block($prep(w), x)
            }
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
            #[inline]
            fn vnni_block(p: __m256i, x: &$xt) -> __m256i {
                $vnni(p, load32(&x.qs))
            }
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
            #[inline]
            fn vnni_one(w: &$wt, x: &$xt) -> __m256i {
                vnni_block($prep(w), x)
            }

            dot_blocks8!(
                /// AVX2 single dot.
                dot_avx2, "avx2,fma,f16c", $wt, $xt, avx2_one $(, $m, $s)?
            );
            dot4_blocks8!(
                /// AVX2 one row × 4 activation rows, per row the bits of [`dot_avx2`].
                dot4_avx2, "avx2,fma,f16c", $wt, $xt, $prep, avx2_block $(, $m, $s)?
            );
            dot2_blocks8!(
                /// AVX2 two weight rows × one activation row, per row the bits of [`dot_avx2`].
                dot2_avx2, "avx2,fma,f16c", $wt, $xt, avx2_one $(, $m, $s)?
            );
            dot_blocks8!(
                /// VNNI single dot.
                dot_vnni, "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c", $wt, $xt,
                vnni_one $(, $m, $s)?
            );
            dot4_blocks8!(
                /// VNNI one row × 4 activation rows, per row the bits of [`dot_vnni`].
                dot4_vnni, "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c", $wt, $xt,
                $prep, vnni_block $(, $m, $s)?
            );

            dot2_blocks8!(
                /// VNNI two weight rows × one activation row, per row the bits of [`dot_vnni`].
                dot2_vnni, "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c", $wt, $xt,
                vnni_one $(, $m, $s)?
            );

            pub(super) fn avx2_dot2(w: &[$wt], x: &[$xt], out: &mut [f32; 2]) {
                // SAFETY: handed out only by `avx2`, which takes an `Avx2` token.
                unsafe { dot2_avx2(w, x, out) }
            }
            pub(super) fn vnni_dot2(w: &[$wt], x: &[$xt], out: &mut [f32; 2]) {
                // SAFETY: handed out only by `avx512_vnni` (`Avx512Vnni` token).
                unsafe { dot2_vnni(w, x, out) }
            }
            pub(super) fn avx2_dot(w: &[$wt], x: &[$xt]) -> f32 {
                // SAFETY: handed out only by `avx2`, which takes an `Avx2` token.
                unsafe { dot_avx2(w, x) }
            }
            pub(super) fn avx2_dot4(w: &[$wt], x: &[$xt], out: &mut [f32; 4]) {
                // SAFETY: handed out only by `avx2`, which takes an `Avx2` token.
                unsafe { dot4_avx2(w, x, out) }
            }
            pub(super) fn vnni_dot(w: &[$wt], x: &[$xt]) -> f32 {
                // SAFETY: handed out only by `avx512_vnni` (`Avx512Vnni` token).
                unsafe { dot_vnni(w, x) }
            }
            pub(super) fn vnni_dot4(w: &[$wt], x: &[$xt], out: &mut [f32; 4]) {
                // SAFETY: handed out only by `avx512_vnni` (`Avx512Vnni` token).
                unsafe { dot4_vnni(w, x, out) }
            }
        }

        /// The AVX2 kernels (default numerics; also the AVX-512 path
        /// without VNNI).
        pub(crate) fn avx2(_proof: $crate::cpu::Avx2) -> $crate::quant::RowKernels<$wt, $xt> {
            $crate::quant::RowKernels {
                dot4: Some(rows::avx2_dot4),
                rows2: Some(rows::avx2_dot2),
                ..$crate::quant::RowKernels::from_dot($quantize, rows::avx2_dot)
            }
        }

        /// The AVX-512 VL + VNNI kernels (default numerics).
        pub(crate) fn avx512_vnni(
            _proof: $crate::cpu::Avx512Vnni,
        ) -> $crate::quant::RowKernels<$wt, $xt> {
            $crate::quant::RowKernels {
                dot4: Some(rows::vnni_dot4),
                rows2: Some(rows::vnni_dot2),
                ..$crate::quant::RowKernels::from_dot($quantize, rows::vnni_dot)
            }
        }
    };
}
pub(crate) use blocks8_kernels;

/// Safe wrappers around the block-order kernels a `blocks` module generates
/// with the macros above (`dot_avx2`, `dot2_avx2`, `dot4_avx2`,
/// `dot8_avx2`, `dot_vnni`, `dot4_vnni`, `dot8_vnni`) and its 8-row
/// single-token kernel `$gemv8` (AVX-512 VNNI). The `avx2_*` wrappers may
/// only be placed in a table by a constructor taking an `Avx2` token, the
/// `vnni_*` ones by one taking an `Avx512Vnni` token.
macro_rules! block_sums_wrappers {
    ($wt:ty, $xt:ty, $gemv8:path) => {
        pub(super) fn avx2_dot(w: &[$wt], x: &[$xt]) -> f32 {
            // SAFETY: handed out only by constructors taking an `Avx2` token.
            unsafe { dot_avx2(w, x) }
        }
        pub(super) fn avx2_dot2(w: &[$wt], x: &[$xt], out: &mut [f32; 2]) {
            // SAFETY: handed out only by constructors taking an `Avx2` token.
            unsafe { dot2_avx2(w, x, out) }
        }
        pub(super) fn avx2_dot4(w: &[$wt], x: &[$xt], out: &mut [f32; 4]) {
            // SAFETY: handed out only by constructors taking an `Avx2` token.
            unsafe { dot4_avx2(w, x, out) }
        }
        pub(super) fn avx2_tile8x1(w: &[$wt], x: &[$xt], out: &mut [[f32; 8]; 1]) {
            // SAFETY: handed out only by constructors taking an `Avx2` token.
            unsafe { dot8_avx2::<1>(w, x, out) }
        }
        pub(super) fn avx2_tile8x4(w: &[$wt], x: &[$xt], out: &mut [[f32; 8]; 4]) {
            // SAFETY: handed out only by constructors taking an `Avx2` token.
            unsafe { dot8_avx2::<4>(w, x, out) }
        }
        pub(super) fn vnni_dot(w: &[$wt], x: &[$xt]) -> f32 {
            // SAFETY: handed out only by constructors taking an `Avx512Vnni` token.
            unsafe { dot_vnni(w, x) }
        }
        pub(super) fn vnni_dot4(w: &[$wt], x: &[$xt], out: &mut [f32; 4]) {
            // SAFETY: handed out only by constructors taking an `Avx512Vnni` token.
            unsafe { dot4_vnni(w, x, out) }
        }
        pub(super) fn vnni_tile8x1(w: &[$wt], x: &[$xt], out: &mut [[f32; 8]; 1]) {
            // SAFETY: handed out only by constructors taking an `Avx512Vnni` token.
            unsafe { $gemv8(w, x, out) }
        }
        pub(super) fn vnni_tile8x4(w: &[$wt], x: &[$xt], out: &mut [[f32; 8]; 4]) {
            // SAFETY: handed out only by constructors taking an `Avx512Vnni` token.
            unsafe { dot8_vnni::<4>(w, x, out) }
        }
    };
}
pub(crate) use block_sums_wrappers;
