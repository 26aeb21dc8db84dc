//! The training loop: optimizer steps counted over the run (epochs or iterations), one
//! optimizer per parameter group with its own schedule, the frozen-backbone warm-up,
//! evaluations and checkpoints at the configured intervals (in epochs or steps), metrics and
//! plot, and an exact resume from any checkpoint (mid-epoch too).

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device, Tensor};
use dml_backbones::precision::forward_in_precision;
use dml_backbones::{Backbone, EmbeddingModel};
use serde::{Deserialize, Serialize};

use crate::checkpoint::Checkpoint;
use crate::config::{Keep, ParamGroup, TrainConfig};
use crate::data::{EvalData, TrainData};
use crate::data_parallel::Shards;
use crate::error::{TrainError, TrainResult, io_err};
use crate::evaluate::{EvalSettings, evaluate};
use crate::loss::TrainLoss;
use crate::metrics::{EpochRecord, EvalRecord, History, write_metrics};
use crate::optim::{
    Optimizers, RunPosition, backbone_frozen, group_lr, param_ids, span_in, unscale_grads,
};
use crate::plot::loss_recall_svg;
use crate::progress::Progress;

/// Format version of the `meta` section.
const META_VERSION: u32 = 2;

/// The running sums of the epoch in progress (checkpointed, so that a run resumed mid-epoch
/// reports the same epoch record).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochProgress {
    /// Sum of the step losses.
    pub loss_sum: f64,
    /// Steps taken.
    pub steps: usize,
    /// Images seen.
    pub images: usize,
    /// Seconds of training.
    pub seconds: f64,
}

/// The best evaluation so far.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Best {
    /// Optimizer steps taken when it ran.
    pub step: usize,
    /// Its headline value (Recall@K for the first configured K).
    pub value: f64,
}

/// One stretch of a run: its first start, or a resume (with the settings that changed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSegment {
    /// Optimizer steps taken when this stretch began.
    pub started_at_step: usize,
    /// Unix time it began.
    pub started_at: u64,
    /// [`crate::provenance::config_hash`] of its configuration.
    pub config_hash: String,
    /// The settings that differ from the previous stretch's (`path: old -> new`), allowed by
    /// `run.allow_config_change`.
    pub changes: Vec<String>,
    /// The previous stretch's configuration, when it differed.
    pub previous_config: Option<TrainConfig>,
}

/// The `meta` section of a checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// Format version.
    pub version: u32,
    /// The run's identity, kept across resumes (the run directory's owner).
    pub run_id: String,
    /// [`crate::provenance::weights_hash`] of the model: the weights' content hash.
    pub model_hash: String,
    /// [`crate::provenance::config_hash`] of the configuration.
    pub config_hash: String,
    /// Every start and resume of the run.
    pub segments: Vec<RunSegment>,
    /// Optimizer steps taken.
    pub step: usize,
    /// Optimizer steps per epoch of the run that wrote it.
    pub steps_per_epoch: usize,
    /// The configuration of the run that wrote it.
    pub config: TrainConfig,
    /// Number of training classes the loss was built for.
    pub num_classes: usize,
    /// Every epoch and evaluation so far.
    pub history: History,
    /// The epoch in progress.
    pub partial: EpochProgress,
    /// The best evaluation so far.
    pub best: Option<Best>,
}

/// Builds the embedding model of `config` (random weights, then `pretrained` PyTorch weights
/// for the backbone if given; a `.ckpt` is loaded by [`Trainer::new`]).
pub fn build_model(config: &TrainConfig, device: &Device) -> TrainResult<EmbeddingModel> {
    let mut model = config.model.init(device);
    if let Some(path) = config.pretrained.as_deref().filter(|p| !p.ends_with(".ckpt")) {
        let err = |e: dml_backbones::BackboneError| TrainError::Model(format!("{path}: {e}"));
        match &mut model.backbone {
            Backbone::ResNet50(b) => {
                b.load_torchvision(path).map_err(err)?;
            }
            Backbone::BnInception(b) => {
                b.load_pretrained(path).map_err(err)?;
            }
            Backbone::SmallCnn(b) => {
                b.load_pytorch(path).map_err(err)?;
            }
        }
    }
    Ok(model)
}

fn module_bytes<M: Module>(module: &M) -> TrainResult<Vec<u8>> {
    // `valid()` folds BatchNorm running-statistic updates still pending into the values saved.
    let bytes = module
        .valid()
        .into_record()
        .into_bytes()
        .map_err(|e| TrainError::Model(format!("cannot serialize module: {e}")))?;
    Ok(bytes.to_vec())
}

/// Loads a module record written by `module_bytes` into `module`; errors name `path`.
pub(crate) fn load_module<M: Module>(
    module: M,
    bytes: &[u8],
    path: &Path,
    what: &str,
) -> TrainResult<M> {
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes.to_vec())).map_err(|e| {
        TrainError::CorruptCheckpoint { path: path.into(), reason: format!("{what}: {e}") }
    })?;
    module.try_load_record(record).map_err(|e| TrainError::IncompatibleCheckpoint {
        path: path.into(),
        reason: format!("{what}: {e}"),
    })
}

/// Reads the `meta` section of a checkpoint.
pub fn read_meta(ckpt: &Checkpoint, path: &Path) -> TrainResult<CheckpointMeta> {
    let bytes = ckpt.section("meta", path)?;
    let version = serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| v.get("version").and_then(serde_json::Value::as_u64));
    if version != Some(META_VERSION as u64) {
        return Err(TrainError::IncompatibleCheckpoint {
            path: path.into(),
            reason: format!(
                "format version {} (this build reads version {META_VERSION})",
                version.map_or("unknown".into(), |v| v.to_string())
            ),
        });
    }
    serde_json::from_slice(bytes).map_err(|e| TrainError::CorruptCheckpoint {
        path: path.into(),
        reason: format!("meta: {e}"),
    })
}

/// A run in progress: model, loss, optimizers and the record of what happened.
pub struct Trainer {
    /// The resolved configuration.
    pub config: TrainConfig,
    /// The device (autodiff); with several devices ([`crate::config::RunConfig::devices`]),
    /// the main one: the loss, the optimizers and evaluation run there.
    pub device: Device,
    /// The other devices of a data-parallel run (autodiff), in `run.devices` order; empty on
    /// one device.
    pub replicas: Vec<Device>,
    /// The embedding network.
    pub model: EmbeddingModel,
    /// The loss (with its miner or memory).
    pub loss: TrainLoss,
    /// The optimizers.
    pub optim: Optimizers,
    /// Optimizer steps taken.
    pub step: usize,
    /// Optimizer steps per epoch.
    pub steps_per_epoch: usize,
    /// Number of training classes.
    pub num_classes: usize,
    /// Every completed epoch and every evaluation.
    pub history: History,
    /// The epoch in progress.
    pub partial: EpochProgress,
    /// The best evaluation.
    pub best: Option<Best>,
    /// Print the progress line and evaluation results.
    pub show_progress: bool,
    /// The run's identity (kept across resumes).
    pub run_id: String,
    /// Every start and resume of the run.
    pub segments: Vec<RunSegment>,
    frozen: Option<bool>,
    run_dir: Option<crate::run_dir::RunDir>,
    pending_changes: Vec<String>,
    pending_previous: Option<TrainConfig>,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A fresh run id: the start time in nanoseconds and the process id, in hex.
fn new_run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}-{:x}", std::process::id())
}

impl Trainer {
    /// A fresh run (seeded) with `steps_per_epoch` batches per epoch, or the run
    /// `config.run.resume` names, continued.
    ///
    /// # Errors
    /// [`TrainError::Config`] for an invalid configuration or an epoch without a batch;
    /// checkpoint errors naming the file.
    pub fn new(
        config: TrainConfig,
        num_classes: usize,
        steps_per_epoch: usize,
        device: &Device,
    ) -> TrainResult<Self> {
        config.validate()?;
        if steps_per_epoch == 0 {
            return Err(TrainError::Config(format!(
                "the training split gives no batch: every epoch would take 0 steps (data.batch_size \
                 {} with the {:?} sampler, run.max_steps_per_epoch {:?})",
                config.data.batch_size, config.data.sampler, config.run.max_steps_per_epoch
            )));
        }
        let device = device.clone().autodiff();
        let replicas: Vec<Device> = crate::device::resolve_run_devices(&config.run)?
            .into_iter()
            .skip(1)
            .map(Device::autodiff)
            .collect();
        if let Some(dtype) = config.run.precision.low_dtype() {
            let names = config.run.device_names();
            for (name, d) in names.iter().zip(std::iter::once(&device).chain(&replicas)) {
                if !d.supports_dtype(dtype) {
                    return Err(TrainError::Config(format!(
                        "`run.precision` {:?}: device `{name}` does not compute in {dtype:?} \
                         (WebGPU's shading language has no bfloat16, and float16 needs an \
                         adapter with shader-f16); use another precision or device",
                        config.run.precision
                    )));
                }
            }
        }
        device.seed(config.run.seed);
        let mut model = build_model(&config, &device)?;
        if let Some(path) = config.pretrained.clone().filter(|p| p.ends_with(".ckpt")) {
            let path = PathBuf::from(path);
            let ckpt = Checkpoint::load(&path)?;
            model = load_module(model, ckpt.section("model", &path)?, &path, "model")?;
        }
        let loss = TrainLoss::init(&config, num_classes, &device)?;
        let optim = Optimizers::new(&config);
        let mut trainer = Self {
            config,
            device,
            replicas,
            model,
            loss,
            optim,
            step: 0,
            steps_per_epoch,
            num_classes,
            history: History::default(),
            partial: EpochProgress::default(),
            best: None,
            show_progress: true,
            run_id: new_run_id(),
            segments: Vec::new(),
            frozen: None,
            run_dir: None,
            pending_changes: Vec::new(),
            pending_previous: None,
        };
        if let Some(path) = trainer.config.run.resume.clone() {
            trainer.load_checkpoint(Path::new(&path))?;
        }
        Ok(trainer)
    }

    /// A run on `train` (its class count, and its batches per epoch capped by
    /// `run.max_steps_per_epoch`).
    pub fn for_data(config: TrainConfig, train: &TrainData, device: &Device) -> TrainResult<Self> {
        let steps = crate::run::steps_per_epoch(&config, train);
        Self::new(config, train.num_classes(), steps, device)
    }

    /// The output directory.
    pub fn output_dir(&self) -> PathBuf {
        PathBuf::from(&self.config.run.output_dir)
    }

    /// Epochs completed.
    pub fn epoch(&self) -> usize {
        self.step / self.steps_per_epoch
    }

    /// The run's length in optimizer steps, and where it stops (`run.max_steps`).
    pub fn total_steps(&self) -> (usize, usize) {
        let total = self.config.run.length.steps(self.steps_per_epoch);
        (total, self.config.run.max_steps.map_or(total, |m| m.min(total)))
    }

    fn position(&self) -> RunPosition {
        RunPosition { step: self.step, epoch: self.epoch(), steps_per_epoch: self.steps_per_epoch }
    }

    /// Serializes everything needed to continue the run.
    pub fn checkpoint(&self) -> TrainResult<Checkpoint> {
        let model = module_bytes(&self.model)?;
        let meta = CheckpointMeta {
            version: META_VERSION,
            run_id: self.run_id.clone(),
            model_hash: crate::provenance::weights_hash(&self.model),
            config_hash: crate::provenance::config_hash(&self.config),
            segments: self.segments.clone(),
            step: self.step,
            steps_per_epoch: self.steps_per_epoch,
            config: self.config.clone(),
            num_classes: self.num_classes,
            history: self.history.clone(),
            partial: self.partial.clone(),
            best: self.best,
        };
        let mut c = Checkpoint::new();
        c.insert(
            "meta",
            serde_json::to_vec_pretty(&meta).map_err(|e| TrainError::Config(e.to_string()))?,
        );
        c.insert("model", model);
        c.insert("loss", module_bytes(self.loss.loss())?);
        if let Some(bytes) = self.loss.memory_bytes()? {
            c.insert("memory", bytes);
        }
        for (name, o) in self.optim.named() {
            let bytes = o
                .into_bytes()
                .map_err(|e| TrainError::Model(format!("cannot serialize {name}: {e}")))?;
            c.insert(name, bytes.to_vec());
        }
        Ok(c)
    }

    /// Restores model, loss, memory, optimizer states, position and history from `path`.
    pub fn load_checkpoint(&mut self, path: &Path) -> TrainResult<()> {
        let ckpt = Checkpoint::load(path)?;
        let meta = read_meta(&ckpt, path)?;
        let incompatible =
            |reason: String| TrainError::IncompatibleCheckpoint { path: path.into(), reason };
        let (a, b) = (&meta.config, &self.config);
        let json = |v: &dyn erased_json::Json| v.json();
        for (what, old, new) in [
            ("model", json(&a.model), json(&b.model)),
            ("loss", json(&a.loss_for(meta.num_classes)), json(&b.loss_for(self.num_classes))),
            ("memory", json(&a.memory), json(&b.memory)),
        ] {
            if old != new {
                return Err(incompatible(format!("it holds {what} {old}, the run asks for {new}")));
            }
        }
        if meta.num_classes != self.num_classes {
            return Err(incompatible(format!(
                "{} training classes, the data has {}",
                meta.num_classes, self.num_classes
            )));
        }
        let old = crate::provenance::computing_settings(a);
        let new = crate::provenance::computing_settings(b);
        let changes = crate::provenance::differences(&old, &new);
        // Moving a run to other devices (or another device count) is what resuming is for: the
        // checkpoint does not depend on them. Such a change is recorded, not refused.
        // Synchronized BatchNorm statistics are part of how a batch is spread over devices.
        let moved =
            |c: &String| c.starts_with("run.device") || c.starts_with("run.sync_batch_norm");
        if changes.iter().any(|c| !moved(c)) && !b.run.allow_config_change {
            return Err(incompatible(format!(
                "the run's settings changed, which breaks an exact continuation: {}; pass \
                 --allow-config-change to resume anyway (the run's history.json keeps both)",
                changes.iter().filter(|c| !moved(c)).cloned().collect::<Vec<_>>().join("; ")
            )));
        }
        if !changes.is_empty() {
            self.pending_changes = changes;
            self.pending_previous = Some(a.clone());
        }
        if meta.steps_per_epoch != self.steps_per_epoch {
            return Err(incompatible(format!(
                "{} steps per epoch, the data gives {}",
                meta.steps_per_epoch, self.steps_per_epoch
            )));
        }
        self.model = load_module(self.model.clone(), ckpt.section("model", path)?, path, "model")?;
        let loaded =
            load_module(self.loss.loss().clone(), ckpt.section("loss", path)?, path, "loss")?;
        *self.loss.loss_mut() = loaded;
        if let Ok(bytes) = ckpt.section("memory", path) {
            self.loss.restore_memory(bytes, &path.display().to_string())?;
        }
        let names: Vec<&'static str> = self.optim.named().iter().map(|(n, _)| *n).collect();
        for name in names {
            let bytes = Bytes::from_bytes_vec(ckpt.section(name, path)?.to_vec());
            if let Some(o) = self.optim.get_mut(name) {
                *o = o.clone().from_bytes(bytes).map_err(|e| TrainError::CorruptCheckpoint {
                    path: path.into(),
                    reason: format!("{name}: {e}"),
                })?;
            }
        }
        let actual = crate::provenance::weights_hash(&self.model);
        if actual != meta.model_hash {
            return Err(TrainError::CorruptCheckpoint {
                path: path.into(),
                reason: format!(
                    "its weights hash to {actual}, its metadata says {}",
                    meta.model_hash
                ),
            });
        }
        self.run_id = meta.run_id;
        self.segments = meta.segments;
        self.step = meta.step;
        self.history = meta.history;
        self.partial = meta.partial;
        self.best = meta.best;
        self.frozen = None;
        Ok(())
    }

    /// Sets the backbone's frozen state for the step about to be taken (on a fresh or a
    /// resumed run alike: the state is a function of the position).
    fn apply_frozen_backbone(&mut self) {
        let frozen = backbone_frozen(&self.config, self.position());
        if self.frozen == Some(frozen) {
            return;
        }
        let mut model = self.model.clone().with_warmup(frozen);
        let warm = span_in(
            self.config.optim.frozen_backbone,
            crate::config::Unit::Iteration,
            self.steps_per_epoch,
        );
        if !frozen && warm > 0 && self.config.optim.frozen_backbone_releases_batch_norm {
            model = model.release_batch_norm_affine();
        }
        self.model = model.train();
        self.frozen = Some(frozen);
    }

    /// One optimizer step on `batch`; returns the loss value.
    fn train_step(&mut self, batch: crate::data::Batch) -> TrainResult<f64> {
        self.apply_frozen_backbone();
        let at = self.position();
        let lr = |g| group_lr(&self.config, g, at);
        let scale = self.config.run.loss_scale;
        let check = |loss: &Tensor<1>, step: usize| {
            let value = loss.clone().into_scalar::<f32>() as f64;
            if value.is_finite() {
                Ok(value)
            } else {
                Err(TrainError::NonFiniteLoss { value, epoch: at.epoch + 1, step: step as u64 })
            }
        };
        let scaled = |loss: Tensor<1>| if scale != 1.0 { loss.mul_scalar(scale) } else { loss };
        // The model's gradients (one set per device) and, on several devices, the loss's own
        // (on one device they are all in the same set).
        let precision = self.config.run.precision.low_dtype();
        let (value, mut model_grads, shards, loss_grads) = if self.replicas.is_empty() {
            let embeddings = forward_in_precision(&self.model, batch.images, precision);
            let loss = self.loss.forward(embeddings, &batch.labels)?;
            let value = check(&loss, self.step)?;
            (value, vec![scaled(loss).backward()], None, None)
        } else {
            let (shards, gathered) = if self.config.run.sync_batch_norm {
                // One graph through the shared BatchNorm statistics: the loss's input is the
                // shards' embeddings themselves, and one backward pass reaches every replica.
                let shards =
                    Shards::forward_synced(&self.model, batch.images, &self.replicas, precision);
                let joined = shards.joined(&self.device);
                (shards, joined)
            } else {
                let shards = Shards::forward(&self.model, batch.images, &self.replicas, precision);
                let gathered = shards.gathered(&self.device);
                (shards, gathered)
            };
            let loss = if self.config.run.loss_per_device {
                // Each shard's loss on its own samples, averaged over the shards.
                let mut start = 0;
                let mut total: Option<Tensor<1>> = None;
                for e in &shards.embeddings {
                    let len = e.dims()[0];
                    let part = self.loss.forward(
                        gathered.clone().narrow(0, start, len),
                        &batch.labels[start..start + len],
                    )?;
                    start += len;
                    total = Some(match total {
                        Some(t) => t + part,
                        None => part,
                    });
                }
                let total = total.expect("at least one shard");
                total.div_scalar(shards.embeddings.len() as f64)
            } else {
                self.loss.forward(gathered.clone(), &batch.labels)?
            };
            let value = check(&loss, self.step)?;
            let mut grads = scaled(loss).backward();
            if shards.synced {
                // The model's and the loss's gradients in the one set.
                (value, vec![grads], Some(shards), None)
            } else {
                let grad = gathered
                    .grad_remove(&mut grads)
                    .unwrap_or_else(|| gathered.clone().inner().zeros_like());
                (value, shards.backward(grad), Some(shards), Some(grads))
            }
        };
        crate::fault::pause("mid-step", self.step + 1);
        // Parameter ids come from the module as it is now (loading a checkpoint gives the
        // parameters the ids it recorded).
        let head_ids = param_ids(&self.model.head).0;
        let (mut backbone_ids, norm_ids) = param_ids(&self.model.backbone);
        let norm_ids = if self.config.optim.decay_batch_norm {
            backbone_ids.extend(norm_ids);
            Vec::new()
        } else {
            norm_ids
        };
        let model = &self.model;
        let mut group = |ids: &[burn::module::ParamId]| match &shards {
            None => GradientsParams::from_params(&mut model_grads[0], model, ids),
            Some(s) => crate::data_parallel::sum_gradients(&mut model_grads, s, model, ids),
        };
        let mut head = group(&head_ids);
        let mut backbone = group(&backbone_ids);
        let mut norm = group(&norm_ids);
        let mut grads = match loss_grads {
            Some(g) => g,
            None => model_grads.swap_remove(0),
        };
        let margin_ids = self.loss.loss().margin_params();
        let mut margins = GradientsParams::from_params(&mut grads, self.loss.loss(), &margin_ids);
        let mut rest = GradientsParams::from_module(&mut grads, self.loss.loss());
        if scale != 1.0 {
            for g in [&mut head, &mut backbone, &mut norm] {
                unscale_grads(g, &self.model, scale);
            }
            for g in [&mut margins, &mut rest] {
                unscale_grads(g, self.loss.loss(), scale);
            }
        }
        let o = &self.config.optim;
        let mut model = self.model.clone();
        if !o.backbone.frozen {
            model = self.optim.backbone.step(lr(ParamGroup::Backbone), model, backbone);
            model = self.optim.backbone_norm.step(lr(ParamGroup::Backbone), model, norm);
        }
        if !o.head.frozen {
            model = self.optim.head.step(lr(ParamGroup::Head), model, head);
        }
        self.model = model;
        let mut l = self.loss.loss().clone();
        if !o.loss.frozen {
            l = self.optim.loss.step(lr(ParamGroup::Loss), l, rest);
        }
        if !o.margins.frozen && !margin_ids.is_empty() {
            l = self.optim.margins.step(lr(ParamGroup::Margins), l, margins);
        }
        *self.loss.loss_mut() = l;
        self.step += 1;
        Ok(value)
    }

    /// Evaluates the current model on `data` and records it.
    pub fn evaluate(&mut self, data: &EvalData) -> TrainResult<EvalRecord> {
        let settings = EvalSettings::of(&self.config);
        let mut record = evaluate(&self.model, data, &settings, &self.device)?;
        record.step = self.step;
        record.epoch = self.step as f64 / self.steps_per_epoch as f64;
        if self.show_progress {
            let line: Vec<String> =
                record.recall_at.iter().map(|(k, r)| format!("R@{k} {:.2}", 100.0 * r)).collect();
            eprintln!(
                "step {} (epoch {:.2}): {} MAP@R {:.2}",
                record.step,
                record.epoch,
                line.join(" "),
                100.0 * record.map_at_r
            );
        }
        self.history.evaluations.push(record.clone());
        Ok(record)
    }

    /// `last.ckpt`, and a numbered copy when `numbered` and `run.keep_checkpoints` asks.
    fn write_checkpoints(&self, dir: &Path, numbered: bool) -> TrainResult<()> {
        let ckpt = self.checkpoint()?;
        let step = self.step;
        ckpt.save_with(&dir.join("last.ckpt"), &|| {
            crate::fault::pause("mid-checkpoint-write", step)
        })?;
        crate::fault::pause("between-writes", step);
        if numbered && self.config.run.keep_checkpoints != Keep::None {
            ckpt.save(&dir.join(format!("step-{:09}.ckpt", self.step)))?;
            if let Keep::Last(n) = self.config.run.keep_checkpoints {
                let mut numbered: Vec<PathBuf> = std::fs::read_dir(dir)
                    .map_err(io_err("listing", dir))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with("step-") && n.ends_with(".ckpt"))
                    })
                    .collect();
                numbered.sort();
                let excess = numbered.len().saturating_sub(n);
                for old in &numbered[..excess] {
                    std::fs::remove_file(old).map_err(io_err("removing", old))?;
                }
            }
        }
        Ok(())
    }

    /// `metrics.csv`, `evaluations.csv`, `metrics.json` and `plot.svg`.
    fn write_metrics(&self, dir: &Path) -> TrainResult<()> {
        write_metrics(dir, &self.config.run.recall_ks, &self.history)?;
        crate::checkpoint::write_atomic(
            &dir.join("plot.svg"),
            loss_recall_svg(&self.history).as_bytes(),
        )
    }

    /// Runs the rest of the run: trains, evaluates and checkpoints at the configured intervals
    /// and after the last step, writes `metrics.csv`, `evaluations.csv`, `metrics.json` and
    /// `plot.svg`. With `stop_after = Some(n)` it returns after `n` steps of this call (used to
    /// simulate an interruption).
    ///
    /// # Errors
    /// Any data, loss or checkpoint error, and [`TrainError::Config`] when the run would take
    /// no optimizer step.
    pub fn fit(
        &mut self,
        train: &TrainData,
        eval: &EvalData,
        stop_after: Option<usize>,
    ) -> TrainResult<()> {
        let result = self.fit_holding_the_directory(train, eval, stop_after);
        // The directory is the run's while it trains: released when this call ends.
        self.run_dir = None;
        result
    }

    fn fit_holding_the_directory(
        &mut self,
        train: &TrainData,
        eval: &EvalData,
        stop_after: Option<usize>,
    ) -> TrainResult<()> {
        let dir = self.output_dir();
        self.run_dir =
            Some(crate::run_dir::RunDir::claim(&dir, &self.run_id, self.config.run.overwrite)?);
        let (total, limit) = self.total_steps();
        if self.step >= limit {
            return Err(TrainError::Config(format!(
                "nothing to train: the run is at step {} of {limit} (run.length {:?}{}); a run \
                 that takes no optimizer step is not a result",
                self.step,
                self.config.run.length,
                self.config.run.max_steps.map_or(String::new(), |m| format!(", run.max_steps {m}"))
            )));
        }
        if self.segments.last().is_none_or(|s| s.started_at_step != self.step) {
            self.segments.push(RunSegment {
                started_at_step: self.step,
                started_at: unix_now(),
                config_hash: crate::provenance::config_hash(&self.config),
                changes: std::mem::take(&mut self.pending_changes),
                previous_config: self.pending_previous.take(),
            });
        }
        self.config.save(&dir.join("config.json"))?;
        let history = serde_json::to_string_pretty(&serde_json::json!({
            "run_id": self.run_id,
            "segments": self.segments,
        }))
        .map_err(|e| TrainError::Config(e.to_string()))?;
        crate::checkpoint::write_atomic(&dir.join("history.json"), history.as_bytes())?;
        if self.step == 0 && self.config.run.eval_before && self.history.evaluations.is_empty() {
            self.evaluate(eval)?;
        }
        let spe = self.steps_per_epoch;
        let mut ran = 0;
        'run: while self.step < limit {
            let epoch = self.epoch();
            let first = self.step % spe;
            let mut progress = Progress::new(
                epoch + 1,
                span_in(self.config.run.length, crate::config::Unit::Epoch, spe),
                spe,
                self.show_progress,
            )
            .with_every(self.config.run.log_every);
            let mut start = Instant::now();
            for batch in train.epoch_from(epoch as u64, first, &self.device).take(spe - first) {
                let batch = batch?;
                let images = batch.labels.len();
                let value = self.train_step(batch)?;
                self.partial.loss_sum += value;
                self.partial.steps += 1;
                self.partial.images += images;
                let now = Instant::now();
                self.partial.seconds += (now - start).as_secs_f64();
                start = now;
                progress.update(
                    self.step - epoch * spe,
                    self.partial.loss_sum / self.partial.steps as f64,
                    self.partial.images,
                    self.partial.seconds,
                );
                ran += 1;
                let at_epoch_end = self.step.is_multiple_of(spe);
                if at_epoch_end {
                    let p = std::mem::take(&mut self.partial);
                    self.history.epochs.push(EpochRecord {
                        epoch: self.epoch(),
                        loss: p.loss_sum / p.steps.max(1) as f64,
                        lr: group_lr(
                            &self.config,
                            ParamGroup::Backbone,
                            RunPosition { step: self.step - 1, epoch, steps_per_epoch: spe },
                        ),
                        steps: p.steps,
                        images_per_second: p.images as f64 / p.seconds.max(1e-9),
                        seconds: p.seconds,
                        frozen_backbone: self.frozen.unwrap_or(false),
                    });
                }
                let end = self.step == limit;
                let run = &self.config.run;
                let eval_due =
                    run.eval_every.is_some_and(|s| s.due(self.step, self.epoch(), at_epoch_end))
                        || (self.step == total && run.eval_at_end);
                if eval_due {
                    let record = self.evaluate(eval)?;
                    if self.best.is_none_or(|b| record.headline() > b.value) {
                        self.best = Some(Best { step: self.step, value: record.headline() });
                        self.checkpoint()?.save(&dir.join("best.ckpt"))?;
                    }
                }
                let checkpoint_due = self
                    .config
                    .run
                    .checkpoint_every
                    .is_some_and(|s| s.due(self.step, self.epoch(), at_epoch_end));
                if checkpoint_due || end {
                    self.write_checkpoints(&dir, checkpoint_due)?;
                }
                if checkpoint_due || eval_due || end || at_epoch_end {
                    self.write_metrics(&dir)?;
                }
                if end || stop_after.is_some_and(|n| ran >= n) {
                    break 'run;
                }
            }
        }
        Ok(())
    }
}

/// JSON views of configuration parts, to compare them.
mod erased_json {
    /// A value that serializes to JSON.
    pub trait Json {
        /// Its JSON text.
        fn json(&self) -> String;
    }

    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> String {
            serde_json::to_string(self).unwrap_or_default()
        }
    }
}
