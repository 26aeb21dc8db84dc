use burn::config::Config;
use burn::module::Module;

use super::pair_util::{pair_gate, row_any};
use super::{LossInput, MetricLoss};
use crate::distance::Distance;
use crate::error::{LossResult, check_finite, check_positive};
use crate::ops::{masked_logsumexp, relu, softplus};
use crate::reducer::{LossTerm, Reducer, TermKind};

/// Configuration of [`CircleLoss`]; defaults are PML's `CircleLoss()` (the paper's setting for
/// fine-grained image retrieval).
#[derive(Config, Debug)]
pub struct CircleLossConfig {
    /// Relaxation factor `m`: optima `O_p = 1 + m`, `O_n = -m`, margins `Delta_p = 1 - m`,
    /// `Delta_n = m`.
    #[config(default = 0.4)]
    pub m: f64,
    /// Scale factor `gamma`.
    #[config(default = 80.0)]
    pub gamma: f64,
    /// How the per-anchor values are reduced.
    #[config(default = "Reducer::AvgNonZero")]
    pub reducer: Reducer,
}

/// Circle loss for pair labels (Sun et al., "Circle Loss: A Unified Perspective of Pair
/// Similarity Optimization", CVPR 2020; PML's `CircleLoss`), always on cosine similarity.
///
/// Per anchor `i`, with `s` the cosine similarity and `[x]+ = max(x, 0)` taken on detached
/// values:
/// `L_i = softplus( log sum_{p in P_i} exp(-gamma [1 + m - s_ip]+ (s_ip - (1 - m)))
///                + log sum_{n in N_i} exp( gamma [s_in + m]+ (s_in - m)) )`.
/// Anchors without a positive or without a negative get 0; mined pairs are taken as a 0/1
/// mask. One value per anchor, reduced by the average over non-zero values by default.
#[derive(Module, Debug)]
pub struct CircleLoss {
    #[module(skip)]
    config: CircleLossConfig,
}

impl CircleLossConfig {
    /// Validates the configuration and builds the loss.
    pub fn init(&self) -> LossResult<CircleLoss> {
        check_finite("CircleLoss", "m", self.m)?;
        check_positive("CircleLoss", "gamma", self.gamma)?;
        self.reducer.validate()?;
        Ok(CircleLoss { config: self.clone() })
    }
}

impl MetricLoss for CircleLoss {
    fn name(&self) -> &'static str {
        "CircleLoss"
    }

    fn reducer(&self) -> Reducer {
        self.config.reducer.clone()
    }

    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        let c = &self.config;
        let mat = Distance::Cosine.matrix(input.embeddings.clone(), input.ref_embeddings());
        let n = mat.dims()[0];
        let (pos, neg) = input.pair_masks();
        let gate = pair_gate(&pos, &neg);
        let detached = mat.clone().detach();
        let alpha_p = relu(detached.clone().neg().add_scalar(1.0 + c.m));
        let alpha_n = relu(detached.add_scalar(c.m));
        let pos_logit = (alpha_p * mat.clone().sub_scalar(1.0 - c.m)).mul_scalar(-c.gamma);
        let neg_logit = (alpha_n * mat.sub_scalar(c.m)).mul_scalar(c.gamma);
        let lse_pos = masked_logsumexp(pos_logit, pos.clone().greater_elem(0.0), false);
        let lse_neg = masked_logsumexp(neg_logit, neg.clone().greater_elem(0.0), false);
        let keep_row = row_any(&pos).bool_and(row_any(&neg)).float();
        let loss = (softplus(lse_pos + lse_neg) * keep_row * gate).reshape([n]);
        Ok(vec![LossTerm::dense("loss", TermKind::Element, loss)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::LossError;

    #[test]
    fn rejects_bad_config() {
        let bad = [
            CircleLossConfig::new().with_gamma(0.0),
            CircleLossConfig::new().with_gamma(f64::INFINITY),
            CircleLossConfig::new().with_m(f64::NAN),
        ];
        for config in bad {
            assert!(matches!(config.init(), Err(LossError::InvalidConfig { .. })));
        }
        assert!(CircleLossConfig::new().init().is_ok());
    }
}
