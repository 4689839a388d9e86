//! Kernel paths and the CPU-feature tokens that prove a path may run.
//!
//! Every SIMD kernel is an `unsafe` `#[target_feature]` function: calling it
//! on a CPU without the feature is undefined behaviour. The tokens below
//! (one per instruction set) have a private field, so the only way to get
//! one is its `detect()` constructor, which checks the CPU at run time (the
//! pattern of the `memchr` crate). Per-arch kernel constructors take a token
//! by value (`x86::q4_0::avx2(token)`), so a table of SIMD kernels can only
//! be built after detection; the safe wrappers inside rely on that.
//!
//! A [`Cpu`] is a chosen [`KernelPath`] together with its token.

use std::fmt;

/// A kernel path: which instruction set the kernels use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KernelPath {
    /// Plain Rust, the reference every other path must match.
    Scalar,
    /// x86_64 AVX2 + FMA + F16C.
    Avx2,
    /// x86_64 AVX-512 F + BW (+ VL + VNNI when present: `vpdpbusd`).
    Avx512,
    /// x86_64 AVX-512 F + BW without VNNI (to test that build on VNNI CPUs).
    Avx512NoVnni,
    /// aarch64 Advanced SIMD (ARMv8.0, e.g. Raspberry Pi 4).
    Neon,
    /// aarch64 NEON + dotprod (`sdot`, ARMv8.2, e.g. Raspberry Pi 5).
    Dotprod,
}

impl KernelPath {
    /// Every path, on any architecture, in preference order per architecture.
    pub const ALL: [KernelPath; 6] = [
        KernelPath::Avx512,
        KernelPath::Avx512NoVnni,
        KernelPath::Avx2,
        KernelPath::Dotprod,
        KernelPath::Neon,
        KernelPath::Scalar,
    ];

    /// The path's name as `EDGE_LLAMA_KERNELS` spells it (`"scalar"`,
    /// `"avx2"`, `"avx512"`, `"avx512-novnni"`, `"neon"`, `"dotprod"`).
    pub fn name(self) -> &'static str {
        match self {
            KernelPath::Scalar => "scalar",
            KernelPath::Avx2 => "avx2",
            KernelPath::Avx512 => "avx512",
            KernelPath::Avx512NoVnni => "avx512-novnni",
            KernelPath::Neon => "neon",
            KernelPath::Dotprod => "dotprod",
        }
    }

    /// The path called `name`, if any.
    pub fn from_name(name: &str) -> Option<KernelPath> {
        KernelPath::ALL.into_iter().find(|p| p.name() == name)
    }
}

impl fmt::Display for KernelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Declares a zero-sized token type whose only constructor checks the CPU.
macro_rules! token {
    ($(#[$doc:meta])* $name:ident, $arch:literal, $($detect:tt)+) => {
        $(#[$doc])*
        #[cfg(target_arch = $arch)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $name(());

        #[cfg(target_arch = $arch)]
        impl $name {
            /// The token, when this CPU has the instructions it names.
            pub fn detect() -> Option<Self> {
                ($($detect)+).then_some($name(()))
            }
        }
    };
}

token!(
    /// Proof that this CPU runs AVX2, FMA and F16C.
    Avx2,
    "x86_64",
    is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c")
);
token!(
    /// Proof that this CPU runs AVX-512 F + BW and everything [`Avx2`] names.
    Avx512,
    "x86_64",
    Avx2::detect().is_some()
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
);
token!(
    /// Proof that this CPU runs AVX-512 VL + VNNI and everything [`Avx512`]
    /// names.
    Avx512Vnni,
    "x86_64",
    Avx512::detect().is_some()
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512vnni")
);
token!(
    /// Proof that this CPU runs Advanced SIMD (NEON).
    Neon,
    "aarch64",
    std::arch::is_aarch64_feature_detected!("neon")
);
token!(
    /// Proof that this CPU runs NEON and the dotprod extension (`sdot`).
    Dotprod,
    "aarch64",
    std::arch::is_aarch64_feature_detected!("neon")
        && std::arch::is_aarch64_feature_detected!("dotprod")
);

#[cfg(target_arch = "x86_64")]
impl Avx512 {
    /// The AVX2 token this one implies.
    pub fn avx2(self) -> Avx2 {
        Avx2(())
    }
}

#[cfg(target_arch = "x86_64")]
impl Avx512Vnni {
    /// The AVX-512 token this one implies.
    pub fn avx512(self) -> Avx512 {
        Avx512(())
    }
}

#[cfg(target_arch = "aarch64")]
impl Dotprod {
    /// The NEON token this one implies.
    pub fn neon(self) -> Neon {
        Neon(())
    }
}

/// The instruction set a [`Cpu`] runs, with its proof of detection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// The scalar reference (needs nothing).
    Scalar,
    /// AVX2 + FMA + F16C.
    #[cfg(target_arch = "x86_64")]
    Avx2(Avx2),
    /// AVX-512 F + BW without VNNI.
    #[cfg(target_arch = "x86_64")]
    Avx512(Avx512),
    /// AVX-512 with VL + VNNI.
    #[cfg(target_arch = "x86_64")]
    Avx512Vnni(Avx512Vnni),
    /// NEON.
    #[cfg(target_arch = "aarch64")]
    Neon(Neon),
    /// NEON + dotprod.
    #[cfg(target_arch = "aarch64")]
    Dotprod(Dotprod),
}

/// A kernel path this CPU was found to support. Only [`Cpu::detect`],
/// [`Cpu::best`] and [`Cpu::scalar`] make one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cpu {
    path: KernelPath,
    isa: Isa,
}

impl Cpu {
    /// The scalar reference path (every CPU runs it).
    pub const fn scalar() -> Cpu {
        Cpu {
            path: KernelPath::Scalar,
            isa: Isa::Scalar,
        }
    }

    /// `path` on this CPU, or `None` when the CPU (or this build's
    /// architecture) lacks its instructions.
    pub fn detect(path: KernelPath) -> Option<Cpu> {
        let isa = match path {
            KernelPath::Scalar => Some(Isa::Scalar),
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx2 => Avx2::detect().map(Isa::Avx2),
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx512 => Avx512Vnni::detect()
                .map(Isa::Avx512Vnni)
                .or_else(|| Avx512::detect().map(Isa::Avx512)),
            // The no-VNNI build is listed separately only where VNNI exists
            // (elsewhere "avx512" already is that build).
            #[cfg(target_arch = "x86_64")]
            KernelPath::Avx512NoVnni => Avx512Vnni::detect().map(|t| Isa::Avx512(t.avx512())),
            #[cfg(target_arch = "aarch64")]
            KernelPath::Neon => Neon::detect().map(Isa::Neon),
            #[cfg(target_arch = "aarch64")]
            KernelPath::Dotprod => Dotprod::detect().map(Isa::Dotprod),
            #[allow(unreachable_patterns)]
            _ => None,
        };
        isa.map(|isa| Cpu { path, isa })
    }

    /// Every path this CPU runs, best first; the last is scalar.
    pub fn available() -> Vec<Cpu> {
        KernelPath::ALL
            .into_iter()
            .filter_map(Cpu::detect)
            .collect()
    }

    /// The best path this CPU runs.
    pub fn best() -> Cpu {
        Cpu::available()
            .first()
            .copied()
            .unwrap_or_else(Cpu::scalar)
    }

    /// The path.
    pub fn path(self) -> KernelPath {
        self.path
    }

    /// The instruction set with its detection token.
    pub fn isa(self) -> Isa {
        self.isa
    }
}
