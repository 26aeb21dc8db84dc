//! dml's own training flags: a thin layer over [`TrainConfig`] (a preset, then `--config`
//! files, then these flags, then `--set key=value`). The seed systems' command lines are in
//! [`crate::seeds`].

use std::path::PathBuf;

use clap::Parser;
use serde_json::{Value, json};

use crate::config::{Span, TrainConfig};
use crate::error::TrainResult;
use crate::seeds::CommonArgs;

/// The flags of dml's training examples. Every flag is optional: what is not given keeps the
/// value of the `--config` files, or else of the example's preset.
#[derive(Parser, Debug, Default, Clone)]
#[command(about = "Train a deep-metric-learning embedding (dml-train)")]
pub struct Args {
    /// `.json` / `.toml` files of settings (keys as in `config.json`), applied in order.
    #[arg(long)]
    pub config: Vec<PathBuf>,
    /// The dataset whose preset the run starts from: cub200 | cars196 | sop | inshop |
    /// fashion_mnist | synthetic (default: the `data.dataset` of the last `--config` file that
    /// names one, else the example's own).
    #[arg(long)]
    pub dataset: Option<String>,
    /// The loss, by PML's class name (`ProxyAnchorLoss`, `TripletMarginLoss`, ...; case, `_`
    /// and a trailing `Loss` may be left out), with its default settings.
    #[arg(long)]
    pub loss: Option<String>,
    /// A miner by PML's class name (`BatchHardMiner`, ...), or `none`.
    #[arg(long)]
    pub miner: Option<String>,
    /// The backbone: ResNet50 | BnInception | SmallCnn.
    #[arg(long)]
    pub backbone: Option<String>,
    /// Embedding size (0: the backbone's pooled feature, no projection).
    #[arg(long)]
    pub embedding_size: Option<usize>,
    /// Training batch size.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Base learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Train this many epochs.
    #[arg(long, conflicts_with = "iterations")]
    pub epochs: Option<usize>,
    /// Train this many optimizer steps.
    #[arg(long)]
    pub iterations: Option<usize>,
    /// PyTorch backbone weights (.pth / .safetensors), or a dml checkpoint (.ckpt) whose model
    /// initializes the network.
    #[arg(long)]
    pub pretrained: Option<String>,
    /// Seed of weights, sampling and augmentation.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Data-loading worker threads.
    #[arg(long)]
    pub num_workers: Option<usize>,
    /// Flags every command shares (data and output directories, device, resume, limits,
    /// `--set`).
    #[command(flatten)]
    pub common: CommonArgs,
}

impl Args {
    /// The named flags that were given, as one partial configuration.
    pub fn layer(&self) -> Value {
        let mut layer = json!({});
        let mut put = |path: &[&str], v: Value| {
            let mut slot = &mut layer;
            for key in &path[..path.len() - 1] {
                slot = &mut slot[*key];
            }
            slot[path[path.len() - 1]] = v;
        };
        if let Some(l) = &self.loss {
            put(&["loss"], json!(l));
        }
        if let Some(m) = &self.miner {
            put(&["miner"], if m.eq_ignore_ascii_case("none") { Value::Null } else { json!(m) });
        }
        if let Some(b) = &self.backbone {
            put(&["model", "backbone"], json!(b));
        }
        if let Some(e) = self.embedding_size {
            put(&["model", "embedding_size"], if e == 0 { Value::Null } else { json!(e) });
        }
        if let Some(b) = self.batch_size {
            put(&["data", "batch_size"], json!(b));
        }
        if let Some(lr) = self.lr {
            put(&["optim", "lr"], json!(lr));
        }
        if let Some(n) = self.epochs {
            put(&["run", "length"], json!(Span::Epochs(n)));
        }
        if let Some(n) = self.iterations {
            put(&["run", "length"], json!(Span::Iterations(n)));
        }
        if let Some(p) = &self.pretrained {
            put(&["pretrained"], json!(p));
        }
        if let Some(s) = self.seed {
            put(&["run", "seed"], json!(s));
        }
        if let Some(n) = self.num_workers {
            put(&["data", "num_workers"], json!(n));
        }
        layer
    }

    /// The dataset whose preset the run starts from (`--dataset`, else the last `--config`
    /// file's `data.dataset`), if one is named.
    pub fn named_dataset(&self) -> TrainResult<Option<crate::config::DatasetKind>> {
        let mut named = None;
        for path in &self.config {
            let layer = crate::config::layers::read_file(path)?;
            if let Some(d) = layer.get("data").and_then(|d| d.get("dataset")) {
                named = Some((d.clone(), path.display().to_string()));
            }
        }
        if let Some(d) = &self.dataset {
            named = Some((Value::String(d.clone()), "--dataset".into()));
        }
        named
            .map(|(v, source)| {
                crate::config::layers::from_value(serde_json::json!({ "dataset": v }), &source)
                    .map(|w: DatasetOnly| w.dataset)
            })
            .transpose()
    }

    /// `preset` (or the preset of the dataset [`Args::named_dataset`] names), then the
    /// `--config` files, then the flags, then `--set`; validated.
    pub fn resolve(&self, preset: TrainConfig) -> TrainResult<TrainConfig> {
        let mut config = match self.named_dataset()? {
            Some(kind) if kind != preset.data.dataset => crate::presets::preset(kind),
            _ => preset,
        };
        for path in &self.config {
            config = config.patched_with_file(path)?;
        }
        config = config.patched(&self.layer(), "flags")?;
        config = self.common.apply(config)?;
        config.validate()?;
        Ok(config)
    }
}

/// `{"dataset": ...}`, to read a dataset name with the configuration's own spelling.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DatasetOnly {
    dataset: crate::config::DatasetKind,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DatasetKind;
    use crate::presets::preset;
    use dml_losses::{LossConfig, MinerConfig};

    #[test]
    fn flags_patch_the_preset() {
        let args = Args::try_parse_from([
            "x",
            "--loss",
            "triplet_margin",
            "--miner",
            "batch-hard",
            "--embedding-size",
            "64",
            "--iterations",
            "100",
            "--set",
            "loss.TripletMarginLoss.margin=0.3",
        ])
        .expect("parse");
        let c = args.resolve(preset(DatasetKind::Cub200)).expect("resolve");
        assert!(matches!(&c.loss, LossConfig::TripletMarginLoss(t) if t.margin == 0.3));
        assert!(matches!(c.miner, Some(MinerConfig::BatchHardMiner(_))));
        assert_eq!(c.model.embedding_size, Some(64));
        assert_eq!(c.run.length, Span::Iterations(100));
        let bad = Args::try_parse_from(["x", "--loss", "nope"]).expect("parse");
        let err = bad.resolve(preset(DatasetKind::Cub200)).expect_err("bad loss").to_string();
        assert!(err.contains("unknown loss `nope`") && err.contains("ProxyAnchorLoss"), "{err}");
    }
}
