use burn::config::Config;

use super::class_head::{
    ClassHead, ClassHeadConfig, HeadSpec, LogitScale, class_head_constructors,
};
use super::margin_rule::MarginRule;
use crate::reducer::Reducer;

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
///
/// `W` is drawn from `N(0, 1)`, as PML's default `torch.nn.init.normal_`. Mined pairs or
/// triplets are rejected (PML would turn them into per-embedding weights).
pub type CosFaceLoss = ClassHead<CosFaceLossConfig>;

impl ClassHeadConfig for CosFaceLossConfig {
    const NAME: &'static str = "CosFaceLoss";

    fn head(&self) -> HeadSpec {
        let rule = MarginRule::AdditiveCosine { margin: self.margin };
        let scale = LogitScale::Times(self.scale);
        HeadSpec::new(self.num_classes, self.embedding_size, rule, scale, self.reducer.clone())
    }
}

class_head_constructors!(CosFaceLossConfig, CosFaceLoss);

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
