//! The optimizers of a run. Three independent Burn optimizers, as the seed systems' parameter
//! groups do: one for the network, one for the loss's proxies or class weights (its own
//! learning-rate multiplier), and one for AMLoss's per-class margins (LDM's separate AdamW).

use burn::grad_clipping::GradientClippingConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamWConfig, ModuleOptimizer, SgdConfig};

use crate::config::{OptimizerKind, Recipe, TrainConfig};

/// Builds one optimizer of the configured kind.
///
/// - AdamW: PyTorch's defaults (`betas = (0.9, 0.999)`, `eps = 1e-8`), decoupled weight decay.
/// - SGD: momentum without dampening (PyTorch's default, not Burn's 0.1), L2 weight decay.
///
/// Gradient clipping by value (`clip_grad_value`) is applied to every gradient element, as
/// `torch.nn.utils.clip_grad_value_`.
pub fn build_optimizer(
    kind: OptimizerKind,
    weight_decay: f64,
    momentum: f64,
    clip: Option<f64>,
) -> ModuleOptimizer {
    let clip = clip.map(|v| GradientClippingConfig::Value(v as f32));
    match kind {
        OptimizerKind::Adamw => AdamWConfig::new()
            .with_weight_decay(weight_decay as f32)
            .with_epsilon(1e-8)
            .with_grad_clipping(clip)
            .init(),
        OptimizerKind::Sgd => SgdConfig::new()
            .with_weight_decay(
                (weight_decay > 0.0).then(|| WeightDecayConfig::new(weight_decay as f32)),
            )
            .with_momentum(
                (momentum > 0.0)
                    .then(|| MomentumConfig::new().with_momentum(momentum).with_dampening(0.0)),
            )
            .with_gradient_clipping(clip)
            .init(),
    }
}

/// The optimizers of a run.
#[derive(Clone)]
pub struct Optimizers {
    /// Backbone and embedding head.
    pub model: ModuleOptimizer,
    /// The loss's proxies or classifier weights (learnable losses only).
    pub loss: ModuleOptimizer,
    /// AMLoss's margins: AdamW at `margin_lr`, no weight decay.
    pub margins: ModuleOptimizer,
}

impl Optimizers {
    /// The optimizers for `config`.
    pub fn new(config: &TrainConfig) -> Self {
        let clip = config.clip_grad_value;
        let model = build_optimizer(config.optimizer, config.weight_decay, config.momentum, clip);
        let loss = build_optimizer(config.optimizer, config.weight_decay, config.momentum, clip);
        let margins = build_optimizer(OptimizerKind::Adamw, 0.0, 0.0, clip);
        Self { model, loss, margins }
    }
}

/// The learning rates of one epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LearningRates {
    /// Backbone and head.
    pub model: f64,
    /// Proxies / classifier weights.
    pub loss: f64,
    /// AMLoss margins.
    pub margins: f64,
}

impl LearningRates {
    /// The learning rates for the 0-based `epoch` under `config`'s schedule. The proxy
    /// multiplier applies to the proxy recipe only (classifier weights train at the base rate,
    /// as in PaddlePaddle); the schedule scales all three, as `StepLR` scales every group.
    pub fn at(config: &TrainConfig, epoch: usize) -> Self {
        let f = crate::schedule::lr_factor(config, epoch);
        let mult = if config.recipe() == Recipe::Proxy { config.proxy_lr_mult } else { 1.0 };
        Self { model: config.lr * f, loss: config.lr * mult * f, margins: config.margin_lr * f }
    }
}
