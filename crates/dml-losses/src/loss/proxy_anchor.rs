use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Int, Tensor};

use super::classification::{check_class_counts, normal_matrix};
use super::proxy_common::{
    check_given_proxies, check_proxy_input, miner_weights, proxy_pos_neg_terms,
};
use super::{LossInput, MetricLoss};
use crate::distance::Distance;
use crate::error::{LossResult, check_finite, check_positive};
use crate::fused::{self, PairKernel};
use crate::ops::l2_normalize;
use crate::reducer::{LossTerm, Reducer, TermKind};

const NAME: &str = "ProxyAnchorLoss";

/// Configuration of [`ProxyAnchorLoss`]; defaults are PML's
/// `ProxyAnchorLoss(num_classes, embedding_size, margin=0.1, alpha=32)`.
#[derive(Config, Debug)]
pub struct ProxyAnchorLossConfig {
    /// Number of classes `C` (one proxy each).
    pub num_classes: usize,
    /// Embedding size `d`.
    pub embedding_size: usize,
    /// Margin `delta` added on both sides.
    #[config(default = 0.1)]
    pub margin: f64,
    /// Scale `alpha` of the similarities inside the log-sum-exp.
    #[config(default = 32.0)]
    pub alpha: f64,
    /// How embeddings are compared with proxies (PML's default: cosine similarity).
    #[config(default = "Distance::Cosine")]
    pub distance: Distance,
    /// `None` (PML's default `DivisorReducer`): the positive sub-loss is divided by the number
    /// of classes present in the batch and the negative one by `C`. `Some(r)`: the per-class
    /// values of each sub-loss are reduced by `r` instead (as PML does with a user reducer).
    #[config(default = "None")]
    pub reducer: Option<Reducer>,
}

/// Proxy Anchor loss (Kim et al., "Proxy Anchor Loss for Deep Metric Learning", CVPR 2020),
/// as PML's `ProxyAnchorLoss`.
///
/// With `s(x, p)` the similarity (cosine by default), `P+` the classes that have an embedding
/// in the batch and `X_c` the embeddings of class `c`:
///
/// `pos_loss = (1/|P+|) sum_{c in P+} log(1 + sum_{x in X_c} exp(-alpha (s(x, p_c) - delta)))`
///
/// `neg_loss = (1/C) sum_c log(1 + sum_{x not in X_c} exp(alpha (s(x, p_c) + delta)))`
///
/// A class with no positive (or no negative) contributes 0 to that sub-loss. Mined pairs or
/// triplets enter as PML's miner weights `w_i - 1` added to every logit of embedding `i`.
#[derive(Module, Debug)]
pub struct ProxyAnchorLoss {
    /// The learnable class proxies (give them their own learning rate, as the paper does).
    ///
    /// # Shapes
    /// - `[num_classes, embedding_size]`
    pub proxies: Param<Tensor<2>>,
    #[module(skip)]
    config: ProxyAnchorLossConfig,
}

impl ProxyAnchorLossConfig {
    /// Checks every field without building the loss (no random draws).
    pub fn validate(&self) -> LossResult<()> {
        check_class_counts(NAME, self.num_classes, self.embedding_size)?;
        check_finite(NAME, "margin", self.margin)?;
        check_positive(NAME, "alpha", self.alpha)?;
        self.distance.validate(NAME)?;
        if let Some(r) = &self.reducer {
            r.validate()?;
        }
        Ok(())
    }

    /// Validates the configuration and builds the loss with proxies initialised as PML does:
    /// `kaiming_normal_(mode="fan_out")`, i.e. `N(0, 2 / num_classes)`.
    pub fn init(&self, device: &Device) -> LossResult<ProxyAnchorLoss> {
        self.validate()?;
        let std = (2.0 / self.num_classes as f64).sqrt();
        let proxies = normal_matrix([self.num_classes, self.embedding_size], std, device);
        self.init_with(proxies)
    }

    /// Validates the configuration and builds the loss with the given initial proxies.
    ///
    /// # Shapes
    /// - `proxies`: `[num_classes, embedding_size]`
    pub fn init_with(&self, proxies: Tensor<2>) -> LossResult<ProxyAnchorLoss> {
        self.validate()?;
        check_given_proxies(NAME, &proxies, self.num_classes, self.embedding_size)?;
        Ok(ProxyAnchorLoss { proxies: Param::from_tensor(proxies), config: self.clone() })
    }
}

impl ProxyAnchorLoss {
    /// The configuration the loss was built with.
    pub fn config(&self) -> &ProxyAnchorLossConfig {
        &self.config
    }
}

impl MetricLoss for ProxyAnchorLoss {
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
        // The default terms are already reduced, which every reducer passes through.
        self.config.reducer.clone().unwrap_or(Reducer::Sum)
    }

    /// The proxies, `[C, d]`.
    fn class_weights(&self) -> Option<super::ClassWeights> {
        Some(super::ClassWeights::per_class(self.proxies.val()))
    }

    /// The fused kernel for PML's default configuration (cosine, the divisor reduction, nothing
    /// mined) on a device that has it.
    fn fused_forward(&self, input: &LossInput) -> LossResult<Option<Tensor<1>>> {
        let c = &self.config;
        if !c.distance.is_cosine()
            || c.reducer.is_some()
            || input.mined.is_some()
            || !fused::available(&input.embeddings)
        {
            return Ok(None);
        }
        check_proxy_input(NAME, input, c.num_classes, c.embedding_size)?;
        let device = input.embeddings.device();
        let classes = Tensor::<1, Int>::arange(0..c.num_classes as i64, &device);
        let kernel = PairKernel::ProxyAnchor {
            alpha_pos: c.alpha as f32,
            alpha_neg: c.alpha as f32,
            pos_margin: c.margin as f32,
            neg_margin: c.margin as f32,
            class_margins: None,
        };
        Ok(fused::pair_loss(
            l2_normalize(input.embeddings.clone()),
            &input.labels,
            Some((self.proxies.val(), classes)),
            true,
            kernel,
        ))
    }

    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        let c = &self.config;
        check_proxy_input(NAME, input, c.num_classes, c.embedding_size)?;
        let classes = c.num_classes;
        let sim = c.distance.matrix(input.embeddings.clone(), self.proxies.val()); // [n, C]
        let pos_logits = c.distance.margin_to(sim.clone(), c.margin).mul_scalar(c.alpha);
        let neg_logits = c.distance.margin_from(-c.margin, sim).mul_scalar(c.alpha);
        // Mined tuples weight the embeddings: log(w) added to their logits (nothing to add,
        // and two passes over [n, C] saved, when nothing was mined).
        let (pos_logits, neg_logits) = match &input.mined {
            Some(_) => {
                let shift = miner_weights(input, false).sub_scalar(1.0); // [n, 1]
                (pos_logits + shift.clone(), neg_logits + shift)
            }
            None => (pos_logits, neg_logits),
        };
        let (pos_term, neg_term, with_pos) =
            proxy_pos_neg_terms(pos_logits, neg_logits, &input.labels, classes);
        Ok(match c.reducer {
            None => vec![
                LossTerm::reduced("pos_loss", pos_term.sum() / with_pos.clamp_min(1.0)),
                LossTerm::reduced("neg_loss", neg_term.sum().div_scalar(classes as f64)),
            ],
            Some(_) => vec![
                LossTerm::dense("pos_loss", TermKind::Element, pos_term).per_class(),
                LossTerm::dense("neg_loss", TermKind::Element, neg_term).per_class(),
            ],
        })
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
            ProxyAnchorLossConfig::new(0, 4).init(&d),
            Err(LossError::InvalidConfig { field: "num_classes", .. })
        ));
        assert!(matches!(
            ProxyAnchorLossConfig::new(3, 0).init(&d),
            Err(LossError::InvalidConfig { field: "embedding_size", .. })
        ));
        assert!(matches!(
            ProxyAnchorLossConfig::new(3, 4).with_alpha(0.0).init(&d),
            Err(LossError::InvalidConfig { field: "alpha", .. })
        ));
        assert!(matches!(
            ProxyAnchorLossConfig::new(3, 4).with_margin(f64::NAN).init(&d),
            Err(LossError::InvalidConfig { field: "margin", .. })
        ));
        let wrong = Tensor::<2>::zeros([2, 4], &d);
        assert!(matches!(
            ProxyAnchorLossConfig::new(3, 4).init_with(wrong),
            Err(LossError::ShapeMismatch { .. })
        ));
    }

    #[test]
    fn rejects_out_of_range_labels() {
        let d = device();
        let loss = ProxyAnchorLossConfig::new(3, 2).init(&d).unwrap();
        let x = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0]], &d);
        let y = Tensor::<1, Int>::from_ints([0, 3], &d);
        assert!(matches!(
            loss.forward(x.clone(), y),
            Err(LossError::LabelOutOfRange { label: 3, num_classes: 3, .. })
        ));
        let y = Tensor::<1, Int>::from_ints([-1, 0], &d);
        assert!(matches!(
            loss.forward(x.clone(), y),
            Err(LossError::LabelOutOfRange { label: -1, .. })
        ));
        // Labels built from host values are checked from their recorded range, with the same
        // errors and the same value as the device-read path.
        for (labels, bad) in [([0i64, 3], 3i64), ([-1, 0], -1)] {
            let input = LossInput::from_host_labels(x.clone(), &labels);
            assert_eq!(input.host_label_range(), Some((labels[0].min(labels[1]), labels[1])));
            assert!(matches!(
                loss.forward_input(&input),
                Err(LossError::LabelOutOfRange { label, num_classes: 3, .. }) if label == bad
            ));
        }
        let host = LossInput::from_host_labels(x.clone(), &[2, 0]);
        let device = LossInput::new(x, Tensor::<1, Int>::from_ints([2, 0], &d));
        let (a, b) = (loss.forward_input(&host).unwrap(), loss.forward_input(&device).unwrap());
        assert_eq!(a.into_scalar::<f32>(), b.into_scalar::<f32>());
    }

    #[test]
    fn init_draws_kaiming_fan_out_proxies() {
        let d = device();
        let loss = ProxyAnchorLossConfig::new(8, 512).init(&d).unwrap();
        let p = loss.proxies.val();
        assert_eq!(p.dims(), [8, 512]);
        let var: f32 = p.square().mean().into_scalar();
        assert!((var - 0.25).abs() < 0.03, "variance {var}");
    }
}
