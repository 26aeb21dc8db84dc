use burn::config::Config;

use super::class_head::{
    ClassHead, ClassHeadConfig, HeadSpec, LogitScale, class_head_constructors,
};
use super::margin_rule::MarginRule;
use crate::reducer::Reducer;

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
///
/// `W` is drawn from `N(0, 1)`, as PML's default `torch.nn.init.normal_`. Mined pairs or
/// triplets are rejected (PML would turn them into per-embedding weights).
pub type NormalizedSoftmaxLoss = ClassHead<NormalizedSoftmaxLossConfig>;

impl ClassHeadConfig for NormalizedSoftmaxLossConfig {
    const NAME: &'static str = "NormalizedSoftmaxLoss";

    fn head(&self) -> HeadSpec {
        let scale = LogitScale::DividedBy(self.temperature);
        HeadSpec::new(
            self.num_classes,
            self.embedding_size,
            MarginRule::None,
            scale,
            self.reducer.clone(),
        )
    }
}

class_head_constructors!(NormalizedSoftmaxLossConfig, NormalizedSoftmaxLoss);

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Int, Tensor};

    use super::*;
    use crate::error::LossError;
    use crate::loss::MetricLoss;

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
