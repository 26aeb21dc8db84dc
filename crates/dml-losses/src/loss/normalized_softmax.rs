use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

use super::classification::{
    check_class_counts, check_input, class_weight_param, cosine_with_columns, cross_entropy,
    normal_matrix, target_mask,
};
use super::{LossInput, MetricLoss};
use crate::error::{LossResult, check_positive};
use crate::reducer::{LossTerm, Reducer, TermKind};

const NAME: &str = "NormalizedSoftmaxLoss";

/// Configuration of [`NormalizedSoftmaxLoss`]; defaults are PML's
/// `NormalizedSoftmaxLoss(num_classes, embedding_size)`.
#[derive(Config, Debug)]
pub struct NormalizedSoftmaxLossConfig {
    /// Number of classes `C` (labels must be in `0..C`).
    pub num_classes: usize,
    /// Embedding size `d`.
    pub embedding_size: usize,
    /// The logits are the cosines divided by this.
    #[config(default = 0.05)]
    pub temperature: f64,
    /// How the per-embedding cross-entropies are reduced.
    #[config(default = "Reducer::Mean")]
    pub reducer: Reducer,
}

/// Normalized softmax loss (Zhai & Wu 2019, "Classification is a Strong Baseline for Deep
/// Metric Learning"), as PML's `NormalizedSoftmaxLoss` with its default
/// `DotProductSimilarity()` distance.
///
/// With `c_ij = x^_i . w^_j` (`W` is `[d, C]`, one column per class, both sides L2-normalized)
/// the logits are `c_ij / temperature`, fed to a softmax cross-entropy, one value per
/// embedding, reduced by the configured reducer (mean by default).
#[derive(Module, Debug)]
pub struct NormalizedSoftmaxLoss {
    /// The class weights `W`, one column per class.
    ///
    /// # Shapes
    /// - `[embedding_size, num_classes]`
    pub weight: Param<Tensor<2>>,
    #[module(skip)]
    config: NormalizedSoftmaxLossConfig,
}

impl NormalizedSoftmaxLossConfig {
    /// Checks every field without building the loss (no random draws).
    pub fn validate(&self) -> LossResult<()> {
        check_class_counts(NAME, self.num_classes, self.embedding_size)?;
        check_positive(NAME, "temperature", self.temperature)?;
        self.reducer.validate()
    }

    /// Validates the configuration and builds the loss with `W` drawn from `N(0, 1)`, as PML's
    /// default `torch.nn.init.normal_`.
    pub fn init(&self, device: &Device) -> LossResult<NormalizedSoftmaxLoss> {
        self.validate()?;
        let w = normal_matrix([self.embedding_size, self.num_classes], 1.0, device);
        self.init_with(w)
    }

    /// Validates the configuration and builds the loss with the given class weights.
    ///
    /// # Shapes
    /// - `weight`: `[embedding_size, num_classes]`
    pub fn init_with(&self, weight: Tensor<2>) -> LossResult<NormalizedSoftmaxLoss> {
        self.validate()?;
        let weight = class_weight_param(NAME, weight, self.embedding_size, self.num_classes)?;
        Ok(NormalizedSoftmaxLoss { weight, config: self.clone() })
    }
}

impl NormalizedSoftmaxLoss {
    /// The configuration the loss was built with.
    pub fn config(&self) -> &NormalizedSoftmaxLossConfig {
        &self.config
    }
}

impl MetricLoss for NormalizedSoftmaxLoss {
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
        let logits = cosine.div_scalar(c.temperature);
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
            NormalizedSoftmaxLossConfig::new(0, 4),
            NormalizedSoftmaxLossConfig::new(3, 0),
            NormalizedSoftmaxLossConfig::new(3, 4).with_temperature(0.0),
            NormalizedSoftmaxLossConfig::new(3, 4).with_temperature(-0.1),
        ];
        for config in bad {
            assert!(matches!(config.init(&device), Err(LossError::InvalidConfig { .. })));
        }
    }

    #[test]
    fn rejects_out_of_range_labels() {
        let device = Device::flex();
        let loss = NormalizedSoftmaxLossConfig::new(2, 2).init(&device).unwrap();
        let x = Tensor::<2>::ones([2, 2], &device);
        let y = Tensor::<1, Int>::from_ints([0, 2], &device);
        assert!(matches!(loss.forward(x, y), Err(LossError::LabelOutOfRange { label: 2, .. })));
    }
}
