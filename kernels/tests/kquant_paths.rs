//! The types added for the K-quant mixes (Q2_K, Q3_K, Q4_K, Q5_K, Q5_0,
//! Q5_1, IQ4_NL) on every kernel path this CPU offers (scalar, AVX2,
//! AVX-512 on x86; NEON and NEON + dotprod on aarch64, run under QEMU by
//! `scripts/test-aarch64.sh`): every kernel, in both numerics, gives the
//! scalar reference's bits (see `common/kq_paths.rs`).

mod common;

use edge_llama_kernels::Cpu;

#[test]
fn new_types_bit_identical_to_scalar_on_every_path() {
    for cpu in Cpu::available() {
        let fused = common::kq_paths::check_new_types(cpu);
        println!("{}: fused kernels {fused:?}", cpu.path().name());
    }
}
