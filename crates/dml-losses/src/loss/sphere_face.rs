use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

use super::classification::{
    class_weight_param, cosine_with_columns, cross_entropy, normal_matrix, target_mask,
};
use super::large_margin_softmax::{large_margin_cosine, row_norms, validate_large_margin};
use super::proxy_common::{check_proxy_input, miner_weights};
use super::{LossInput, MetricLoss};
use crate::error::LossResult;
use crate::reducer::{LossTerm, Reducer, TermKind};

const NAME: &str = "SphereFaceLoss";

/// Configuration of [`SphereFaceLoss`]; defaults are PML's
/// `SphereFaceLoss(num_classes, embedding_size)` (those of `LargeMarginSoftmaxLoss`).
#[derive(Config, Debug)]
pub struct SphereFaceLossConfig {
    /// Number of classes `C` (labels must be in `0..C`).
    pub num_classes: usize,
    /// Embedding size `d`.
    pub embedding_size: usize,
    /// The integer angle multiplier `m` applied to the target class's angle (at least 1).
    #[config(default = 4)]
    pub margin: usize,
    /// Multiplier of the logits.
    #[config(default = 1.0)]
    pub scale: f64,
    /// How the per-embedding cross-entropies are reduced.
    #[config(default = "Reducer::Mean")]
    pub reducer: Reducer,
}

/// SphereFace loss (Liu et al. 2017, "SphereFace: Deep Hypersphere Embedding for Face
/// Recognition", A-Softmax), as PML's `SphereFaceLoss`.
///
/// The large-margin softmax of [`super::LargeMarginSoftmaxLoss`] with unit class weights: the
/// target logit uses `psi(theta) = (-1)^k cos(m theta) - 2k`, `k = floor(m theta / pi)`, the
/// others the cosine `c_ij` of embedding `i` with column `j` of `W` (`[d, C]`), and every logit
/// is multiplied by `|x_i| scale` only (the column norms do not enter). Softmax cross-entropy,
/// one value per embedding (times PML's miner weight when pairs or triplets were mined), reduced
/// by the configured reducer (mean by default).
#[derive(Module, Debug)]
pub struct SphereFaceLoss {
    /// The class weights `W`, one column per class (only their directions matter).
    ///
    /// # Shapes
    /// - `[embedding_size, num_classes]`
    pub weight: Param<Tensor<2>>,
    #[module(skip)]
    config: SphereFaceLossConfig,
}

impl SphereFaceLossConfig {
    /// Checks every field without building the loss (no random draws).
    pub fn validate(&self) -> LossResult<()> {
        validate_large_margin(
            NAME,
            self.num_classes,
            self.embedding_size,
            self.margin,
            self.scale,
            &self.reducer,
        )
    }

    /// Validates the configuration and builds the loss with `W` drawn from `N(0, 1)`, as PML's
    /// default `torch.nn.init.normal_`.
    pub fn init(&self, device: &Device) -> LossResult<SphereFaceLoss> {
        self.validate()?;
        let w = normal_matrix([self.embedding_size, self.num_classes], 1.0, device);
        self.init_with(w)
    }

    /// Validates the configuration and builds the loss with the given class weights.
    ///
    /// # Shapes
    /// - `weight`: `[embedding_size, num_classes]`
    pub fn init_with(&self, weight: Tensor<2>) -> LossResult<SphereFaceLoss> {
        self.validate()?;
        let weight = class_weight_param(NAME, weight, self.embedding_size, self.num_classes)?;
        Ok(SphereFaceLoss { weight, config: self.clone() })
    }
}

impl SphereFaceLoss {
    /// The configuration the loss was built with.
    pub fn config(&self) -> &SphereFaceLossConfig {
        &self.config
    }

    /// The scaled logits with the margin on the target classes.
    ///
    /// # Shapes
    /// - `embeddings`: `[n, d]`, `target`: `[n, C]` (one-hot) -> `[n, C]`
    fn logits(&self, embeddings: Tensor<2>, target: Tensor<2>) -> Tensor<2> {
        let cosine = cosine_with_columns(embeddings.clone(), self.weight.val());
        let modified = large_margin_cosine(cosine, target, self.config.margin);
        (modified * row_norms(embeddings)).mul_scalar(self.config.scale)
    }
}

impl MetricLoss for SphereFaceLoss {
    /// Compares embeddings with class weights, so a single embedding is enough.
    fn needs_pairs(&self) -> bool {
        false
    }

    fn accepts_reference(&self) -> bool {
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
        check_proxy_input(NAME, input, c.num_classes, c.embedding_size)?;
        let n = input.batch_size();
        let target = target_mask(&input.labels, c.num_classes);
        let logits = self.logits(input.embeddings.clone(), target.clone());
        let mut loss = cross_entropy(logits, target);
        if input.mined.is_some() {
            loss = loss * miner_weights(input, false).reshape([n]);
        }
        Ok(vec![LossTerm::dense("loss", TermKind::Element, loss)])
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
            SphereFaceLossConfig::new(0, 4),
            SphereFaceLossConfig::new(3, 0),
            SphereFaceLossConfig::new(3, 4).with_margin(0),
            SphereFaceLossConfig::new(3, 4).with_scale(-1.0),
            SphereFaceLossConfig::new(3, 4).with_scale(f64::INFINITY),
        ];
        for config in bad {
            assert!(matches!(config.init(&device), Err(LossError::InvalidConfig { .. })));
        }
        let wrong = Tensor::<2>::zeros([4, 2], &device);
        assert!(matches!(
            SphereFaceLossConfig::new(3, 4).init_with(wrong),
            Err(LossError::ShapeMismatch { .. })
        ));
    }

    #[test]
    fn column_norms_do_not_matter() {
        let device = Device::flex();
        let w = Tensor::<2>::from_floats([[1.0, 0.5], [0.2, -1.0]], &device);
        let x = Tensor::<2>::from_floats([[2.0, 0.3], [-0.5, 1.5]], &device);
        let y = Tensor::<1, Int>::from_ints([0, 1], &device);
        let value = |w: Tensor<2>| {
            let loss = SphereFaceLossConfig::new(2, 2).init_with(w).unwrap();
            loss.forward(x.clone(), y.clone()).unwrap().into_scalar::<f32>()
        };
        let scaled = w.clone() * Tensor::<2>::from_floats([[3.0, 0.25]], &device);
        assert!((value(w) - value(scaled)).abs() < 1e-5);
    }

    #[test]
    fn degenerate_inputs_are_finite_with_a_connected_graph() {
        let device = Device::flex().autodiff();
        // a zero class column, and cosines of exactly 1 and -1 with the target class
        let w = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 0.0]], &device);
        let loss = SphereFaceLossConfig::new(2, 2).init_with(w).unwrap();
        let x =
            Tensor::<2>::from_floats([[2.0, 0.0], [-3.0, 0.0], [0.0, 0.0], [0.0, 1.0]], &device)
                .require_grad();
        let y = Tensor::<1, Int>::from_ints([0, 0, 0, 1], &device);
        let value = loss.forward(x.clone(), y).unwrap();
        assert!(value.to_data().iter::<f32>().all(f32::is_finite));
        let grads = value.backward();
        let gx = x.grad(&grads).expect("embeddings in the graph").to_data();
        assert!(gx.iter::<f32>().all(f32::is_finite));
        let gw = loss.weight.val().grad(&grads).expect("weight in the graph").to_data();
        assert!(gw.iter::<f32>().all(f32::is_finite));
    }
}
