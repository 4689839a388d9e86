//! The default thread count: the physical cores, and on big.LITTLE ARM
//! boards only the performance cores (those with the highest cpufreq
//! maximum), since a product split evenly across fast and slow cores waits
//! for the slow ones.

use std::path::Path;

/// A thread count and why it was chosen (for the examples to print).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadChoice {
    /// Threads for matrix-vector products (at least 1).
    pub threads: usize,
    /// Why, e.g. "2 physical cores" or "4 performance cores of 8 (cpufreq max 2400 MHz)".
    pub reason: String,
}

impl std::fmt::Display for ThreadChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} threads ({})", self.threads, self.reason)
    }
}

/// The thread count a model uses when [`ModelOptions::threads`](crate::ModelOptions::threads)
/// is 0: `num_cpus::get_physical()`, except on aarch64 Linux when the
/// cores' `cpufreq/cpuinfo_max_freq` differ, where it is the number of cores
/// with the highest maximum. Falls back to the physical cores when cpufreq
/// is not readable.
pub fn default_threads() -> ThreadChoice {
    let physical = num_cpus::get_physical().max(1);
    if cfg!(all(target_arch = "aarch64", target_os = "linux")) {
        let freqs = max_freqs(Path::new("/sys/devices/system/cpu"));
        if let Some(big) = performance_cores(&freqs) {
            return big;
        }
    }
    ThreadChoice {
        threads: physical,
        reason: format!("{physical} physical cores"),
    }
}

/// `cpuinfo_max_freq` (kHz) of every `cpuN` under `dir` that has one.
pub(crate) fn max_freqs(dir: &Path) -> Vec<u64> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.strip_prefix("cpu")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter_map(|e| {
            let text = std::fs::read_to_string(e.path().join("cpufreq/cpuinfo_max_freq")).ok()?;
            text.trim().parse::<u64>().ok().filter(|&f| f > 0)
        })
        .collect()
}

/// The cores with the highest maximum frequency, when the maxima differ
/// (a big.LITTLE system); `None` for uniform cores or no data.
pub(crate) fn performance_cores(max_freqs_khz: &[u64]) -> Option<ThreadChoice> {
    let top = *max_freqs_khz.iter().max()?;
    let big = max_freqs_khz.iter().filter(|&&f| f == top).count();
    (big < max_freqs_khz.len()).then(|| ThreadChoice {
        threads: big,
        reason: format!(
            "{big} performance cores of {} (cpufreq max {} MHz)",
            max_freqs_khz.len(),
            top / 1000
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_little_keeps_only_the_fastest_cores() {
        // RK3588: 4 × A55 at 1.8 GHz, 4 × A76 (two clusters, 2.256/2.4 GHz).
        let rk3588 = [
            1_800_000, 1_800_000, 1_800_000, 1_800_000, 2_256_000, 2_256_000, 2_400_000, 2_400_000,
        ];
        let c = performance_cores(&rk3588).expect("heterogeneous");
        assert_eq!(c.threads, 2);
        assert_eq!(c.reason, "2 performance cores of 8 (cpufreq max 2400 MHz)");
        // Pi 5: four identical A76 cores.
        assert_eq!(performance_cores(&[2_400_000; 4]), None);
        assert_eq!(performance_cores(&[]), None);
    }

    #[test]
    fn reads_cpufreq_from_a_sysfs_tree() {
        let dir = std::env::temp_dir().join(format!("edge-llama-cpufreq-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for (cpu, freq) in [(0, "1800000\n"), (1, "1800000\n"), (2, "2400000\n")] {
            let d = dir.join(format!("cpu{cpu}/cpufreq"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("cpuinfo_max_freq"), freq).unwrap();
        }
        // Not CPUs, or CPUs without cpufreq: ignored.
        std::fs::create_dir_all(dir.join("cpufreq")).unwrap();
        std::fs::create_dir_all(dir.join("cpu3")).unwrap();
        std::fs::create_dir_all(dir.join("cpuidle")).unwrap();
        let mut f = max_freqs(&dir);
        f.sort_unstable();
        assert_eq!(f, [1_800_000, 1_800_000, 2_400_000]);
        assert_eq!(performance_cores(&f).map(|c| c.threads), Some(1));
        assert!(max_freqs(&dir.join("absent")).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
