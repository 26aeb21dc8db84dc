//! The training loop shared by the three recipes: warm-up, BatchNorm freezing, scheduled
//! learning rates for the network / the loss's parameters / AMLoss's margins, periodic
//! evaluation, best and last checkpoints, metrics and plot, and exact resume.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device};
use dml_backbones::{
    Backbone, BackboneConfig, BnInceptionConfig, EmbeddingModel, EmbeddingModelConfig,
    ResNet50Config, SmallCnnConfig,
};
use serde::{Deserialize, Serialize};

use crate::checkpoint::Checkpoint;
use crate::config::{ModelKind, TrainConfig};
use crate::data::{EvalData, TrainData};
use crate::error::{TrainError, TrainResult, io_err};
use crate::evaluate::evaluate;
use crate::loss::TrainLoss;
use crate::metrics::{EpochRecord, EvalRecord, write_metrics};
use crate::optim::{LearningRates, Optimizers};
use crate::plot::loss_recall_svg;
use crate::progress::Progress;

/// Format version of the `meta` section.
const META_VERSION: u32 = 1;

/// The `meta` section of a checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// Format version.
    pub version: u32,
    /// Epochs completed.
    pub epoch: usize,
    /// Optimizer steps taken.
    pub step: u64,
    /// The configuration of the run that wrote it.
    pub config: TrainConfig,
    /// Number of training classes the loss was built for.
    pub num_classes: usize,
    /// Every epoch so far.
    pub history: Vec<EpochRecord>,
    /// `(epoch, Recall@1)` of the best evaluation so far.
    pub best: Option<(usize, f64)>,
}

/// The backbone configuration for `kind`.
pub fn backbone_config(kind: ModelKind) -> BackboneConfig {
    match kind {
        ModelKind::Resnet50 => BackboneConfig::ResNet50(ResNet50Config::new()),
        ModelKind::BnInception => BackboneConfig::BnInception(BnInceptionConfig::new()),
        ModelKind::SmallCnn => BackboneConfig::SmallCnn(SmallCnnConfig::new()),
    }
}

/// Builds the embedding model of `config` (random weights, then `pretrained` PyTorch weights
/// for the backbone if given).
pub fn build_model(config: &TrainConfig, device: &Device) -> TrainResult<EmbeddingModel> {
    let mut model = EmbeddingModelConfig::new(backbone_config(config.model))
        .with_embedding_size(Some(config.embedding_size))
        .with_freeze_batch_norm(config.bn_freeze)
        .init(device);
    if let Some(path) = config.pretrained.as_deref().filter(|p| !p.ends_with(".ckpt")) {
        let err = |e: dml_backbones::BackboneError| TrainError::Model(e.to_string());
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

/// A run in progress: model, loss, optimizers and the record of what happened.
pub struct Trainer {
    /// The resolved configuration.
    pub config: TrainConfig,
    /// The device (autodiff).
    pub device: Device,
    /// The embedding network.
    pub model: EmbeddingModel,
    /// The loss.
    pub loss: TrainLoss,
    /// The optimizers.
    pub optim: Optimizers,
    /// Epochs completed.
    pub epoch: usize,
    /// Optimizer steps taken.
    pub step: u64,
    /// Number of training classes.
    pub num_classes: usize,
    /// Every completed epoch.
    pub history: Vec<EpochRecord>,
    /// `(epoch, Recall@1)` of the best evaluation.
    pub best: Option<(usize, f64)>,
    /// Print the progress line.
    pub show_progress: bool,
}

impl Trainer {
    /// A fresh run (seeded), or the run `config.resume` names, continued.
    pub fn new(config: TrainConfig, num_classes: usize, device: &Device) -> TrainResult<Self> {
        config.validate()?;
        let device = device.clone().autodiff();
        device.seed(config.seed);
        let mut model = build_model(&config, &device)?;
        let init_from = config
            .init_from
            .clone()
            .or_else(|| config.pretrained.clone().filter(|p| p.ends_with(".ckpt")));
        if let Some(path) = init_from {
            let path = PathBuf::from(path);
            let ckpt = Checkpoint::load(&path)?;
            model = load_module(model, ckpt.section("model", &path)?, &path, "model")?;
        }
        let loss = TrainLoss::init(&config, num_classes, &device)?;
        let optim = Optimizers::new(&config);
        let mut trainer = Self {
            config,
            device,
            model,
            loss,
            optim,
            epoch: 0,
            step: 0,
            num_classes,
            history: Vec::new(),
            best: None,
            show_progress: true,
        };
        if let Some(path) = trainer.config.resume.clone() {
            trainer.load_checkpoint(Path::new(&path))?;
        }
        Ok(trainer)
    }

    /// The output directory.
    pub fn output_dir(&self) -> PathBuf {
        PathBuf::from(&self.config.output_dir)
    }

    /// Serializes everything needed to continue the run.
    pub fn checkpoint(&self) -> TrainResult<Checkpoint> {
        let meta = CheckpointMeta {
            version: META_VERSION,
            epoch: self.epoch,
            step: self.step,
            config: self.config.clone(),
            num_classes: self.num_classes,
            history: self.history.clone(),
            best: self.best,
        };
        let mut c = Checkpoint::new();
        c.insert(
            "meta",
            serde_json::to_vec_pretty(&meta).map_err(|e| TrainError::Config(e.to_string()))?,
        );
        c.insert("model", module_bytes(&self.model)?);
        if let TrainLoss::Learnable(l) = &self.loss {
            c.insert("loss", module_bytes(l)?);
        }
        let ob = |o: &burn::optim::ModuleOptimizer| -> TrainResult<Vec<u8>> {
            o.into_bytes()
                .map(|b| b.to_vec())
                .map_err(|e| TrainError::Model(format!("cannot serialize optimizer: {e}")))
        };
        c.insert("optim.model", ob(&self.optim.model)?);
        c.insert("optim.loss", ob(&self.optim.loss)?);
        c.insert("optim.margins", ob(&self.optim.margins)?);
        Ok(c)
    }

    /// Restores model, loss, optimizer states, epoch, step and history from `path`.
    pub fn load_checkpoint(&mut self, path: &Path) -> TrainResult<()> {
        let ckpt = Checkpoint::load(path)?;
        let meta: CheckpointMeta =
            serde_json::from_slice(ckpt.section("meta", path)?).map_err(|e| {
                TrainError::CorruptCheckpoint { path: path.into(), reason: format!("meta: {e}") }
            })?;
        let incompatible =
            |reason: String| TrainError::IncompatibleCheckpoint { path: path.into(), reason };
        if meta.version != META_VERSION {
            return Err(incompatible(format!(
                "format version {} (expected {META_VERSION})",
                meta.version
            )));
        }
        let (a, b) = (&meta.config, &self.config);
        if a.model != b.model || a.loss != b.loss || a.embedding_size != b.embedding_size {
            return Err(incompatible(format!(
                "it holds model {:?} / loss {:?} / embedding size {}, the run asks for {:?} / {:?} / {}",
                a.model, a.loss, a.embedding_size, b.model, b.loss, b.embedding_size
            )));
        }
        if meta.num_classes != self.num_classes {
            return Err(incompatible(format!(
                "{} training classes, the data has {}",
                meta.num_classes, self.num_classes
            )));
        }
        self.model = load_module(self.model.clone(), ckpt.section("model", path)?, path, "model")?;
        if let TrainLoss::Learnable(l) = &self.loss {
            let loaded = load_module(l.clone(), ckpt.section("loss", path)?, path, "loss")?;
            self.loss = TrainLoss::Learnable(loaded);
        }
        let lo = |o: burn::optim::ModuleOptimizer, name: &str| -> TrainResult<_> {
            let bytes = Bytes::from_bytes_vec(ckpt.section(name, path)?.to_vec());
            o.from_bytes(bytes).map_err(|e| TrainError::CorruptCheckpoint {
                path: path.into(),
                reason: format!("{name}: {e}"),
            })
        };
        self.optim.model = lo(self.optim.model.clone(), "optim.model")?;
        self.optim.loss = lo(self.optim.loss.clone(), "optim.loss")?;
        self.optim.margins = lo(self.optim.margins.clone(), "optim.margins")?;
        self.epoch = meta.epoch;
        self.step = meta.step;
        self.history = meta.history;
        self.best = meta.best;
        Ok(())
    }

    /// Trains one epoch (the next one) and returns its record (without evaluation).
    pub fn train_epoch(&mut self, data: &TrainData) -> TrainResult<EpochRecord> {
        let epoch = self.epoch; // 0-based index of the epoch being trained
        let warmup = epoch < self.config.warm;
        let lr = LearningRates::at(&self.config, epoch);
        self.model = self.model.clone().with_warmup(warmup).train();
        let total = match self.config.max_steps_per_epoch {
            Some(m) => m.min(data.num_batches()),
            None => data.num_batches(),
        };
        let mut progress = Progress::new(epoch + 1, self.config.epochs, total, self.show_progress);
        let start = Instant::now();
        let (mut sum, mut steps, mut images) = (0.0, 0usize, 0usize);
        for batch in data.epoch(epoch as u64, &self.device).take(total) {
            let batch = batch?;
            images += batch.labels.dims()[0];
            let embeddings = self.model.forward(batch.images);
            let loss = self.loss.forward(embeddings, batch.labels)?;
            let value = loss.clone().into_scalar::<f32>() as f64;
            if !value.is_finite() {
                return Err(TrainError::NonFiniteLoss { value, epoch: epoch + 1, step: self.step });
            }
            let mut grads = loss.backward();
            let model_grads = GradientsParams::from_module(&mut grads, &self.model);
            if let TrainLoss::Learnable(l) = &self.loss {
                let mut l = l.clone();
                match l.margin_param() {
                    Some(margin_id) => {
                        let margin_grads =
                            GradientsParams::from_params(&mut grads, &l, &[margin_id]);
                        let rest = GradientsParams::from_module(&mut grads, &l);
                        l = self.optim.loss.step(lr.loss, l, rest);
                        l = self.optim.margins.step(lr.margins, l, margin_grads);
                    }
                    None => {
                        let g = GradientsParams::from_module(&mut grads, &l);
                        l = self.optim.loss.step(lr.loss, l, g);
                    }
                }
                self.loss = TrainLoss::Learnable(l);
            }
            self.model = self.optim.model.step(lr.model, self.model.clone(), model_grads);
            self.step += 1;
            steps += 1;
            sum += value;
            progress.update(steps, sum / steps as f64, images);
        }
        let seconds = start.elapsed().as_secs_f64();
        self.epoch += 1;
        Ok(EpochRecord {
            epoch: self.epoch,
            loss: if steps > 0 { sum / steps as f64 } else { f64::NAN },
            lr: lr.model,
            steps,
            images_per_second: images as f64 / seconds.max(1e-9),
            seconds,
            warmup,
            eval: None,
        })
    }

    /// Recall@K and MAP@R of the current model on `data`.
    pub fn evaluate(&self, data: &EvalData) -> TrainResult<EvalRecord> {
        evaluate(&self.model, data, &self.config.recall_ks, self.config.batch_size, &self.device)
    }

    /// Runs the remaining epochs: trains, evaluates every `eval_every` epochs and after the
    /// last, writes `last.ckpt` after every epoch and `best.ckpt` when Recall@1 improves,
    /// `metrics.csv`, `metrics.json` and `plot.svg`. With `stop_after = Some(n)` it returns
    /// after `n` epochs of this call (used to simulate an interruption).
    pub fn fit(
        &mut self,
        train: &TrainData,
        eval: &EvalData,
        stop_after: Option<usize>,
    ) -> TrainResult<()> {
        let dir = self.output_dir();
        std::fs::create_dir_all(&dir).map_err(io_err("creating output directory", &dir))?;
        self.config.save(&dir.join("config.json"))?;
        let mut ran = 0;
        while self.epoch < self.config.epochs {
            if stop_after.is_some_and(|n| ran >= n) {
                break;
            }
            let mut record = self.train_epoch(train)?;
            let e = self.config.eval_every;
            if e > 0 && (self.epoch.is_multiple_of(e) || self.epoch == self.config.epochs) {
                let ev = self.evaluate(eval)?;
                let r1 = ev.recall_at.first().map_or(0.0, |x| x.1);
                let line: Vec<String> =
                    ev.recall_at.iter().map(|(k, r)| format!("R@{k} {:.2}", 100.0 * r)).collect();
                if self.show_progress {
                    eprintln!(
                        "epoch {}: {} MAP@R {:.2}",
                        self.epoch,
                        line.join(" "),
                        100.0 * ev.map_at_r
                    );
                }
                record.eval = Some(ev);
                if self.best.is_none_or(|(_, b)| r1 > b) {
                    self.best = Some((self.epoch, r1));
                    self.history.push(record.clone());
                    self.checkpoint()?.save(&dir.join("best.ckpt"))?;
                    self.history.pop();
                }
            }
            self.history.push(record);
            self.checkpoint()?.save(&dir.join("last.ckpt"))?;
            write_metrics(&dir, &self.config.recall_ks, &self.history)?;
            crate::checkpoint::write_atomic(
                &dir.join("plot.svg"),
                loss_recall_svg(&self.history).as_bytes(),
            )?;
            ran += 1;
        }
        Ok(())
    }
}
