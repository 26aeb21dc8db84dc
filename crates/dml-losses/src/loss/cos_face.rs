use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

use super::classification::{
    check_class_counts, check_input, class_weight_param, cosine_with_columns, cross_entropy,
    normal_matrix, target_mask,
};
use super::{LossInput, MetricLoss};
use crate::error::{LossResult, check_finite, check_positive};
use crate::reducer::{LossTerm, Reducer, TermKind};

const NAME: &str = "CosFaceLoss";

/// Configuration of [`CosFaceLoss`]; defaults are PML's `CosFaceLoss(num_classes, embedding_size)`.
#[derive(Config, Debug)]
pub struct CosFaceLossConfig {
    /// Number of classes `C` (labels must be in `0..C`).
    pub num_classes: usize,
    /// Embedding size `d`.
    pub embedding_size: usize,
    /// Additive cosine margin subtracted from the target class's cosine.
    #[config(default = 0.35)]
    pub margin: f64,
    /// Multiplier of the cosine logits.
    #[config(default = 64.0)]
    pub scale: f64,
    /// How the per-embedding cross-entropies are reduced.
    #[config(default = "Reducer::Mean")]
    pub reducer: Reducer,
}

/// CosFace loss (Wang et al. 2018, "CosFace: Large Margin Cosine Loss for Deep Face
/// Recognition"), as PML's `CosFaceLoss`.
///
/// With `c_ij = x^_i . w^_j` (`W` is `[d, C]`, one column per class), the logits are
/// `scale * (c_ij - margin [j == y_i])`, fed to a softmax cross-entropy, one value per
/// embedding, reduced by the configured reducer (mean by default).
#[derive(Module, Debug)]
pub struct CosFaceLoss {
    /// The class weights `W`, one column per class.
    ///
    /// # Shapes
    /// - `[embedding_size, num_classes]`
    pub weight: Param<Tensor<2>>,
    #[module(skip)]
    config: CosFaceLossConfig,
}

impl CosFaceLossConfig {
    /// Checks every field without building the loss (no random draws).
    pub fn validate(&self) -> LossResult<()> {
        check_class_counts(NAME, self.num_classes, self.embedding_size)?;
        check_finite(NAME, "margin", self.margin)?;
        check_positive(NAME, "scale", self.scale)?;
        self.reducer.validate()
    }

    /// Validates the configuration and builds the loss with `W` drawn from `N(0, 1)`, as PML's
    /// default `torch.nn.init.normal_`.
    pub fn init(&self, device: &Device) -> LossResult<CosFaceLoss> {
        self.validate()?;
        let w = normal_matrix([self.embedding_size, self.num_classes], 1.0, device);
        self.init_with(w)
    }

    /// Validates the configuration and builds the loss with the given class weights.
    ///
    /// # Shapes
    /// - `weight`: `[embedding_size, num_classes]`
    pub fn init_with(&self, weight: Tensor<2>) -> LossResult<CosFaceLoss> {
        self.validate()?;
        let weight = class_weight_param(NAME, weight, self.embedding_size, self.num_classes)?;
        Ok(CosFaceLoss { weight, config: self.clone() })
    }
}

impl CosFaceLoss {
    /// The configuration the loss was built with.
    pub fn config(&self) -> &CosFaceLossConfig {
        &self.config
    }
}

impl MetricLoss for CosFaceLoss {
    /// Compares embeddings with class weights or proxies, so a single embedding is enough.
    fn needs_pairs(&self) -> bool {
        false
    }

    fn accepts_reference(&self) -> bool {
        false
    }

    fn accepts_mined(&self) -> bool {
        false
    }

    fn name(&self) -> &'static str {
        NAME
    }

    fn reducer(&self) -> Reducer {
        self.config.reducer.clone()
    }

    /// PML's `W.t()`: the class weights transposed, `[C, d]`.
    fn class_weights(&self) -> Option<super::ClassWeights> {
        Some(super::ClassWeights::per_class(self.weight.val().transpose()))
    }

    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        let c = &self.config;
        check_input(self.name(), input, c.embedding_size, c.num_classes)?;
        let target = target_mask(&input.labels, c.num_classes);
        let cosine = cosine_with_columns(input.embeddings.clone(), self.weight.val());
        let logits = (cosine - target.clone().mul_scalar(c.margin)).mul_scalar(c.scale);
        Ok(vec![LossTerm::dense("loss", TermKind::Element, cross_entropy(logits, target))])
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Int, Tensor};

    use super::*;
    use crate::error::LossError;

    #[test]
    fn rejects_bad_config() {
        let device = Device::flex();
        let bad = [
            CosFaceLossConfig::new(0, 4),
            CosFaceLossConfig::new(3, 0),
            CosFaceLossConfig::new(3, 4).with_scale(0.0),
            CosFaceLossConfig::new(3, 4).with_margin(f64::INFINITY),
        ];
        for config in bad {
            assert!(matches!(config.init(&device), Err(LossError::InvalidConfig { .. })));
        }
    }

    #[test]
    fn rejects_out_of_range_labels() {
        let device = Device::flex();
        let loss = CosFaceLossConfig::new(3, 2).init(&device).unwrap();
        let x = Tensor::<2>::ones([2, 2], &device);
        let y = Tensor::<1, Int>::from_ints([-1, 0], &device);
        assert!(matches!(loss.forward(x, y), Err(LossError::LabelOutOfRange { label: -1, .. })));
    }
}
