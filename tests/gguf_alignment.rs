//! GGUF files with `general.alignment` 1 or 2 (legal) load: tensors whose
//! data the file does not align for their type are copied into aligned
//! memory (listed by `Model::realigned_tensors`), and the logits equal those
//! of the same model written with the default alignment of 32.

use edge_llama::gguf::{GgufFile, OwnedValue};
use edge_llama::kernels::GgmlType;
use edge_llama::synthetic::SyntheticSpec;
use edge_llama::{Model, ModelOptions, SessionOptions};
use std::path::PathBuf;

const TOKENS: [u32; 6] = [1, 280, 281, 282, 40, 41];

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "edge-llama-align-{name}-{}.gguf",
        std::process::id()
    ))
}

fn logits(model: &Model) -> Vec<f32> {
    let mut s = model
        .new_session(SessionOptions::default())
        .expect("session");
    s.eval_all(&TOKENS).expect("eval")
}

/// Writes `spec` at `alignment`, with a padding key of `pad` bytes that
/// moves where the tensor data starts; returns the opened model.
fn write_and_open(spec: &SyntheticSpec, alignment: u64, pad: usize) -> (Model, u64) {
    let mut w = spec.build().expect("build");
    w.set_alignment(alignment).expect("alignment");
    w.add_metadata("test.padding", OwnedValue::String("x".repeat(pad)))
        .expect("padding key");
    let path = temp(&format!("{}-{alignment}-{pad}", spec.weight_type));
    w.write_to_path(&path).expect("write");
    let file = GgufFile::open(&path).expect("open GGUF");
    assert_eq!(file.alignment(), alignment);
    let data_offset = file.data_offset();
    let model = Model::from_gguf(
        file,
        ModelOptions {
            threads: 1,
            ..Default::default()
        },
    )
    .expect("open model");
    let _ = std::fs::remove_file(&path);
    (model, data_offset)
}

#[test]
fn alignment_one_and_two_load_with_the_aligned_files_logits() {
    for t in [GgmlType::F32, GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_0] {
        let spec = SyntheticSpec::tiny(t);
        let aligned_path = temp(&format!("{t}-32"));
        spec.write(&aligned_path).expect("write");
        let aligned = Model::open_with(
            &aligned_path,
            ModelOptions {
                threads: 1,
                ..Default::default()
            },
        )
        .expect("open");
        let _ = std::fs::remove_file(&aligned_path);
        assert!(
            aligned.realigned_tensors().is_empty(),
            "{t}: an aligned file needs no copies"
        );
        let want = logits(&aligned);

        for alignment in [1u64, 2] {
            let mut copied_somewhere = false;
            // Paddings 0..4 put the data start at every offset mod 4.
            for pad in 0..4 {
                let (model, data_offset) = write_and_open(&spec, alignment, pad);
                let copied = model.realigned_tensors();
                // An f32 matrix needs 4 bytes, every block type 2: with the
                // data starting at an odd offset (alignment 1) something is
                // always misaligned; at 2 mod 4 the f32 matrices are.
                if data_offset % 2 == 1 || (t == GgmlType::F32 && data_offset % 4 == 2) {
                    assert!(
                        !copied.is_empty(),
                        "{t} alignment {alignment} data at {data_offset}: nothing copied"
                    );
                }
                copied_somewhere |= !copied.is_empty();
                let got = logits(&model);
                let same = got
                    .iter()
                    .zip(&want)
                    .filter(|(a, b)| a.to_bits() == b.to_bits())
                    .count();
                assert_eq!(
                    same,
                    want.len(),
                    "{t} alignment {alignment} pad {pad}: logits differ from the aligned file's"
                );
                // Only misaligned tensors are copied.
                for (name, bytes) in &copied {
                    let view = model.gguf().tensor(name).expect("tensor");
                    assert_eq!(view.data.len(), *bytes);
                    let need = if view.dtype == GgmlType::F32 { 4 } else { 2 };
                    assert!(
                        !(view.data.as_ptr() as usize).is_multiple_of(need),
                        "{name} was aligned yet copied"
                    );
                }
            }
            if alignment == 1 || t == GgmlType::F32 {
                assert!(
                    copied_somewhere,
                    "{t} alignment {alignment}: no padding produced a misaligned tensor"
                );
            }
        }
    }
}
