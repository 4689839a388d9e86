//! The table of kernel function pointers, chosen once per process.
//!
//! Preference order: `avx512` > `avx2` > `scalar` on x86_64, `dotprod` >
//! `neon` > `scalar` on aarch64. The environment variable
//! `EDGE_LLAMA_KERNELS` (`scalar`, `avx2`, `avx512`, `avx512-novnni`, `neon`,
//! `dotprod`) forces a path; [`try_kernels`] reports a forced path that is
//! unknown or not supported by this CPU.

use crate::blocks::*;
use crate::cpu::{Cpu, Isa, KernelPath};
use crate::quant::panel::PanelKernels;
use crate::quant::{Numerics, QuantType, RowKernels};
use crate::scalar;
use half::f16;
use std::fmt;
use std::sync::OnceLock;

/// The path-wide operations of one kernel path: the float operations of the
/// decoder and the activation quantizer of the Q8_0 KV cache. Quantized
/// weight products are per type: [`Kernels::quant`] (see [`QuantType`]).
/// Slices passed together must describe the same number of elements; a
/// mismatch is a programming error and panics.
#[derive(Clone, Copy, Debug)]
pub struct Kernels {
    /// Name of the path: "scalar", "avx2", "avx512", "avx512-novnni", "neon"
    /// or "dotprod".
    pub name: &'static str,
    /// The path, with the proof that this CPU runs it.
    pub cpu: Cpu,
    /// Quantizes an f32 row (length = 32 × blocks) to Q8_0 as activations
    /// are (used by the Q8_0 KV cache).
    pub quantize_q8_0: fn(&[f32], &mut [BlockQ8_0]),
    /// Σ w·x over an f16 row and an f32 row, accumulated in f32 (order per
    /// path).
    pub dot_f16_f32: fn(&[f16], &[f32]) -> f32,
    /// Σ w·x over two f32 rows (order per path).
    pub dot_f32_f32: fn(&[f32], &[f32]) -> f32,
    /// The decoder's float operations in llama.cpp's order (same bits on
    /// every path).
    pub float_ops: crate::float_ops::FloatOps,
    /// The summation order of the quantized products ([`Kernels::quant`])
    /// and of the float products that have two orders.
    pub numerics: Numerics,
}

impl Kernels {
    /// The path these kernels run.
    pub fn path(&self) -> KernelPath {
        self.cpu.path()
    }

    /// The row kernels of weight type `T` on this path, in [`Self::numerics`].
    pub fn quant<T: QuantType>(&self) -> RowKernels<T, T::Act> {
        T::kernels(self.cpu, self.numerics)
    }

    /// The panel kernels of weight type `T` on this path, if it has them.
    pub fn panel<T: QuantType>(&self) -> Option<PanelKernels<T, T::Act>> {
        T::panel(self.cpu, self.numerics)
    }

    /// This table with `numerics` instead.
    pub fn with_numerics(self, numerics: Numerics) -> Kernels {
        Kernels { numerics, ..self }
    }
}

/// The scalar reference table.
pub const SCALAR: Kernels = Kernels {
    name: "scalar",
    cpu: Cpu::scalar(),
    quantize_q8_0: scalar::quantize_act_q8_0,
    dot_f16_f32: scalar::dot_f16_f32,
    dot_f32_f32: scalar::dot_f32_f32,
    float_ops: crate::float_ops::PLAIN,
    numerics: Numerics::Default,
};

/// The table of `cpu`'s path.
pub fn table_for(cpu: Cpu) -> Kernels {
    let name = cpu.path().name();
    match cpu.isa() {
        Isa::Scalar => SCALAR,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2(t) => crate::x86::avx2::table(t, cpu),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512(t) => crate::x86::avx512::table(t, cpu, name),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512Vnni(t) => crate::x86::avx512::table(t.avx512(), cpu, name),
        #[cfg(target_arch = "aarch64")]
        Isa::Neon(t) => crate::arm::neon::table(t, cpu, name),
        #[cfg(target_arch = "aarch64")]
        Isa::Dotprod(t) => crate::arm::neon::table(t.neon(), cpu, name),
    }
}

/// Name of the environment variable that forces a kernel path.
pub const ENV_VAR: &str = "EDGE_LLAMA_KERNELS";

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
                KernelPath::ALL.map(KernelPath::name).join(", ")
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
    Cpu::available().into_iter().map(table_for).collect()
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
    if KernelPath::from_name(name).is_some() {
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
