//! The run part of a training configuration: its length, evaluation and checkpoint intervals,
//! where results go, the seed and the device.

use serde::{Deserialize, Serialize};

use super::Unit;
use crate::error::{TrainError, TrainResult};

/// A length or an interval, counted in epochs or in optimizer steps (iterations). In files:
/// `{ epochs = 60 }` or `{ iterations = 30000 }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Span {
    /// Whole epochs.
    Epochs(usize),
    /// Optimizer steps.
    Iterations(usize),
}

impl Span {
    /// One default per variant (the configuration registry).
    pub fn defaults() -> Vec<Self> {
        vec![Self::Epochs(1), Self::Iterations(1)]
    }

    /// The count, in the span's unit.
    pub fn count(self) -> usize {
        match self {
            Self::Epochs(n) | Self::Iterations(n) => n,
        }
    }

    /// The span's unit.
    pub fn unit(self) -> Unit {
        match self {
            Self::Epochs(_) => Unit::Epoch,
            Self::Iterations(_) => Unit::Iteration,
        }
    }

    /// The span in optimizer steps, for `steps_per_epoch` steps per epoch.
    pub fn steps(self, steps_per_epoch: usize) -> usize {
        match self {
            Self::Epochs(n) => n.saturating_mul(steps_per_epoch),
            Self::Iterations(n) => n,
        }
    }

    /// True when an interval of this span ends after `step` steps (1-based count of steps
    /// taken) or, for epoch spans, after `epoch` whole epochs with `at_epoch_end`.
    pub fn due(self, step: usize, epoch: usize, at_epoch_end: bool) -> bool {
        match self {
            Self::Epochs(n) => n > 0 && at_epoch_end && epoch.is_multiple_of(n),
            Self::Iterations(n) => n > 0 && step.is_multiple_of(n),
        }
    }
}

/// Which numbered checkpoints a run keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Keep {
    /// None: only `last.ckpt` and `best.ckpt`.
    None,
    /// The newest `n` (MindSpore's `keep_checkpoint_max`).
    Last(usize),
    /// Every one (PaddlePaddle never deletes a checkpoint).
    All,
}

impl Keep {
    /// One default per variant (the configuration registry).
    pub fn defaults() -> Vec<Self> {
        vec![Self::None, Self::Last(1), Self::All]
    }
}

/// The precision the network computes in (`run.precision`). The master weights, the optimizer
/// state, BatchNorm and the loss stay float32 (see [`dml_backbones::precision`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// float32 throughout.
    #[default]
    F32,
    /// The backbone and head in bfloat16 (float32's range, 8 bits of mantissa).
    Bf16,
    /// The backbone and head in float16 (use `run.loss_scale` against underflowing gradients).
    F16,
}

impl Precision {
    /// The low-precision dtype, `None` for float32.
    pub fn low_dtype(self) -> Option<burn::tensor::FloatDType> {
        match self {
            Self::F32 => None,
            Self::Bf16 => Some(burn::tensor::FloatDType::BF16),
            Self::F16 => Some(burn::tensor::FloatDType::F16),
        }
    }

    /// True for float32.
    pub fn is_f32(&self) -> bool {
        *self == Self::F32
    }
}

/// How long a run trains, when it evaluates and checkpoints, and where it writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// The run's length.
    pub length: Span,
    /// Evaluate every this much; `None` never during the run.
    pub eval_every: Option<Span>,
    /// Evaluate the network before the first step (the online-metric-learning seed; the
    /// examples print it as "untrained").
    pub eval_before: bool,
    /// Evaluate after the last step (when `eval_every` has not just done so).
    pub eval_at_end: bool,
    /// Write `last.ckpt` every this much (and after the last step); `None` only after the last
    /// step.
    pub checkpoint_every: Option<Span>,
    /// Numbered checkpoints (`step-00000123.ckpt`, written with every `last.ckpt`) kept beside
    /// `last.ckpt` and `best.ckpt`, the oldest removed first.
    pub keep_checkpoints: Keep,
    /// The K of Recall@K, ascending; the first is the one `best.ckpt` follows.
    pub recall_ks: Vec<usize>,
    /// Also compute NMI and AMI (k-means on the test embeddings) at each evaluation.
    pub clustering_metrics: bool,
    /// Where checkpoints, `config.json`, metrics and the plot are written.
    pub output_dir: String,
    /// Resume from this checkpoint (model, loss, optimizers, position in the run).
    pub resume: Option<String>,
    /// Seed of weights, sampling and augmentation.
    pub seed: u64,
    /// The device: `cpu` (Burn's pure-Rust `flex` backend) or an accelerator of the build.
    pub device: String,
    /// Data-parallel training on these devices (`["cuda:0", "cuda:1"]`; a name may repeat):
    /// each runs the network on its shard of every batch, the loss sees the whole batch (see
    /// [`crate::data_parallel`]). The first is the main device (loss, optimizers, evaluation).
    /// Replaces `device` when given; empty trains on `device` alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<String>,
    /// With several `devices`: compute the loss on each device's shard alone and average the
    /// shards' losses (MindSpore's and PyTorch DDP's data parallelism, where a device mines
    /// only its own samples) instead of once on the global batch (LDM's `DataParallel`, the
    /// default).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub loss_per_device: bool,
    /// With several `devices` and BatchNorm in training mode: normalize every shard with the
    /// statistics of the whole batch (PyTorch's `SyncBatchNorm`; the gradient flows through the
    /// global statistics into every shard), so that the run equals the one-device run with the
    /// same batch. Off (the default), each device normalizes with its own shard's statistics,
    /// as PyTorch's DistributedDataParallel does. No effect on one device.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sync_batch_norm: bool,
    /// The precision of the network's forward and backward passes in training (mixed
    /// precision: float32 master weights, BatchNorm and loss); evaluation runs in float32.
    #[serde(default, skip_serializing_if = "Precision::is_f32")]
    pub precision: Precision,
    /// Stop each epoch after this many steps (smoke runs); `None` runs whole epochs.
    pub max_steps_per_epoch: Option<usize>,
    /// Stop the run after this many optimizer steps in all (smoke runs; the schedule keeps
    /// the configured length); `None` runs to the end.
    pub max_steps: Option<usize>,
    /// Print the progress line every this many steps (PaddlePaddle's `display_iter_step`);
    /// `None` redraws it on a terminal and prints it every 10 s in logs.
    pub log_every: Option<usize>,
    /// Replace the results of an earlier run found in `output_dir` (otherwise such a directory
    /// is refused).
    pub overwrite: bool,
    /// Resume even though the configuration differs from the checkpoint's in settings that
    /// change what is computed (the run's `history.json` records both).
    pub allow_config_change: bool,
    /// Static loss scale (MindSpore's `loss_scale`): the loss is multiplied by it before the
    /// backward pass and every gradient divided by it after. A power of two, so that in float32
    /// the scaled run is bit-identical to the unscaled one.
    pub loss_scale: f64,
}

impl RunConfig {
    /// The devices the run trains on: `devices` when given, else `device` alone. The first is
    /// the main device.
    pub fn device_names(&self) -> Vec<&str> {
        if self.devices.is_empty() {
            vec![self.device.as_str()]
        } else {
            self.devices.iter().map(String::as_str).collect()
        }
    }

    /// The settings a configuration's JSON leaves out at their defaults (so that the
    /// configurations and hashes of runs from before them are unchanged), with those defaults:
    /// a patch (a file, `--set`) may still set them.
    pub fn hidden_defaults() -> serde_json::Value {
        serde_json::json!({
            "devices": [],
            "loss_per_device": false,
            "sync_batch_norm": false,
            "precision": Precision::F32,
        })
    }

    /// `length` long, evaluating and checkpointing every epoch, into `output_dir`.
    pub fn new(length: Span, output_dir: impl Into<String>) -> Self {
        Self {
            length,
            eval_every: Some(Span::Epochs(1)),
            eval_before: false,
            eval_at_end: true,
            checkpoint_every: Some(Span::Epochs(1)),
            keep_checkpoints: Keep::None,
            recall_ks: vec![1, 2, 4, 8],
            clustering_metrics: false,
            output_dir: output_dir.into(),
            resume: None,
            seed: 1,
            device: "cpu".into(),
            devices: Vec::new(),
            loss_per_device: false,
            sync_batch_norm: false,
            precision: Precision::F32,
            max_steps_per_epoch: None,
            max_steps: None,
            log_every: None,
            overwrite: false,
            allow_config_change: false,
            loss_scale: 1.0,
        }
    }

    /// Checks every field; errors name the key (`run.recall_ks`).
    pub fn validate(&self) -> TrainResult<()> {
        let bad = |key: &str, why: String| Err(TrainError::Config(format!("`run.{key}` {why}")));
        if self.length.count() == 0 {
            return bad("length", "must be at least 1 epoch or iteration".into());
        }
        if self.eval_every.is_some_and(|s| s.count() == 0) {
            return bad(
                "eval_every",
                "must be at least 1 (leave it out to evaluate at the end only)".into(),
            );
        }
        if self.checkpoint_every.is_some_and(|s| s.count() == 0) {
            return bad("checkpoint_every", "must be at least 1".into());
        }
        if self.recall_ks.is_empty()
            || self.recall_ks.contains(&0)
            || self.recall_ks.windows(2).any(|w| w[0] >= w[1])
        {
            return bad(
                "recall_ks",
                format!(
                    "must be non-empty, >= 1 and strictly increasing, got {:?}",
                    self.recall_ks
                ),
            );
        }
        if self.output_dir.is_empty() {
            return bad("output_dir", "must not be empty".into());
        }
        if self.max_steps_per_epoch == Some(0) {
            return bad("max_steps_per_epoch", "must be at least 1 (a run must take steps)".into());
        }
        if self.max_steps == Some(0) {
            return bad("max_steps", "must be at least 1 (a run must take steps)".into());
        }
        if self.log_every == Some(0) {
            return bad("log_every", "must be at least 1".into());
        }
        if let Some(i) = self.devices.iter().position(|d| d.trim().is_empty()) {
            return bad("devices", format!("entry {i} is empty, in {:?}", self.devices));
        }
        let s = self.loss_scale;
        if !(s.is_finite() && s > 0.0 && s.log2().fract() == 0.0) {
            return bad(
                "loss_scale",
                format!("must be a power of two (1, 2, ..., 1024, ...), got {s}"),
            );
        }
        Ok(())
    }
}
