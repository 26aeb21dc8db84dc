//! The optimization part of a run: the optimizer, its learning rate and weight decay, and the
//! four parameter groups (backbone, embedding head, the loss's class weights or proxies, and
//! learnable margins), each of which may change the rate, the decay, the optimizer or the
//! schedule.

use serde::{Deserialize, Serialize};

use super::ScheduleConfig;
use super::run_config::Span;
use crate::error::{TrainError, TrainResult};

/// An optimizer, with PyTorch's defaults (Burn's own defaults differ: AdamW's epsilon is 1e-5
/// there, SGD's momentum dampening 0.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum OptimizerConfig {
    /// SGD (`torch.optim.SGD`); weight decay is L2 added to the gradient. MindSpore's
    /// `Momentum` and PaddlePaddle's `MomentumOptimizer` are SGD with `momentum`.
    Sgd {
        /// Momentum factor (0: plain SGD).
        momentum: f64,
        /// Dampening of the momentum (PyTorch's default 0).
        dampening: f64,
        /// Nesterov momentum.
        nesterov: bool,
    },
    /// Adam (`torch.optim.Adam`); weight decay is L2 added to the gradient.
    Adam {
        /// First-moment decay.
        beta_1: f64,
        /// Second-moment decay.
        beta_2: f64,
        /// Added to the denominator.
        epsilon: f64,
        /// AMSGrad variant.
        amsgrad: bool,
    },
    /// AdamW (`torch.optim.AdamW`): decoupled weight decay (Proxy-Anchor, LDM).
    AdamW {
        /// First-moment decay.
        beta_1: f64,
        /// Second-moment decay.
        beta_2: f64,
        /// Added to the denominator.
        epsilon: f64,
        /// AMSGrad variant.
        amsgrad: bool,
    },
    /// RMSprop (Burn's implementation); weight decay is L2 added to the gradient.
    RmsProp {
        /// Smoothing constant.
        alpha: f64,
        /// Added to the denominator.
        epsilon: f64,
        /// Momentum factor.
        momentum: f64,
        /// Normalize by the estimated variance of the gradient.
        centered: bool,
    },
}

impl OptimizerConfig {
    /// `torch.optim.SGD(momentum=momentum)`.
    pub fn sgd(momentum: f64) -> Self {
        Self::Sgd { momentum, dampening: 0.0, nesterov: false }
    }

    /// `torch.optim.Adam()`.
    pub fn adam() -> Self {
        Self::Adam { beta_1: 0.9, beta_2: 0.999, epsilon: 1e-8, amsgrad: false }
    }

    /// `torch.optim.AdamW()`.
    pub fn adamw() -> Self {
        Self::AdamW { beta_1: 0.9, beta_2: 0.999, epsilon: 1e-8, amsgrad: false }
    }

    /// `torch.optim.RMSprop()`.
    pub fn rmsprop() -> Self {
        Self::RmsProp { alpha: 0.99, epsilon: 1e-8, momentum: 0.0, centered: false }
    }

    /// One default per variant (the configuration registry).
    pub fn defaults() -> Vec<Self> {
        vec![Self::sgd(0.0), Self::adam(), Self::adamw(), Self::rmsprop()]
    }

    fn validate(&self, at: &str) -> TrainResult<()> {
        let bad = |key: &str, v: f64, why: &str| {
            Err(TrainError::Config(format!("`{at}.{key}` {why}, got {v}")))
        };
        let unit = |v: f64| v.is_finite() && (0.0..1.0).contains(&v);
        match self {
            Self::Sgd { momentum, dampening, nesterov } => {
                if !unit(*momentum) {
                    return bad("Sgd.momentum", *momentum, "must be in [0, 1)");
                }
                if !(dampening.is_finite() && (0.0..=1.0).contains(dampening)) {
                    return bad("Sgd.dampening", *dampening, "must be in [0, 1]");
                }
                if *nesterov && (*momentum == 0.0 || *dampening != 0.0) {
                    return Err(TrainError::Config(format!(
                        "`{at}.Sgd.nesterov` needs momentum > 0 and dampening 0 (as PyTorch)"
                    )));
                }
            }
            Self::Adam { beta_1, beta_2, epsilon, .. }
            | Self::AdamW { beta_1, beta_2, epsilon, .. } => {
                let name = if matches!(self, Self::Adam { .. }) { "Adam" } else { "AdamW" };
                if !unit(*beta_1) {
                    return bad(&format!("{name}.beta_1"), *beta_1, "must be in [0, 1)");
                }
                if !unit(*beta_2) {
                    return bad(&format!("{name}.beta_2"), *beta_2, "must be in [0, 1)");
                }
                if !(epsilon.is_finite() && *epsilon > 0.0) {
                    return bad(&format!("{name}.epsilon"), *epsilon, "must be finite and > 0");
                }
            }
            Self::RmsProp { alpha, epsilon, momentum, .. } => {
                if !unit(*alpha) {
                    return bad("RmsProp.alpha", *alpha, "must be in [0, 1)");
                }
                if !(epsilon.is_finite() && *epsilon > 0.0) {
                    return bad("RmsProp.epsilon", *epsilon, "must be finite and > 0");
                }
                if !unit(*momentum) {
                    return bad("RmsProp.momentum", *momentum, "must be in [0, 1)");
                }
            }
        }
        Ok(())
    }
}

/// What one parameter group changes from the run's optimization settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamGroupConfig {
    /// Multiplies the run's learning rate (Proxy-Anchor's proxies: 100).
    pub lr_mult: f64,
    /// An absolute learning rate instead of `lr * lr_mult` (LDM's `mrg_lr` for the margins).
    pub lr: Option<f64>,
    /// Weight decay of this group; `None` is the run's.
    pub weight_decay: Option<f64>,
    /// This group's own optimizer; `None` is the run's (a separate instance either way: every
    /// group keeps its own state).
    pub optimizer: Option<OptimizerConfig>,
    /// This group's own schedule; `None` follows the run's.
    pub schedule: Option<ScheduleConfig>,
    /// The group is not optimized at all: its parameters keep their initial values (LDM gives
    /// Proxy_NCA's proxies to no optimizer).
    pub frozen: bool,
}

impl Default for ParamGroupConfig {
    /// The run's settings unchanged.
    fn default() -> Self {
        Self {
            lr_mult: 1.0,
            lr: None,
            weight_decay: None,
            optimizer: None,
            schedule: None,
            frozen: false,
        }
    }
}

impl ParamGroupConfig {
    /// `lr_mult` times the run's rate.
    pub fn scaled(lr_mult: f64) -> Self {
        Self { lr_mult, ..Self::default() }
    }
}

/// The four parameter groups of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamGroup {
    /// The backbone network.
    Backbone,
    /// The embedding head (the linear layer after pooling).
    Head,
    /// The loss's class weights, proxies (and any other learnable tensor but the margins).
    Loss,
    /// Learnable margins: AMLoss's per-class margins, MarginLoss's `beta`.
    Margins,
}

impl ParamGroup {
    /// Every group, in checkpoint order.
    pub const ALL: [ParamGroup; 4] = [Self::Backbone, Self::Head, Self::Loss, Self::Margins];

    /// The group's key in [`OptimConfig`].
    pub fn key(self) -> &'static str {
        match self {
            Self::Backbone => "backbone",
            Self::Head => "head",
            Self::Loss => "loss",
            Self::Margins => "margins",
        }
    }
}

/// How the parameters are optimized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimConfig {
    /// The optimizer of every group that does not name its own.
    pub optimizer: OptimizerConfig,
    /// Base learning rate.
    pub lr: f64,
    /// Weight decay (decoupled for AdamW, L2 for the others).
    pub weight_decay: f64,
    /// Clip every gradient element to `[-v, v]` (`torch.nn.utils.clip_grad_value_`).
    pub clip_grad_value: Option<f64>,
    /// The backbone trains only after this much of the run (LDM's `--warm` epochs: before,
    /// only the embedding head and the loss's parameters train).
    pub frozen_backbone: Span,
    /// When the frozen-backbone period ends, BatchNorm's scale and shift train again even with
    /// `model.freeze_batch_norm` (their running statistics stay frozen): what LDM's code does.
    pub frozen_backbone_releases_batch_norm: bool,
    /// Apply weight decay to BatchNorm's scale and shift (`false`: MindSpore's optimizer,
    /// which decays only parameters whose names hold neither `gamma` nor `beta`).
    pub decay_batch_norm: bool,
    /// The backbone's group.
    pub backbone: ParamGroupConfig,
    /// The embedding head's group.
    pub head: ParamGroupConfig,
    /// The loss's class weights or proxies.
    pub loss: ParamGroupConfig,
    /// Learnable margins (AMLoss, MarginLoss).
    pub margins: ParamGroupConfig,
}

impl OptimConfig {
    /// `optimizer` at `lr` with weight decay 1e-4, no clipping, every group unchanged.
    pub fn new(optimizer: OptimizerConfig, lr: f64) -> Self {
        Self {
            optimizer,
            lr,
            weight_decay: 1e-4,
            clip_grad_value: None,
            frozen_backbone: Span::Epochs(0),
            frozen_backbone_releases_batch_norm: false,
            decay_batch_norm: true,
            backbone: ParamGroupConfig::default(),
            head: ParamGroupConfig::default(),
            loss: ParamGroupConfig::default(),
            margins: ParamGroupConfig::default(),
        }
    }

    /// The settings of `group`.
    pub fn group(&self, group: ParamGroup) -> &ParamGroupConfig {
        match group {
            ParamGroup::Backbone => &self.backbone,
            ParamGroup::Head => &self.head,
            ParamGroup::Loss => &self.loss,
            ParamGroup::Margins => &self.margins,
        }
    }

    /// The base learning rate of `group` (before its schedule).
    pub fn group_lr(&self, group: ParamGroup) -> f64 {
        let g = self.group(group);
        g.lr.unwrap_or(self.lr * g.lr_mult)
    }

    /// The weight decay of `group`.
    pub fn group_weight_decay(&self, group: ParamGroup) -> f64 {
        self.group(group).weight_decay.unwrap_or(self.weight_decay)
    }

    /// The optimizer of `group`.
    pub fn group_optimizer(&self, group: ParamGroup) -> &OptimizerConfig {
        self.group(group).optimizer.as_ref().unwrap_or(&self.optimizer)
    }

    /// Checks every field; errors name the key (`optim.loss.lr_mult`).
    pub fn validate(&self) -> TrainResult<()> {
        let positive = |key: String, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(TrainError::Config(format!("`{key}` must be finite and > 0, got {v}")))
            }
        };
        let non_negative = |key: String, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(TrainError::Config(format!("`{key}` must be finite and >= 0, got {v}")))
            }
        };
        positive("optim.lr".into(), self.lr)?;
        non_negative("optim.weight_decay".into(), self.weight_decay)?;
        if let Some(v) = self.clip_grad_value {
            positive("optim.clip_grad_value".into(), v)?;
        }
        self.optimizer.validate("optim.optimizer")?;
        for group in ParamGroup::ALL {
            let g = self.group(group);
            let at = format!("optim.{}", group.key());
            positive(format!("{at}.lr_mult"), g.lr_mult)?;
            if let Some(lr) = g.lr {
                positive(format!("{at}.lr"), lr)?;
            }
            if let Some(wd) = g.weight_decay {
                non_negative(format!("{at}.weight_decay"), wd)?;
            }
            if let Some(o) = &g.optimizer {
                o.validate(&format!("{at}.optimizer"))?;
            }
            if let Some(s) = &g.schedule {
                s.validate(&format!("{at}.schedule"))?;
            }
        }
        Ok(())
    }
}
