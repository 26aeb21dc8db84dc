use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

use super::classification::{check_class_counts, normal_matrix};
use super::proxy_common::{check_given_proxies, check_proxy_input, miner_weights};
use super::{LossInput, MetricLoss};
use crate::distance::Distance;
use crate::error::{LossResult, check_positive};
use crate::ops::{logsumexp, one_hot};
use crate::reducer::{LossTerm, Reducer, TermKind};

const NAME: &str = "ProxyNCALoss";

/// Configuration of [`ProxyNCALoss`]; defaults are PML's
/// `ProxyNCALoss(num_classes, embedding_size, softmax_scale=1)`.
#[derive(Config, Debug)]
pub struct ProxyNCALossConfig {
    /// Number of classes `C` (one proxy each).
    pub num_classes: usize,
    /// Embedding size `d`.
    pub embedding_size: usize,
    /// Scale `s` applied to the (negated) distances before the softmax.
    #[config(default = 1.0)]
    pub softmax_scale: f64,
    /// How embeddings are compared with proxies (PML's default for NCA: squared L2 distance
    /// between normalized vectors).
    #[config(default = "Distance::squared_l2()")]
    pub distance: Distance,
    /// How the per-embedding values are reduced (PML's default: mean).
    #[config(default = "Reducer::Mean")]
    pub reducer: Reducer,
}

/// Proxy-NCA loss (Movshovitz-Attias et al., "No Fuss Distance Metric Learning using Proxies",
/// ICCV 2017), as PML's `ProxyNCALoss`.
///
/// With `z_ic = s * -D(x_i, p_c)` for a distance (`s * S(x_i, p_c)` for a similarity), each
/// embedding gets `loss_i = w_i * -log(softmax_c(z_i)[y_i])`, the softmax running over all
/// proxies including the embedding's own; `w_i` is 1, or PML's miner weight when pairs or
/// triplets were mined. The values are then reduced (mean by default).
#[derive(Module, Debug)]
pub struct ProxyNCALoss {
    /// The learnable class proxies.
    ///
    /// # Shapes
    /// - `[num_classes, embedding_size]`
    pub proxies: Param<Tensor<2>>,
    #[module(skip)]
    config: ProxyNCALossConfig,
}

impl ProxyNCALossConfig {
    /// Checks every field without building the loss (no random draws).
    pub fn validate(&self) -> LossResult<()> {
        check_class_counts(NAME, self.num_classes, self.embedding_size)?;
        check_positive(NAME, "softmax_scale", self.softmax_scale)?;
        self.distance.validate(NAME)?;
        self.reducer.validate()
    }

    /// Validates the configuration and builds the loss with proxies initialised as PML does
    /// (`torch.nn.init.normal_`: `N(0, 1)`).
    pub fn init(&self, device: &Device) -> LossResult<ProxyNCALoss> {
        self.validate()?;
        let proxies = normal_matrix([self.num_classes, self.embedding_size], 1.0, device);
        self.init_with(proxies)
    }

    /// Validates the configuration and builds the loss with the given initial proxies.
    ///
    /// # Shapes
    /// - `proxies`: `[num_classes, embedding_size]`
    pub fn init_with(&self, proxies: Tensor<2>) -> LossResult<ProxyNCALoss> {
        self.validate()?;
        check_given_proxies(NAME, &proxies, self.num_classes, self.embedding_size)?;
        Ok(ProxyNCALoss { proxies: Param::from_tensor(proxies), config: self.clone() })
    }
}

impl ProxyNCALoss {
    /// The configuration the loss was built with.
    pub fn config(&self) -> &ProxyNCALossConfig {
        &self.config
    }
}

impl MetricLoss for ProxyNCALoss {
    /// Compares embeddings with class weights or proxies, so a single embedding is enough.
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

    /// The proxies, `[C, d]`.
    fn class_weights(&self) -> Option<super::ClassWeights> {
        Some(super::ClassWeights::per_class(self.proxies.val()))
    }

    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        let c = &self.config;
        check_proxy_input(NAME, input, c.num_classes, c.embedding_size)?;
        let n = input.batch_size();
        let mat = c.distance.matrix(input.embeddings.clone(), self.proxies.val()); // [n, C]
        let mat = c.distance.closeness(mat);
        let logits = mat.mul_scalar(c.softmax_scale);
        let own = (logits.clone() * one_hot(&input.labels, c.num_classes).float()).sum_dim(1);
        let loss = (logsumexp(logits) - own) * miner_weights(input, true); // [n, 1]
        Ok(vec![LossTerm::dense("loss", TermKind::Element, loss.reshape([n]))])
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Int;

    use super::*;
    use crate::error::LossError;

    fn device() -> Device {
        Device::flex().autodiff()
    }

    #[test]
    fn rejects_bad_config() {
        let d = device();
        assert!(matches!(
            ProxyNCALossConfig::new(0, 4).init(&d),
            Err(LossError::InvalidConfig { field: "num_classes", .. })
        ));
        assert!(matches!(
            ProxyNCALossConfig::new(3, 0).init(&d),
            Err(LossError::InvalidConfig { field: "embedding_size", .. })
        ));
        assert!(matches!(
            ProxyNCALossConfig::new(3, 4).with_softmax_scale(-1.0).init(&d),
            Err(LossError::InvalidConfig { field: "softmax_scale", .. })
        ));
        let wrong = Tensor::<2>::zeros([3, 5], &d);
        assert!(matches!(
            ProxyNCALossConfig::new(3, 4).init_with(wrong),
            Err(LossError::ShapeMismatch { .. })
        ));
    }

    #[test]
    fn rejects_out_of_range_labels_and_wrong_size() {
        let d = device();
        let loss = ProxyNCALossConfig::new(2, 2).init(&d).unwrap();
        let x = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0]], &d);
        let y = Tensor::<1, Int>::from_ints([0, 2], &d);
        assert!(matches!(
            loss.forward(x, y.clone()),
            Err(LossError::LabelOutOfRange { label: 2, num_classes: 2, .. })
        ));
        let x3 = Tensor::<2>::zeros([2, 3], &d);
        assert!(matches!(loss.forward(x3, y), Err(LossError::ShapeMismatch { .. })));
    }

    #[test]
    fn single_embedding_gives_finite_loss() {
        let d = device();
        let loss = ProxyNCALossConfig::new(3, 2).init(&d).unwrap();
        let x = Tensor::<2>::from_floats([[0.0, 0.0]], &d).require_grad();
        let y = Tensor::<1, Int>::from_ints([1], &d);
        let v = loss.forward(x.clone(), y).unwrap();
        let value: f32 = v.clone().into_scalar();
        assert!(value.is_finite());
        let grads = v.backward();
        let g = x.grad(&grads).unwrap();
        let g: Vec<f32> = g.to_data().try_to_vec::<f32>().unwrap();
        assert!(g.iter().all(|v| v.is_finite()));
    }
}
