//! MindSpore's metric_learn (`research/cv/metric_learn` of mindspore-ai/models): `train.py`'s
//! flags and its `config.py` / `config_gpu.py` dictionaries (`--config` takes a JSON or TOML
//! file with those keys), mapped to a [`TrainConfig`].
//!
//! What the code does, and so what the mapping builds:
//! - ResNet50, global average pooling, the 2048-d feature (no embedding layer); softmax trains
//!   a `Dense(2048, class_num)` head, triplet and quadruplet train the backbone alone;
//! - `Momentum(momentum, weight_decay, loss_scale)`: SGD with momentum, L2 weight decay on every
//!   parameter whose name holds neither `gamma` nor `beta` (BatchNorm is not decayed), a fixed
//!   loss scale;
//! - the learning rate of `lr_generator.get_lr` per step over `epoch_size` epochs (`const`,
//!   `steps`, `poly`, `liner`; other names fall back to `steps` as its code does), the run
//!   `epoch_size - pretrain_epoch_size` epochs long;
//! - checkpoints every `save_checkpoint_epochs`, the newest `keep_checkpoint_max` kept, in
//!   `save_checkpoint_path/model_<device_id>/`; Recall@1 after every epoch with
//!   `--run_eval=True`;
//! - SOP's half split (the README's: `class_num` 5184), or the tiny one (160) or the full one
//!   (11318); training crops `RandomResizedCrop(224)` without a flip, evaluation the shorter
//!   side resized to 224 then squashed to 224 x 224; the BGR channels normalized with the RGB
//!   ImageNet statistics (its images come from OpenCV and are never converted).
//! - softmax: random batches; triplet: consecutive (anchor, positive, negative) triples with a
//!   margin of 0.1 on squared normalized distances, the gradient of their sum; quadruplet: two
//!   images per class, margin 0.1.
//!
//! Not reproduced (docs/training.md): float16 computation (`amp_level="O3"`; dml trains in
//! float32, where the power-of-two loss scale changes nothing), BatchNorm epsilon 1e-4, bicubic
//! crops, 8-device training.

use clap::Parser;
use dml_backbones::{BackboneConfig, EmbeddingModelConfig, Pooling, ResNet50Config};
use dml_data::{Normalization, PipelineConfig, SopSubset, Transform};
use dml_losses::{
    Distance, EmbeddingsAlreadyPackagedAsTripletsConfig, LossConfig, MinerConfig,
    QuadrupletLossConfig, Reducer, SoftmaxLossConfig, TripletMarginLossConfig,
};
use serde_json::{Map, Value};

use super::{CommonArgs, parse_bool, unsupported};
use crate::config::layers::read_file;
use crate::config::{
    DataConfig, DatasetKind, Keep, LrDecay, OptimConfig, OptimizerConfig, SamplerConfig,
    ScheduleConfig, Span, TrainConfig, Unit,
};
use crate::error::{TrainError, TrainResult};

/// `train.py`'s flags, plus `--config` (a file of `config.py` keys) and dml's [`CommonArgs`].
#[derive(Parser, Debug, Clone)]
#[command(about = "MindSpore's metric_learn train.py")]
#[command(infer_long_args = true)]
pub struct MindSporeArgs {
    /// softmax | triplet | quadruplet.
    #[arg(long, default_value = "softmax")]
    pub loss_name: String,
    /// The `Stanford_Online_Products` directory.
    #[arg(long)]
    pub dataset_path: Option<String>,
    /// A checkpoint whose backbone initializes the network (a torchvision `.pth` /
    /// `.safetensors`, or a dml `.ckpt` of the softmax run).
    #[arg(long)]
    pub ckpt_path: Option<String>,
    /// Data-parallel training over the ranks' devices (named with `--devices`; each rank's
    /// loss on its own `batch_size` samples, gradients averaged).
    #[arg(long, value_parser = parse_bool, default_value = "False", action = clap::ArgAction::Set)]
    pub run_distribute: bool,
    /// The device index.
    #[arg(long, default_value_t = 0)]
    pub device_id: usize,
    /// ModelArts paths (not reproduced).
    #[arg(long, value_parser = parse_bool, default_value = "False", action = clap::ArgAction::Set)]
    pub run_modelarts: bool,
    /// Ascend | GPU | CPU (Ascend has no backend in dml).
    #[arg(long, default_value = "Ascend")]
    pub device_target: String,
    /// Evaluate Recall@1 after every epoch.
    #[arg(long, value_parser = parse_bool, default_value = "False", action = clap::ArgAction::Set)]
    pub run_eval: bool,
    /// ModelArts output (used with --run_modelarts only).
    #[arg(long)]
    pub train_url: Option<String>,
    /// ModelArts data (used with --run_modelarts only).
    #[arg(long)]
    pub data_url: Option<String>,
    /// ModelArts checkpoints (used with --run_modelarts only).
    #[arg(long)]
    pub ckpt_url: Option<String>,
    /// ModelArts checkpoint name (used with --run_modelarts only).
    #[arg(long)]
    pub checkpoint_name: Option<String>,
    /// A JSON / TOML file of `config.py` keys (`batch_size`, `lr_max`, `lr_decay_mode`, ...)
    /// replacing the loss's dictionary entries; keys of dml's configuration (`data`, `run`, ...)
    /// may sit beside them.
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
    /// dml's own flags.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// One of `config.py`'s dictionaries.
#[derive(Debug, Clone, PartialEq)]
pub struct MindSporeDict {
    /// Classifier classes (the split: 5184 half, 160 tiny, 11318 full).
    pub class_num: usize,
    /// Batch size.
    pub batch_size: usize,
    /// Fixed loss scale.
    pub loss_scale: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// Weight decay.
    pub weight_decay: f64,
    /// Length of the learning-rate array, in epochs.
    pub epoch_size: usize,
    /// Epochs the loaded checkpoint already trained (the run is shorter by this much).
    pub pretrain_epoch_size: usize,
    /// Write checkpoints.
    pub save_checkpoint: bool,
    /// Epochs between checkpoints.
    pub save_checkpoint_epochs: usize,
    /// Checkpoints kept.
    pub keep_checkpoint_max: usize,
    /// Checkpoint directory.
    pub save_checkpoint_path: String,
    /// Warm-up epochs of the learning rate.
    pub warmup_epochs: usize,
    /// const | steps | poly | liner | cosine.
    pub lr_decay_mode: String,
    /// Warm-up start.
    pub lr_init: f64,
    /// Final rate of `liner`.
    pub lr_end: f64,
    /// Peak (or constant) rate.
    pub lr_max: f64,
}

impl MindSporeDict {
    /// The dictionary `train.py` picks for `loss` on `target` (`config.py` for Ascend,
    /// `config_gpu.py` otherwise), as the code holds it (its README lists other values).
    pub fn for_loss(loss: &str, gpu: bool) -> TrainResult<Self> {
        let base = |batch, epochs, keep, path: &str, mode: &str, lr_max| MindSporeDict {
            class_num: 5184,
            batch_size: batch,
            loss_scale: 1024.0,
            momentum: 0.9,
            weight_decay: 1e-4,
            epoch_size: epochs,
            pretrain_epoch_size: 0,
            save_checkpoint: true,
            save_checkpoint_epochs: if gpu { 1 } else { 10 },
            keep_checkpoint_max: keep,
            save_checkpoint_path: path.into(),
            warmup_epochs: 0,
            lr_decay_mode: mode.into(),
            lr_init: 1e-4,
            lr_end: 0.01,
            lr_max,
        };
        let out = if gpu { "./output/" } else { "" };
        Ok(match (loss, gpu) {
            ("softmax", false) => base(80, 30, 5, "./softmax/", "steps", 0.3),
            ("triplet", false) => base(60, 30, 1, "./triplet/", "const", 1e-4),
            ("quadruplet", false) => base(60, 30, 1, "./quadruplet/", "const", 1e-4),
            ("softmax", true) => base(10, 30, 5, out, "const", 1e-5),
            ("triplet", true) => base(9, 4, 5, out, "const", 1e-4),
            ("quadruplet", true) => {
                let mut d = base(20, 40, 5, out, "const", 1e-4);
                d.lr_end = 0.001;
                d.lr_init = 0.001;
                d
            }
            (other, _) => {
                return Err(unsupported(
                    "--loss_name",
                    other,
                    "MindSpore's train.py takes softmax, triplet or quadruplet",
                ));
            }
        })
    }

    /// Applies the keys of `map` that are `config.py` keys; returns the others.
    fn apply(&mut self, map: &Map<String, Value>, source: &str) -> TrainResult<Map<String, Value>> {
        let mut rest = Map::new();
        for (key, value) in map {
            let bad =
                || TrainError::Config(format!("{source}: `{key}`: {value} is not a valid value"));
            let count = || value.as_u64().map(|v| v as usize).ok_or_else(bad);
            let real = || value.as_f64().ok_or_else(bad);
            let text = || value.as_str().map(str::to_string).ok_or_else(bad);
            match key.as_str() {
                "class_num" => self.class_num = count()?,
                "batch_size" => self.batch_size = count()?,
                "loss_scale" => self.loss_scale = real()?,
                "momentum" => self.momentum = real()?,
                "weight_decay" => self.weight_decay = real()?,
                "epoch_size" => self.epoch_size = count()?,
                "pretrain_epoch_size" => self.pretrain_epoch_size = count()?,
                "save_checkpoint" => self.save_checkpoint = value.as_bool().ok_or_else(bad)?,
                "save_checkpoint_epochs" => self.save_checkpoint_epochs = count()?,
                "keep_checkpoint_max" => self.keep_checkpoint_max = count()?,
                "save_checkpoint_path" => self.save_checkpoint_path = text()?,
                "warmup_epochs" => self.warmup_epochs = count()?,
                "lr_decay_mode" => self.lr_decay_mode = text()?,
                "lr_init" => self.lr_init = real()?,
                "lr_end" => self.lr_end = real()?,
                "lr_max" => self.lr_max = real()?,
                _ => {
                    rest.insert(key.clone(), value.clone());
                }
            }
        }
        Ok(rest)
    }

    /// The schedule `lr_generator.get_lr` builds for this dictionary (counted in steps over
    /// `epoch_size` epochs), relative to `lr_max`.
    pub fn schedule(&self) -> TrainResult<ScheduleConfig> {
        let mode = self.lr_decay_mode.as_str();
        let start = if self.lr_max > 0.0 { self.lr_init / self.lr_max } else { 0.0 };
        let mut s = match mode {
            "const" => {
                return Ok(length(ScheduleConfig::new(LrDecay::Constant, Unit::Iteration), self));
            }
            "poly" => {
                let mut s = ScheduleConfig::new(
                    LrDecay::Poly { power: 2.0, total: None, end_factor: 0.0 },
                    Unit::Iteration,
                );
                s.decay_after_warmup = true;
                s
            }
            "liner" => {
                let mut s = ScheduleConfig::new(
                    LrDecay::Poly {
                        power: 1.0,
                        total: None,
                        end_factor: self.lr_end / self.lr_max,
                    },
                    Unit::Iteration,
                );
                s.decay_after_warmup = true;
                s
            }
            "cosine" => {
                return Err(unsupported(
                    "lr_decay_mode",
                    "cosine",
                    "MindSpore's own cosine (0.47 periods over the run, plus 1e-5) is not \
                     reproduced; use steps, poly, liner or const",
                ));
            }
            other => {
                if other != "steps" {
                    eprintln!(
                        "note: lr_decay_mode `{other}` is not one of MindSpore's modes; its \
                         lr_generator falls back to `steps`, and so does this run"
                    );
                }
                ScheduleConfig::new(
                    LrDecay::MultiStepFraction { fractions: vec![0.4, 0.8], gamma: 0.1 },
                    Unit::Iteration,
                )
            }
        };
        s.warmup = Span::Epochs(self.warmup_epochs);
        s.warmup_start_factor = start.clamp(0.0, 1.0);
        Ok(length(s, self))
    }
}

fn length(mut s: ScheduleConfig, d: &MindSporeDict) -> ScheduleConfig {
    s.length = Some(Span::Epochs(d.epoch_size));
    s
}

impl MindSporeArgs {
    /// The configuration `train.py` runs with these flags (and `--config`).
    ///
    /// # Errors
    /// [`TrainError::Config`] naming a flag or key whose value the code cannot run or dml does
    /// not reproduce.
    pub fn to_config(&self) -> TrainResult<TrainConfig> {
        let gpu = match self.device_target.as_str() {
            "GPU" => true,
            "CPU" => true,
            "Ascend" => {
                return Err(unsupported(
                    "--device_target",
                    "Ascend",
                    "dml has no Ascend backend; pass --device_target=GPU (config_gpu.py) or CPU",
                ));
            }
            other => return Err(unsupported("--device_target", other, "expected Ascend or GPU")),
        };
        // MindSpore's data parallelism: `RANK_SIZE` processes, each reading `batch_size`
        // samples, computing the loss on them alone, gradients averaged. dml runs the ranks as
        // `--devices` (their count is the rank size), with the global batch `batch_size` times
        // the device count and the loss per device.
        let ranks = self.common.devices.as_ref().map_or(0, Vec::len);
        if self.run_distribute && ranks < 2 {
            return Err(unsupported(
                "--run_distribute",
                "True",
                "name the devices of the ranks with --devices gpu:0,gpu:1,... (two or more; \
                 their count is MindSpore's RANK_SIZE)",
            ));
        }
        if self.run_modelarts {
            return Err(unsupported("--run_modelarts", "True", "ModelArts is not reproduced"));
        }
        let mut dict = MindSporeDict::for_loss(&self.loss_name, gpu)?;
        let mut dml_layer = Map::new();
        if let Some(path) = &self.config {
            let source = path.display().to_string();
            match read_file(path)? {
                Value::Object(map) => dml_layer = dict.apply(&map, &source)?,
                _ => return Err(TrainError::Config(format!("{source}: expected a table of keys"))),
            }
            let parts = [
                "data",
                "model",
                "pretrained",
                "loss",
                "miner",
                "memory",
                "optim",
                "schedule",
                "run",
            ];
            if let Some(k) = dml_layer.keys().find(|k| !parts.contains(&k.as_str())) {
                return Err(TrainError::Config(format!(
                    "{source}: `{k}` is neither a key of MindSpore's config.py nor a part of \
                     dml's configuration"
                )));
            }
        }
        let subset = match dict.class_num {
            5184 => SopSubset::Half,
            160 => SopSubset::Tiny,
            11_318 => SopSubset::Full,
            n => {
                return Err(unsupported(
                    "class_num",
                    n,
                    "must name one of SOP's lists: 5184 (half, the README's), 160 (tiny) or 11318 \
                     (full)",
                ));
            }
        };
        if dict.pretrain_epoch_size >= dict.epoch_size {
            return Err(unsupported(
                "pretrain_epoch_size",
                dict.pretrain_epoch_size,
                "must be smaller than epoch_size (nothing would be trained)",
            ));
        }
        let (loss, sampler, miner) = match self.loss_name.as_str() {
            "softmax" => {
                (LossConfig::SoftmaxLoss(SoftmaxLossConfig::new(0, 0)), SamplerConfig::Random, None)
            }
            "triplet" => (
                LossConfig::TripletMarginLoss(
                    TripletMarginLossConfig::new()
                        .with_margin(0.1)
                        .with_distance(Distance::squared_l2())
                        .with_reducer(Reducer::Sum),
                ),
                SamplerConfig::Triplets,
                Some(MinerConfig::EmbeddingsAlreadyPackagedAsTriplets(
                    EmbeddingsAlreadyPackagedAsTripletsConfig::new(),
                )),
            ),
            _ => (
                LossConfig::QuadrupletLoss(QuadrupletLossConfig::new().with_margin(0.1)),
                SamplerConfig::MPerClass { m: 2, length: None },
                None,
            ),
        };
        let bgr_imagenet = Normalization::Custom {
            scale: 1.0 / 255.0,
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
            bgr: true,
        };
        let mut data = DataConfig::new(
            DatasetKind::Sop,
            self.dataset_path.clone().unwrap_or_else(|| "Stanford_Online_Products".into()),
        );
        data.sop_subset = subset;
        data.num_classes = Some(dict.class_num);
        data.batch_size = dict.batch_size;
        data.test_batch_size = 30;
        data.sampler = sampler;
        data.train_transform = Some(
            PipelineConfig::new(vec![Transform::random_resized_crop(224)])
                .with_normalization(bgr_imagenet.clone()),
        );
        data.test_transform = Some(
            PipelineConfig::new(vec![
                Transform::Resize { size: 224 },
                Transform::ResizeExact { width: 224, height: 224 },
            ])
            .with_normalization(bgr_imagenet),
        );
        let model = EmbeddingModelConfig::new(BackboneConfig::ResNet50(ResNet50Config::new()))
            .with_embedding_size(None)
            .with_pooling(Pooling::Avg)
            .with_normalize(true)
            .with_normalize_training(false);
        let output = format!("{}model_{}/", dict.save_checkpoint_path, self.device_id);
        let mut c = TrainConfig::new(
            data,
            model,
            loss,
            Span::Epochs(dict.epoch_size - dict.pretrain_epoch_size),
            output,
        );
        c.miner = miner;
        c.pretrained = self.ckpt_path.clone().filter(|p| !p.is_empty());
        c.optim = OptimConfig::new(OptimizerConfig::sgd(dict.momentum), dict.lr_max);
        c.optim.weight_decay = dict.weight_decay;
        c.optim.decay_batch_norm = false;
        c.schedule = dict.schedule()?;
        c.run.loss_scale = dict.loss_scale;
        c.run.eval_every = self.run_eval.then_some(Span::Epochs(1));
        c.run.eval_at_end = false;
        c.run.recall_ks = vec![1];
        c.run.checkpoint_every =
            dict.save_checkpoint.then_some(Span::Epochs(dict.save_checkpoint_epochs));
        c.run.keep_checkpoints = Keep::Last(dict.keep_checkpoint_max);
        c.run.device = if self.device_target == "CPU" {
            "cpu".into()
        } else {
            format!("gpu:{}", self.device_id)
        };
        if self.run_distribute {
            c.data.batch_size *= ranks;
            c.run.loss_per_device = true;
        }
        if !dml_layer.is_empty() {
            c = c.patched(&Value::Object(dml_layer), "--config")?;
        }
        self.common.apply(c)
    }
}
