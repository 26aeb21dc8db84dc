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

const NAME: &str = "ArcMarginLoss";

/// Configuration of [`ArcMarginLoss`]; defaults are those of PaddleClas's `ArcMargin` head as
/// used for classification pre-training (margin 0.15 rad, scale 80).
#[derive(Config, Debug)]
pub struct ArcMarginLossConfig {
    /// Number of classes `C` (labels must be in `0..C`; Paddle's `class_num`).
    pub num_classes: usize,
    /// Embedding size `d`.
    pub embedding_size: usize,
    /// Additive angular margin `m`, in radians.
    #[config(default = 0.15)]
    pub margin: f64,
    /// Multiplier `s` of the logits.
    #[config(default = 80.0)]
    pub scale: f64,
    /// Apply the margin only where the cosine is positive (and no fallback elsewhere).
    #[config(default = false)]
    pub easy_margin: bool,
    /// How the per-embedding cross-entropies are reduced.
    #[config(default = "Reducer::Mean")]
    pub reducer: Reducer,
}

/// PaddlePaddle's `ArcMargin` classification head (PaddleClas `ppcls/arch/gears/arcmargin.py`,
/// after Deng et al. 2019, "ArcFace") followed by softmax cross-entropy.
///
/// With `c_ij = x^_i . w^_j` (`W` is `[d, C]`, rows of `x` and columns of `W` L2-normalized),
/// `sin = sqrt(max(1 - c^2 + 1e-6, 0))` and `phi = c cos(m) - sin sin(m)`:
/// - default: `phi' = phi` where `c > cos(pi - m)`, else `c - m sin(m)`;
/// - `easy_margin`: `phi' = phi` where `c > 0`, else `c`.
///
/// The logits are `s (onehot * phi' + (1 - onehot) * c)`; the loss is the softmax
/// cross-entropy per embedding, reduced by the configured reducer (mean by default).
#[derive(Module, Debug)]
pub struct ArcMarginLoss {
    /// The class weights `W`, one column per class.
    ///
    /// # Shapes
    /// - `[embedding_size, num_classes]`
    pub weight: Param<Tensor<2>>,
    #[module(skip)]
    config: ArcMarginLossConfig,
}

impl ArcMarginLossConfig {
    /// Checks every field without building the loss (no random draws).
    pub fn validate(&self) -> LossResult<()> {
        check_class_counts(NAME, self.num_classes, self.embedding_size)?;
        check_finite(NAME, "margin", self.margin)?;
        check_positive(NAME, "scale", self.scale)?;
        self.reducer.validate()
    }

    /// Validates the configuration and builds the loss with `W` drawn with Xavier-normal
    /// initialisation (`N(0, 2 / (d + C))`), as PaddleClas does.
    pub fn init(&self, device: &Device) -> LossResult<ArcMarginLoss> {
        self.validate()?;
        let std = (2.0 / (self.embedding_size + self.num_classes) as f64).sqrt();
        let w = normal_matrix([self.embedding_size, self.num_classes], std, device);
        self.init_with(w)
    }

    /// Validates the configuration and builds the loss with the given class weights.
    ///
    /// # Shapes
    /// - `weight`: `[embedding_size, num_classes]`
    pub fn init_with(&self, weight: Tensor<2>) -> LossResult<ArcMarginLoss> {
        self.validate()?;
        let weight = class_weight_param(NAME, weight, self.embedding_size, self.num_classes)?;
        Ok(ArcMarginLoss { weight, config: self.clone() })
    }
}

impl ArcMarginLoss {
    /// The configuration the loss was built with.
    pub fn config(&self) -> &ArcMarginLossConfig {
        &self.config
    }

    /// The scaled logits with the margin on the target classes.
    ///
    /// # Shapes
    /// - `embeddings`: `[n, d]`, `target`: `[n, C]` (one-hot) -> `[n, C]`
    fn logits(&self, embeddings: Tensor<2>, target: Tensor<2>) -> Tensor<2> {
        let c = &self.config;
        let cos = cosine_with_columns(embeddings, self.weight.val());
        let sin = cos.clone().square().neg().add_scalar(1.0 + 1e-6).clamp_min(0.0).sqrt();
        let phi = cos.clone().mul_scalar(c.margin.cos()) - sin.mul_scalar(c.margin.sin());
        let phi = if c.easy_margin {
            cos.clone().mask_where(cos.clone().greater_elem(0.0), phi)
        } else {
            let th = -c.margin.cos();
            let fallback = cos.clone().sub_scalar(c.margin.sin() * c.margin);
            fallback.mask_where(cos.clone().greater_elem(th), phi)
        };
        let logits = cos.clone() + (phi - cos) * target;
        logits.mul_scalar(c.scale)
    }
}

impl MetricLoss for ArcMarginLoss {
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
        let logits = self.logits(input.embeddings.clone(), target.clone());
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
            ArcMarginLossConfig::new(0, 4),
            ArcMarginLossConfig::new(3, 0),
            ArcMarginLossConfig::new(3, 4).with_scale(0.0),
            ArcMarginLossConfig::new(3, 4).with_margin(f64::NAN),
        ];
        for config in bad {
            assert!(matches!(config.init(&device), Err(LossError::InvalidConfig { .. })));
        }
    }

    #[test]
    fn rejects_out_of_range_labels() {
        let device = Device::flex();
        let loss = ArcMarginLossConfig::new(2, 2).init(&device).unwrap();
        let x = Tensor::<2>::ones([2, 2], &device);
        let y = Tensor::<1, Int>::from_ints([0, 2], &device);
        assert!(matches!(loss.forward(x, y), Err(LossError::LabelOutOfRange { label: 2, .. })));
    }
}
