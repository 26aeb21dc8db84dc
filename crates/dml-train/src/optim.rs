//! The optimizers of a run: one Burn optimizer per parameter group (backbone, BatchNorm's scale
//! and shift when they are not decayed, embedding head, the loss's class weights or proxies,
//! learnable margins), each with its own learning rate, weight decay, optimizer kind, schedule
//! and state, as the seed systems' parameter groups (Proxy-Anchor's proxies at x100, LDM's
//! margins with their own AdamW and StepLR).

use burn::grad_clipping::GradientClippingConfig;
use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{
    AdamConfig, AdamWConfig, GradientsParams, ModuleOptimizer, RmsPropConfig, SgdConfig,
};
use burn::tensor::Tensor;

use crate::config::{OptimizerConfig, ParamGroup, ScheduleConfig, Span, TrainConfig, Unit};

/// Builds one Burn optimizer of `kind` with `weight_decay` and value clipping.
///
/// - SGD: momentum without dampening unless configured (PyTorch's default, not Burn's 0.1),
///   L2 weight decay; Nesterov as PyTorch.
/// - Adam: L2 weight decay added to the gradient (PyTorch's `Adam`).
/// - AdamW: decoupled weight decay (PyTorch's `AdamW`).
/// - RMSprop: Burn's implementation, L2 weight decay.
///
/// Clipping by value applies to every gradient element, as `torch.nn.utils.clip_grad_value_`.
pub fn build_optimizer(
    kind: &OptimizerConfig,
    weight_decay: f64,
    clip: Option<f64>,
) -> ModuleOptimizer {
    let clip = clip.map(|v| GradientClippingConfig::Value(v as f32));
    let l2 = (weight_decay > 0.0).then(|| WeightDecayConfig::new(weight_decay as f32));
    match *kind {
        OptimizerConfig::Sgd { momentum, dampening, nesterov } => SgdConfig::new()
            .with_weight_decay(l2)
            .with_momentum((momentum > 0.0).then(|| {
                MomentumConfig::new()
                    .with_momentum(momentum)
                    .with_dampening(dampening)
                    .with_nesterov(nesterov)
            }))
            .with_gradient_clipping(clip)
            .init(),
        OptimizerConfig::Adam { beta_1, beta_2, epsilon, amsgrad } => AdamConfig::new()
            .with_beta_1(beta_1 as f32)
            .with_beta_2(beta_2 as f32)
            .with_epsilon(epsilon as f32)
            .with_amsgrad(amsgrad)
            .with_weight_decay(l2)
            .with_grad_clipping(clip)
            .init(),
        OptimizerConfig::AdamW { beta_1, beta_2, epsilon, amsgrad } => AdamWConfig::new()
            .with_beta_1(beta_1 as f32)
            .with_beta_2(beta_2 as f32)
            .with_epsilon(epsilon as f32)
            .with_amsgrad(amsgrad)
            .with_weight_decay(weight_decay as f32)
            .with_grad_clipping(clip)
            .init(),
        OptimizerConfig::RmsProp { alpha, epsilon, momentum, centered } => RmsPropConfig::new()
            .with_alpha(alpha as f32)
            .with_epsilon(epsilon as f32)
            .with_momentum(momentum as f32)
            .with_centered(centered)
            .with_weight_decay(l2)
            .with_grad_clipping(clip)
            .init(),
    }
}

/// The optimizers of a run, one per parameter group.
#[derive(Clone)]
pub struct Optimizers {
    /// The backbone (without BatchNorm's scale and shift when they are not decayed).
    pub backbone: ModuleOptimizer,
    /// BatchNorm's scale and shift when `optim.decay_batch_norm` is false: the backbone's
    /// settings without weight decay.
    pub backbone_norm: ModuleOptimizer,
    /// The embedding head.
    pub head: ModuleOptimizer,
    /// The loss's class weights or proxies.
    pub loss: ModuleOptimizer,
    /// Learnable margins.
    pub margins: ModuleOptimizer,
}

impl Optimizers {
    /// The optimizers for `config`.
    pub fn new(config: &TrainConfig) -> Self {
        let o = &config.optim;
        let clip = o.clip_grad_value;
        let build = |g: ParamGroup, decay: bool| {
            let wd = if decay { o.group_weight_decay(g) } else { 0.0 };
            build_optimizer(o.group_optimizer(g), wd, clip)
        };
        Self {
            backbone: build(ParamGroup::Backbone, true),
            backbone_norm: build(ParamGroup::Backbone, false),
            head: build(ParamGroup::Head, true),
            loss: build(ParamGroup::Loss, true),
            margins: build(ParamGroup::Margins, true),
        }
    }

    /// `(checkpoint section name, optimizer)` of every optimizer.
    pub fn named(&self) -> [(&'static str, &ModuleOptimizer); 5] {
        [
            ("optim.backbone", &self.backbone),
            ("optim.backbone_norm", &self.backbone_norm),
            ("optim.head", &self.head),
            ("optim.loss", &self.loss),
            ("optim.margins", &self.margins),
        ]
    }

    /// Mutable access to the optimizer stored under `name` (see [`Optimizers::named`]).
    pub fn get_mut(&mut self, name: &str) -> Option<&mut ModuleOptimizer> {
        match name {
            "optim.backbone" => Some(&mut self.backbone),
            "optim.backbone_norm" => Some(&mut self.backbone_norm),
            "optim.head" => Some(&mut self.head),
            "optim.loss" => Some(&mut self.loss),
            "optim.margins" => Some(&mut self.margins),
            _ => None,
        }
    }
}

/// Where a step sits in its run: what the schedules are evaluated at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunPosition {
    /// Optimizer steps taken before this one.
    pub step: usize,
    /// 0-based epoch of this step.
    pub epoch: usize,
    /// Optimizer steps per epoch.
    pub steps_per_epoch: usize,
}

/// A span converted to `unit` for `steps_per_epoch` steps per epoch (epochs round up).
pub fn span_in(span: Span, unit: Unit, steps_per_epoch: usize) -> usize {
    match (span, unit) {
        (Span::Epochs(n), Unit::Epoch) | (Span::Iterations(n), Unit::Iteration) => n,
        (Span::Epochs(n), Unit::Iteration) => n * steps_per_epoch,
        (Span::Iterations(n), Unit::Epoch) => n.div_ceil(steps_per_epoch.max(1)),
    }
}

/// The learning rate of `group` at `at`: the group's base rate times its schedule's factor.
pub fn group_lr(config: &TrainConfig, group: ParamGroup, at: RunPosition) -> f64 {
    let schedule: &ScheduleConfig =
        config.optim.group(group).schedule.as_ref().unwrap_or(&config.schedule);
    let position = match schedule.unit {
        Unit::Epoch => at.epoch,
        Unit::Iteration => at.step,
    };
    let length =
        span_in(schedule.length.unwrap_or(config.run.length), schedule.unit, at.steps_per_epoch);
    let warmup = span_in(schedule.warmup, schedule.unit, at.steps_per_epoch);
    config.optim.group_lr(group) * schedule.factor(position, length, warmup)
}

/// True while the backbone is frozen (`optim.frozen_backbone`).
pub fn backbone_frozen(config: &TrainConfig, at: RunPosition) -> bool {
    match config.optim.frozen_backbone {
        Span::Epochs(n) => at.epoch < n,
        Span::Iterations(n) => at.step < n,
    }
}

/// The ids of every float parameter of `module`, split by whether their field is named
/// `gamma` or `beta` (BatchNorm's scale and shift).
pub fn param_ids<M: Module>(module: &M) -> (Vec<ParamId>, Vec<ParamId>) {
    struct Collect {
        path: Vec<String>,
        other: Vec<ParamId>,
        norm: Vec<ParamId>,
    }
    impl ModuleVisitor for Collect {
        fn enter_module(&mut self, name: &str, _container_type: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container_type: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let name = self.path.last().map(String::as_str).unwrap_or_default();
            if name == "gamma" || name == "beta" {
                self.norm.push(param.id);
            } else {
                self.other.push(param.id);
            }
        }
    }
    let mut c = Collect { path: Vec::new(), other: Vec::new(), norm: Vec::new() };
    module.visit(&mut c);
    (c.other, c.norm)
}

/// Divides every gradient of `module`'s parameters in `grads` by `factor` (static loss
/// scaling, undone after the backward pass).
pub fn unscale_grads<M: Module>(grads: &mut GradientsParams, module: &M, factor: f64) {
    struct Unscale<'a> {
        grads: &'a mut GradientsParams,
        factor: f64,
    }
    impl ModuleVisitor for Unscale<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.remove::<D>(param.id) {
                self.grads.register(param.id, g.div_scalar(self.factor));
            }
        }
    }
    module.visit(&mut Unscale { grads, factor });
}
