use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

use super::classification::{
    check_class_counts, check_input, clamp_unit, class_weight_param, cosine_with_columns,
    cross_entropy, normal_matrix, target_mask,
};
use super::{LossInput, MetricLoss};
use crate::error::{LossResult, check_finite, check_positive};
use crate::ops::safe_sqrt;
use crate::reducer::{LossTerm, Reducer, TermKind};

const NAME: &str = "ArcFaceLoss";

/// Configuration of [`ArcFaceLoss`]; defaults are PML's `ArcFaceLoss(num_classes, embedding_size)`.
#[derive(Config, Debug)]
pub struct ArcFaceLossConfig {
    /// Number of classes `C` (labels must be in `0..C`).
    pub num_classes: usize,
    /// Embedding size `d`.
    pub embedding_size: usize,
    /// Additive angular margin, in degrees (PML converts it to radians).
    #[config(default = 28.6)]
    pub margin: f64,
    /// Multiplier of the cosine logits.
    #[config(default = 64.0)]
    pub scale: f64,
    /// How the per-embedding cross-entropies are reduced.
    #[config(default = "Reducer::Mean")]
    pub reducer: Reducer,
}

/// ArcFace loss (Deng et al. 2019, "ArcFace: Additive Angular Margin Loss for Deep Face
/// Recognition"), as PML's `ArcFaceLoss`.
///
/// With `c_ij = x^_i . w^_j` (cosine of embedding `i` with the column `j` of `W`, `[d, C]`),
/// `theta = acos(clamp(c, -1, 1))` and the margin `m` in radians, the target logit is
/// `cos(theta + m)` when `theta <= pi - m` and `cos(theta) - m sin(m)` otherwise; the other
/// logits are `c_ij`. Everything is multiplied by `scale` and fed to a softmax cross-entropy,
/// one value per embedding, reduced by the configured reducer (mean by default).
///
/// `cos(theta + m)` is computed as `c cos(m) - sqrt(1 - c^2) sin(m)` with a square root whose
/// gradient is 0 at 0, so the gradient stays finite when `c = +-1` exactly (PyTorch's `acos`
/// gives an infinite one there).
#[derive(Module, Debug)]
pub struct ArcFaceLoss {
    /// The class weights `W`, one column per class.
    ///
    /// # Shapes
    /// - `[embedding_size, num_classes]`
    pub weight: Param<Tensor<2>>,
    #[module(skip)]
    config: ArcFaceLossConfig,
}

impl ArcFaceLossConfig {
    /// Checks every field without building the loss (no random draws).
    pub fn validate(&self) -> LossResult<()> {
        check_class_counts(NAME, self.num_classes, self.embedding_size)?;
        check_finite(NAME, "margin", self.margin)?;
        check_positive(NAME, "scale", self.scale)?;
        self.reducer.validate()
    }

    /// Validates the configuration and builds the loss with `W` drawn from `N(0, 1)`, as PML's
    /// default `torch.nn.init.normal_`.
    pub fn init(&self, device: &Device) -> LossResult<ArcFaceLoss> {
        self.validate()?;
        let w = normal_matrix([self.embedding_size, self.num_classes], 1.0, device);
        self.init_with(w)
    }

    /// Validates the configuration and builds the loss with the given class weights.
    ///
    /// # Shapes
    /// - `weight`: `[embedding_size, num_classes]`
    pub fn init_with(&self, weight: Tensor<2>) -> LossResult<ArcFaceLoss> {
        self.validate()?;
        let weight = class_weight_param(NAME, weight, self.embedding_size, self.num_classes)?;
        Ok(ArcFaceLoss { weight, config: self.clone() })
    }
}

/// ArcFace's margin applied to a whole cosine matrix: `cos(acos(c) + m)` where
/// `acos(c) <= pi - m`, `c - m sin(m)` elsewhere (`c` clamped to `[-1, 1]` first, as PML does).
///
/// # Shapes
/// - `cosine`: `[n, c]` -> `[n, c]`
pub(crate) fn arc_margin_cosine(cosine: Tensor<2>, margin_rad: f64) -> Tensor<2> {
    let c = clamp_unit(cosine);
    let sin = safe_sqrt(c.clone().square().neg().add_scalar(1.0));
    let plus_margin = c.clone().mul_scalar(margin_rad.cos()) - sin.mul_scalar(margin_rad.sin());
    let fallback = c.clone().sub_scalar(margin_rad * margin_rad.sin());
    // theta <= pi - m  <=>  c >= cos(pi - m) = -cos(m)
    let in_range = c.greater_equal_elem(-margin_rad.cos());
    fallback.mask_where(in_range, plus_margin)
}

impl ArcFaceLoss {
    /// The configuration the loss was built with.
    pub fn config(&self) -> &ArcFaceLossConfig {
        &self.config
    }

    /// The scaled logits with the margin on the target classes.
    ///
    /// # Shapes
    /// - `embeddings`: `[n, d]`, `target`: `[n, C]` (one-hot) -> `[n, C]`
    fn logits(&self, embeddings: Tensor<2>, target: Tensor<2>) -> Tensor<2> {
        let cosine = cosine_with_columns(embeddings, self.weight.val());
        let modified = arc_margin_cosine(cosine.clone(), self.config.margin.to_radians());
        let logits = cosine.clone() + (modified - cosine) * target;
        logits.mul_scalar(self.config.scale)
    }
}

impl MetricLoss for ArcFaceLoss {
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
            ArcFaceLossConfig::new(0, 4),
            ArcFaceLossConfig::new(3, 0),
            ArcFaceLossConfig::new(3, 4).with_scale(0.0),
            ArcFaceLossConfig::new(3, 4).with_scale(-1.0),
            ArcFaceLossConfig::new(3, 4).with_margin(f64::NAN),
        ];
        for config in bad {
            assert!(matches!(config.init(&device), Err(LossError::InvalidConfig { .. })));
        }
        let wrong = Tensor::<2>::zeros([4, 2], &device);
        assert!(matches!(
            ArcFaceLossConfig::new(3, 4).init_with(wrong),
            Err(LossError::ShapeMismatch { .. })
        ));
    }

    #[test]
    fn rejects_out_of_range_labels() {
        let device = Device::flex();
        let loss = ArcFaceLossConfig::new(3, 2).init(&device).unwrap();
        let x = Tensor::<2>::ones([2, 2], &device);
        let y = Tensor::<1, Int>::from_ints([0, 3], &device);
        assert!(matches!(
            loss.forward(x, y),
            Err(LossError::LabelOutOfRange { label: 3, num_classes: 3, .. })
        ));
    }

    #[test]
    fn finite_gradient_when_aligned_with_a_class() {
        let device = Device::flex().autodiff();
        let w = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0]], &device);
        let loss = ArcFaceLossConfig::new(2, 2).init_with(w).unwrap();
        // cosines of exactly 1 and -1 with the target class, and exactly 1 with a non-target
        let x =
            Tensor::<2>::from_floats([[2.0, 0.0], [-3.0, 0.0], [0.0, 1.0]], &device).require_grad();
        let y = Tensor::<1, Int>::from_ints([0, 0, 0], &device);
        let value = loss.forward(x.clone(), y).unwrap();
        assert!(value.to_data().iter::<f32>().all(f32::is_finite));
        let grads = value.backward();
        let g = x.grad(&grads).unwrap().to_data();
        assert!(g.iter::<f32>().all(f32::is_finite));
        let gw = loss.weight.val().grad(&grads).unwrap().to_data();
        assert!(gw.iter::<f32>().all(f32::is_finite));
    }
}
