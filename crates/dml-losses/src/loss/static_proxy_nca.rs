use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Distribution, Tensor};

use super::classification::{check_class_counts, check_class_input};
use super::proxy_common::check_given_proxies;
use super::{LossInput, MetricLoss};
use crate::distance::Distance;
use crate::error::{LossError, LossResult, invalid};
use crate::ops::{masked_logsumexp, one_hot};
use crate::reducer::{LossTerm, Reducer, TermKind};

const NAME: &str = "StaticProxyNCALoss";

/// Configuration of [`StaticProxyNCALoss`] (the seed's `ProxyNCA(embeding_size, classes_num,
/// batchsize)`; the batch size is not needed here).
#[derive(Config, Debug)]
pub struct StaticProxyNCALossConfig {
    /// Number of classes `C` (one fixed proxy each); at least 2.
    pub num_classes: usize,
    /// Embedding size `d`.
    pub embedding_size: usize,
}

/// Proxy-NCA with static proxies, as the pytorch-online-metric-learning seed writes it
/// (`losses.py`, `ProxyNCA`; "No Fuss Distance Metric Learning using Proxies",
/// Movshovitz-Attias et al. 2017, with the static proxy assignment). Not PML's
/// [`super::ProxyNCALoss`].
///
/// With `D_ic = |x^_i - p^_c|^2` (both L2-normalized):
///
/// `loss = mean_i ( D_{i,y_i} + log sum_{c != y_i} exp(-D_ic) )`
///
/// `= mean_i -log( exp(-D_{i,y_i}) / sum_{c != y_i} exp(-D_ic) )`: the denominator leaves the
/// embedding's own proxy out (PML's includes it) and there is no softmax scale.
///
/// The proxies are drawn once (`xavier_uniform_`) and never trained: the seed keeps them in a
/// plain `Variable` without gradient, outside the module's parameters. Here they are a
/// [`Param`] with gradients switched off, so they are saved with the module's record but no
/// optimizer moves them.
#[derive(Module, Debug)]
pub struct StaticProxyNCALoss {
    /// The fixed class proxies (no gradient).
    ///
    /// # Shapes
    /// - `[num_classes, embedding_size]`
    pub proxies: Param<Tensor<2>>,
    #[module(skip)]
    config: StaticProxyNCALossConfig,
}

impl StaticProxyNCALossConfig {
    /// Checks every field without building the loss (no random draws).
    pub fn validate(&self) -> LossResult<()> {
        check_class_counts(NAME, self.num_classes, self.embedding_size)?;
        if self.num_classes < 2 {
            return Err(invalid(
                NAME,
                "num_classes",
                format!(
                    "must be at least 2 (the denominator runs over the other classes), got {}",
                    self.num_classes
                ),
            ));
        }
        Ok(())
    }

    /// Validates the configuration and builds the loss with proxies drawn as the seed does
    /// (`torch.nn.init.xavier_uniform_`: `U(-b, b)`, `b = sqrt(6 / (C + d))`).
    pub fn init(&self, device: &Device) -> LossResult<StaticProxyNCALoss> {
        self.validate()?;
        let bound = (6.0 / (self.num_classes + self.embedding_size) as f64).sqrt();
        let proxies = Tensor::<2>::random(
            [self.num_classes, self.embedding_size],
            Distribution::Uniform(-bound, bound),
            device,
        );
        self.init_with(proxies)
    }

    /// Validates the configuration and builds the loss with the given (fixed) proxies.
    ///
    /// # Shapes
    /// - `proxies`: `[num_classes, embedding_size]`
    pub fn init_with(&self, proxies: Tensor<2>) -> LossResult<StaticProxyNCALoss> {
        self.validate()?;
        check_given_proxies(NAME, &proxies, self.num_classes, self.embedding_size)?;
        let proxies = Param::from_tensor(proxies.detach()).set_require_grad(false);
        Ok(StaticProxyNCALoss { proxies, config: self.clone() })
    }
}

impl StaticProxyNCALoss {
    /// The configuration the loss was built with.
    pub fn config(&self) -> &StaticProxyNCALossConfig {
        &self.config
    }
}

impl MetricLoss for StaticProxyNCALoss {
    fn name(&self) -> &'static str {
        NAME
    }

    /// The seed's `torch.mean` over the batch; fixed.
    fn reducer(&self) -> Reducer {
        Reducer::Mean
    }

    /// Compares embeddings with proxies, so a single embedding is enough.
    fn needs_pairs(&self) -> bool {
        false
    }

    fn accepts_mined(&self) -> bool {
        false
    }

    fn accepts_reference(&self) -> bool {
        false
    }

    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        let c = &self.config;
        if input.mined.is_some() {
            return Err(LossError::Unsupported {
                component: NAME,
                detail: "mined pairs or triplets (the seed's ProxyNCA uses every embedding)".into(),
            });
        }
        check_class_input(NAME, input, c.embedding_size, c.num_classes, true)?;
        let n = input.batch_size();
        let proxies = self.proxies.val().detach();
        let d2 = Distance::squared_l2().matrix(input.embeddings.clone(), proxies); // [n, C]
        let own = one_hot(&input.labels, c.num_classes);
        let positive = (d2.clone() * own.clone().float()).sum_dim(1); // [n, 1]
        let others = masked_logsumexp(d2.neg(), own.bool_not(), false); // [n, 1]
        let loss = (positive + others).reshape([n]);
        Ok(vec![LossTerm::dense("loss", TermKind::Element, loss)])
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Int;

    use super::*;

    fn device() -> Device {
        Device::flex().autodiff()
    }

    #[test]
    fn rejects_bad_config() {
        let d = device();
        for (c, field) in [(0, "num_classes"), (1, "num_classes")] {
            let err = StaticProxyNCALossConfig::new(c, 4).init(&d).unwrap_err();
            assert!(matches!(err, LossError::InvalidConfig { field: f, .. } if f == field));
        }
        assert!(matches!(
            StaticProxyNCALossConfig::new(3, 0).init(&d),
            Err(LossError::InvalidConfig { field: "embedding_size", .. })
        ));
        let wrong = Tensor::<2>::zeros([3, 5], &d);
        assert!(matches!(
            StaticProxyNCALossConfig::new(3, 4).init_with(wrong),
            Err(LossError::ShapeMismatch { .. })
        ));
    }

    #[test]
    fn hand_computed_value_leaves_the_own_proxy_out_and_proxies_get_no_gradient() {
        // proxies e1, e2, -e1; x = (2, 0) of class 0: D2 = 0, 2, 4.
        // loss = 0 + log(e^{-2} + e^{-4}).
        let d = device();
        let p = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], &d);
        let loss = StaticProxyNCALossConfig::new(3, 2).init_with(p).unwrap();
        let x = Tensor::<2>::from_floats([[2.0, 0.0]], &d).require_grad();
        let y = Tensor::<1, Int>::from_ints([0], &d);
        let v = loss.forward(x.clone(), y).unwrap();
        let expected = ((-2.0f64).exp() + (-4.0f64).exp()).ln();
        assert!((v.clone().into_scalar::<f32>() as f64 - expected).abs() < 1e-6);
        let grads = v.backward();
        assert!(x.grad(&grads).is_some());
        assert!(loss.proxies.val().grad(&grads).is_none());
    }

    #[test]
    fn rejects_out_of_range_labels_mined_input_and_a_reference() {
        let d = device();
        let loss = StaticProxyNCALossConfig::new(2, 2).init(&d).unwrap();
        let x = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0]], &d);
        let y = Tensor::<1, Int>::from_ints([0, 2], &d);
        assert!(matches!(
            loss.forward(x.clone(), y),
            Err(LossError::LabelOutOfRange { label: 2, num_classes: 2, .. })
        ));
        let y = Tensor::<1, Int>::from_ints([0, 1], &d);
        let input = LossInput::new(x.clone(), y.clone()).with_reference(x.clone(), y.clone());
        assert!(matches!(loss.forward_input(&input), Err(LossError::Unsupported { .. })));
        let (p, n) = crate::miner::all_pairs(&y, &y, true);
        let input = LossInput::new(x, y)
            .with_mined(crate::miner::Mined::Pairs { positive: p, negative: n });
        assert!(matches!(loss.forward_input(&input), Err(LossError::Unsupported { .. })));
    }
}
