//! PaddlePaddle's metric-learning scripts (PaddleCV/metric_learning at 0173b12c3):
//! `train_elem.py` (softmax or ArcMargin pre-training) and `train_pair.py` (triplet, quadruplet
//! or EML fine-tuning), with each script's defaults, mapped to a [`TrainConfig`].
//!
//! What the scripts do, and so what the mapping builds:
//! - ResNet50, global average pooling, no embedding layer unless `--embedding_size > 0` (the
//!   2048-d pooled feature is trained and evaluated), no L2 normalization in the network (the
//!   losses and the evaluation normalize);
//! - SGD with momentum 0.9 and L2 weight decay 1e-4 on every parameter; `piecewise_decay` at the
//!   iterations of `--lr_steps` (x0.1 each), counted from step 0;
//! - `--total_iter_num` + 1 optimizer steps (its loop runs iterations 0 to total_iter_num);
//!   Recall@1 every `--test_iter_step` steps, a checkpoint every `--save_iter_step` steps, none
//!   ever deleted;
//! - `train_elem`: batches cut from one shuffled pass of the list, repeated; `train_pair`:
//!   `--samples_each_class` images of distinct classes per batch (quadruplet, EML) or
//!   consecutive (anchor, positive, negative) triples (triplet);
//! - training crops: random resized crop of `--image_shape`'s size and a flip; test: the shorter
//!   side resized to that size, then a center crop of it; ImageNet normalization.
//!
//! Differences, documented in docs/training.md: Paddle evaluates after steps 1001, 2001, ...
//! (its check follows the step), dml after steps 1000, 2000, ...; Paddle resamples with Lanczos,
//! dml with antialiased bilinear.

use clap::Parser;
use dml_backbones::{BackboneConfig, EmbeddingModelConfig, Pooling, ResNet50Config};
use dml_losses::{
    ArcMarginLossConfig, Distance, EmbeddingsAlreadyPackagedAsTripletsConfig, EmlLossConfig,
    LossConfig, MinerConfig, QuadrupletLossConfig, Reducer, SoftmaxLossConfig,
    TripletMarginLossConfig,
};

use super::{CommonArgs, parse_bool, unsupported};
use crate::config::{
    DataConfig, DatasetKind, Keep, LrDecay, OptimConfig, OptimizerConfig, SamplerConfig,
    ScheduleConfig, Span, TrainConfig, Unit,
};
use crate::error::TrainResult;

/// Which of PaddlePaddle's two training scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaddleScript {
    /// `train_elem.py`: softmax / ArcMargin classification.
    TrainElem,
    /// `train_pair.py`: triplet / quadruplet / EML / N-pair fine-tuning.
    TrainPair,
}

/// The flags of `train_elem.py` and `train_pair.py` (every flag optional; the defaults are the
/// script's, see [`PaddleArgs::to_config`]), plus dml's [`CommonArgs`].
#[derive(Parser, Debug, Clone)]
#[command(about = "PaddlePaddle's train_elem.py / train_pair.py")]
#[command(infer_long_args = true)]
pub struct PaddleArgs {
    /// ResNet50 (ResNet101 / ResNet152 are not in dml).
    #[arg(long)]
    pub model: Option<String>,
    /// Embedding size; 0: the 2048-d pooled feature.
    #[arg(long)]
    pub embedding_size: Option<usize>,
    /// Training batch size.
    #[arg(long)]
    pub train_batch_size: Option<usize>,
    /// Test batch size.
    #[arg(long)]
    pub test_batch_size: Option<usize>,
    /// `3,H,W` with H = W: the crop size.
    #[arg(long)]
    pub image_shape: Option<String>,
    /// Classifier classes (train_elem; train_pair parses and ignores it).
    #[arg(long)]
    pub class_dim: Option<usize>,
    /// Base learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// piecewise_decay (the only strategy the scripts have).
    #[arg(long)]
    pub lr_strategy: Option<String>,
    /// Comma-separated iterations at which the rate is multiplied by 0.1.
    #[arg(long)]
    pub lr_steps: Option<String>,
    /// Last iteration (the run takes total_iter_num + 1 steps).
    #[arg(long)]
    pub total_iter_num: Option<usize>,
    /// Print the progress every this many steps.
    #[arg(long)]
    pub display_iter_step: Option<usize>,
    /// Evaluate every this many steps.
    #[arg(long)]
    pub test_iter_step: Option<usize>,
    /// Checkpoint every this many steps.
    #[arg(long)]
    pub save_iter_step: Option<usize>,
    /// Train on the GPU (True) or the CPU (False).
    #[arg(long, value_parser = parse_bool)]
    pub use_gpu: Option<bool>,
    /// ImageNet weights (train_elem; a torchvision `.pth` / `.safetensors` here) or the
    /// pre-trained dml checkpoint to fine-tune (train_pair; a `.ckpt`).
    #[arg(long)]
    pub pretrained_model: Option<String>,
    /// Paddle's resume (not supported: use --resume, which continues the iteration count).
    #[arg(long)]
    pub checkpoint: Option<String>,
    /// Output root: checkpoints go to `<model_save_dir>/<model>/`.
    #[arg(long)]
    pub model_save_dir: Option<String>,
    /// train_elem: softmax | arcmargin; train_pair: triplet | quadruplet | eml | npairs.
    #[arg(long)]
    pub loss_name: Option<String>,
    /// ArcMargin scale.
    #[arg(long)]
    pub arc_scale: Option<f64>,
    /// ArcMargin margin (radians).
    #[arg(long)]
    pub arc_margin: Option<f64>,
    /// ArcMargin easy margin.
    #[arg(long, value_parser = parse_bool)]
    pub arc_easy_margin: Option<bool>,
    /// Images per class in a batch (train_pair).
    #[arg(long)]
    pub samples_each_class: Option<usize>,
    /// Triplet / quadruplet margin (train_pair).
    #[arg(long)]
    pub margin: Option<f64>,
    /// N-pair regularization weight (train_pair; N-pair is not in dml).
    #[arg(long)]
    pub npairs_reg_lambda: Option<f64>,
    /// PaddlePaddle's continuous-evaluation mode (not reproduced).
    #[arg(long, value_parser = parse_bool)]
    pub enable_ce: Option<bool>,
    /// Fluid's memory optimization switch of older versions (no effect on results).
    #[arg(long, value_parser = parse_bool)]
    pub with_mem_opt: Option<bool>,
    /// dml's own flags.
    #[command(flatten)]
    pub common: CommonArgs,
}

impl PaddleArgs {
    /// The configuration `script` runs with these flags.
    ///
    /// # Errors
    /// [`crate::TrainError::Config`] naming a flag whose value the script cannot run or dml
    /// does not reproduce.
    pub fn to_config(&self, script: PaddleScript) -> TrainResult<TrainConfig> {
        let elem = script == PaddleScript::TrainElem;
        let model_name = self.model.clone().unwrap_or_else(|| "ResNet50".into());
        if model_name != "ResNet50" {
            return Err(unsupported("--model", &model_name, "dml has ResNet50"));
        }
        let batch = self.train_batch_size.unwrap_or(if elem { 256 } else { 120 });
        let lr = self.lr.unwrap_or(if elem { 0.01 } else { 1e-4 });
        let total = self.total_iter_num.unwrap_or(if elem { 30_000 } else { 100_000 });
        let steps_text = self
            .lr_steps
            .clone()
            .unwrap_or_else(|| if elem { "15000,25000" } else { "100000" }.into());
        let milestones = steps_text
            .split(',')
            .map(|s| s.trim().parse::<usize>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| {
                unsupported("--lr_steps", &steps_text, "expected integers like 15000,25000")
            })?;
        if let Some(s) = &self.lr_strategy
            && s != "piecewise_decay"
        {
            return Err(unsupported("--lr_strategy", s, "the scripts only have piecewise_decay"));
        }
        if self.enable_ce == Some(true) {
            return Err(unsupported(
                "--enable_ce",
                "True",
                "PaddlePaddle's CI mode is not reproduced",
            ));
        }
        if let Some(c) = &self.checkpoint {
            return Err(unsupported(
                "--checkpoint",
                c,
                "resuming is --resume <run dir>/last.ckpt in dml (it continues the iteration \
                 count; Paddle's restarts its loop at 0)",
            ));
        }
        let crop = match &self.image_shape {
            None => 224,
            Some(shape) => {
                let dims: Vec<usize> =
                    shape.split(',').filter_map(|s| s.trim().parse().ok()).collect();
                match dims.as_slice() {
                    [3, h, w] if h == w && *h > 0 => *h,
                    _ => {
                        return Err(unsupported(
                            "--image_shape",
                            shape,
                            "expected 3,H,W with H = W (the reader crops squares)",
                        ));
                    }
                }
            }
        };
        let loss_name = self
            .loss_name
            .clone()
            .unwrap_or_else(|| if elem { "softmax" } else { "triplet" }.into());
        let given = |flag: &str, set: bool, applies: &str| {
            if set {
                Err(unsupported(flag, "", &format!("applies to {applies} only")))
            } else {
                Ok(())
            }
        };
        let margin = self.margin.unwrap_or(0.1);
        let mut sampler = SamplerConfig::Cycle;
        let mut miner = None;
        let loss = if elem {
            given("--samples_each_class", self.samples_each_class.is_some(), "train_pair.py")?;
            given("--margin", self.margin.is_some(), "train_pair.py")?;
            given("--npairs_reg_lambda", self.npairs_reg_lambda.is_some(), "train_pair.py")?;
            match loss_name.as_str() {
                "softmax" => {
                    given("--arc_scale", self.arc_scale.is_some(), "--loss_name=arcmargin")?;
                    given("--arc_margin", self.arc_margin.is_some(), "--loss_name=arcmargin")?;
                    LossConfig::SoftmaxLoss(SoftmaxLossConfig::new(0, 0))
                }
                "arcmargin" => LossConfig::ArcMarginLoss(
                    ArcMarginLossConfig::new(0, 0)
                        .with_scale(self.arc_scale.unwrap_or(80.0))
                        .with_margin(self.arc_margin.unwrap_or(0.15))
                        .with_easy_margin(self.arc_easy_margin.unwrap_or(false)),
                ),
                other => {
                    return Err(unsupported(
                        "--loss_name",
                        other,
                        "train_elem.py takes softmax or arcmargin",
                    ));
                }
            }
        } else {
            let m = self.samples_each_class.unwrap_or(2);
            given("--arc_scale", self.arc_scale.is_some(), "train_elem.py")?;
            given("--arc_margin", self.arc_margin.is_some(), "train_elem.py")?;
            given("--arc_easy_margin", self.arc_easy_margin.is_some(), "train_elem.py")?;
            match loss_name.as_str() {
                "triplet" => {
                    sampler = SamplerConfig::Triplets;
                    miner = Some(MinerConfig::EmbeddingsAlreadyPackagedAsTriplets(
                        EmbeddingsAlreadyPackagedAsTripletsConfig::new(),
                    ));
                    LossConfig::TripletMarginLoss(
                        TripletMarginLossConfig::new()
                            .with_margin(margin)
                            .with_distance(Distance::squared_l2())
                            .with_reducer(Reducer::Mean),
                    )
                }
                "quadruplet" => {
                    sampler = SamplerConfig::MPerClass { m, length: None };
                    LossConfig::QuadrupletLoss(QuadrupletLossConfig::new().with_margin(margin))
                }
                "eml" => {
                    given("--margin", self.margin.is_some(), "triplet and quadruplet")?;
                    sampler = SamplerConfig::MPerClass { m, length: None };
                    LossConfig::EmlLoss(EmlLossConfig::new())
                }
                "npairs" => {
                    return Err(unsupported(
                        "--loss_name",
                        "npairs",
                        "PaddlePaddle's N-pair loss (with its embedding regularizer) is not in \
                         dml yet",
                    ));
                }
                other => {
                    return Err(unsupported(
                        "--loss_name",
                        other,
                        "train_pair.py takes triplet, quadruplet, eml or npairs",
                    ));
                }
            }
        };
        let embedding = match self.embedding_size.unwrap_or(0) {
            0 => None,
            n => Some(n),
        };
        let model = EmbeddingModelConfig::new(BackboneConfig::ResNet50(ResNet50Config::new()))
            .with_embedding_size(embedding)
            .with_pooling(Pooling::Avg)
            .with_normalize(true)
            .with_normalize_training(false)
            .with_freeze_batch_norm(false);
        let mut data = DataConfig::new(DatasetKind::Sop, "data/Stanford_Online_Products");
        data.batch_size = batch;
        data.test_batch_size = self.test_batch_size.unwrap_or(50);
        data.image_size = crop;
        data.resize = crop;
        data.sampler = sampler;
        data.num_workers = 8;
        if elem {
            data.num_classes = Some(self.class_dim.unwrap_or(11_318));
        }
        let save_dir = self.model_save_dir.clone().unwrap_or_else(|| "output".into());
        let mut c = TrainConfig::new(
            data,
            model,
            loss,
            Span::Iterations(total + 1),
            format!("{save_dir}/{model_name}"),
        );
        c.miner = miner;
        c.pretrained = self.pretrained_model.clone();
        c.optim = OptimConfig::new(OptimizerConfig::sgd(0.9), lr);
        c.optim.weight_decay = 1e-4;
        c.schedule =
            ScheduleConfig::new(LrDecay::MultiStep { milestones, gamma: 0.1 }, Unit::Iteration);
        let test_every = self.test_iter_step.unwrap_or(if elem { 1000 } else { 5000 });
        let save_every = self.save_iter_step.unwrap_or(if elem { 1000 } else { 5000 });
        c.run.eval_every = Some(Span::Iterations(test_every));
        c.run.eval_at_end = false;
        c.run.checkpoint_every = Some(Span::Iterations(save_every));
        c.run.keep_checkpoints = Keep::All;
        c.run.recall_ks = vec![1];
        c.run.log_every = Some(self.display_iter_step.unwrap_or(10));
        c.run.device = if self.use_gpu.unwrap_or(true) { "gpu:0".into() } else { "cpu".into() };
        self.common.apply(c)
    }
}
