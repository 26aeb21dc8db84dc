//! A checkpoint trained on the CPU embeds the same images to the same vectors on another
//! backend (libtorch, wgpu, CUDA), to float tolerance.
//!
//! The backend is named by `DML_TEST_DEVICE` in a build with its feature, so the test is
//! ignored in the default build; `tools/test_backends.sh` runs it with `tch:cpu` and `wgpu`.

use std::path::Path;

use burn::tensor::Device;
use dml::data::Split;
use dml::train::config::{SamplerConfig, Span};
use dml::train::data::load_data;
use dml::train::infer::{EmbeddingFile, TrainedModel, embed_split};
use dml::train::presets::preset;
use dml::train::{DatasetKind, Trainer};

/// Trains the synthetic preset's small CNN for two steps on the CPU, into `dir`.
fn train_on_cpu(dir: &Path) {
    let mut c = preset(DatasetKind::Synthetic);
    c.run.output_dir = dir.to_string_lossy().into_owned();
    c.loss = dml::losses::LossConfig::default_for("MultiSimilarityLoss").expect("loss");
    c.model.embedding_size = Some(16);
    c.data.batch_size = 8;
    c.data.sampler = SamplerConfig::MPerClass { m: 2, length: None };
    c.run.length = Span::Epochs(1);
    c.run.max_steps_per_epoch = Some(2);
    c.run.recall_ks = vec![1];
    let (train, eval) = load_data(&c).expect("data");
    let mut t = Trainer::for_data(c, &train, &Device::flex()).expect("trainer");
    t.show_progress = false;
    t.fit(&train, &eval, None).expect("fit");
}

fn embed_on(checkpoint: &Path, device: &Device) -> EmbeddingFile {
    let model = TrainedModel::load(checkpoint, device)
        .unwrap_or_else(|e| panic!("loading the checkpoint on {device:?}: {e}"));
    embed_split(&model, "", Split::Test, 5, 0, device)
        .unwrap_or_else(|e| panic!("embedding on {device:?}: {e}"))
}

#[test]
#[ignore = "needs DML_TEST_DEVICE and a build with that backend's feature (tools/test_backends.sh)"]
fn a_cpu_checkpoint_embeds_the_same_on_another_backend() {
    let name = std::env::var("DML_TEST_DEVICE")
        .expect("set DML_TEST_DEVICE to the backend to compare with the CPU, e.g. tch:cpu");
    let other = dml::train::device::resolve_device(&name)
        .unwrap_or_else(|e| panic!("DML_TEST_DEVICE={name}: {e}"));
    assert_ne!(other, Device::flex(), "DML_TEST_DEVICE={name} is the CPU backend itself");

    let dir = tempfile::tempdir().expect("tempdir");
    train_on_cpu(dir.path());
    let checkpoint = dir.path().join("last.ckpt");
    let on_cpu = embed_on(&checkpoint, &Device::flex());
    let on_other = embed_on(&checkpoint, &other);

    assert_eq!((on_other.rows(), on_other.dim), (on_cpu.rows(), on_cpu.dim));
    assert_eq!(on_other.paths, on_cpu.paths);
    assert_eq!(on_other.labels, on_cpu.labels);
    let scale = on_cpu.embeddings.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1.0);
    let worst = on_cpu
        .embeddings
        .iter()
        .zip(&on_other.embeddings)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        worst <= 1e-4 * scale,
        "{name} differs from the CPU by {worst} (largest |value| {scale})"
    );
    eprintln!(
        "{name}: {} embeddings of size {}, largest difference from the CPU {worst:e}",
        on_cpu.rows(),
        on_cpu.dim
    );
}
