//! The table of kernel function pointers, chosen once per process.
//!
//! Preference order: `avx512` > `avx2` > `scalar` on x86_64, `dotprod` >
//! `neon` > `scalar` on aarch64. The environment variable
//! `EDGE_LLAMA_KERNELS` (`scalar`, `avx2`, `avx512`, `avx512-novnni`, `neon`,
//! `dotprod`) forces a path; [`try_kernels`] reports a forced path that is
//! unknown or not supported by this CPU.

use crate::blocks::*;
use crate::scalar;
use half::f16;
use std::fmt;
use std::sync::OnceLock;

/// An 8-row Q4_0 tile kernel: eight weight rows (back to back) times `V`
/// Q8_0 activation rows (back to back); `out[v][r]` = Σ w_r·x_v.
pub type Tile8Q4_0<const V: usize> = fn(&[BlockQ4_0], &[BlockQ8_0], &mut [[f32; 8]; V]);

/// A two-row Q4_0 kernel: two weight rows (back to back) times one Q8_0
/// activation row; `out[r]` = Σ w_r·x.
pub type Rows2Q4_0 = fn(&[BlockQ4_0], &[BlockQ8_0], &mut [f32; 2]);

/// One implementation of every hot operation. Slices passed together must
/// describe the same number of elements (block counts equal); a mismatch is a
/// programming error and panics.
///
/// Activation blocks (the `x` argument: Q8_0, Q8_1, Q8_K) are expected to
/// come from the `quantize_*` functions, whose values lie in [−127, 127];
/// weight blocks may hold any bit pattern.
#[derive(Clone, Copy, Debug)]
pub struct Kernels {
    /// Name of the path: "scalar", "avx2", "avx512", "avx512-novnni", "neon"
    /// or "dotprod".
    pub name: &'static str,
    /// Quantizes an f32 row (length = 32 × blocks) to Q8_0.
    pub quantize_q8_0: fn(&[f32], &mut [BlockQ8_0]),
    /// Quantizes an f32 row (length = 32 × blocks) to Q8_1.
    pub quantize_q8_1: fn(&[f32], &mut [BlockQ8_1]),
    /// Quantizes an f32 row (length = 256 × blocks) to Q8_K.
    pub quantize_q8_k: fn(&[f32], &mut [BlockQ8K]),
    /// Σ w·x over a Q4_0 row and a Q8_0 row.
    pub dot_q4_0_q8_0: fn(&[BlockQ4_0], &[BlockQ8_0]) -> f32,
    /// Σ w·x over a Q4_1 row and a Q8_1 row.
    pub dot_q4_1_q8_1: fn(&[BlockQ4_1], &[BlockQ8_1]) -> f32,
    /// Σ w·x over two Q8_0 rows.
    pub dot_q8_0_q8_0: fn(&[BlockQ8_0], &[BlockQ8_0]) -> f32,
    /// Σ w·x over a Q6_K row and a Q8_K row.
    pub dot_q6k_q8k: fn(&[BlockQ6K], &[BlockQ8K]) -> f32,
    /// Σ w·x over an f16 row and an f32 row, accumulated in f32.
    pub dot_f16_f32: fn(&[f16], &[f32]) -> f32,
    /// Σ w·x over two f32 rows.
    pub dot_f32_f32: fn(&[f32], &[f32]) -> f32,
    /// Four Q4_0·Q8_0 dots sharing one weight row: `x` holds 4 activation
    /// rows back to back, each `w.len()` blocks (`x.len()` = 4·`w.len()`);
    /// `out[v]` = Σ w·x_v, bit-identical to `dot_q4_0_q8_0` of the same
    /// table on (w, x_v).
    pub dot4_q4_0_q8_0: fn(&[BlockQ4_0], &[BlockQ8_0], &mut [f32; 4]),
    /// Four Q4_1·Q8_1 dots sharing one weight row (layout and bit-identity
    /// as [`Self::dot4_q4_0_q8_0`], against `dot_q4_1_q8_1`).
    pub dot4_q4_1_q8_1: fn(&[BlockQ4_1], &[BlockQ8_1], &mut [f32; 4]),
    /// Four Q8_0·Q8_0 dots sharing one weight row (layout and bit-identity
    /// as [`Self::dot4_q4_0_q8_0`], against `dot_q8_0_q8_0`).
    pub dot4_q8_0_q8_0: fn(&[BlockQ8_0], &[BlockQ8_0], &mut [f32; 4]),
    /// Four Q6_K·Q8_K dots sharing one weight row (layout and bit-identity
    /// as [`Self::dot4_q4_0_q8_0`], against `dot_q6k_q8k`).
    pub dot4_q6k_q8k: fn(&[BlockQ6K], &[BlockQ8K], &mut [f32; 4]),
    /// Two Q4_0 weight rows (back to back in `w`, each `x.len()` blocks)
    /// times one Q8_0 activation row: `out[r]` is bit-identical to
    /// `dot_q4_0_q8_0` on (w_r, x); the two FMA chains overlap. `None` when
    /// the path has no such kernel.
    pub dot2_q4_0_q8_0: Option<Rows2Q4_0>,
    /// Eight Q4_0 weight rows (back to back in `w`, each `x.len()` blocks)
    /// times one Q8_0 activation row, as llama.cpp's repacked kernels run
    /// them: `out[0][r]` is bit-identical to `dot_q4_0_q8_0` on (w_r, x).
    /// `None` when the path has no such kernel (callers use row dots).
    pub dot8x1_q4_0_q8_0: Option<Tile8Q4_0<1>>,
    /// Eight Q4_0 weight rows times four Q8_0 activation rows (back to back
    /// in `x`): `out[v][r]` bit-identical to `dot_q4_0_q8_0` on (w_r, x_v).
    pub dot8x4_q4_0_q8_0: Option<Tile8Q4_0<4>>,
    /// The decoder's float operations in llama.cpp's order (same bits on
    /// every path).
    pub float_ops: crate::float_ops::FloatOps,
}

/// Four dots of one weight row `w` with the 4 activation rows stored back
/// to back in `x` (each `w.len()` long), by calling the single-row `dot`
/// once per activation row: the generic fallback for paths without a fused
/// multi-row kernel (bit-identical to `dot` by construction).
///
/// # Panics
/// When `x.len() != 4 * w.len()`.
#[inline]
pub(crate) fn dot4_each<W, X>(dot: fn(&[W], &[X]) -> f32, w: &[W], x: &[X], out: &mut [f32; 4]) {
    let n = w.len();
    assert_eq!(
        x.len(),
        4 * n,
        "dot4: activation is not 4 rows of the weight's length"
    );
    for (v, o) in out.iter_mut().enumerate() {
        *o = dot(w, &x[v * n..(v + 1) * n]);
    }
}

/// Defines `fn $name(w, x, out)` as [`dot4_each`] over the single-row dot
/// `$single` (for tables without a fused multi-row kernel).
macro_rules! dot4_fallbacks {
    ($($name:ident: $single:path, $wt:ty, $xt:ty;)*) => {$(
        #[doc = concat!("Four dots by `", stringify!($single), "` (see `dispatch::dot4_each`).")]
        pub(crate) fn $name(w: &[$wt], x: &[$xt], out: &mut [f32; 4]) {
            $crate::dispatch::dot4_each($single, w, x, out)
        }
    )*};
}
// Every SIMD path now has fused 4-row kernels; the export stays for paths
// that may not (only the scalar table below uses the macro today).
#[allow(unused_imports)]
pub(crate) use dot4_fallbacks;

dot4_fallbacks! {
    scalar_dot4_q4_0_q8_0: scalar::dot_q4_0_q8_0, BlockQ4_0, BlockQ8_0;
    scalar_dot4_q4_1_q8_1: scalar::dot_q4_1_q8_1, BlockQ4_1, BlockQ8_1;
    scalar_dot4_q8_0_q8_0: scalar::dot_q8_0_q8_0, BlockQ8_0, BlockQ8_0;
    scalar_dot4_q6k_q8k: scalar::dot_q6k_q8k, BlockQ6K, BlockQ8K;
}

/// The scalar reference table.
pub const SCALAR: Kernels = Kernels {
    name: "scalar",
    quantize_q8_0: scalar::quantize_act_q8_0,
    quantize_q8_1: scalar::quantize_act_q8_1,
    quantize_q8_k: scalar::quantize_row_q8_k,
    dot_q4_0_q8_0: scalar::dot_q4_0_q8_0,
    dot_q4_1_q8_1: scalar::dot_q4_1_q8_1,
    dot_q8_0_q8_0: scalar::dot_q8_0_q8_0,
    dot_q6k_q8k: scalar::dot_q6k_q8k,
    dot_f16_f32: scalar::dot_f16_f32,
    dot_f32_f32: scalar::dot_f32_f32,
    dot4_q4_0_q8_0: scalar_dot4_q4_0_q8_0,
    dot4_q4_1_q8_1: scalar_dot4_q4_1_q8_1,
    dot4_q8_0_q8_0: scalar_dot4_q8_0_q8_0,
    dot4_q6k_q8k: scalar_dot4_q6k_q8k,
    dot2_q4_0_q8_0: None,
    dot8x1_q4_0_q8_0: None,
    dot8x4_q4_0_q8_0: None,
    float_ops: crate::float_ops::PLAIN,
};

/// Name of the environment variable that forces a kernel path.
pub const ENV_VAR: &str = "EDGE_LLAMA_KERNELS";

/// Every path name this crate knows, on any architecture.
const KNOWN: [&str; 6] = [
    "scalar",
    "avx2",
    "avx512",
    "avx512-novnni",
    "neon",
    "dotprod",
];

/// Why a requested kernel path cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelError {
    /// The name is not one of the known paths.
    Unknown {
        /// The requested name.
        requested: String,
    },
    /// The path exists but this CPU (or this build's architecture) lacks the
    /// instructions it needs.
    Unsupported {
        /// The requested name.
        requested: String,
        /// Paths this CPU can run, best first.
        available: Vec<&'static str>,
    },
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::Unknown { requested } => write!(
                f,
                "unknown kernel path {requested:?} (set by {ENV_VAR} or requested explicitly); \
                 known paths: {}",
                KNOWN.join(", ")
            ),
            KernelError::Unsupported {
                requested,
                available,
            } => write!(
                f,
                "kernel path {requested:?} is not supported by this CPU; available: {}",
                available.join(", ")
            ),
        }
    }
}

impl std::error::Error for KernelError {}

/// Tables this CPU can run, best first (scalar last).
fn detect_all() -> Vec<Kernels> {
    #[allow(unused_mut)]
    let mut v: Vec<Kernels> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        v.extend(crate::x86::avx512::table());
        v.extend(
            crate::x86::avx512::table_novnni().filter(|_| crate::x86::avx512::detected_vnni()),
        );
        v.extend(crate::x86::avx2::table());
    }
    #[cfg(target_arch = "aarch64")]
    {
        v.extend(crate::arm::dotprod::table());
        v.extend(crate::arm::neon::table());
    }
    v.push(SCALAR);
    v
}

/// Names of the paths this CPU can run, best first; always ends with
/// `"scalar"`. On a CPU with AVX-512 VNNI both `"avx512"` and
/// `"avx512-novnni"` are listed.
pub fn available() -> Vec<&'static str> {
    detect_all().iter().map(|k| k.name).collect()
}

/// The table for the path called `name`, if this CPU can run it.
pub fn kernels_for(name: &str) -> Result<Kernels, KernelError> {
    let all = detect_all();
    if let Some(k) = all.iter().find(|k| k.name == name) {
        return Ok(*k);
    }
    if KNOWN.contains(&name) {
        Err(KernelError::Unsupported {
            requested: name.to_string(),
            available: all.iter().map(|k| k.name).collect(),
        })
    } else {
        Err(KernelError::Unknown {
            requested: name.to_string(),
        })
    }
}

static TABLE: OnceLock<Result<Kernels, KernelError>> = OnceLock::new();
static BEST: OnceLock<Kernels> = OnceLock::new();

fn best() -> &'static Kernels {
    BEST.get_or_init(|| detect_all()[0])
}

/// The kernel table for this CPU, detected on first call, honouring
/// `EDGE_LLAMA_KERNELS`; an error when the variable names an unknown path or
/// one this CPU cannot run. Unset or empty means "best available".
pub fn try_kernels() -> Result<&'static Kernels, KernelError> {
    TABLE
        .get_or_init(|| match std::env::var(ENV_VAR) {
            Ok(name) if !name.trim().is_empty() => kernels_for(name.trim()),
            _ => Ok(*best()),
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// The kernel table in use: the forced path when `EDGE_LLAMA_KERNELS` is set
/// and valid, otherwise the best one this CPU supports. Never panics; call
/// [`try_kernels`] to surface an invalid `EDGE_LLAMA_KERNELS`.
pub fn kernels() -> &'static Kernels {
    try_kernels().unwrap_or_else(|_| best())
}

/// Name of the path in use ("scalar", "avx2", …).
pub fn active() -> &'static str {
    kernels().name
}
