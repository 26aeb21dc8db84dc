use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Distribution, Tensor};

use super::classification::{
    check_class_counts, check_input, check_shape, cross_entropy, target_mask,
};
use super::{LossInput, MetricLoss};
use crate::error::LossResult;
use crate::reducer::{LossTerm, Reducer, TermKind};

const NAME: &str = "SoftmaxLoss";

/// Configuration of [`SoftmaxLoss`]: a linear classifier head with softmax cross-entropy.
#[derive(Config, Debug)]
pub struct SoftmaxLossConfig {
    /// Number of classes `C` (labels must be in `0..C`).
    pub num_classes: usize,
    /// Embedding size `d`.
    pub embedding_size: usize,
    /// Whether the head has a bias.
    #[config(default = true)]
    pub bias: bool,
    /// How the per-embedding cross-entropies are reduced (PyTorch's `reduction="mean"` by
    /// default).
    #[config(default = "Reducer::Mean")]
    pub reducer: Reducer,
}

/// Plain softmax classification loss: `logits = x W^T + b` on the unnormalized embeddings, then
/// softmax cross-entropy per embedding, reduced by the configured reducer (mean by default).
///
/// The reference is PyTorch's `torch.nn.Linear(d, C)` followed by `F.cross_entropy`; `W` uses
/// `Linear`'s `[C, d]` layout.
#[derive(Module, Debug)]
pub struct SoftmaxLoss {
    /// The classifier weights, one row per class.
    ///
    /// # Shapes
    /// - `[num_classes, embedding_size]`
    pub weight: Param<Tensor<2>>,
    /// The classifier bias, when configured.
    ///
    /// # Shapes
    /// - `[num_classes]`
    pub bias: Option<Param<Tensor<1>>>,
    #[module(skip)]
    config: SoftmaxLossConfig,
}

impl SoftmaxLossConfig {
    /// Checks every field without building the loss (no random draws).
    pub fn validate(&self) -> LossResult<()> {
        check_class_counts(NAME, self.num_classes, self.embedding_size)?;
        self.reducer.validate()
    }

    /// Validates the configuration and builds the head with `torch.nn.Linear`'s initialisation:
    /// weight and bias uniform in `[-1/sqrt(d), 1/sqrt(d))`.
    pub fn init(&self, device: &Device) -> LossResult<SoftmaxLoss> {
        self.validate()?;
        let bound = 1.0 / (self.embedding_size as f64).sqrt();
        let dist = Distribution::Uniform(-bound, bound);
        let w = Tensor::<2>::random([self.num_classes, self.embedding_size], dist, device);
        let b = self.bias.then(|| Tensor::<1>::random([self.num_classes], dist, device));
        self.init_with(w, b)
    }

    /// Validates the configuration and builds the head with the given weights and bias (the
    /// bias must be given exactly when the configuration asks for one).
    ///
    /// # Shapes
    /// - `weight`: `[num_classes, embedding_size]`, `bias`: `[num_classes]`
    pub fn init_with(&self, weight: Tensor<2>, bias: Option<Tensor<1>>) -> LossResult<SoftmaxLoss> {
        self.validate()?;
        check_shape(NAME, "weight", &weight.dims(), &[self.num_classes, self.embedding_size])?;
        let bias = match (self.bias, bias) {
            (true, Some(b)) => {
                check_shape(NAME, "bias", &b.dims(), &[self.num_classes])?;
                Some(Param::from_tensor(b))
            }
            (false, None) => None,
            (true, None) => {
                return Err(crate::error::invalid(NAME, "bias", "is true but no bias given"));
            }
            (false, Some(_)) => {
                return Err(crate::error::invalid(NAME, "bias", "is false but a bias was given"));
            }
        };
        Ok(SoftmaxLoss { weight: Param::from_tensor(weight), bias, config: self.clone() })
    }
}

impl SoftmaxLoss {
    /// The configuration the loss was built with.
    pub fn config(&self) -> &SoftmaxLossConfig {
        &self.config
    }

    /// The classifier's logits `x W^T + b`.
    ///
    /// # Shapes
    /// - `embeddings`: `[n, d]` -> `[n, C]`
    pub fn logits(&self, embeddings: Tensor<2>) -> Tensor<2> {
        let logits = embeddings.matmul(self.weight.val().transpose());
        match &self.bias {
            Some(b) => logits + b.val().reshape([1, self.config.num_classes]),
            None => logits,
        }
    }
}

impl MetricLoss for SoftmaxLoss {
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

    /// The linear layer's weight, `[C, d]` (the bias is not included).
    fn class_weights(&self) -> Option<super::ClassWeights> {
        Some(super::ClassWeights::per_class(self.weight.val()))
    }

    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        let c = &self.config;
        check_input(self.name(), input, c.embedding_size, c.num_classes)?;
        let target = target_mask(&input.labels, c.num_classes);
        let logits = self.logits(input.embeddings.clone());
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
        for config in [SoftmaxLossConfig::new(0, 4), SoftmaxLossConfig::new(3, 0)] {
            assert!(matches!(config.init(&device), Err(LossError::InvalidConfig { .. })));
        }
        let w = Tensor::<2>::zeros([3, 4], &device);
        assert!(matches!(
            SoftmaxLossConfig::new(3, 4).init_with(w, None),
            Err(LossError::InvalidConfig { .. })
        ));
    }

    #[test]
    fn rejects_out_of_range_labels_and_sizes() {
        let device = Device::flex();
        let loss = SoftmaxLossConfig::new(2, 2).init(&device).unwrap();
        let x = Tensor::<2>::ones([2, 2], &device);
        let y = Tensor::<1, Int>::from_ints([0, 2], &device);
        assert!(matches!(loss.forward(x, y), Err(LossError::LabelOutOfRange { label: 2, .. })));
        let x = Tensor::<2>::ones([2, 3], &device);
        let y = Tensor::<1, Int>::from_ints([0, 1], &device);
        assert!(matches!(loss.forward(x, y), Err(LossError::ShapeMismatch { .. })));
    }
}
