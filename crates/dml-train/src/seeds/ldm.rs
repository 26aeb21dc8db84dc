//! LDM's `train.py` (github.com/wyfan714/LDM, the Learnable Dynamic Margin paper's code, built
//! on Proxy-Anchor's): its flags, with that script's defaults, mapped to a [`TrainConfig`].
//!
//! What the script does, and so what the mapping builds (read from `train.py`, `losses.py`,
//! `net/*.py` and `dataset/*.py` at commit 684f657):
//! - the backbone (`bn_inception` or `resnet50`, ImageNet weights) pooled by average + max, a
//!   linear embedding (`--embedding-size`), L2-normalized in training and evaluation with
//!   `--l2-norm 1`;
//! - AdamW (PyTorch's defaults) over three groups: the backbone at `--lr`, the embedding at
//!   `--lr`, the proxies at `100 x --lr`, weight decay `--weight-decay` on all; AMLoss's margins
//!   with their own AdamW at `--mrg_lr` with the same weight decay and their own StepLR
//!   (`--mrg-lr-decay-step`, `--mrg-lr-decay-gamma`); StepLR (`--lr-decay-step`,
//!   `--lr-decay-gamma`) stepped after every epoch; gradients clipped to +-10 element-wise;
//! - `--warm N`: the first N epochs train only the embedding and the loss's parameters; at
//!   epoch N every backbone parameter trains again, BatchNorm's scale and shift included even
//!   with `--bn-freeze 1` (whose running statistics stay frozen);
//! - random batches (`--IPC k`: k images per class), every epoch evaluated with Recall@K
//!   (1, 2, 4, 8, 16, 32; SOP 1, 10, 100, 1000; In-shop query vs gallery 1, 10, 20, 30, 40,
//!   50) and the best Recall@1 kept; seed 1.

use clap::Parser;
use dml_backbones::{
    BackboneConfig, BnInceptionConfig, EmbeddingModelConfig, Pooling, ResNet50Config,
};
use dml_losses::{
    AMLossConfig, ContrastiveLossConfig, Distance, LossConfig, MinerConfig,
    MultiSimilarityLossConfig, MultiSimilarityMinerConfig, NPairsLossConfig, ProxyAnchorLossConfig,
    ProxyNCALossConfig, TripletMarginLossConfig, TripletMarginMinerConfig, TripletType,
};

use super::{CommonArgs, python_float, unsupported};
use crate::config::{
    DataConfig, DatasetKind, Keep, LrDecay, OptimizerConfig, ParamGroupConfig, SamplerConfig,
    ScheduleConfig, Span, TrainConfig, Unit,
};
use crate::error::TrainResult;

/// LDM's `train.py` flags (its defaults: `--dataset cars --batch-size 90 --epochs 40 --gpu-id
/// 1 --model bn_inception --loss AMLoss ...`), plus dml's [`CommonArgs`].
#[derive(Parser, Debug, Clone)]
#[command(name = "ldm", about = "LDM's train.py (Learnable Dynamic Margin / Proxy-Anchor)")]
#[command(infer_long_args = true)]
pub struct LdmArgs {
    /// Log folder root; the run directory is LDM's `<LOG_DIR>/logs_<dataset>/...` path.
    #[arg(long = "LOG-DIR", default_value = "./AMDML/logs")]
    pub log_dir: String,
    /// cub | cars | SOP | Inshop.
    #[arg(long, default_value = "cars")]
    pub dataset: String,
    /// Embedding size.
    #[arg(long, default_value_t = 512)]
    pub embedding_size: usize,
    /// Training batch size (also the evaluation batch).
    #[arg(long, default_value_t = 90)]
    pub batch_size: usize,
    /// Epochs.
    #[arg(long, default_value_t = 40)]
    pub epochs: usize,
    /// The GPU (`-1`: all GPUs with DataParallel).
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub gpu_id: i64,
    /// Data-loading workers.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// bn_inception | resnet50.
    #[arg(long, default_value = "bn_inception")]
    pub model: String,
    /// AMLoss | Proxy_Anchor | Proxy_NCA | MS | Contrastive | Triplet | NPair.
    #[arg(long, default_value = "AMLoss")]
    pub loss: String,
    /// adamw | sgd | adam | rmsprop.
    #[arg(long, default_value = "adamw")]
    pub optimizer: String,
    /// Learning rate (proxies: x100).
    #[arg(long, default_value_t = 1e-4)]
    pub lr: f64,
    /// Learning rate of AMLoss's margins (their own AdamW).
    #[arg(long = "mrg-lr", default_value_t = 1e-4)]
    pub mrg_lr: f64,
    /// Weight decay of every group.
    #[arg(long, default_value_t = 1e-4)]
    pub weight_decay: f64,
    /// ProxyGML's weight (ProxyGML is not run: LDM's code for it fails).
    #[arg(long, default_value_t = 0.3)]
    pub weight_lambda: f64,
    /// StepLR step in epochs.
    #[arg(long, default_value_t = 10)]
    pub lr_decay_step: usize,
    /// StepLR gamma.
    #[arg(long, default_value_t = 0.5)]
    pub lr_decay_gamma: f64,
    /// The margins' StepLR step in epochs.
    #[arg(long, default_value_t = 10)]
    pub mrg_lr_decay_step: usize,
    /// The margins' StepLR gamma.
    #[arg(long, default_value_t = 0.5)]
    pub mrg_lr_decay_gamma: f64,
    /// AMLoss's positive scale (default 32).
    #[arg(long)]
    pub alphap: Option<f64>,
    /// AMLoss's negative scale (default 32).
    #[arg(long)]
    pub alphan: Option<f64>,
    /// AMLoss's initial margins and negative margin; Proxy_Anchor's margin.
    #[arg(long, default_value_t = 0.1)]
    pub mrg: f64,
    /// Images per class in a batch (balanced sampling); none or 0: random batches.
    #[arg(long = "IPC")]
    pub ipc: Option<usize>,
    /// Warm-up epochs (only the embedding and the loss's parameters train).
    #[arg(long, default_value_t = 1)]
    pub warm: usize,
    /// Freeze BatchNorm (1) or not (0).
    #[arg(long, default_value_t = 1)]
    pub bn_freeze: i64,
    /// L2-normalize the embedding (1) or not (0).
    #[arg(long, default_value_t = 1)]
    pub l2_norm: i64,
    /// A note (LDM does not use it).
    #[arg(long, default_value = "")]
    pub remark: String,
    /// AMLoss's proxy-to-proxy offset.
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    pub delta: f64,
    /// AMLoss's proxy-to-proxy weight.
    #[arg(long, default_value_t = 1.0)]
    pub lam: f64,
    /// dml's own flags.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `(dataset, the dataset's folder under LDM's README's `./data`, Recall@K)` for `--dataset`.
fn dataset(name: &str) -> TrainResult<(DatasetKind, &'static str, Vec<usize>)> {
    Ok(match name {
        "cub" => (DatasetKind::Cub200, "data/CUB_200_2011", vec![1, 2, 4, 8, 16, 32]),
        "cars" => (DatasetKind::Cars196, "data/cars196", vec![1, 2, 4, 8, 16, 32]),
        "SOP" => (DatasetKind::Sop, "data/Stanford_Online_Products", vec![1, 10, 100, 1000]),
        "Inshop" => (DatasetKind::Inshop, "data/Inshop_Clothes", vec![1, 10, 20, 30, 40, 50]),
        "ucmd" | "aid" | "pat" | "market" => {
            return Err(unsupported(
                "--dataset",
                name,
                "the remote-sensing and re-identification sets of LDM have no reader in dml \
                 (cub, cars, SOP and Inshop do)",
            ));
        }
        other => {
            return Err(unsupported("--dataset", other, "LDM knows cub, cars, SOP and Inshop"));
        }
    })
}

impl LdmArgs {
    /// The configuration LDM's `train.py` runs with these flags.
    ///
    /// # Errors
    /// [`crate::TrainError::Config`] naming a flag whose value LDM cannot run (its code fails
    /// on it) or dml does not reproduce.
    pub fn to_config(&self) -> TrainResult<TrainConfig> {
        let (kind, dir, recall_ks) = dataset(&self.dataset)?;
        let backbone = match self.model.as_str() {
            "bn_inception" => BackboneConfig::BnInception(BnInceptionConfig::new()),
            "resnet50" => BackboneConfig::ResNet50(ResNet50Config::new()),
            m if ["googlenet", "resnet18", "resnet101"].iter().any(|b| m.contains(b)) => {
                return Err(unsupported(
                    "--model",
                    m,
                    "dml has the bn_inception and resnet50 backbones",
                ));
            }
            m => return Err(unsupported("--model", m, "LDM knows bn_inception and resnet50")),
        };
        let normalize = self.l2_norm != 0;
        let model = EmbeddingModelConfig::new(backbone)
            .with_embedding_size(Some(self.embedding_size))
            .with_pooling(Pooling::AvgPlusMax)
            .with_normalize(true)
            .with_normalize_training(normalize)
            .with_freeze_batch_norm(self.bn_freeze != 0);
        let (alphap, alphan) = (self.alphap.unwrap_or(32.0), self.alphan.unwrap_or(32.0));
        let mut miner = None;
        let mut proxies_frozen = false;
        let loss = match self.loss.as_str() {
            "AMLoss" => LossConfig::AMLoss(
                AMLossConfig::new(0, 0)
                    .with_alpha_pos(alphap)
                    .with_alpha_neg(alphan)
                    .with_neg_margin(self.mrg)
                    .with_init_margin(self.mrg)
                    .with_proxy_margin_delta(self.delta)
                    .with_proxy_weight(self.lam),
            ),
            "Proxy_Anchor" => {
                if self.alphap.is_some() || self.alphan.is_some() {
                    return Err(unsupported(
                        "--alphap/--alphan",
                        "",
                        "LDM's Proxy_Anchor fixes alpha at 32 and ignores them; they apply to \
                         --loss AMLoss",
                    ));
                }
                LossConfig::ProxyAnchorLoss(
                    ProxyAnchorLossConfig::new(0, 0).with_margin(self.mrg).with_alpha(32.0),
                )
            }
            "Proxy_NCA" => {
                // LDM builds PML's ProxyNCALoss(softmax_scale=32) but gives its proxies to no
                // optimizer: they keep their initial values.
                proxies_frozen = true;
                LossConfig::ProxyNCALoss(ProxyNCALossConfig::new(0, 0).with_softmax_scale(32.0))
            }
            "MS" => {
                miner = Some(MinerConfig::MultiSimilarityMiner(
                    MultiSimilarityMinerConfig::new().with_epsilon(0.1),
                ));
                LossConfig::MultiSimilarityLoss(
                    MultiSimilarityLossConfig::new().with_alpha(2.0).with_beta(50.0).with_base(0.5),
                )
            }
            "Contrastive" => {
                LossConfig::ContrastiveLoss(ContrastiveLossConfig::new().with_neg_margin(0.5))
            }
            "Triplet" => {
                miner = Some(MinerConfig::TripletMarginMiner(
                    TripletMarginMinerConfig::new()
                        .with_margin(0.1)
                        .with_type_of_triplets(TripletType::Semihard),
                ));
                LossConfig::TripletMarginLoss(TripletMarginLossConfig::new().with_margin(0.1))
            }
            "NPair" => LossConfig::NPairsLoss(
                NPairsLossConfig::new()
                    .with_distance(Distance::DotProduct { normalize_embeddings: false }),
            ),
            "Circle" => {
                return Err(unsupported(
                    "--loss",
                    "Circle",
                    "LDM's own CircleLoss (a log-sum-exp over masked zeros, mean over anchors) \
                     is not reproduced; dml's CircleLoss is PML's (--set loss=CircleLoss)",
                ));
            }
            "SoftTripleLoss" => {
                return Err(unsupported(
                    "--loss",
                    "SoftTripleLoss",
                    "not mapped: LDM's SoftTriple settings were not checked against its code; \
                     dml's SoftTripleLoss is PML's (--set loss=SoftTripleLoss)",
                ));
            }
            "MarginLoss" => {
                return Err(unsupported(
                    "--loss",
                    "MarginLoss",
                    "MarginLoss needs LDM's distance-weighted sampling, which dml lacks",
                ));
            }
            "ProxyGML" | "ProxyAnchorLoss" => {
                return Err(unsupported(
                    "--loss",
                    &self.loss,
                    "LDM's code fails on it (it reads arguments train.py does not define)",
                ));
            }
            other => return Err(unsupported("--loss", other, "not one of LDM's losses")),
        };
        if self.loss == "AMLoss" && self.optimizer != "adamw" {
            return Err(unsupported(
                "--optimizer",
                &self.optimizer,
                "LDM builds AMLoss's margin optimizer only for adamw (its code fails otherwise)",
            ));
        }
        let optimizer = match self.optimizer.as_str() {
            "adamw" => OptimizerConfig::adamw(),
            "sgd" => OptimizerConfig::Sgd { momentum: 0.9, dampening: 0.0, nesterov: true },
            "adam" => OptimizerConfig::adam(),
            "rmsprop" => OptimizerConfig::RmsProp {
                alpha: 0.9,
                epsilon: 1e-8,
                momentum: 0.9,
                centered: false,
            },
            o => return Err(unsupported("--optimizer", o, "LDM knows adamw, sgd, adam, rmsprop")),
        };
        if self.gpu_id < -1 {
            return Err(unsupported("--gpu-id", self.gpu_id, "must be -1 or a GPU index"));
        }
        // LDM's `-1` wraps the model in DataParallel over every visible GPU: the batch is
        // scattered, the embeddings gathered on the first GPU and the loss computed there on
        // the whole batch, which is what `run.devices` does. The GPUs are named with
        // `--devices`, as dml cannot list "every visible GPU" of every backend.
        if self.gpu_id == -1 && self.common.devices.as_ref().is_none_or(|d| d.len() < 2) {
            return Err(unsupported(
                "--gpu-id",
                -1,
                "LDM's DataParallel over every visible GPU: name them with --devices \
                 gpu:0,gpu:1,... (two or more), or give one GPU index",
            ));
        }

        let mut data = DataConfig::new(kind, dir);
        data.batch_size = self.batch_size;
        data.test_batch_size = self.batch_size;
        data.num_workers = self.workers;
        data.sampler = match self.ipc {
            Some(k) if k > 0 => SamplerConfig::MPerClass { m: k, length: None },
            _ => SamplerConfig::Random,
        };
        let output_dir = format!(
            "{}/logs_{}/{}_embedding/{}_batchsize/{}_{}_alphap{}_alphan{}_mrg{}_{}_lr{}_mrglr{}_epochs{}_delta{}_lambda{}",
            self.log_dir,
            self.dataset,
            self.embedding_size,
            self.batch_size,
            self.model,
            self.loss,
            python_float(alphap),
            python_float(alphan),
            python_float(self.mrg),
            self.optimizer,
            python_float(self.lr),
            python_float(self.mrg_lr),
            self.epochs,
            python_float(self.delta),
            python_float(self.lam),
        );
        let mut c = TrainConfig::new(data, model, loss, Span::Epochs(self.epochs), output_dir);
        c.miner = miner;
        c.optim = crate::config::OptimConfig::new(optimizer, self.lr);
        c.optim.weight_decay = self.weight_decay;
        c.optim.clip_grad_value = Some(10.0);
        c.optim.frozen_backbone = Span::Epochs(self.warm);
        c.optim.frozen_backbone_releases_batch_norm = true;
        let proxy_lr_mult =
            if matches!(self.loss.as_str(), "AMLoss" | "Proxy_Anchor") { 100.0 } else { 1.0 };
        c.optim.loss =
            ParamGroupConfig { frozen: proxies_frozen, ..ParamGroupConfig::scaled(proxy_lr_mult) };
        c.optim.margins = ParamGroupConfig {
            lr: Some(self.mrg_lr),
            optimizer: Some(OptimizerConfig::adamw()),
            schedule: Some(ScheduleConfig::new(
                LrDecay::Step { step_size: self.mrg_lr_decay_step, gamma: self.mrg_lr_decay_gamma },
                Unit::Epoch,
            )),
            ..ParamGroupConfig::default()
        };
        c.schedule = ScheduleConfig::new(
            LrDecay::Step { step_size: self.lr_decay_step, gamma: self.lr_decay_gamma },
            Unit::Epoch,
        );
        c.run.eval_every = Some(Span::Epochs(1));
        c.run.checkpoint_every = Some(Span::Epochs(1));
        c.run.keep_checkpoints = Keep::None;
        c.run.recall_ks = recall_ks;
        c.run.seed = 1;
        c.run.device = format!("gpu:{}", self.gpu_id.max(0));
        self.common.apply(c)
    }
}
