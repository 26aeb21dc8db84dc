//! The resolved configuration of a training run: defaults of a recipe, overridden by a JSON or
//! TOML file, overridden by command-line flags; saved as `config.json` beside the checkpoints.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{TrainError, TrainResult, io_err};

/// The dataset a run trains and evaluates on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatasetKind {
    /// CUB-200-2011: classes 1-100 train, 101-200 test.
    Cub200,
    /// Cars-196: classes 1-98 train, 99-196 test.
    Cars196,
    /// Stanford Online Products: `Ebay_train.txt` / `Ebay_test.txt`.
    Sop,
    /// In-shop clothes retrieval: query vs gallery.
    Inshop,
    /// Fashion-MNIST idx files: classes 0-4 train, 5-9 test (the quickstart).
    FashionMnist,
    /// Random images of a few classes generated in memory (tests and smoke runs).
    Synthetic,
}

/// The backbone network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// torchvision ResNet50.
    Resnet50,
    /// BN-Inception (the Proxy-Anchor / LDM backbone).
    BnInception,
    /// Three-block CNN for 28x28 grayscale images.
    SmallCnn,
}

/// The loss, which also chooses the recipe ([`LossKind::recipe`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    /// Softmax cross-entropy on a linear classifier (PaddlePaddle / MindSpore pre-training).
    Softmax,
    /// ArcMargin (PaddlePaddle's `arcmargin`, with `--arc-easy-margin`).
    Arcmargin,
    /// NormalizedSoftmax (PML, temperature 0.05).
    NormalizedSoftmax,
    /// Triplet margin loss on batch-hard triplets.
    Triplet,
    /// "Quadruplet" = margin sample mining (PaddlePaddle / MindSpore).
    Quadruplet,
    /// EML (PaddlePaddle's `emlloss`).
    Eml,
    /// Contrastive loss (PML defaults).
    Contrastive,
    /// Multi-similarity loss (PML defaults).
    MultiSimilarity,
    /// Proxy-Anchor (learnable proxies).
    ProxyAnchor,
    /// AMLoss / LDM (learnable proxies and per-class margins with their own optimizer).
    AmLoss,
}

/// The three training recipes of the seed systems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recipe {
    /// A classifier on top of the embedding, trained with cross-entropy (pre-training).
    Classification,
    /// A loss on pairs/triplets of the batch, usually fine-tuning a pre-trained embedding.
    Pair,
    /// Learnable proxies trained with their own (multiplied) learning rate.
    Proxy,
}

impl LossKind {
    /// The recipe the loss belongs to.
    pub fn recipe(self) -> Recipe {
        match self {
            Self::Softmax | Self::Arcmargin | Self::NormalizedSoftmax => Recipe::Classification,
            Self::Triplet
            | Self::Quadruplet
            | Self::Eml
            | Self::Contrastive
            | Self::MultiSimilarity => Recipe::Pair,
            Self::ProxyAnchor | Self::AmLoss => Recipe::Proxy,
        }
    }
}

/// The optimizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// AdamW (Proxy-Anchor, LDM).
    Adamw,
    /// SGD with momentum and L2 weight decay (PaddlePaddle, MindSpore).
    Sgd,
}

/// The learning-rate schedule, evaluated per epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleKind {
    /// Constant learning rate.
    Constant,
    /// Multiply by `lr_decay_gamma` every `lr_decay_step` epochs (PyTorch's `StepLR`).
    Step,
    /// Cosine annealing from `lr` to 0 over `epochs` (PyTorch's `CosineAnnealingLR`).
    Cosine,
}

/// Every setting of a training run. Field names are the snake_case form of the command-line
/// flags (`--embedding-size` is `embedding_size`), in files as on the command line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// The dataset.
    pub dataset: DatasetKind,
    /// The dataset's root directory.
    pub data_dir: String,
    /// Where checkpoints, `config.json`, metrics and the plot are written.
    pub output_dir: String,
    /// The backbone.
    pub model: ModelKind,
    /// ImageNet / PyTorch weights for the backbone (`.pth` or `.safetensors`), or none.
    pub pretrained: Option<String>,
    /// A checkpoint of this crate whose model weights initialize the network (the pair
    /// recipe's fine-tuning from a classification run); its optimizer state is not used.
    pub init_from: Option<String>,
    /// Resume from this checkpoint (model, loss, optimizer, schedule position, epoch).
    pub resume: Option<String>,
    /// Embedding size.
    pub embedding_size: usize,
    /// The loss (and so the recipe).
    pub loss: LossKind,
    /// ArcMargin scale `s`.
    pub arc_scale: f64,
    /// ArcMargin margin `m` (radians).
    pub arc_margin: f64,
    /// ArcMargin easy margin.
    pub arc_easy_margin: bool,
    /// Margin of the triplet / quadruplet loss.
    pub margin: f64,
    /// Proxy-Anchor / AMLoss scale alpha.
    pub alpha: f64,
    /// Proxy-Anchor margin delta (`--mrg` in Proxy-Anchor's code).
    pub mrg: f64,
    /// The optimizer.
    pub optimizer: OptimizerKind,
    /// Base learning rate.
    pub lr: f64,
    /// Weight decay (decoupled for AdamW, L2 for SGD).
    pub weight_decay: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// Learning-rate multiplier of the loss's proxies / class weights.
    pub proxy_lr_mult: f64,
    /// Learning rate of AMLoss's per-class margins (their own AdamW).
    pub margin_lr: f64,
    /// The schedule.
    pub schedule: ScheduleKind,
    /// Step schedule: epochs between decays.
    pub lr_decay_step: usize,
    /// Step schedule: decay factor.
    pub lr_decay_gamma: f64,
    /// Warm-up epochs during which only the embedding head and the loss's parameters train.
    pub warm: usize,
    /// Freeze the backbone's BatchNorm statistics and affine parameters.
    pub bn_freeze: bool,
    /// Clip every gradient element to `[-v, v]`, or no clipping.
    pub clip_grad_value: Option<f64>,
    /// Number of epochs.
    pub epochs: usize,
    /// Batch size.
    pub batch_size: usize,
    /// Images per class in a batch (m-per-class sampling); 0 samples uniformly at random.
    pub samples_per_class: usize,
    /// Training crop size (test: resize to `resize`, center-crop `image_size`).
    pub image_size: usize,
    /// Test-time resize.
    pub resize: usize,
    /// Evaluate every this many epochs (and after the last); 0 never.
    pub eval_every: usize,
    /// The K of Recall@K.
    pub recall_ks: Vec<usize>,
    /// Seed of weights, sampling and augmentation.
    pub seed: u64,
    /// Data-loading worker threads.
    pub num_workers: usize,
    /// Stop each epoch after this many steps (smoke runs); none runs whole epochs.
    pub max_steps_per_epoch: Option<usize>,
    /// Limit evaluation to the first this-many test images (smoke runs); none uses all.
    pub max_eval_images: Option<usize>,
    /// The device: `cpu` / `flex` (Burn's pure-Rust CPU backend); others need Cargo features.
    pub device: String,
}

impl TrainConfig {
    /// The defaults shared by every recipe; the dataset presets change what differs.
    pub fn base(dataset: DatasetKind) -> Self {
        Self {
            dataset,
            data_dir: String::new(),
            output_dir: "runs/default".into(),
            model: ModelKind::Resnet50,
            pretrained: None,
            init_from: None,
            resume: None,
            embedding_size: 512,
            loss: LossKind::ProxyAnchor,
            arc_scale: 80.0,
            arc_margin: 0.15,
            arc_easy_margin: false,
            margin: 0.1,
            alpha: 32.0,
            mrg: 0.1,
            optimizer: OptimizerKind::Adamw,
            lr: 1e-4,
            weight_decay: 1e-4,
            momentum: 0.9,
            proxy_lr_mult: 100.0,
            margin_lr: 1e-4,
            schedule: ScheduleKind::Step,
            lr_decay_step: 10,
            lr_decay_gamma: 0.5,
            warm: 1,
            bn_freeze: true,
            clip_grad_value: Some(10.0),
            epochs: 60,
            batch_size: 150,
            samples_per_class: 0,
            image_size: 224,
            resize: 256,
            eval_every: 1,
            recall_ks: vec![1, 2, 4, 8, 16, 32],
            seed: 1,
            num_workers: 4,
            max_steps_per_epoch: None,
            max_eval_images: None,
            device: "cpu".into(),
        }
    }

    /// The recipe chosen by the loss.
    pub fn recipe(&self) -> Recipe {
        self.loss.recipe()
    }

    /// Checks every field, naming the first that is wrong.
    pub fn validate(&self) -> TrainResult<()> {
        let bad = |field: &str, why: String| Err(TrainError::Config(format!("`{field}` {why}")));
        let positive = |field: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                bad(field, format!("must be finite and > 0, got {v}"))
            }
        };
        if self.embedding_size == 0 {
            return bad("embedding_size", "must be at least 1".into());
        }
        if self.batch_size < 2 {
            return bad("batch_size", format!("must be at least 2, got {}", self.batch_size));
        }
        if self.epochs == 0 {
            return bad("epochs", "must be at least 1".into());
        }
        positive("lr", self.lr)?;
        positive("proxy_lr_mult", self.proxy_lr_mult)?;
        positive("margin_lr", self.margin_lr)?;
        positive("arc_scale", self.arc_scale)?;
        positive("alpha", self.alpha)?;
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad("weight_decay", format!("must be >= 0, got {}", self.weight_decay));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return bad("momentum", format!("must be in [0, 1), got {}", self.momentum));
        }
        if self.schedule == ScheduleKind::Step {
            if self.lr_decay_step == 0 {
                return bad("lr_decay_step", "must be at least 1 for the step schedule".into());
            }
            positive("lr_decay_gamma", self.lr_decay_gamma)?;
        }
        if let Some(v) = self.clip_grad_value {
            positive("clip_grad_value", v)?;
        }
        if self.samples_per_class == 1 {
            return bad("samples_per_class", "must be 0 (random) or at least 2".into());
        }
        if self.samples_per_class > 1 && !self.batch_size.is_multiple_of(self.samples_per_class) {
            return bad(
                "batch_size",
                format!(
                    "({}) must be a multiple of samples_per_class ({})",
                    self.batch_size, self.samples_per_class
                ),
            );
        }
        if self.recall_ks.is_empty() || self.recall_ks.contains(&0) {
            return bad(
                "recall_ks",
                format!("must be non-empty and >= 1, got {:?}", self.recall_ks),
            );
        }
        if self.image_size == 0 || self.resize < self.image_size {
            return bad(
                "resize",
                format!("({}) must be >= image_size ({}) > 0", self.resize, self.image_size),
            );
        }
        if self.output_dir.is_empty() {
            return bad("output_dir", "must not be empty".into());
        }
        let in_memory = matches!(self.dataset, DatasetKind::FashionMnist | DatasetKind::Synthetic);
        if in_memory != (self.model == ModelKind::SmallCnn) {
            return bad(
                "model",
                format!(
                    "{:?} does not fit dataset {:?}: small_cnn takes the 28x28 grey images of \
                     fashion_mnist / synthetic; resnet50 and bn_inception take the RGB image \
                     files of cub200, cars196, sop and inshop",
                    self.model, self.dataset
                ),
            );
        }
        Ok(())
    }

    /// Applies a partial configuration (a JSON object whose keys are field names) on top of
    /// this one; unknown keys and wrong types are errors naming the key.
    pub fn merged(&self, overrides: &Map<String, Value>) -> TrainResult<Self> {
        let mut value = serde_json::to_value(self)
            .map_err(|e| TrainError::Config(format!("cannot serialize the configuration: {e}")))?;
        if let Value::Object(map) = &mut value {
            for (key, v) in overrides {
                let key = key.replace('-', "_");
                if !map.contains_key(&key) {
                    return Err(TrainError::Config(format!("unknown setting `{key}`")));
                }
                map.insert(key, v.clone());
            }
        }
        serde_json::from_value(value).map_err(|e| TrainError::Config(e.to_string()))
    }

    /// Reads a partial configuration from a `.json` or `.toml` file.
    pub fn read_overrides(path: &Path) -> TrainResult<Map<String, Value>> {
        let text = std::fs::read_to_string(path).map_err(io_err("reading config", path))?;
        let value: Value = match path.extension().and_then(|e| e.to_str()) {
            Some("toml") => toml::from_str::<toml::Table>(&text)
                .map_err(|e| TrainError::Config(format!("{}: {e}", path.display())))
                .and_then(|t| {
                    serde_json::to_value(t).map_err(|e| TrainError::Config(e.to_string()))
                })?,
            Some("json") => serde_json::from_str(&text)
                .map_err(|e| TrainError::Config(format!("{}: {e}", path.display())))?,
            _ => {
                return Err(TrainError::Config(format!(
                    "{}: configuration files must end in .json or .toml",
                    path.display()
                )));
            }
        };
        match value {
            Value::Object(map) => Ok(map),
            _ => {
                Err(TrainError::Config(format!("{}: expected a table of settings", path.display())))
            }
        }
    }

    /// Writes the configuration as pretty JSON (atomically).
    pub fn save(&self, path: &Path) -> TrainResult<()> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| TrainError::Config(format!("cannot serialize the configuration: {e}")))?;
        crate::checkpoint::write_atomic(path, text.as_bytes())
    }

    /// Reads a configuration written by [`TrainConfig::save`].
    pub fn load(path: &Path) -> TrainResult<Self> {
        let text = std::fs::read_to_string(path).map_err(io_err("reading config", path))?;
        serde_json::from_str(&text)
            .map_err(|e| TrainError::Config(format!("{}: {e}", path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_apply_and_unknown_keys_are_rejected() {
        let base = TrainConfig::base(DatasetKind::Cub200);
        let mut map = Map::new();
        map.insert("embedding-size".into(), Value::from(64));
        map.insert("loss".into(), Value::from("triplet"));
        let merged = base.merged(&map).expect("merge");
        assert_eq!(merged.embedding_size, 64);
        assert_eq!(merged.loss, LossKind::Triplet);
        map.insert("embeding_size".into(), Value::from(3));
        let err = base.merged(&map).expect_err("typo");
        assert!(err.to_string().contains("embeding_size"), "{err}");
    }

    #[test]
    fn toml_and_json_files_parse() {
        let dir = tempfile::tempdir().expect("tempdir");
        let toml_path = dir.path().join("c.toml");
        std::fs::write(&toml_path, "lr = 0.01\nloss = \"arcmargin\"\nrecall_ks = [1, 10]\n")
            .expect("write");
        let base = TrainConfig::base(DatasetKind::Sop);
        let c = base.merged(&TrainConfig::read_overrides(&toml_path).expect("read")).expect("m");
        assert_eq!(c.lr, 0.01);
        assert_eq!(c.loss, LossKind::Arcmargin);
        assert_eq!(c.recall_ks, vec![1, 10]);
        let json_path = dir.path().join("c.json");
        c.save(&json_path).expect("save");
        assert_eq!(TrainConfig::load(&json_path).expect("load"), c);
    }

    #[test]
    fn validation_names_the_field() {
        let mut c = TrainConfig::base(DatasetKind::Cub200);
        c.batch_size = 150;
        c.samples_per_class = 4;
        let err = c.validate().expect_err("150 % 4");
        assert!(err.to_string().contains("samples_per_class"), "{err}");
    }
}
