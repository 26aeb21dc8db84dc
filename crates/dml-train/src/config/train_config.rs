//! [`TrainConfig`]: a whole training run as data, made of the libraries' own configuration
//! types (the backbone and head of `dml-backbones`, the loss and miner of `dml-losses`) and
//! this crate's data, optimization, schedule and run parts.
//!
//! A run's configuration is built in layers: a base (a dataset preset, or a seed system's
//! defaults), then `--config` files, then flags; each layer is a partial value applied by
//! [`crate::config::layers::patch`]. The resolved configuration is written as `config.json` beside
//! the checkpoints and reads back into the same run.

use std::path::Path;

use dml_backbones::{BackboneConfig, EmbeddingModelConfig, Pooling};
use dml_data::{Normalization, SopSubset, Transform};
use dml_losses::{
    CrossBatchMemoryConfig, Distance, LossConfig, LossError, MinerConfig, Reducer,
    RegularizationConfig, RegularizerConfig, SubLossConfig, TripletType,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::layers::{EnumVariants, Variants, from_value, patch, read_file};
use super::{
    DataConfig, DatasetKind, Keep, LrDecay, OptimConfig, OptimizerConfig, RunConfig, SamplerConfig,
    ScheduleConfig, Span, Unit,
};
use crate::error::{TrainError, TrainResult, io_err};

/// Every setting of a training run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// The dataset, its transforms, batching and sampling.
    pub data: DataConfig,
    /// The network: backbone, pooling, embedding size (or none), normalization, BatchNorm
    /// freezing (`dml-backbones`' own configuration).
    pub model: EmbeddingModelConfig,
    /// PyTorch weights for the backbone (`.pth` or `.safetensors`), or a dml checkpoint
    /// (`.ckpt`) whose model initializes the whole network (fine-tuning from a classification
    /// run).
    pub pretrained: Option<String>,
    /// The loss (`dml-losses`' own configuration; a loss with class weights or proxies gets
    /// the training split's class count and the model's embedding size filled in).
    pub loss: LossConfig,
    /// What the loss trains on: every pair / triplet of the batch, or what this miner selects.
    pub miner: Option<MinerConfig>,
    /// Compare each batch with a queue of recent embeddings (PML's `CrossBatchMemory`, which
    /// wraps the loss and the miner); its `embedding_size` is filled in from the model.
    pub memory: Option<CrossBatchMemoryConfig>,
    /// Regularizers attached to the loss (PML's `embedding_regularizer`,
    /// `embedding_reg_weight`, `weight_regularizer`, `weight_reg_weight`).
    #[serde(default)]
    pub regularization: Option<RegularizationConfig>,
    /// The optimizers and parameter groups.
    pub optim: OptimConfig,
    /// The learning-rate schedule of every parameter group without its own.
    pub schedule: ScheduleConfig,
    /// Length, evaluation, checkpoints, output, seed, device.
    pub run: RunConfig,
}

impl PartialEq for TrainConfig {
    /// Equal when their JSON forms are (the library configurations have no `PartialEq`).
    fn eq(&self, other: &Self) -> bool {
        serde_json::to_value(self).ok() == serde_json::to_value(other).ok()
    }
}

/// The registry of every enum and optional table in a [`TrainConfig`], for
/// [`crate::config::layers::patch`].
pub fn variants() -> Variants {
    let enums = vec![
        EnumVariants::of(
            "dataset",
            &["dataset"],
            &[
                DatasetKind::Cub200,
                DatasetKind::Cars196,
                DatasetKind::Sop,
                DatasetKind::Inshop,
                DatasetKind::FashionMnist,
                DatasetKind::Synthetic,
            ],
        ),
        EnumVariants::of(
            "SOP subset",
            &["sop_subset"],
            &[
                SopSubset::Full,
                SopSubset::Half,
                SopSubset::Tiny,
                SopSubset::First { train: 0, test: 0 },
            ],
        ),
        EnumVariants::of("sampler", &["sampler"], &SamplerConfig::defaults()),
        EnumVariants::of(
            "transform",
            &["steps"],
            &[
                Transform::Resize { size: 256 },
                Transform::ResizeExact { width: 256, height: 256 },
                Transform::CenterCrop { size: 224 },
                Transform::RandomCrop { size: 224 },
                Transform::random_resized_crop(224),
                Transform::HorizontalFlip { probability: 0.5 },
            ],
        ),
        EnumVariants::of(
            "normalization",
            &["normalization"],
            &[
                Normalization::ImageNet,
                Normalization::BnInception,
                Normalization::Unit,
                Normalization::Custom { scale: 1.0, mean: [0.0; 3], std: [1.0; 3], bgr: false },
            ],
        ),
        EnumVariants::of(
            "backbone",
            &["backbone"],
            &[
                BackboneConfig::ResNet50(dml_backbones::ResNet50Config::new()),
                BackboneConfig::BnInception(dml_backbones::BnInceptionConfig::new()),
                BackboneConfig::SmallCnn(dml_backbones::SmallCnnConfig::new()),
            ],
        ),
        EnumVariants::of("pooling", &["pooling"], &Pooling::defaults()),
        // A composite loss (MultipleLosses, SelfSupervisedLoss) holds losses and miners under
        // `loss` and `miner` keys of its own.
        EnumVariants::of("loss", &["^loss", "^loss.**.loss"], &LossConfig::defaults()),
        EnumVariants::of("miner", &["^miner", "^loss.**.miner"], &MinerConfig::defaults()),
        EnumVariants::of("distance", &["distance"], &Distance::defaults()),
        EnumVariants::of(
            "reducer",
            &["reducer", "default_reducer", "reducers.*"],
            &Reducer::defaults(),
        ),
        EnumVariants::of(
            "regularizer",
            &["embedding_regularizer", "weight_regularizer"],
            &RegularizerConfig::defaults(),
        ),
        EnumVariants::of(
            "triplet type",
            &["type_of_triplets"],
            &[TripletType::All, TripletType::Hard, TripletType::Semihard, TripletType::Easy],
        ),
        EnumVariants::of("optimizer", &["optimizer"], &OptimizerConfig::defaults()),
        EnumVariants::of("learning-rate decay", &["decay"], &LrDecay::defaults()),
        EnumVariants::of("unit", &["unit"], &[Unit::Epoch, Unit::Iteration]),
        EnumVariants::of(
            "span",
            &["length", "eval_every", "checkpoint_every", "frozen_backbone", "warmup"],
            &Span::defaults(),
        ),
        EnumVariants::of("retention", &["keep_checkpoints"], &Keep::defaults()),
    ];
    // Each loss of a MultipleLosses list starts from an entry's defaults, its loss to be named.
    let mut sub_loss = serde_json::to_value(SubLossConfig::new(LossConfig::NTXentLoss(
        dml_losses::NTXentLossConfig::new(),
    )))
    .unwrap_or(Value::Null);
    if let Some(loss) = sub_loss.get_mut("loss") {
        *loss = Value::Null;
    }
    let optional_tables = vec![
        ("memory", serde_json::to_value(CrossBatchMemoryConfig::new(0)).unwrap_or(Value::Null)),
        (
            "regularization",
            serde_json::to_value(RegularizationConfig::new()).unwrap_or(Value::Null),
        ),
        ("losses[]", sub_loss),
        ("schedule", serde_json::to_value(ScheduleConfig::default()).unwrap_or(Value::Null)),
        (
            "train_transform",
            serde_json::to_value(dml_data::PipelineConfig::new(Vec::new())).unwrap_or(Value::Null),
        ),
        (
            "test_transform",
            serde_json::to_value(dml_data::PipelineConfig::new(Vec::new())).unwrap_or(Value::Null),
        ),
    ];
    Variants { enums, optional_tables }
}

impl TrainConfig {
    /// A run of `loss` on `data` with `model`, AdamW at 1e-4, a constant rate, `length`
    /// long, into `output_dir`.
    pub fn new(
        data: DataConfig,
        model: EmbeddingModelConfig,
        loss: LossConfig,
        length: Span,
        output_dir: impl Into<String>,
    ) -> Self {
        Self {
            data,
            model,
            pretrained: None,
            loss,
            miner: None,
            memory: None,
            regularization: None,
            optim: OptimConfig::new(OptimizerConfig::adamw(), 1e-4),
            schedule: ScheduleConfig::default(),
            run: RunConfig::new(length, output_dir),
        }
    }

    /// This configuration as a JSON value.
    pub fn to_value(&self) -> TrainResult<Value> {
        serde_json::to_value(self)
            .map_err(|e| TrainError::Config(format!("cannot serialize the configuration: {e}")))
    }

    /// This configuration with the partial value `layer` applied (`source` names the layer in
    /// errors: a file name, "flags").
    ///
    /// # Errors
    /// [`TrainError::Config`] naming the source and the key path of an unknown key, an unknown
    /// variant or a value of the wrong type.
    pub fn patched(&self, layer: &Value, source: &str) -> TrainResult<Self> {
        let mut value = self.to_value()?;
        if let (Some(run), Value::Object(hidden)) =
            (value.get_mut("run").and_then(Value::as_object_mut), RunConfig::hidden_defaults())
        {
            for (key, default) in hidden {
                run.entry(key).or_insert(default);
            }
        }
        patch(&mut value, layer, &variants())
            .map_err(|e| TrainError::Config(format!("{source}: {}", strip_prefix(e))))?;
        // TOML has no null: `model.embedding_size = 0` says "no projection".
        if let Some(size) = value.pointer_mut("/model/embedding_size")
            && size.as_u64() == Some(0)
        {
            *size = Value::Null;
        }
        from_value(value, source)
    }

    /// This configuration with the `.json` / `.toml` file at `path` applied.
    pub fn patched_with_file(&self, path: &Path) -> TrainResult<Self> {
        let layer = read_file(path)?;
        self.patched(&layer, &path.display().to_string())
    }

    /// Writes the configuration as pretty JSON (atomically).
    pub fn save(&self, path: &Path) -> TrainResult<()> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| TrainError::Config(format!("cannot serialize the configuration: {e}")))?;
        crate::checkpoint::write_atomic(path, text.as_bytes())
    }

    /// Reads a configuration written by [`TrainConfig::save`] (a complete one; to apply a
    /// partial file on top of a base, use [`TrainConfig::patched_with_file`]).
    pub fn load(path: &Path) -> TrainResult<Self> {
        let text = std::fs::read_to_string(path).map_err(io_err("reading config", path))?;
        let value: Value = serde_json::from_str(&text)
            .map_err(|e| TrainError::Config(format!("{}: {e}", path.display())))?;
        from_value(value, &path.display().to_string())
    }

    /// The embedding size the model produces (`None`: the backbone's pooled feature).
    pub fn embedding_size(&self) -> usize {
        self.model.embedding_size.unwrap_or_else(|| feature_channels(&self.model.backbone))
    }

    /// The loss configuration with the class count and embedding size filled in.
    pub fn loss_for(&self, num_classes: usize) -> LossConfig {
        let mut loss = self.loss.clone();
        loss.set_classes(num_classes, self.embedding_size());
        loss
    }

    /// Checks every part, naming the first key that is wrong, and that the parts fit together
    /// (the backbone and the dataset, the loss and the miner, the memory and the loss), without
    /// reading any data.
    pub fn validate(&self) -> TrainResult<()> {
        self.data.validate()?;
        self.optim.validate()?;
        self.schedule.validate("schedule")?;
        self.run.validate()?;
        let devices = self.run.device_names().len();
        if devices > self.data.batch_size {
            return Err(TrainError::Config(format!(
                "`run.devices` lists {devices} devices but `data.batch_size` is {}: every device \
                 needs at least one sample of each batch",
                self.data.batch_size
            )));
        }
        if self.run.loss_per_device && self.memory.is_some() {
            return Err(TrainError::Config(
                "`run.loss_per_device` with a cross-batch `memory`: the queue holds the global \
                 batch, so the loss must see it too (leave `loss_per_device` out)"
                    .into(),
            ));
        }
        if self.model.embedding_size == Some(0) {
            return Err(TrainError::Config("`model.embedding_size` must be at least 1".into()));
        }
        if let Pooling::Gem(p) = self.model.pooling
            && !(p.is_finite() && p > 0.0)
        {
            return Err(TrainError::Config(format!(
                "`model.pooling.Gem` must be finite and > 0, got {p}"
            )));
        }
        let grey = matches!(self.model.backbone, BackboneConfig::SmallCnn(_));
        if self.data.dataset.in_memory() != grey {
            return Err(TrainError::Config(format!(
                "`model.backbone` {} does not fit `data.dataset` {:?}: SmallCnn takes the 28x28 \
                 grey images of fashion_mnist / synthetic; ResNet50 and BnInception take the RGB \
                 image files of cub200, cars196, sop and inshop",
                backbone_name(&self.model.backbone),
                self.data.dataset
            )));
        }
        for (path, part) in loss_parts("loss".into(), &self.loss) {
            let Some((classes, size)) = part.classes() else { continue };
            let d = self.embedding_size();
            if size != 0 && size != d {
                return Err(TrainError::Config(format!(
                    "`{path}.{}.embedding_size` is {size} but the model's embeddings have {d} \
                     (leave it out: it is taken from the model)",
                    part.name()
                )));
            }
            if let (Some(declared), true) = (self.data.num_classes, classes != 0)
                && declared != classes
            {
                return Err(TrainError::Config(format!(
                    "`{path}.{}.num_classes` is {classes} but `data.num_classes` is {declared}",
                    part.name()
                )));
            }
        }
        // Every parameter range is checked by the libraries, without building the loss (which
        // would draw proxies from the device's generator); the pairing is checked here.
        let probe = |c: usize| if c == 0 { self.data.num_classes.unwrap_or(2) } else { c };
        let loss = self.loss_for(self.loss.classes().map_or(2, |(c, _)| probe(c)));
        validate_loss("loss", &loss)?;
        if let Some(miner) = &self.miner {
            miner.init().map_err(|e| loss_error("miner", miner.name(), e))?;
            if let LossConfig::MultipleLosses(m) = &loss
                && m.losses.iter().any(|e| e.miner.is_some())
            {
                return Err(TrainError::Config(format!(
                    "`miner` {} with `loss` MultipleLosses whose losses have miners of their own: \
                     give every loss its own `miner` in `loss.MultipleLosses.losses`, or none of \
                     them and the top-level `miner` for all (as PML's MultipleLosses)",
                    miner.name()
                )));
            }
            if !loss.accepts_mined() {
                return Err(TrainError::Config(format!(
                    "`miner` {} does not fit `loss` {}: the loss uses every embedding of the \
                     batch (or mines its own pairs) and takes no mined pairs or triplets; remove \
                     the miner",
                    miner.name(),
                    self.loss.name()
                )));
            }
        }
        if let Some(r) = &self.regularization {
            for (key, w) in [
                ("embedding_reg_weight", r.embedding_reg_weight),
                ("weight_reg_weight", r.weight_reg_weight),
            ] {
                if !w.is_finite() {
                    return Err(TrainError::Config(format!(
                        "`regularization.{key}` must be finite, got {w}"
                    )));
                }
            }
            if let Some(e) = &r.embedding_regularizer {
                e.validate(false).map_err(|err| {
                    loss_error("regularization.embedding_regularizer", e.name(), err)
                })?;
            }
            if let Some(w) = &r.weight_regularizer {
                if !loss.has_class_weights() {
                    return Err(TrainError::Config(format!(
                        "`regularization.weight_regularizer` needs a loss with learnable class \
                         weights or proxies, and `loss` {} has none{} (`embedding_regularizer` \
                         puts a penalty on the embeddings instead)",
                        self.loss.name(),
                        if matches!(loss, LossConfig::MultipleLosses(_)) {
                            " or several losses that have them (which one's to regularize would \
                             be ambiguous)"
                        } else {
                            ""
                        }
                    )));
                }
                // The rows the loss will hand over: SparseCenters takes its counts from them.
                let k = RegularizationConfig::centers_per_class_of(&loss);
                let weighted = loss.class_weight_loss().unwrap_or(&loss);
                let classes = weighted.classes().map_or(1, |(c, _)| c.max(1));
                w.for_class_weights(classes * k, k).validate(true).map_err(|err| {
                    loss_error("regularization.weight_regularizer", w.name(), err)
                })?;
            }
        }
        if let Some(memory) = &self.memory {
            if memory.memory_size == 0 {
                return Err(TrainError::Config("`memory.memory_size` must be at least 1".into()));
            }
            if memory.memory_size < self.data.batch_size {
                return Err(TrainError::Config(format!(
                    "`memory.memory_size` ({}) must hold a batch (data.batch_size {})",
                    memory.memory_size, self.data.batch_size
                )));
            }
            if !loss.accepts_reference() {
                return Err(TrainError::Config(format!(
                    "`memory` does not fit `loss` {}: a cross-batch memory compares the batch \
                     with stored embeddings, which only pair and triplet losses do",
                    self.loss.name()
                )));
            }
        }
        Ok(())
    }
}

/// The losses a run's loss is made of, with their key paths: `(loss, the loss)` for a plain
/// loss; for a composite loss, the losses inside it (`loss.MultipleLosses.losses.1.loss`).
pub fn loss_parts(path: String, loss: &LossConfig) -> Vec<(String, &LossConfig)> {
    match loss {
        LossConfig::MultipleLosses(c) => c
            .losses
            .iter()
            .enumerate()
            .flat_map(|(i, e)| {
                loss_parts(format!("{path}.MultipleLosses.losses.{i}.loss"), &e.loss)
            })
            .collect(),
        LossConfig::SelfSupervisedLoss(c) => {
            loss_parts(format!("{path}.SelfSupervisedLoss.loss"), &c.loss)
        }
        other => vec![(path, other)],
    }
}

/// Validates `loss` (whose class counts are filled in) at the key path `path`, naming the
/// innermost key that is wrong (`loss.MultipleLosses.losses.0.loss.TripletMarginLoss.margin`),
/// and refuses the losses the trainer cannot feed.
fn validate_loss(path: &str, loss: &LossConfig) -> TrainResult<()> {
    match loss {
        LossConfig::MultipleLosses(c) => {
            for (i, entry) in c.losses.iter().enumerate() {
                validate_loss(&format!("{path}.MultipleLosses.losses.{i}.loss"), &entry.loss)?;
                if let Some(m) = &entry.miner {
                    let at = format!("{path}.MultipleLosses.losses.{i}.miner");
                    m.init().map_err(|e| loss_error(&at, m.name(), e))?;
                }
            }
        }
        LossConfig::SelfSupervisedLoss(_) => {
            return Err(TrainError::Config(format!(
                "`{path}.SelfSupervisedLoss` needs two augmented views of every sample (PML's \
                 `embeddings` and `ref_emb`); the trainer embeds one view per sample, so it \
                 cannot train this loss: use it from dml-losses (LossInput::with_reference), or \
                 its wrapped loss on the labelled batch"
            )));
        }
        _ => {}
    }
    loss.validate().map_err(|e| loss_error(path, loss.name(), e))
}

fn strip_prefix(e: TrainError) -> String {
    match e {
        TrainError::Config(s) => s,
        other => other.to_string(),
    }
}

/// A library's configuration error, with the key path it belongs to
/// (`loss.ProxyAnchorLoss.alpha`).
pub(crate) fn loss_error(part: &str, variant: &str, e: LossError) -> TrainError {
    match e {
        LossError::InvalidConfig { field, reason, .. } => {
            TrainError::Config(format!("`{part}.{variant}.{field}` {reason}"))
        }
        other => TrainError::Config(format!("`{part}.{variant}`: {other}")),
    }
}

/// The backbone's name as written in configuration files.
pub fn backbone_name(backbone: &BackboneConfig) -> &'static str {
    match backbone {
        BackboneConfig::ResNet50(_) => "ResNet50",
        BackboneConfig::BnInception(_) => "BnInception",
        BackboneConfig::SmallCnn(_) => "SmallCnn",
    }
}

/// Channels of the backbone's last feature map (the unprojected embedding size).
pub fn feature_channels(backbone: &BackboneConfig) -> usize {
    match backbone {
        BackboneConfig::ResNet50(_) => 2048,
        BackboneConfig::BnInception(_) => 1024,
        BackboneConfig::SmallCnn(c) => c.channels[2],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presets::preset;
    use serde_json::json;

    #[test]
    fn layers_patch_nested_parts_and_name_unknown_keys() {
        let base = preset(DatasetKind::Cub200);
        let c = base
            .patched(
                &json!({
                    "loss": {"TripletMarginLoss": {"margin": 0.2}},
                    "miner": "batch_hard",
                    "data": {"batch_size": 64, "sampler": {"MPerClass": {"m": 4}}},
                    "run": {"length": {"iterations": 300}},
                }),
                "test",
            )
            .expect("patch");
        assert!(matches!(&c.loss, LossConfig::TripletMarginLoss(t) if t.margin == 0.2));
        assert!(matches!(c.miner, Some(MinerConfig::BatchHardMiner(_))));
        assert_eq!(c.run.length, Span::Iterations(300));
        assert_eq!(c.data.sampler, SamplerConfig::MPerClass { m: 4, length: None });
        let err = base.patched(&json!({"loss": {"ProxyAnchorLoss": {"alpah": 3}}}), "f.toml");
        let msg = err.expect_err("typo").to_string();
        assert!(msg.contains("f.toml") && msg.contains("`loss.ProxyAnchorLoss.alpah`"), "{msg}");
        let err = base.patched(&json!({"optim": {"lr": "fast"}}), "f.toml").expect_err("type");
        assert!(err.to_string().contains("optim.lr"), "{err}");
        // Every distance of dml-losses can be named, the SNR distance included.
        for distance in Distance::defaults() {
            let name = serde_json::to_value(distance).expect("distance");
            let c = base
                .patched(&json!({"loss": {"ContrastiveLoss": {"distance": name}}}), "test")
                .unwrap_or_else(|e| panic!("{distance:?}: {e}"));
            assert!(matches!(&c.loss, LossConfig::ContrastiveLoss(l) if l.distance == distance));
        }
    }

    #[test]
    fn settings_left_out_at_their_defaults_can_be_patched() {
        let base = preset(DatasetKind::Cub200);
        assert!(base.to_value().expect("value")["run"].get("sync_batch_norm").is_none());
        let c = base
            .patched(
                &json!({"run": {
                    "devices": ["cpu", "cpu"],
                    "sync_batch_norm": true,
                    "loss_per_device": true,
                    "precision": "bf16",
                }}),
                "test",
            )
            .expect("patch");
        assert_eq!(c.run.devices, ["cpu", "cpu"]);
        assert!(c.run.sync_batch_norm && c.run.loss_per_device);
        assert_eq!(c.run.precision, crate::config::Precision::Bf16);
        // Still left out of the JSON at their defaults.
        let back = c.patched(&json!({"run": {"sync_batch_norm": false}}), "test").expect("off");
        assert!(back.to_value().expect("value")["run"].get("sync_batch_norm").is_none());
        let err = base.patched(&json!({"run": {"sync_batchnorm": true}}), "t").expect_err("typo");
        assert!(err.to_string().contains("sync_batch_norm"), "{err}");
    }

    #[test]
    fn resolved_configs_round_trip_through_json_and_toml() {
        let dir = tempfile::tempdir().expect("tempdir");
        let c = preset(DatasetKind::Sop);
        let json_path = dir.path().join("c.json");
        c.save(&json_path).expect("save");
        assert_eq!(TrainConfig::load(&json_path).expect("load"), c);
        let toml_path = dir.path().join("c.toml");
        let table: toml::Table = serde_json::from_value(c.to_value().expect("value"))
            .unwrap_or_else(|_| toml::Table::new());
        std::fs::write(&toml_path, toml::to_string(&table).expect("toml")).expect("write");
        assert_eq!(c.patched_with_file(&toml_path).expect("toml"), c);
    }

    const JOINT: &str = r#"
[[loss.MultipleLosses.losses]]
name = "metric"
loss.triplet_margin = { margin = 0.1 }
miner = "multi_similarity"

[[loss.MultipleLosses.losses]]
name = "classifier"
weight = 0.5
loss = "SoftmaxLoss"
"#;

    fn patched_toml(base: &TrainConfig, text: &str) -> TrainResult<TrainConfig> {
        let table: toml::Table = toml::from_str(text).expect("toml");
        base.patched(&serde_json::to_value(table).expect("json"), "t.toml")
    }

    #[test]
    fn a_multiple_losses_file_fills_every_nested_default_and_round_trips() {
        let base = preset(DatasetKind::Cub200);
        let c = patched_toml(&base, JOINT).expect("patch");
        let LossConfig::MultipleLosses(m) = &c.loss else { panic!("{:?}", c.loss) };
        assert_eq!(m.losses.len(), 2);
        assert!(matches!(&m.losses[0].loss, LossConfig::TripletMarginLoss(t) if t.margin == 0.1));
        assert!(matches!(m.losses[0].miner, Some(MinerConfig::MultiSimilarityMiner(_))));
        assert_eq!((m.losses[0].weight, m.losses[1].weight), (1.0, 0.5));
        assert_eq!(m.losses[1].name.as_deref(), Some("classifier"));
        assert!(matches!(&m.losses[1].loss, LossConfig::SoftmaxLoss(s) if s.bias));
        c.validate().expect("valid");
        // The class count and embedding size reach every loss that has class weights.
        let filled = c.loss_for(7);
        let LossConfig::MultipleLosses(m) = &filled else { panic!("composite") };
        assert_eq!(m.losses[1].loss.classes(), Some((7, 512)));
        // JSON (config.json) and TOML (the resolved configuration written back as a file).
        let dir = tempfile::tempdir().expect("tempdir");
        c.save(&dir.path().join("c.json")).expect("save");
        assert_eq!(TrainConfig::load(&dir.path().join("c.json")).expect("load"), c);
        #[derive(serde::Serialize)]
        struct LossOnly<'a> {
            loss: &'a LossConfig,
        }
        let toml_text = toml::to_string(&LossOnly { loss: &c.loss }).expect("the loss as TOML");
        let again = patched_toml(&base, &toml_text).expect("toml again");
        assert_eq!(again, c, "{toml_text}");
        // An entry without a loss, and an unknown key inside an entry, name their key.
        let err = patched_toml(&base, "[[loss.MultipleLosses.losses]]\nweight = 2.0\n")
            .expect_err("no loss")
            .to_string();
        assert!(err.contains("loss.MultipleLosses.losses[0].loss"), "{err}");
        let err =
            patched_toml(&base, "[[loss.MultipleLosses.losses]]\nloss = \"NCALoss\"\nwieght = 2\n")
                .expect_err("typo")
                .to_string();
        assert!(err.contains("`loss.MultipleLosses.losses.0.wieght`: unknown setting"), "{err}");
    }

    #[test]
    fn composite_losses_are_validated_at_their_key_paths() {
        let base = preset(DatasetKind::Cub200);
        let bad_temperature =
            "[[loss.MultipleLosses.losses]]\nloss.NTXentLoss = { temperature = -1.0 }\n";
        let err = patched_toml(&base, bad_temperature)
            .expect("patch")
            .validate()
            .expect_err("temperature");
        let msg = err.to_string();
        assert!(
            msg.contains("`loss.MultipleLosses.losses.0.loss.NTXentLoss.temperature`"),
            "{msg}"
        );
        let size = "[[loss.MultipleLosses.losses]]\nloss.ArcFaceLoss = { embedding_size = 3 }\n";
        let msg =
            patched_toml(&base, size).expect("patch").validate().expect_err("size").to_string();
        assert!(
            msg.contains("`loss.MultipleLosses.losses.0.loss.ArcFaceLoss.embedding_size`"),
            "{msg}"
        );
        let mut both = patched_toml(&base, JOINT).expect("patch");
        both.miner = MinerConfig::default_for("BatchHardMiner");
        let msg = both.validate().expect_err("two miners").to_string();
        assert!(msg.contains("miners of their own"), "{msg}");
        let mut memory = patched_toml(&base, JOINT).expect("patch");
        memory.memory = Some(CrossBatchMemoryConfig::new(0).with_memory_size(1024));
        assert!(memory.validate().is_err());
        let ssl = patched_toml(&base, "[loss.SelfSupervisedLoss]\nloss = \"ContrastiveLoss\"\n")
            .expect("patch");
        assert!(matches!(&ssl.loss, LossConfig::SelfSupervisedLoss(s)
            if matches!(*s.loss, LossConfig::ContrastiveLoss(_))));
        let msg = ssl.validate().expect_err("two views").to_string();
        assert!(msg.contains("`loss.SelfSupervisedLoss` needs two augmented views"), "{msg}");
    }

    #[test]
    fn validation_names_the_key_and_checks_the_pairing() {
        let mut c = preset(DatasetKind::Cub200);
        c.loss = LossConfig::default_for("AMLoss").expect("AMLoss");
        c.miner = MinerConfig::default_for("BatchHardMiner");
        let err = c.validate().expect_err("AMLoss takes no miner").to_string();
        assert!(err.contains("`miner` BatchHardMiner does not fit `loss` AMLoss"), "{err}");
        let mut c = preset(DatasetKind::Cub200);
        c = c.patched(&json!({"loss": {"ProxyAnchorLoss": {"alpha": -1.0}}}), "t").expect("patch");
        let err = c.validate().expect_err("alpha").to_string();
        assert!(err.contains("`loss.ProxyAnchorLoss.alpha`"), "{err}");
    }

    #[test]
    fn reducers_regularizers_and_lp_distances_are_read_from_layers() {
        let base = preset(DatasetKind::Cub200);
        let c = base
            .patched(
                &json!({
                    "loss": {"ContrastiveLoss": {
                        "distance": {"Lp": {"p": 1.0}},
                        "reducer": {"multiple": {
                            "reducers": {"pos_loss": "sum", "neg_loss": {"per_anchor": {"reducer": "avg_non_zero"}}},
                            "default_reducer": {"class_weighted": {"weights": [1.0, 2.0]}},
                        }},
                    }},
                    "regularization": {
                        "embedding_regularizer": {"lp_regularizer": {"power": 2.0}},
                        "embedding_reg_weight": 0.5,
                    },
                }),
                "t",
            )
            .expect("patch");
        let LossConfig::ContrastiveLoss(l) = &c.loss else { panic!("contrastive") };
        assert_eq!(l.distance, Distance::Lp { normalize_embeddings: true, power: 1.0, p: 1.0 });
        let Reducer::Multiple { reducers, default_reducer } = &l.reducer else {
            panic!("multiple")
        };
        assert_eq!(reducers["pos_loss"], Reducer::Sum);
        assert_eq!(
            reducers["neg_loss"],
            Reducer::PerAnchor { reducer: Box::new(Reducer::AvgNonZero) }
        );
        assert_eq!(**default_reducer, Reducer::ClassWeighted { weights: vec![1.0, 2.0] });
        let r = c.regularization.as_ref().expect("regularization");
        assert_eq!(r.embedding_reg_weight, 0.5);
        assert!(matches!(
            &r.embedding_regularizer,
            Some(RegularizerConfig::LpRegularizer(lp)) if lp.power == 2.0 && lp.p == 2.0
        ));
        c.validate().expect("valid");
        // A weight regularizer needs class weights; a bad regularizer setting names its path.
        let bad = c
            .patched(
                &json!({"regularization": {"weight_regularizer": "RegularFaceRegularizer"}}),
                "t",
            )
            .expect("patch");
        let err = bad.validate().expect_err("no weights").to_string();
        assert!(err.contains("`regularization.weight_regularizer`"), "{err}");
        let bad = c
            .patched(
                &json!({"regularization": {"embedding_regularizer": {"LpRegularizer": {"p": 0.5}}}}),
                "t",
            )
            .expect("patch");
        let err = bad.validate().expect_err("p").to_string();
        assert!(err.contains("`regularization.embedding_regularizer.LpRegularizer.p`"), "{err}");
        let ok = base
            .patched(
                &json!({"loss": "SoftTripleLoss", "regularization": {
                    "weight_regularizer": "SparseCentersRegularizer", "weight_reg_weight": 0.2}}),
                "t",
            )
            .expect("patch");
        ok.validate().expect("SoftTriple takes a weight regularizer");
        let one_center = base
            .patched(
                &json!({"loss": "ProxyAnchorLoss", "regularization": {
                    "weight_regularizer": "SparseCentersRegularizer"}}),
                "t",
            )
            .expect("patch");
        let err = one_center.validate().expect_err("one proxy per class").to_string();
        assert!(
            err.contains(
                "`regularization.weight_regularizer.SparseCentersRegularizer.centers_per_class`"
            ),
            "{err}"
        );
        let err = base
            .patched(&json!({"loss": {"ContrastiveLoss": {"distance": {"Lp": {"p": 0.0}}}}}), "t")
            .expect_err("p");
        assert!(err.to_string().contains("p >= 1"), "{err}");
    }

    #[test]
    fn composite_losses_take_reducer_tables_and_regularizers() {
        let base = preset(DatasetKind::Cub200);
        // A reducer table inside a sub-loss: its keys are the sub-loss names, `loss` included
        // (NTXentLoss's only sub-loss), which is a reducer there, not a loss.
        let text = r#"
[[loss.MultipleLosses.losses]]
loss.NTXentLoss = { reducer = { multiple = { reducers = { loss = "sum" } } } }

[[loss.MultipleLosses.losses]]
loss = "SoftmaxLoss"
weight = 0.5

[regularization]
weight_regularizer = "RegularFaceRegularizer"
"#;
        let c = patched_toml(&base, text).expect("patch");
        let LossConfig::MultipleLosses(m) = &c.loss else { panic!("{:?}", c.loss) };
        let LossConfig::NTXentLoss(nt) = &m.losses[0].loss else { panic!("NTXentLoss") };
        let Reducer::Multiple { reducers, .. } = &nt.reducer else { panic!("{:?}", nt.reducer) };
        assert_eq!(reducers["loss"], Reducer::Sum);
        // The only loss with class weights (SoftmaxLoss) takes the weight regularizer.
        c.validate().expect("one loss with class weights");
        let two = c
            .patched(
                &json!({"loss": {"MultipleLosses": {"losses": [
                    {"loss": "SoftmaxLoss"}, {"loss": "ProxyAnchorLoss"}]}}}),
                "t",
            )
            .expect("patch");
        let err = two.validate().expect_err("two losses with class weights").to_string();
        assert!(err.contains("`regularization.weight_regularizer`"), "{err}");
        assert!(err.contains("several losses that have them"), "{err}");
    }
}
