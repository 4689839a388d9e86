//! Kernel paths required by name: `EDGE_LLAMA_REQUIRE_PATHS=avx2,avx512`
//! (CI on x86) or `neon` / `neon,dotprod` (per emulated CPU under QEMU).
//!
//! `simd_vs_scalar` tests every path the CPU reports, so on a CPU lacking a
//! feature it passes without running that path's kernels. Here a required
//! path that this CPU does not offer is a failure. The names are those of
//! [`available`]: `scalar`, `avx2`, `avx512`, `avx512-novnni`, `neon`,
//! `dotprod`. Requiring `avx512` means the AVX-512 *VNNI* build (the table
//! named `avx512` is the VNNI one exactly when `avx512-novnni` is listed
//! beside it), so its 8-row and 2-row Q4_0 tile kernels must exist.
//!
//! Each required path's tile and row kernels are also run here against the
//! scalar reference (Q4_0, and every kernel of the K-mix types: Q2_K…Q5_K,
//! Q5_0, Q5_1, IQ4_NL), so that a required path is tested by this file even
//! if other suites change. On every SIMD path (`neon`, `dotprod`, `avx2`,
//! `avx512`, `avx512-novnni`) the K-mix types must have their own fused
//! 4-row kernels, not the fallback on `dot` (on x86, Q2_K, Q3_K and Q5_K
//! also their 8-row tiles); on `avx512` (VNNI) their own single and 4-row
//! dots, not the AVX2 ones.
//!
//! Without the variable, the test prints what the CPU offers and passes.

mod common;

use edge_llama_kernels::*;
use half::f16;
use std::io::Write;

/// The variable naming the paths that must be present, comma-separated.
const REQUIRE_PATHS_VAR: &str = "EDGE_LLAMA_REQUIRE_PATHS";

/// The required path names, trimmed, empty entries dropped.
fn required() -> Vec<String> {
    std::env::var(REQUIRE_PATHS_VAR)
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Which required names this CPU fails to provide, given its `available`
/// list (the rule of this file, separate so it can be tested on its own).
fn missing(required: &[String], available: &[&str]) -> Vec<String> {
    required
        .iter()
        .filter(|name| {
            let present = available.contains(&name.as_str());
            // `avx512` required = the VNNI build, listed with its no-VNNI twin.
            let vnni_ok = name.as_str() != "avx512" || available.contains(&"avx512-novnni");
            !(present && vnni_ok)
        })
        .cloned()
        .collect()
}

/// Deterministic xorshift generator for test data.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn scale(&mut self) -> f16 {
        f16::from_f32(((self.next() % 2000) as f32 - 1000.0) / 16000.0)
    }
    fn q4_0(&mut self, n: usize) -> Vec<BlockQ4_0> {
        (0..n)
            .map(|_| BlockQ4_0 {
                d: self.scale(),
                qs: std::array::from_fn(|_| self.next() as u8),
            })
            .collect()
    }
    /// Activation blocks with values in [−127, 127], as the quantizers make.
    fn q8_0(&mut self, n: usize) -> Vec<BlockQ8_0> {
        (0..n)
            .map(|_| BlockQ8_0 {
                d: self.scale(),
                qs: std::array::from_fn(|_| ((self.next() % 255) as i32 - 127) as i8),
            })
            .collect()
    }
}

/// Runs the Q4_0 row, 2-row and 8-row tile kernels that path `cpu` has,
/// under both numerics, against the scalar reference of the same numerics,
/// bit for bit; returns the names of the kernels run (with llama.cpp's
/// numerics, the path's full set).
fn check_q4_0_kernels(cpu: Cpu) -> Vec<&'static str> {
    let mut ran = Vec::new();
    for numerics in [Numerics::Default, Numerics::LlamaCpp] {
        let k = <BlockQ4_0 as QuantType>::kernels(cpu, numerics);
        let reference = <BlockQ4_0 as QuantType>::reference(numerics);
        let name = cpu.path().name();
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        for nb in [1usize, 3, 8] {
            let w = rng.q4_0(8 * nb);
            let x = rng.q8_0(4 * nb);
            let row = |r: usize| &w[r * nb..(r + 1) * nb];
            let act = |v: usize| &x[v * nb..(v + 1) * nb];
            let want = |r: usize, v: usize| (reference.dot)(row(r), act(v));
            for r in 0..8 {
                let got = (k.dot)(row(r), act(0));
                assert_eq!(
                    got.to_bits(),
                    want(r, 0).to_bits(),
                    "{name} {numerics:?}: row {r}"
                );
            }
            if let Some(dot2) = k.rows2 {
                let mut out = [0.0f32; 2];
                dot2(&w[..2 * nb], act(1), &mut out);
                for (r, o) in out.iter().enumerate() {
                    assert_eq!(
                        o.to_bits(),
                        want(r, 1).to_bits(),
                        "{name} {numerics:?}: rows2 {r}"
                    );
                }
            }
            if let Some(tile) = k.tile8x1 {
                let mut out = [[0.0f32; 8]; 1];
                tile(&w, act(2), &mut out);
                for (r, o) in out[0].iter().enumerate() {
                    assert_eq!(
                        o.to_bits(),
                        want(r, 2).to_bits(),
                        "{name} {numerics:?}: 8x1 {r}"
                    );
                }
            }
            if let Some(tile) = k.tile8x4 {
                let mut out = [[0.0f32; 8]; 4];
                tile(&w, &x, &mut out);
                for (v, row_out) in out.iter().enumerate() {
                    for (r, o) in row_out.iter().enumerate() {
                        assert_eq!(
                            o.to_bits(),
                            want(r, v).to_bits(),
                            "{name} {numerics:?}: 8x4 [{v}][{r}]"
                        );
                    }
                }
            }
        }
        if numerics == Numerics::LlamaCpp {
            ran.push("dot");
            if k.rows2.is_some() {
                ran.push("rows2");
            }
            if k.tile8x1.is_some() {
                ran.push("tile8x1");
            }
            if k.tile8x4.is_some() {
                ran.push("tile8x4");
            }
        }
    }
    ran
}

/// True when `a` and `b` hand out different single dots (and 4-row dots)
/// for `T` in default numerics.
fn own_dot<T: QuantType>(a: &Kernels, b: &Kernels) -> bool {
    let (ka, kb) = (a.quant::<T>(), b.quant::<T>());
    let d4 = |k: &RowKernels<T, T::Act>| k.dot4.map(|f| f as usize);
    ka.dot as usize != kb.dot as usize && d4(&ka).is_some() && d4(&ka) != d4(&kb)
}

#[test]
fn required_kernel_paths_are_detected_and_run() {
    let available = available();
    let required = required();
    let _ = writeln!(
        std::io::stderr().lock(),
        "kernel paths available: {available:?}; required by {REQUIRE_PATHS_VAR}: {required:?}"
    );
    let missing = missing(&required, &available);
    assert!(
        missing.is_empty(),
        "{REQUIRE_PATHS_VAR} requires {missing:?}, but this CPU offers only {available:?} \
         (`avx512` means the AVX-512 VNNI build)"
    );
    for name in &required {
        let path = KernelPath::from_name(name).unwrap_or_else(|| panic!("{name}: unknown path"));
        let cpu = Cpu::detect(path).unwrap_or_else(|| panic!("{name}: not detected"));
        let ran = check_q4_0_kernels(cpu);
        let _ = writeln!(std::io::stderr().lock(), "{name}: ran {ran:?}");
        // The x86 SIMD paths all have multi-row Q4_0 kernels; a required
        // one must really run them: AVX2 (and AVX-512 without VNNI) the
        // 2-row and 8-row kernels, `avx512` (VNNI) the 8-row kernels
        // (its single-token kernel is `tile8x1`, so no `rows2`) and the
        // panel kernels of Q4_0 and Q8_0 for prompts.
        if ["avx2", "avx512-novnni"].contains(&name.as_str()) {
            assert_eq!(
                ran,
                ["dot", "rows2", "tile8x1", "tile8x4"],
                "{name}: multi-row kernels missing"
            );
        }
        if name == "avx512" {
            assert_eq!(
                ran,
                ["dot", "tile8x1", "tile8x4"],
                "{name}: multi-row kernels missing"
            );
            let k = kernels_for(name).expect("required path");
            assert!(
                k.panel::<BlockQ4_0>().is_some() && k.panel::<BlockQ8_0>().is_some(),
                "{name}: Q4_0 / Q8_0 panel kernels missing"
            );
        }
        // The types of the K-quant mixes: every kernel against scalar. On
        // aarch64 each has its own NEON / dotprod kernels (a fused dot4);
        // the scalar reference alone would have none.
        let fused = common::kq_paths::check_new_types(cpu);
        let _ = writeln!(std::io::stderr().lock(), "{name}: K-mix types {fused:?}");
        // Every SIMD path has a fused 4-row kernel for each of them (NEON,
        // dotprod, AVX2, AVX-512 with and without VNNI).
        if ["neon", "dotprod", "avx2", "avx512", "avx512-novnni"].contains(&name.as_str()) {
            for (t, f) in &fused {
                assert!(
                    f.contains(&"dot4"),
                    "{name}: {t} has no SIMD 4-row kernel ({f:?})"
                );
            }
        }
        // On x86 the 256-element ones (Q2_K, Q3_K, Q4_K on `avx512`, Q5_K)
        // also have 8-row tiles for prompts and single tokens.
        if ["avx2", "avx512", "avx512-novnni"].contains(&name.as_str()) {
            for (t, f) in fused
                .iter()
                .filter(|(t, _)| ["q2_K", "q3_K", "q5_K"].contains(t))
            {
                assert!(
                    f.contains(&"tile8x1") && f.contains(&"tile8x4"),
                    "{name}: {t} has no 8-row tiles ({f:?})"
                );
            }
        }
        // The VNNI build has its own single dots for them, not the AVX2 ones.
        if name == "avx512" {
            let vnni = kernels_for("avx512").expect("required path");
            let avx2 = kernels_for("avx2").expect("AVX-512 implies AVX2");
            let own = [
                ("q2_K", own_dot::<BlockQ2K>(&vnni, &avx2)),
                ("q3_K", own_dot::<BlockQ3K>(&vnni, &avx2)),
                ("q4_K", own_dot::<BlockQ4K>(&vnni, &avx2)),
                ("q5_K", own_dot::<BlockQ5K>(&vnni, &avx2)),
                ("q5_0", own_dot::<BlockQ5_0>(&vnni, &avx2)),
                ("q5_1", own_dot::<BlockQ5_1>(&vnni, &avx2)),
                ("iq4_nl", own_dot::<BlockIq4Nl>(&vnni, &avx2)),
            ];
            for (t, own) in own {
                assert!(own, "{name}: {t} runs the AVX2 dot, not a VNNI one");
            }
        }
    }
}

#[test]
fn the_rule_for_missing_paths() {
    let req = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let with_vnni = ["avx512", "avx512-novnni", "avx2", "scalar"];
    let without_vnni = ["avx512", "avx2", "scalar"];
    assert!(missing(&req(&["avx2", "avx512"]), &with_vnni).is_empty());
    assert_eq!(
        missing(&req(&["avx2", "avx512"]), &without_vnni),
        req(&["avx512"])
    );
    assert_eq!(
        missing(&req(&["neon", "dotprod"]), &["neon", "scalar"]),
        req(&["dotprod"])
    );
    assert_eq!(missing(&req(&["avx2"]), &["scalar"]), req(&["avx2"]));
}
