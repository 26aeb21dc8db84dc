use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Int, Tensor};

use super::{Mined, Miner, all_pairs};
use crate::distance::Distance;
use crate::error::{LossResult, check_finite};

/// Configuration of [`PairMarginMiner`]; defaults are PML's `PairMarginMiner()`.
#[derive(Config, Debug)]
pub struct PairMarginMinerConfig {
    /// Positive pairs farther than this (less similar, for a similarity) are kept.
    #[config(default = 0.2)]
    pub pos_margin: f64,
    /// Negative pairs closer than this (more similar, for a similarity) are kept.
    #[config(default = 0.8)]
    pub neg_margin: f64,
    /// How embeddings are compared.
    #[config(default = "Distance::l2()")]
    pub distance: Distance,
}

/// Keeps the pairs that violate a margin (PML's `PairMarginMiner`): positive pairs with
/// `d(a, p) > pos_margin` and negative pairs with `d(a, n) < neg_margin` (with a similarity:
/// `s(a, p) < pos_margin`, `s(a, n) > neg_margin`).
#[derive(Module, Debug)]
pub struct PairMarginMiner {
    #[module(skip)]
    config: PairMarginMinerConfig,
}

impl PairMarginMinerConfig {
    /// Validates the configuration and builds the miner.
    pub fn init(&self) -> LossResult<PairMarginMiner> {
        check_finite("PairMarginMiner", "pos_margin", self.pos_margin)?;
        check_finite("PairMarginMiner", "neg_margin", self.neg_margin)?;
        self.distance.validate("PairMarginMiner")?;
        Ok(PairMarginMiner { config: self.clone() })
    }
}

impl Miner for PairMarginMiner {
    fn name(&self) -> &'static str {
        "PairMarginMiner"
    }

    fn mine_against(
        &self,
        embeddings: Tensor<2>,
        labels: &Tensor<1, Int>,
        ref_embeddings: Tensor<2>,
        ref_labels: &Tensor<1, Int>,
        same_set: bool,
    ) -> LossResult<Mined> {
        let c = &self.config;
        let mat = c.distance.matrix(embeddings, ref_embeddings);
        let (pos, neg) = all_pairs(labels, ref_labels, same_set);
        let (keep_pos, keep_neg) = if c.distance.is_inverted() {
            (mat.clone().lower_elem(c.pos_margin), mat.greater_elem(c.neg_margin))
        } else {
            (mat.clone().greater_elem(c.pos_margin), mat.lower_elem(c.neg_margin))
        };
        Ok(Mined::Pairs { positive: pos * keep_pos.float(), negative: neg * keep_neg.float() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::LossError;

    #[test]
    fn rejects_non_finite_margins() {
        let err = PairMarginMinerConfig::new().with_pos_margin(f64::NAN).init().unwrap_err();
        assert!(matches!(err, LossError::InvalidConfig { field: "pos_margin", .. }));
        let err = PairMarginMinerConfig::new().with_neg_margin(f64::INFINITY).init().unwrap_err();
        assert!(matches!(err, LossError::InvalidConfig { field: "neg_margin", .. }));
    }
}
