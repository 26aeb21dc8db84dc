use burn::config::Config;
use burn::module::Module;

use super::pair_util::pair_gate;
use super::{LossInput, MetricLoss};
use crate::distance::Distance;
use crate::error::{LossResult, check_finite};
use crate::ops::{masked_logsumexp, relu};
use crate::reducer::{LossTerm, Reducer, TermKind};

/// Configuration of [`GeneralizedLiftedStructureLoss`]; defaults are PML's
/// `GeneralizedLiftedStructureLoss()`.
#[derive(Config, Debug)]
pub struct GeneralizedLiftedStructureLossConfig {
    /// Negative pairs farther than this cost nothing.
    #[config(default = 1.0)]
    pub neg_margin: f64,
    /// Positive pairs closer than this cost nothing.
    #[config(default = 0.0)]
    pub pos_margin: f64,
    /// How embeddings are compared.
    #[config(default = "Distance::l2()")]
    pub distance: Distance,
    /// How the per-anchor values are reduced.
    #[config(default = "Reducer::Mean")]
    pub reducer: Reducer,
}

/// Generalized lifted structure loss (Hermans et al., "In Defense of the Triplet Loss for
/// Person Re-Identification", 2017, page 4; PML's `GeneralizedLiftedStructureLoss`).
///
/// Per anchor `i`:
/// `L_i = [ log sum_{p in P_i} exp(d_ip - m_pos) + log sum_{n in N_i} exp(m_neg - d_in) ]+`
/// (with a similarity the signs flip); an empty set contributes 0. Mined pairs are taken as a
/// 0/1 mask. One value per anchor, reduced by the mean by default.
#[derive(Module, Debug)]
pub struct GeneralizedLiftedStructureLoss {
    #[module(skip)]
    config: GeneralizedLiftedStructureLossConfig,
}

impl GeneralizedLiftedStructureLossConfig {
    /// Validates the configuration and builds the loss.
    pub fn init(&self) -> LossResult<GeneralizedLiftedStructureLoss> {
        check_finite("GeneralizedLiftedStructureLoss", "neg_margin", self.neg_margin)?;
        check_finite("GeneralizedLiftedStructureLoss", "pos_margin", self.pos_margin)?;
        self.distance.validate("GeneralizedLiftedStructureLoss")?;
        self.reducer.validate()?;
        Ok(GeneralizedLiftedStructureLoss { config: self.clone() })
    }
}

impl MetricLoss for GeneralizedLiftedStructureLoss {
    fn name(&self) -> &'static str {
        "GeneralizedLiftedStructureLoss"
    }

    fn reducer(&self) -> Reducer {
        self.config.reducer.clone()
    }

    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        let c = &self.config;
        let mat = c.distance.matrix(input.embeddings.clone(), input.ref_embeddings());
        let n = mat.dims()[0];
        let (pos, neg) = input.pair_masks();
        let gate = pair_gate(&pos, &neg);
        let remaining_pos = c.distance.margin_to(mat.clone(), c.pos_margin);
        let remaining_neg = c.distance.margin_from(c.neg_margin, mat);
        let pos_loss = masked_logsumexp(remaining_pos, pos.greater_elem(0.0), false);
        let neg_loss = masked_logsumexp(remaining_neg, neg.greater_elem(0.0), false);
        let loss = (relu(pos_loss + neg_loss) * gate).reshape([n]);
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
            GeneralizedLiftedStructureLossConfig::new().with_neg_margin(f64::NAN),
            GeneralizedLiftedStructureLossConfig::new().with_pos_margin(f64::NEG_INFINITY),
        ];
        for config in bad {
            assert!(matches!(config.init(), Err(LossError::InvalidConfig { .. })));
        }
        assert!(GeneralizedLiftedStructureLossConfig::new().init().is_ok());
    }
}
