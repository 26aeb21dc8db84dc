//! Helpers shared by dml-train's integration tests: a tiny synthetic run and a serialized
//! trainer (Burn's random generator is global to the device, so runs must not interleave
//! between one run's seed and its weight initialization).

#![allow(dead_code)]

use std::path::Path;

use burn::tensor::Device;
use dml_losses::LossConfig;
use dml_train::config::{LrDecay, SamplerConfig, ScheduleConfig, Span, Unit};
use dml_train::data::load_data;
use dml_train::presets::preset;
use dml_train::{DatasetKind, TrainConfig, Trainer};

/// Serializes the runs of one test binary.
pub static RUNS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Synthetic 28x28 images (4 training classes), small CNN, 16-d embedding, batches of 8 with
/// 2 images per class, 3 epochs of 2 steps, step decay every epoch, a 1-epoch frozen backbone.
pub fn tiny(dir: &Path, loss: &str) -> TrainConfig {
    let mut c = preset(DatasetKind::Synthetic);
    c.run.output_dir = dir.to_string_lossy().into_owned();
    c.loss = LossConfig::default_for(loss).unwrap_or_else(|| panic!("unknown loss {loss}"));
    c.model.embedding_size = Some(16);
    c.data.batch_size = 8;
    c.data.test_batch_size = 8;
    c.data.sampler = SamplerConfig::MPerClass { m: 2, length: None };
    c.run.length = Span::Epochs(3);
    c.run.max_steps_per_epoch = Some(2);
    c.run.recall_ks = vec![1, 2];
    c.run.eval_before = false;
    c.optim.frozen_backbone = Span::Epochs(1);
    c.model.freeze_batch_norm = false;
    c.schedule = ScheduleConfig::new(LrDecay::Step { step_size: 1, gamma: 0.5 }, Unit::Epoch);
    c
}

/// Trains `config` (stopping after `stop_after` steps when given) and returns the trainer.
pub fn run(config: TrainConfig, stop_after: Option<usize>) -> Trainer {
    let _guard = RUNS.lock().unwrap_or_else(|e| e.into_inner());
    let (train, eval) = load_data(&config).expect("data");
    let mut t = Trainer::for_data(config, &train, &Device::flex()).expect("trainer");
    t.show_progress = false;
    t.fit(&train, &eval, stop_after).expect("fit");
    t
}
