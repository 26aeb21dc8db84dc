use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Int, Tensor};

use super::{Mined, Miner, all_pairs};
use crate::distance::Distance;
use crate::error::{LossResult, check_finite};

/// Fill value that no real distance or similarity reaches.
const FAR: f64 = 1e30;

/// Configuration of [`MultiSimilarityMiner`]; defaults are PML's `MultiSimilarityMiner()`.
#[derive(Config, Debug)]
pub struct MultiSimilarityMinerConfig {
    /// Slack added to the comparison with the hardest pair of the other kind.
    #[config(default = 0.1)]
    pub epsilon: f64,
    /// How embeddings are compared (PML's default for this miner is cosine similarity).
    #[config(default = "Distance::Cosine")]
    pub distance: Distance,
}

/// Pair mining of the multi-similarity loss (Wang et al. 2019, PML's `MultiSimilarityMiner`).
///
/// With similarities `S`, the positive pair `(a, p)` is kept when
/// `S_ap - epsilon < max_{n in N(a)} S_an` and the negative pair `(a, n)` when
/// `S_an + epsilon > min_{p in P(a)} S_ap` (with a distance the inequalities flip:
/// `d_ap + epsilon > min_n d_an`, `d_an - epsilon < max_p d_ap`). An anchor without negatives
/// keeps no positive pair, one without positives keeps no negative pair.
///
/// As in PML, a batch with no positive pair at all or no negative pair at all yields nothing.
#[derive(Module, Debug)]
pub struct MultiSimilarityMiner {
    #[module(skip)]
    config: MultiSimilarityMinerConfig,
}

impl MultiSimilarityMinerConfig {
    /// Validates the configuration and builds the miner.
    pub fn init(&self) -> LossResult<MultiSimilarityMiner> {
        check_finite("MultiSimilarityMiner", "epsilon", self.epsilon)?;
        self.distance.validate("MultiSimilarityMiner")?;
        Ok(MultiSimilarityMiner { config: self.clone() })
    }
}

impl Miner for MultiSimilarityMiner {
    fn name(&self) -> &'static str {
        "MultiSimilarityMiner"
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
        let d = c.distance.farness(mat);
        let (pos, neg) = all_pairs(labels, ref_labels, same_set);
        let neg_min = d.clone().mask_fill(neg.clone().lower_equal_elem(0.0), FAR).min_dim(1);
        let pos_max = d.clone().mask_fill(pos.clone().lower_equal_elem(0.0), -FAR).max_dim(1);
        let any = pos.clone().sum().greater_elem(0.0).float()
            * neg.clone().sum().greater_elem(0.0).float();
        let [n, m] = d.dims();
        let any = any.reshape([1, 1]).expand([n, m]);
        let hard_pos = d.clone().add_scalar(c.epsilon).greater(neg_min.expand([n, m])).float();
        let hard_neg = d.sub_scalar(c.epsilon).lower(pos_max.expand([n, m])).float();
        Ok(Mined::Pairs { positive: pos * hard_pos * any.clone(), negative: neg * hard_neg * any })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::LossError;

    #[test]
    fn rejects_non_finite_epsilon() {
        let err = MultiSimilarityMinerConfig::new().with_epsilon(f64::NAN).init().unwrap_err();
        assert!(matches!(err, LossError::InvalidConfig { field: "epsilon", .. }));
    }
}
