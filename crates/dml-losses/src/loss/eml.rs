use burn::config::Config;
use burn::module::Module;

use super::{LossInput, MetricLoss};
use crate::distance::Distance;
use crate::error::{LossError, LossResult, check_positive};
use crate::ops::{masked_logsumexp, softplus};
use crate::reducer::{LossTerm, Reducer, TermKind};

/// Configuration of [`EmlLoss`]; defaults are PaddlePaddle's `EmlLoss` (`beta = 1e5`, mean over
/// anchors).
#[derive(Config, Debug)]
pub struct EmlLossConfig {
    /// Sharpness of the surrogate `log(1 + beta x) / log(1 + beta)`.
    #[config(default = 100000.0)]
    pub beta: f64,
    /// How the per-anchor values are reduced.
    #[config(default = "Reducer::Mean")]
    pub reducer: Reducer,
}

/// Expected metric loss of PaddlePaddle's metric-learning example (`emlloss.py`; after
/// "Expected metric learning", Law et al., arXiv 1212.6094).
///
/// With `d` the squared euclidean distance between the raw (unnormalized) embeddings, for each
/// anchor `i`:
///
/// `L_i = log(1 + beta * mean_{p in P(i)} exp(d_ip) * mean_{n in N(i)} exp(-d_in)) / log(1 + beta)`
///
/// where `P(i)` are the other embeddings with the label of `i` and `N(i)` those with another
/// label. It is evaluated in log space, `L_i = softplus(log beta + LSE_p(d_ip) - log|P(i)| +
/// LSE_n(-d_in) - log|N(i)|) / log(1 + beta)`, so large distances never overflow (Paddle splits
/// the same function piecewise at a threshold of 20 and uses a first-order approximation
/// beyond it; this is the exact function). Anchors without a positive or without a negative are
/// left out of the reduction (weight 0); with none left the loss is 0, graph connected.
#[derive(Module, Debug)]
pub struct EmlLoss {
    #[module(skip)]
    config: EmlLossConfig,
}

impl EmlLossConfig {
    /// Validates the configuration and builds the loss.
    pub fn init(&self) -> LossResult<EmlLoss> {
        check_positive("EmlLoss", "beta", self.beta)?;
        self.reducer.validate()?;
        Ok(EmlLoss { config: self.clone() })
    }
}

impl MetricLoss for EmlLoss {
    fn name(&self) -> &'static str {
        "EmlLoss"
    }

    fn accepts_mined(&self) -> bool {
        false
    }

    fn reducer(&self) -> Reducer {
        self.config.reducer.clone()
    }

    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        if input.mined.is_some() {
            return Err(LossError::Unsupported {
                component: self.name(),
                detail: "the loss uses every pair of an anchor; do not pass mined pairs".into(),
            });
        }
        let beta = self.config.beta;
        let distance = Distance::euclidean(false, 2.0);
        let mat = distance.matrix(input.embeddings.clone(), input.ref_embeddings());
        let n = mat.dims()[0];
        let (pos, neg) = input.pair_masks();
        let pos_keep = pos.clone().greater_elem(0.0);
        let neg_keep = neg.clone().greater_elem(0.0);
        let pos_count = pos_keep.clone().float().sum_dim(1);
        let neg_count = neg_keep.clone().float().sum_dim(1);
        let valid = pos_count.clone().greater_elem(0.0).float()
            * neg_count.clone().greater_elem(0.0).float();
        let lse_pos = masked_logsumexp(mat.clone(), pos_keep, false);
        let lse_neg = masked_logsumexp(mat.neg(), neg_keep, false);
        let z = lse_pos + lse_neg - pos_count.clamp_min(1.0).log() - neg_count.clamp_min(1.0).log();
        let loss = softplus(z.add_scalar(beta.ln())).div_scalar(beta.ln_1p());
        Ok(vec![LossTerm::masked("loss", TermKind::Element, loss.reshape([n]), valid.reshape([n]))])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_positive_beta() {
        for beta in [0.0, -1.0, f64::INFINITY] {
            let err = EmlLossConfig::new().with_beta(beta).init().unwrap_err();
            assert!(matches!(err, LossError::InvalidConfig { field: "beta", .. }));
        }
    }
}
