//! Command-line flags, named as the seed systems name them (`--loss`, `--model`,
//! `--embedding-size`, `--batch-size`, `--lr`, `--warm`, `--bn-freeze`, `--lr-decay-step`,
//! `--lr-decay-gamma`, `--epochs`, `--samples-per-class`, `--arc-scale`, `--arc-margin`,
//! `--arc-easy-margin`, `--pretrained`, `--resume`, `--device`), layered over a dataset preset
//! and an optional `--config` file.

use std::path::PathBuf;

use clap::Parser;
use serde_json::{Map, Value};

use crate::config::TrainConfig;
use crate::error::TrainResult;

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!("expected 0/1/true/false, got `{s}`")),
    }
}

/// The flags of the training examples. Every flag is optional: unset flags keep the value of
/// the `--config` file, or else the dataset preset's.
#[derive(Parser, Debug, Default, Clone)]
#[command(about = "Train a deep-metric-learning embedding (dml-train)")]
pub struct Args {
    /// A JSON or TOML file of settings (keys as the flags, `-` or `_`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Dataset root directory.
    #[arg(long)]
    pub data_dir: Option<String>,
    /// Output directory (checkpoints, config.json, metrics, plot).
    #[arg(long)]
    pub output_dir: Option<String>,
    /// softmax | arcmargin | normalized_softmax | triplet | quadruplet | eml | contrastive |
    /// multi_similarity | proxy_anchor | am_loss
    #[arg(long)]
    pub loss: Option<String>,
    /// resnet50 | bn_inception | small_cnn
    #[arg(long)]
    pub model: Option<String>,
    /// Embedding size.
    #[arg(long)]
    pub embedding_size: Option<usize>,
    /// Batch size.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Base learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Weight decay.
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// adamw | sgd
    #[arg(long)]
    pub optimizer: Option<String>,
    /// SGD momentum.
    #[arg(long)]
    pub momentum: Option<f64>,
    /// constant | step | cosine
    #[arg(long)]
    pub schedule: Option<String>,
    /// Warm-up epochs (only head and proxies train).
    #[arg(long)]
    pub warm: Option<usize>,
    /// Freeze BatchNorm (`--bn-freeze`, `--bn-freeze 1`, `--bn-freeze 0`).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_parser = parse_bool)]
    pub bn_freeze: Option<bool>,
    /// Step schedule: epochs between decays.
    #[arg(long)]
    pub lr_decay_step: Option<usize>,
    /// Step schedule: decay factor.
    #[arg(long)]
    pub lr_decay_gamma: Option<f64>,
    /// Number of epochs.
    #[arg(long, alias = "epoch")]
    pub epochs: Option<usize>,
    /// Images per class in a batch (0: random batches).
    #[arg(long, alias = "samples-each-class")]
    pub samples_per_class: Option<usize>,
    /// ArcMargin scale.
    #[arg(long)]
    pub arc_scale: Option<f64>,
    /// ArcMargin margin.
    #[arg(long)]
    pub arc_margin: Option<f64>,
    /// ArcMargin easy margin.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_parser = parse_bool)]
    pub arc_easy_margin: Option<bool>,
    /// Proxy-Anchor / AMLoss scale alpha.
    #[arg(long)]
    pub alpha: Option<f64>,
    /// Proxy-Anchor margin delta.
    #[arg(long)]
    pub mrg: Option<f64>,
    /// Triplet / quadruplet margin.
    #[arg(long)]
    pub margin: Option<f64>,
    /// Learning-rate multiplier of the proxies.
    #[arg(long)]
    pub proxy_lr_mult: Option<f64>,
    /// Clip gradients to [-v, v] (0 disables).
    #[arg(long)]
    pub clip_grad_value: Option<f64>,
    /// PyTorch backbone weights (.pth / .safetensors), or a dml checkpoint (.ckpt) whose model
    /// initializes the network.
    #[arg(long)]
    pub pretrained: Option<String>,
    /// A dml checkpoint whose model initializes the network (pair fine-tuning).
    #[arg(long)]
    pub init_from: Option<String>,
    /// Resume from this checkpoint (e.g. runs/x/last.ckpt).
    #[arg(long)]
    pub resume: Option<String>,
    /// cpu (Burn's flex backend).
    #[arg(long)]
    pub device: Option<String>,
    /// Evaluate every N epochs.
    #[arg(long)]
    pub eval_every: Option<usize>,
    /// Seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Loader worker threads.
    #[arg(long)]
    pub num_workers: Option<usize>,
    /// Steps per epoch at most (smoke runs).
    #[arg(long)]
    pub max_steps_per_epoch: Option<usize>,
    /// Evaluate on the first N test images only (smoke runs).
    #[arg(long)]
    pub max_eval_images: Option<usize>,
}

impl Args {
    /// The flags that were given, as a partial configuration.
    pub fn overrides(&self) -> Map<String, Value> {
        let mut m = Map::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                m.insert(k.to_string(), v);
            }
        };
        put("data_dir", self.data_dir.clone().map(Value::from));
        put("output_dir", self.output_dir.clone().map(Value::from));
        put(
            "loss",
            self.loss.clone().map(|s| Value::from(s.to_ascii_lowercase().replace('-', "_"))),
        );
        put(
            "model",
            self.model.clone().map(|s| Value::from(s.to_ascii_lowercase().replace('-', "_"))),
        );
        put("embedding_size", self.embedding_size.map(Value::from));
        put("batch_size", self.batch_size.map(Value::from));
        put("lr", self.lr.map(Value::from));
        put("weight_decay", self.weight_decay.map(Value::from));
        put("optimizer", self.optimizer.clone().map(|s| Value::from(s.to_ascii_lowercase())));
        put("momentum", self.momentum.map(Value::from));
        put("schedule", self.schedule.clone().map(|s| Value::from(s.to_ascii_lowercase())));
        put("warm", self.warm.map(Value::from));
        put("bn_freeze", self.bn_freeze.map(Value::from));
        put("lr_decay_step", self.lr_decay_step.map(Value::from));
        put("lr_decay_gamma", self.lr_decay_gamma.map(Value::from));
        put("epochs", self.epochs.map(Value::from));
        put("samples_per_class", self.samples_per_class.map(Value::from));
        put("arc_scale", self.arc_scale.map(Value::from));
        put("arc_margin", self.arc_margin.map(Value::from));
        put("arc_easy_margin", self.arc_easy_margin.map(Value::from));
        put("alpha", self.alpha.map(Value::from));
        put("mrg", self.mrg.map(Value::from));
        put("margin", self.margin.map(Value::from));
        put("proxy_lr_mult", self.proxy_lr_mult.map(Value::from));
        put(
            "clip_grad_value",
            self.clip_grad_value.map(|v| if v > 0.0 { Value::from(v) } else { Value::Null }),
        );
        put("pretrained", self.pretrained.clone().map(Value::from));
        put("init_from", self.init_from.clone().map(Value::from));
        put("resume", self.resume.clone().map(Value::from));
        put("device", self.device.clone().map(Value::from));
        put("eval_every", self.eval_every.map(Value::from));
        put("seed", self.seed.map(Value::from));
        put("num_workers", self.num_workers.map(Value::from));
        put("max_steps_per_epoch", self.max_steps_per_epoch.map(Value::from));
        put("max_eval_images", self.max_eval_images.map(Value::from));
        m
    }

    /// `preset`, overridden by the `--config` file, overridden by the flags; validated.
    pub fn resolve(&self, preset: TrainConfig) -> TrainResult<TrainConfig> {
        let mut config = preset;
        if let Some(path) = &self.config {
            config = config.merged(&TrainConfig::read_overrides(path)?)?;
        }
        let config = config.merged(&self.overrides())?;
        config.validate()?;
        crate::device::resolve_device(&config.device)?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DatasetKind, LossKind};

    #[test]
    fn seed_system_flags_parse() {
        let args = Args::try_parse_from([
            "x",
            "--loss",
            "Proxy_Anchor",
            "--embedding-size",
            "64",
            "--bn-freeze",
            "0",
            "--arc-easy-margin",
            "--lr-decay-step",
            "5",
            "--epoch",
            "3",
        ])
        .expect("parse");
        let c = args.resolve(TrainConfig::base(DatasetKind::Cub200)).expect("resolve");
        assert_eq!(c.loss, LossKind::ProxyAnchor);
        assert_eq!(c.embedding_size, 64);
        assert!(!c.bn_freeze);
        assert!(c.arc_easy_margin);
        assert_eq!((c.lr_decay_step, c.epochs), (5, 3));
        let bad = Args::try_parse_from(["x", "--loss", "nope"]).expect("parse");
        let err = bad.resolve(TrainConfig::base(DatasetKind::Cub200)).expect_err("bad loss");
        assert!(err.to_string().contains("nope"), "{err}");
    }
}
