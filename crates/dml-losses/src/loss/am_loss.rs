use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Int, Tensor};

use super::classification::{check_class_counts, normal_matrix};
use super::proxy_common::{check_given_proxies, check_proxy_input, proxy_pos_neg_terms};
use super::{LossInput, MetricLoss};
use crate::error::{LossError, LossResult, check_finite, check_positive, invalid};
use crate::fused::{self, PairKernel};
use crate::ops::{l2_normalize, masked_logsumexp, off_diagonal};
use crate::reducer::{LossTerm, Reducer};

const NAME: &str = "AMLoss";

/// Configuration of [`AMLoss`]; defaults are those of `AMLoss` in the Learnable Dynamic Margin
/// repository (wyfan714/LDM): `mrg = 0.1, alphap = alphan = 32, delta = 0.1, lam = 1`.
#[derive(Config, Debug)]
pub struct AMLossConfig {
    /// Number of classes `C` (one proxy and one margin each).
    pub num_classes: usize,
    /// Embedding size `d`.
    pub embedding_size: usize,
    /// Scale `alpha_p` of the positive term (LDM's `alphap`).
    #[config(default = 32.0)]
    pub alpha_pos: f64,
    /// Scale `alpha_n` of the negative term (LDM's `alphan`).
    #[config(default = 32.0)]
    pub alpha_neg: f64,
    /// Fixed negative margin `delta` (LDM's `mrg`).
    #[config(default = 0.1)]
    pub neg_margin: f64,
    /// Initial value of every learnable positive margin `m_c` (LDM's `mrg`).
    #[config(default = 0.1)]
    pub init_margin: f64,
    /// Offset `Delta` in the proxy-to-proxy term (LDM's `delta`).
    #[config(default = 0.1)]
    pub proxy_margin_delta: f64,
    /// Weight `lambda` of the proxy-to-proxy term (LDM's `lam`).
    #[config(default = 1.0)]
    pub proxy_weight: f64,
}

/// Learnable Dynamic Margin loss (Wang et al., "Learnable dynamic margin in deep metric
/// learning", Pattern Recognition 132, 2022; `AMLoss` in github.com/wyfan714/LDM): Proxy Anchor
/// with one learnable positive margin per class and a proxy-to-proxy term.
///
/// With `cos` the cosine similarity, `P+` the classes present in the batch, `X_c` the embeddings
/// of class `c`, `p_c` the proxies and `m_c` the learnable margins:
///
/// `pos_loss = (1/|P+|) sum_{c in P+} log(1 + sum_{x in X_c} exp(-alpha_p (cos(x, p_c) - m_c)))`
///
/// `neg_loss = (1/C) sum_c log(1 + sum_{x not in X_c} exp(alpha_n (cos(x, p_c) + delta)))`
///
/// `proxy_loss = lambda (1/C) sum_c log(1 + sum_{c' != c} exp(cos(p_c, p_c') - m_c + Delta))`
///
/// and the loss is their sum (all three are already reduced; the reducer does not apply). A
/// class with no positive (or no negative) adds 0 to that sub-loss; with one class the proxy
/// term is 0.
#[derive(Module, Debug)]
pub struct AMLoss {
    /// The learnable class proxies.
    ///
    /// # Shapes
    /// - `[num_classes, embedding_size]`
    pub proxies: Param<Tensor<2>>,
    /// The learnable per-class positive margins `m_c` (LDM trains them with their own
    /// optimizer).
    ///
    /// # Shapes
    /// - `[num_classes]`
    pub margins: Param<Tensor<1>>,
    #[module(skip)]
    config: AMLossConfig,
}

impl AMLossConfig {
    /// Checks every field without building the loss (no random draws).
    pub fn validate(&self) -> LossResult<()> {
        check_class_counts(NAME, self.num_classes, self.embedding_size)?;
        check_positive(NAME, "alpha_pos", self.alpha_pos)?;
        check_positive(NAME, "alpha_neg", self.alpha_neg)?;
        check_finite(NAME, "neg_margin", self.neg_margin)?;
        check_finite(NAME, "init_margin", self.init_margin)?;
        check_finite(NAME, "proxy_margin_delta", self.proxy_margin_delta)?;
        if !(self.proxy_weight.is_finite() && self.proxy_weight >= 0.0) {
            return Err(invalid(
                NAME,
                "proxy_weight",
                format!("must be finite and >= 0, got {}", self.proxy_weight),
            ));
        }
        Ok(())
    }

    /// Validates the configuration and builds the loss as LDM does: proxies from
    /// `kaiming_normal_(mode="fan_out")`, i.e. `N(0, 2 / num_classes)`, and every margin equal
    /// to `init_margin`.
    pub fn init(&self, device: &Device) -> LossResult<AMLoss> {
        self.validate()?;
        let std = (2.0 / self.num_classes as f64).sqrt();
        let proxies = normal_matrix([self.num_classes, self.embedding_size], std, device);
        self.init_with_proxies(proxies)
    }

    /// Validates the configuration and builds the loss with the given proxies and every margin
    /// equal to `init_margin`.
    ///
    /// # Shapes
    /// - `proxies`: `[num_classes, embedding_size]`
    pub fn init_with_proxies(&self, proxies: Tensor<2>) -> LossResult<AMLoss> {
        let margins = Tensor::<1>::full([self.num_classes], self.init_margin, &proxies.device());
        self.init_with(proxies, margins)
    }

    /// Validates the configuration and builds the loss with the given proxies and margins.
    ///
    /// # Shapes
    /// - `proxies`: `[num_classes, embedding_size]`
    /// - `margins`: `[num_classes]`
    pub fn init_with(&self, proxies: Tensor<2>, margins: Tensor<1>) -> LossResult<AMLoss> {
        self.validate()?;
        check_given_proxies(NAME, &proxies, self.num_classes, self.embedding_size)?;
        let [k] = margins.dims();
        if k != self.num_classes {
            return Err(LossError::ShapeMismatch {
                component: NAME,
                detail: format!("{k} margins, expected {}", self.num_classes),
            });
        }
        Ok(AMLoss {
            proxies: Param::from_tensor(proxies),
            margins: Param::from_tensor(margins),
            config: self.clone(),
        })
    }
}

impl AMLoss {
    /// The configuration the loss was built with.
    pub fn config(&self) -> &AMLossConfig {
        &self.config
    }
}

impl MetricLoss for AMLoss {
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
        // Every term is already reduced; reducers pass such terms through.
        Reducer::Sum
    }

    /// The proxies, `[C, d]`.
    fn class_weights(&self) -> Option<super::ClassWeights> {
        Some(super::ClassWeights::per_class(self.proxies.val()))
    }

    /// The fused kernels on a device that has them: the embedding-to-proxy terms as
    /// ProxyAnchor's kernel with per-class margins, the proxy term on the proxies' own
    /// similarities; each returns the gradient of its margins, attached to the margins
    /// parameter as `(m - detach(m)) . dL/dm` (zero in value).
    fn fused_forward(&self, input: &LossInput) -> LossResult<Option<Tensor<1>>> {
        let c = &self.config;
        if input.mined.is_some() || !fused::available(&input.embeddings) {
            return Ok(None);
        }
        check_proxy_input(NAME, input, c.num_classes, c.embedding_size)?;
        let device = input.embeddings.device();
        let classes = Tensor::<1, Int>::arange(0..c.num_classes as i64, &device);
        let m = self.margins.val();
        let Ok(margins) = m.to_data().convert::<f32>().try_into_vec::<f32>() else {
            return Ok(None);
        };
        let kernel = PairKernel::ProxyAnchor {
            alpha_pos: c.alpha_pos as f32,
            alpha_neg: c.alpha_neg as f32,
            pos_margin: 0.0,
            neg_margin: c.neg_margin as f32,
            class_margins: Some(margins.clone()),
        };
        let x = l2_normalize(input.embeddings.clone());
        let reference = Some((self.proxies.val(), classes.clone()));
        let Some((mut loss, mut margin_grad)) =
            fused::pair_loss_with_margins(x, &input.labels, reference, true, kernel)
        else {
            return Ok(None);
        };
        if c.proxy_weight != 0.0 {
            let spread = PairKernel::ProxySpread {
                class_margins: margins,
                delta: c.proxy_margin_delta as f32,
                weight: c.proxy_weight as f32,
            };
            let p = l2_normalize(self.proxies.val());
            let Some((proxy_loss, proxy_grad)) =
                fused::pair_loss_with_margins(p, &classes, None, false, spread)
            else {
                return Ok(None);
            };
            loss = loss + proxy_loss;
            margin_grad = margin_grad + proxy_grad;
        }
        let attach = ((m.clone() - m.detach()) * margin_grad).sum();
        Ok(Some(loss + attach))
    }

    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        let c = &self.config;
        check_proxy_input(NAME, input, c.num_classes, c.embedding_size)?;
        if input.mined.is_some() {
            return Err(LossError::Unsupported {
                component: NAME,
                detail: "mined pairs or triplets (AMLoss uses every embedding)".into(),
            });
        }
        let classes = c.num_classes;
        let device = input.embeddings.device();
        let x = l2_normalize(input.embeddings.clone());
        let p = l2_normalize(self.proxies.val());
        let m = self.margins.val();
        let cos = x.matmul(p.clone().transpose()); // [n, C]
        let pos_logits = (cos.clone() - m.clone().reshape([1, classes])).mul_scalar(-c.alpha_pos);
        let neg_logits = cos.add_scalar(c.neg_margin).mul_scalar(c.alpha_neg);
        let (pos_term, neg_term, with_pos) =
            proxy_pos_neg_terms(pos_logits, neg_logits, &input.labels, classes);
        let proxy_cos = p.clone().matmul(p.transpose()); // [C, C]
        let proxy_logits = (proxy_cos - m.reshape([classes, 1])).add_scalar(c.proxy_margin_delta);
        let proxy_term =
            masked_logsumexp(proxy_logits, off_diagonal(classes, classes, &device), true);
        let per_class = classes as f64;
        Ok(vec![
            LossTerm::reduced("pos_loss", pos_term.sum() / with_pos.clamp_min(1.0)),
            LossTerm::reduced("neg_loss", neg_term.sum().div_scalar(per_class)),
            LossTerm::reduced(
                "proxy_loss",
                proxy_term.sum().mul_scalar(c.proxy_weight / per_class),
            ),
        ])
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Int;

    use super::*;

    fn device() -> Device {
        Device::flex().autodiff()
    }

    fn field_of(r: LossResult<AMLoss>) -> &'static str {
        match r {
            Err(LossError::InvalidConfig { field, .. }) => field,
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }

    #[test]
    fn rejects_bad_config() {
        let d = device();
        assert_eq!(field_of(AMLossConfig::new(0, 4).init(&d)), "num_classes");
        assert_eq!(field_of(AMLossConfig::new(3, 0).init(&d)), "embedding_size");
        assert_eq!(field_of(AMLossConfig::new(3, 4).with_alpha_pos(0.0).init(&d)), "alpha_pos");
        assert_eq!(field_of(AMLossConfig::new(3, 4).with_alpha_neg(-2.0).init(&d)), "alpha_neg");
        assert_eq!(
            field_of(AMLossConfig::new(3, 4).with_proxy_weight(-1.0).init(&d)),
            "proxy_weight"
        );
        assert_eq!(
            field_of(AMLossConfig::new(3, 4).with_neg_margin(f64::INFINITY).init(&d)),
            "neg_margin"
        );
        let p = Tensor::<2>::zeros([3, 4], &d);
        let m = Tensor::<1>::zeros([2], &d);
        assert!(matches!(
            AMLossConfig::new(3, 4).init_with(p, m),
            Err(LossError::ShapeMismatch { .. })
        ));
    }

    #[test]
    fn rejects_out_of_range_labels() {
        let d = device();
        let loss = AMLossConfig::new(2, 2).init(&d).unwrap();
        let x = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0]], &d);
        let y = Tensor::<1, Int>::from_ints([1, 5], &d);
        assert!(matches!(
            loss.forward(x, y),
            Err(LossError::LabelOutOfRange { label: 5, num_classes: 2, .. })
        ));
    }

    #[test]
    fn margins_start_at_init_margin_and_get_gradients() {
        let d = device();
        let loss = AMLossConfig::new(3, 2).with_init_margin(0.25).init(&d).unwrap();
        let m: Vec<f32> = loss.margins.val().to_data().try_to_vec::<f32>().unwrap();
        assert_eq!(m, vec![0.25; 3]);
        let x = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0]], &d).require_grad();
        let y = Tensor::<1, Int>::from_ints([0, 1], &d);
        let v = loss.forward(x, y).unwrap();
        let grads = v.backward();
        assert!(loss.margins.val().grad(&grads).is_some());
        assert!(loss.proxies.val().grad(&grads).is_some());
    }
}
