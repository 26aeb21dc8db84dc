use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

use super::classification::{
    check_class_counts, class_weight_param, cosine_with_columns, cross_entropy, normal_matrix,
    target_mask,
};
use super::proxy_common::{check_proxy_input, miner_weights};
use super::{LossInput, MetricLoss};
use crate::error::{LossResult, check_positive, invalid};
use crate::ops::safe_sqrt;
use crate::reducer::{LossTerm, Reducer, TermKind};

const NAME: &str = "LargeMarginSoftmaxLoss";

/// Configuration of [`LargeMarginSoftmaxLoss`]; defaults are PML's
/// `LargeMarginSoftmaxLoss(num_classes, embedding_size)`.
#[derive(Config, Debug)]
pub struct LargeMarginSoftmaxLossConfig {
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

/// Large-margin softmax loss (Liu et al. 2016, "Large-Margin Softmax Loss for Convolutional
/// Neural Networks", L-Softmax), as PML's `LargeMarginSoftmaxLoss`.
///
/// With `c_ij` the cosine of embedding `i` with column `j` of `W` (`[d, C]`) and
/// `theta = acos(clamp(c, -1, 1))`, the target logit uses
/// `psi(theta) = (-1)^k cos(m theta) - 2k`, `k = floor(m theta / pi)`, instead of the cosine;
/// every logit is multiplied by `|x_i| |w_j| scale` and fed to a softmax cross-entropy, one value
/// per embedding (times PML's miner weight when pairs or triplets were mined), reduced by the
/// configured reducer (mean by default).
#[derive(Module, Debug)]
pub struct LargeMarginSoftmaxLoss {
    /// The class weights `W`, one column per class.
    ///
    /// # Shapes
    /// - `[embedding_size, num_classes]`
    pub weight: Param<Tensor<2>>,
    #[module(skip)]
    config: LargeMarginSoftmaxLossConfig,
}

/// Checks the fields shared by [`LargeMarginSoftmaxLossConfig`] and the SphereFace
/// configuration.
pub(crate) fn validate_large_margin(
    component: &'static str,
    num_classes: usize,
    embedding_size: usize,
    margin: usize,
    scale: f64,
    reducer: &Reducer,
) -> LossResult<()> {
    check_class_counts(component, num_classes, embedding_size)?;
    if margin == 0 {
        // PML divides pi by the margin.
        return Err(invalid(component, "margin", "must be at least 1"));
    }
    check_positive(component, "scale", scale)?;
    reducer.validate()
}

impl LargeMarginSoftmaxLossConfig {
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
    pub fn init(&self, device: &Device) -> LossResult<LargeMarginSoftmaxLoss> {
        self.validate()?;
        let w = normal_matrix([self.embedding_size, self.num_classes], 1.0, device);
        self.init_with(w)
    }

    /// Validates the configuration and builds the loss with the given class weights.
    ///
    /// # Shapes
    /// - `weight`: `[embedding_size, num_classes]`
    pub fn init_with(&self, weight: Tensor<2>) -> LossResult<LargeMarginSoftmaxLoss> {
        self.validate()?;
        let weight = class_weight_param(NAME, weight, self.embedding_size, self.num_classes)?;
        Ok(LargeMarginSoftmaxLoss { weight, config: self.clone() })
    }
}

/// L-Softmax's `psi(theta) = (-1)^k cos(m theta) - 2k` of a cosine `c`, with
/// `k = floor(m acos(c) / pi)` (outside the graph, as PML's `no_grad`).
///
/// `cos(m theta)` is the Chebyshev polynomial `T_m(c)` (the paper's multiple-angle expansion,
/// Eq. 7), evaluated by its recurrence `T_{i+1} = 2 c T_i - T_{i-1}` on the unclamped cosine,
/// so there is no `acos` in the graph and the gradient is finite at `c = +-1`. `k` counts the
/// multiples `j pi / m` (`j = 1..m`) that `theta` reaches, i.e. `c <= cos(j pi / m)` on the
/// cosine clamped to `[-1, 1]`; `psi` and its slope are continuous at those points, so which
/// side a cosine on a boundary falls on does not matter.
///
/// # Shapes
/// - `cosine`: `[n, 1]` -> `[n, 1]`
pub(crate) fn large_margin_psi(cosine: Tensor<2>, margin: usize) -> Tensor<2> {
    let mut previous = cosine.ones_like();
    let mut current = cosine.clone();
    for _ in 1..margin {
        let next = cosine.clone().mul(current.clone()).mul_scalar(2.0) - previous;
        previous = current;
        current = next;
    }
    let c = cosine.detach().clamp(-1.0, 1.0);
    let mut k = c.zeros_like();
    let mut sign = c.ones_like();
    for j in 1..=margin {
        let bound = (j as f64 * std::f64::consts::PI / margin as f64).cos();
        let reached = c.clone().lower_equal_elem(bound).float();
        k = k + reached.clone();
        sign = sign * reached.mul_scalar(-2.0).add_scalar(1.0);
    }
    current * sign - k.mul_scalar(2.0)
}

/// The cosine matrix with the target column replaced by [`large_margin_psi`] of the target
/// cosine (PML's `cosine + mask * (psi - cosine)`).
///
/// # Shapes
/// - `cosine`, `target`: `[n, C]` -> `[n, C]`
pub(crate) fn large_margin_cosine(
    cosine: Tensor<2>,
    target: Tensor<2>,
    margin: usize,
) -> Tensor<2> {
    let target_cosine = (cosine.clone() * target.clone()).sum_dim(1);
    let diff = large_margin_psi(target_cosine.clone(), margin) - target_cosine;
    cosine + target * diff
}

/// Euclidean norm of every row, with gradient 0 for a zero row (as PyTorch's `norm`).
///
/// # Shapes
/// - `x`: `[n, d]` -> `[n, 1]`
pub(crate) fn row_norms(x: Tensor<2>) -> Tensor<2> {
    safe_sqrt(x.square().sum_dim(1))
}

impl LargeMarginSoftmaxLoss {
    /// The configuration the loss was built with.
    pub fn config(&self) -> &LargeMarginSoftmaxLossConfig {
        &self.config
    }

    /// The scaled logits with the margin on the target classes.
    ///
    /// # Shapes
    /// - `embeddings`: `[n, d]`, `target`: `[n, C]` (one-hot) -> `[n, C]`
    fn logits(&self, embeddings: Tensor<2>, target: Tensor<2>) -> Tensor<2> {
        let w = self.weight.val();
        let cosine = cosine_with_columns(embeddings.clone(), w.clone());
        let modified = large_margin_cosine(cosine, target, self.config.margin);
        let x_norm = row_norms(embeddings); // [n, 1]
        let w_norm = row_norms(w.transpose()).transpose(); // [1, C]
        (modified * x_norm * w_norm).mul_scalar(self.config.scale)
    }
}

impl MetricLoss for LargeMarginSoftmaxLoss {
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
            LargeMarginSoftmaxLossConfig::new(0, 4),
            LargeMarginSoftmaxLossConfig::new(3, 0),
            LargeMarginSoftmaxLossConfig::new(3, 4).with_margin(0),
            LargeMarginSoftmaxLossConfig::new(3, 4).with_scale(0.0),
            LargeMarginSoftmaxLossConfig::new(3, 4).with_scale(f64::NAN),
        ];
        for config in bad {
            assert!(matches!(config.init(&device), Err(LossError::InvalidConfig { .. })));
        }
        let wrong = Tensor::<2>::zeros([4, 2], &device);
        assert!(matches!(
            LargeMarginSoftmaxLossConfig::new(3, 4).init_with(wrong),
            Err(LossError::ShapeMismatch { .. })
        ));
    }

    #[test]
    fn psi_is_cos_of_m_theta_with_pml_offsets() {
        let device = Device::flex();
        let theta = [0.0f64, 0.3, 1.0, 2.0, 2.9, std::f64::consts::PI];
        let c: Vec<f32> = theta.iter().map(|t| t.cos() as f32).collect();
        let got =
            large_margin_psi(Tensor::<1>::from_floats(c.as_slice(), &device).reshape([6, 1]), 4)
                .to_data()
                .try_to_vec::<f32>()
                .unwrap();
        for (t, g) in theta.iter().zip(got) {
            let k = (4.0 * t / std::f64::consts::PI).floor();
            let want = (-1f64).powi(k as i32) * (4.0 * t).cos() - 2.0 * k;
            assert!((g as f64 - want).abs() < 1e-4, "theta {t}: {g} vs {want}");
        }
    }

    #[test]
    fn degenerate_inputs_are_finite_with_a_connected_graph() {
        let device = Device::flex().autodiff();
        // a zero class column, and cosines of exactly 1 and -1 with the target class
        let w = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 0.0]], &device);
        let loss = LargeMarginSoftmaxLossConfig::new(2, 2).init_with(w).unwrap();
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

    #[test]
    fn rejects_out_of_range_labels_and_a_reference_set() {
        let device = Device::flex();
        let loss = LargeMarginSoftmaxLossConfig::new(3, 2).init(&device).unwrap();
        let x = Tensor::<2>::ones([2, 2], &device);
        let y = Tensor::<1, Int>::from_ints([0, 3], &device);
        assert!(matches!(
            loss.forward(x.clone(), y),
            Err(LossError::LabelOutOfRange { label: 3, num_classes: 3, .. })
        ));
        let y = Tensor::<1, Int>::from_ints([0, 1], &device);
        let input = LossInput::new(x.clone(), y.clone()).with_reference(x, y);
        assert!(matches!(loss.forward_input(&input), Err(LossError::Unsupported { .. })));
    }
}
