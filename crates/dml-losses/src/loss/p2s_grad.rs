use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Distribution, Tensor};

use super::classification::{
    check_class_counts, check_input, clamp_unit, class_weight_param, target_mask,
};
use super::{LossInput, MetricLoss};
use crate::error::LossResult;
use crate::ops::{NORMALIZE_EPS, l2_normalize};
use crate::reducer::{LossTerm, Reducer};

const NAME: &str = "P2SGradLoss";

/// Configuration of [`P2SGradLoss`]; PML's `P2SGradLoss(descriptors_dim, num_classes)`, which has
/// no other setting (`embedding_size` is PML's `descriptors_dim`).
#[derive(Config, Debug)]
pub struct P2SGradLossConfig {
    /// Number of classes `C` (labels must be in `0..C`).
    pub num_classes: usize,
    /// Embedding size `d` (PML's `descriptors_dim`).
    pub embedding_size: usize,
}

/// P2SGrad (Zhang et al., "P2SGrad: Refined Gradients for Optimizing Deep Face Models",
/// CVPR 2019), as PML's `P2SGradLoss`: the mean squared error between the cosines of the
/// embeddings with the class weights and the one-hot targets,
///
/// `loss = (1 / (n C)) sum_i sum_c (clamp(x_i . w^_c / |x_i|, -1, 1) - [c = y_i])^2`
///
/// whose gradient is the paper's (Eq. 11). PML rescales the columns of `W` to unit norm in place
/// before every forward pass, outside the autodiff graph; this loss uses the unit columns
/// `w^_c = w_c / |w_c|` with the same straight-through gradient (the gradient with respect to
/// `W` is the one with respect to the unit columns, not through the normalization), so value and
/// gradients equal PML's for the same `W`. The parameter itself is not rewritten (a module's
/// forward pass cannot change it); only its columns' directions matter. The value is already
/// reduced, which every reducer passes through.
#[derive(Module, Debug)]
pub struct P2SGradLoss {
    /// The class weights `W`, one column per class.
    ///
    /// # Shapes
    /// - `[embedding_size, num_classes]`
    pub weight: Param<Tensor<2>>,
    #[module(skip)]
    config: P2SGradLossConfig,
}

impl P2SGradLossConfig {
    /// Checks every field without building the loss (no random draws).
    pub fn validate(&self) -> LossResult<()> {
        check_class_counts(NAME, self.num_classes, self.embedding_size)
    }

    /// Validates the configuration and builds the loss with `W` drawn as PML does: uniform in
    /// `[-1, 1]`, then every column scaled to unit norm.
    pub fn init(&self, device: &Device) -> LossResult<P2SGradLoss> {
        self.validate()?;
        let w = Tensor::<2>::random(
            [self.embedding_size, self.num_classes],
            Distribution::Uniform(-1.0, 1.0),
            device,
        );
        self.init_with(unit_columns(w))
    }

    /// Validates the configuration and builds the loss with the given class weights (their
    /// columns need not have unit norm; only their directions are used).
    ///
    /// # Shapes
    /// - `weight`: `[embedding_size, num_classes]`
    pub fn init_with(&self, weight: Tensor<2>) -> LossResult<P2SGradLoss> {
        self.validate()?;
        let weight = class_weight_param(NAME, weight, self.embedding_size, self.num_classes)?;
        Ok(P2SGradLoss { weight, config: self.clone() })
    }
}

/// Every column divided by its L2 norm (clamped below like `F.normalize`).
///
/// # Shapes
/// - `w`: `[d, C]` -> `[d, C]`
fn unit_columns(w: Tensor<2>) -> Tensor<2> {
    let norms = w.clone().square().sum_dim(0).clamp_min(NORMALIZE_EPS * NORMALIZE_EPS).sqrt();
    w / norms
}

impl P2SGradLoss {
    /// The configuration the loss was built with.
    pub fn config(&self) -> &P2SGradLossConfig {
        &self.config
    }

    /// The clamped cosines of every embedding with every (unit) class column.
    ///
    /// # Shapes
    /// - `embeddings`: `[n, d]` -> `[n, C]`
    pub fn cosines(&self, embeddings: Tensor<2>) -> Tensor<2> {
        let w = self.weight.val();
        // Value of the unit columns, gradient straight through to W (PML's in-place renorm).
        let unit = w.clone() + (unit_columns(w.clone()) - w).detach();
        clamp_unit(l2_normalize(embeddings).matmul(unit))
    }
}

impl MetricLoss for P2SGradLoss {
    /// Compares embeddings with class weights, so a single embedding is enough.
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
        // The term is already reduced, which every reducer passes through.
        Reducer::Mean
    }

    /// The class weights transposed, `[C, d]` (PML's P2SGradLoss takes no weight regularizer).
    fn class_weights(&self) -> Option<super::ClassWeights> {
        Some(super::ClassWeights::per_class(self.weight.val().transpose()))
    }

    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        let c = &self.config;
        check_input(NAME, input, c.embedding_size, c.num_classes)?;
        let target = target_mask(&input.labels, c.num_classes);
        let cos = self.cosines(input.embeddings.clone());
        let mse = (cos - target).square().mean();
        Ok(vec![LossTerm::reduced("loss", mse)])
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Int;

    use super::*;
    use crate::error::LossError;
    use crate::miner::Mined;

    #[test]
    fn rejects_bad_config_and_wrong_weights() {
        let d = Device::flex();
        for (config, name) in [
            (P2SGradLossConfig::new(0, 4), "num_classes"),
            (P2SGradLossConfig::new(3, 0), "embedding_size"),
        ] {
            match config.init(&d) {
                Err(LossError::InvalidConfig { field, .. }) => assert_eq!(field, name),
                other => panic!("{name}: {other:?}"),
            }
        }
        let wrong = Tensor::<2>::zeros([3, 4], &d);
        assert!(matches!(
            P2SGradLossConfig::new(3, 4).init_with(wrong),
            Err(LossError::ShapeMismatch { .. })
        ));
    }

    #[test]
    fn init_draws_unit_columns() {
        let d = Device::flex();
        let loss = P2SGradLossConfig::new(5, 16).init(&d).unwrap();
        let norms = loss.weight.val().square().sum_dim(0).sqrt();
        for v in norms.into_data().try_to_vec::<f32>().unwrap() {
            assert!((v - 1.0).abs() < 1e-5, "{v}");
        }
    }

    #[test]
    fn rejects_labels_out_of_range_mined_input_and_a_reference_set() {
        let d = Device::flex();
        let loss = P2SGradLossConfig::new(2, 2).init(&d).unwrap();
        let x = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0]], &d);
        let bad = Tensor::<1, Int>::from_ints([0, 2], &d);
        assert!(matches!(
            loss.forward(x.clone(), bad),
            Err(LossError::LabelOutOfRange { label: 2, num_classes: 2, .. })
        ));
        let y = Tensor::<1, Int>::from_ints([0, 1], &d);
        let with_ref = LossInput::new(x.clone(), y.clone()).with_reference(x.clone(), y.clone());
        assert!(matches!(loss.forward_input(&with_ref), Err(LossError::Unsupported { .. })));
        let z = Tensor::<2>::zeros([2, 2], &d);
        let mined =
            LossInput::new(x, y).with_mined(Mined::Pairs { positive: z.clone(), negative: z });
        assert!(matches!(loss.forward_input(&mined), Err(LossError::Unsupported { .. })));
    }

    /// A zero embedding (PML divides by its zero norm) gives a finite value and gradient.
    #[test]
    fn a_zero_embedding_is_finite() {
        let d = Device::flex().autodiff();
        let w = Tensor::<2>::from_floats([[2.0, 0.0], [0.0, 3.0]], &d);
        let loss = P2SGradLossConfig::new(2, 2).init_with(w).unwrap();
        let x = Tensor::<2>::from_floats([[0.0, 0.0], [1.0, 0.0]], &d).require_grad();
        let y = Tensor::<1, Int>::from_ints([0, 0], &d);
        let value = loss.forward(x.clone(), y).unwrap();
        // cosines [[0, 0], [1, 0]] against targets [[1, 0], [1, 0]]: (1 + 0 + 0 + 0) / 4
        assert!((value.clone().into_scalar::<f32>() - 0.25).abs() < 1e-6);
        let g = x.grad(&value.backward()).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert!(g.iter().all(|v| v.is_finite()), "{g:?}");
    }
}
