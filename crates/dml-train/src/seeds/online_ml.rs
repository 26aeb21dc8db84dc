//! The online-metric-learning repository's `main.py` (github.com/ZRStea/
//! pytorch-online-metric-learning at 4da35a4), mapped to a [`TrainConfig`].
//!
//! What the script does, and so what the mapping builds:
//! - torchvision's ResNet50 with its average pooling, the classifier replaced by a linear
//!   layer of `--embedding_dim`, followed by an L2 normalization with `--l2norm` (in training
//!   and evaluation);
//! - Adam (PyTorch's defaults, no weight decay) at `--lr`; StepLR(`--decay_iter_step`,
//!   `--decay_gamma`) stepped at the top of every iteration, so update `n` uses
//!   `lr gamma^floor(n / step)`;
//! - `--maxiter` iterations of batches drawn by its samplers (CUB: distinct classes, 5 to 10
//!   images each; In-shop: a random half to all of each class's images); an evaluation before
//!   training and every `--eval_interval` iterations (Recall@1, 2, 4, 8, 16, 32 and NMI on CUB;
//!   In-shop query vs gallery at 1, 10, 20, 30, 40); only the final model is saved;
//! - its own losses (`contrastive`, `triplet` with `--mining hardest|semi|all`, `lifted`) with
//!   `--margin`, on squared (or plain, for lifted) distances of the embeddings as given;
//! - training images squashed to 256 x 256, a random 224 crop and a flip; test images squashed
//!   to 256 x 256 and center-cropped to 224.
//!
//! Its `--cuda` is always on (a store-true flag with default True). Its In-shop branch checks
//! for `In-Shop` while its README passes `In-shop` (and then fails unpacking the evaluation's
//! results): dml accepts both spellings and runs In-shop.

use clap::Parser;
use dml_backbones::{BackboneConfig, EmbeddingModelConfig, Pooling, ResNet50Config};
use dml_data::{PipelineConfig, Transform};
use dml_losses::{
    LossConfig, OnlineContrastiveLossConfig, OnlineLiftedStructureLossConfig, OnlineMining,
    OnlineTripletLossConfig,
};

use super::{CommonArgs, unsupported};
use crate::config::{
    DataConfig, DatasetKind, Keep, LrDecay, OptimConfig, OptimizerConfig, SamplerConfig,
    ScheduleConfig, Span, TrainConfig, Unit,
};
use crate::error::TrainResult;

/// `main.py`'s flags (the required ones are required here too), plus dml's [`CommonArgs`].
#[derive(Parser, Debug, Clone)]
#[command(about = "The online-metric-learning repository's main.py")]
#[command(infer_long_args = true)]
pub struct OnlineMlArgs {
    /// The dataset root (CUB-200-2011's folder, or In-shop's).
    #[arg(long)]
    pub dataroot: String,
    /// Use CUDA (always on in the seed).
    #[arg(long)]
    pub cuda: bool,
    /// Training batch size.
    #[arg(long)]
    pub batch_size: usize,
    /// Test batch size.
    #[arg(long)]
    pub batch_size_test: usize,
    /// Evaluate every this many iterations.
    #[arg(long, default_value_t = 500)]
    pub eval_interval: usize,
    /// Embedding size.
    #[arg(long)]
    pub embedding_dim: usize,
    /// contrastive | triplet | lifted.
    #[arg(long)]
    pub loss: String,
    /// The triplet loss's mining: hardest | semi | all.
    #[arg(long)]
    pub mining: Option<String>,
    /// CUB-200-2011 | In-Shop.
    #[arg(long)]
    pub dataset: String,
    /// StepLR step, in iterations.
    #[arg(long)]
    pub decay_iter_step: usize,
    /// Seed.
    #[arg(long)]
    pub seed: u64,
    /// StepLR gamma.
    #[arg(long)]
    pub decay_gamma: f64,
    /// Output folder.
    #[arg(long, default_value = ".")]
    pub checkpoints_path: String,
    /// The loss's margin.
    #[arg(long)]
    pub margin: f64,
    /// Data-loading workers.
    #[arg(long, default_value_t = 10)]
    pub nworkers: usize,
    /// Adam's learning rate.
    #[arg(long)]
    pub lr: f64,
    /// Training iterations.
    #[arg(long)]
    pub maxiter: usize,
    /// L2-normalize the embedding.
    #[arg(long)]
    pub l2norm: bool,
    /// dml's own flags.
    #[command(flatten)]
    pub common: CommonArgs,
}

impl OnlineMlArgs {
    /// The configuration `main.py` runs with these flags.
    ///
    /// # Errors
    /// [`crate::TrainError::Config`] naming a flag whose value the script cannot run.
    pub fn to_config(&self) -> TrainResult<TrainConfig> {
        let (kind, sampler, recall_ks) = match self.dataset.as_str() {
            "CUB-200-2011" => (
                DatasetKind::Cub200,
                SamplerConfig::ClassChunks { min: 5, max: 10 },
                vec![1, 2, 4, 8, 16, 32],
            ),
            "In-Shop" | "In-shop" => {
                (DatasetKind::Inshop, SamplerConfig::ClassHalves, vec![1, 10, 20, 30, 40])
            }
            other => {
                return Err(unsupported(
                    "--dataset",
                    other,
                    "main.py reads CUB-200-2011 and In-Shop",
                ));
            }
        };
        let mining = match (self.loss.as_str(), self.mining.as_deref()) {
            ("triplet", None) => {
                return Err(unsupported(
                    "--loss",
                    "triplet",
                    "needs --mining hardest|semi|all (main.py's triplet loss returns nothing \
                     without it)",
                ));
            }
            ("triplet", Some("hardest")) => Some(OnlineMining::Hardest),
            ("triplet", Some("semi" | "semihard")) => Some(OnlineMining::Semihard),
            ("triplet", Some("all")) => Some(OnlineMining::All),
            ("triplet", Some(other)) => {
                return Err(unsupported("--mining", other, "expected hardest, semi or all"));
            }
            (_, Some(m)) => {
                return Err(unsupported("--mining", m, "applies to --loss triplet only"));
            }
            _ => None,
        };
        let loss = match self.loss.as_str() {
            "contrastive" => LossConfig::OnlineContrastiveLoss(
                OnlineContrastiveLossConfig::new().with_margin(self.margin),
            ),
            "triplet" => LossConfig::OnlineTripletLoss(
                OnlineTripletLossConfig::new()
                    .with_margin(self.margin)
                    .with_mining(mining.unwrap_or(OnlineMining::All)),
            ),
            "lifted" => LossConfig::OnlineLiftedStructureLoss(
                OnlineLiftedStructureLossConfig::new().with_margin(self.margin),
            ),
            other => {
                return Err(unsupported(
                    "--loss",
                    other,
                    "main.py takes contrastive, triplet or lifted",
                ));
            }
        };
        let model = EmbeddingModelConfig::new(BackboneConfig::ResNet50(ResNet50Config::new()))
            .with_embedding_size(Some(self.embedding_dim))
            .with_pooling(Pooling::Avg)
            .with_normalize(self.l2norm)
            .with_normalize_training(self.l2norm)
            .with_freeze_batch_norm(false);
        let mut data = DataConfig::new(kind, self.dataroot.clone());
        data.batch_size = self.batch_size;
        data.test_batch_size = self.batch_size_test;
        data.num_workers = self.nworkers;
        data.sampler = sampler;
        data.train_transform = Some(PipelineConfig::new(vec![
            Transform::ResizeExact { width: 256, height: 256 },
            Transform::RandomCrop { size: 224 },
            Transform::HorizontalFlip { probability: 0.5 },
        ]));
        data.test_transform = Some(PipelineConfig::new(vec![
            Transform::ResizeExact { width: 256, height: 256 },
            Transform::CenterCrop { size: 224 },
        ]));
        let mut c = TrainConfig::new(
            data,
            model,
            loss,
            Span::Iterations(self.maxiter),
            self.checkpoints_path.clone(),
        );
        c.optim = OptimConfig::new(OptimizerConfig::adam(), self.lr);
        c.optim.weight_decay = 0.0;
        let mut schedule = ScheduleConfig::new(
            LrDecay::Step { step_size: self.decay_iter_step, gamma: self.decay_gamma },
            Unit::Iteration,
        );
        schedule.offset = 1;
        c.schedule = schedule;
        c.run.eval_before = true;
        c.run.eval_every = Some(Span::Iterations(self.eval_interval));
        c.run.eval_at_end = false;
        c.run.clustering_metrics = kind == DatasetKind::Cub200;
        c.run.checkpoint_every = None;
        c.run.keep_checkpoints = Keep::None;
        c.run.recall_ks = recall_ks;
        c.run.seed = self.seed;
        c.run.device = "gpu:0".into();
        let _ = self.cuda; // always on in the seed: it selects the GPU, as without it
        self.common.apply(c)
    }
}
