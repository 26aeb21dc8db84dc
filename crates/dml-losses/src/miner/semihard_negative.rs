use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Int, Tensor};

use super::{Mined, Miner, Triplets, all_pairs};
use crate::distance::Distance;
use crate::error::{LossResult, check_positive};

/// Fill value that no real distance or similarity reaches.
const FAR: f64 = 1e30;

/// Configuration of [`SemihardNegativeMiner`]; defaults follow the pytorch-online-metric-learning
/// seed (squared euclidean distance between normalized embeddings, margin 0.1).
#[derive(Config, Debug)]
pub struct SemihardNegativeMinerConfig {
    /// Width of the semi-hard band above the positive distance.
    #[config(default = 0.1)]
    pub margin: f64,
    /// How embeddings are compared.
    #[config(default = "Distance::squared_l2()")]
    pub distance: Distance,
}

/// FaceNet semi-hard negative mining (Schroff et al. 2015; the "semi-hard" strategy of
/// pytorch-online-metric-learning): for every anchor-positive pair `(a, p)` (`a != p`), the
/// triplet `(a, p, n*)` where `n*` is the closest negative of `a` inside the band
/// `d(a, p) < d(a, n) < d(a, p) + margin` (for a similarity, `s(a, p) - margin < s(a, n) <
/// s(a, p)`, the most similar such). Ties go to the lowest index.
///
/// A pair with no negative in the band gives no triplet (no fallback to the hardest negative,
/// as with PML's `TripletMarginMiner(type_of_triplets="semihard")`). The result is a dense
/// `[n, m, m]` triplet mask.
#[derive(Module, Debug)]
pub struct SemihardNegativeMiner {
    #[module(skip)]
    config: SemihardNegativeMinerConfig,
}

impl SemihardNegativeMinerConfig {
    /// Validates the configuration and builds the miner.
    pub fn init(&self) -> LossResult<SemihardNegativeMiner> {
        check_positive("SemihardNegativeMiner", "margin", self.margin)?;
        self.distance.validate("SemihardNegativeMiner")?;
        Ok(SemihardNegativeMiner { config: self.clone() })
    }
}

impl Miner for SemihardNegativeMiner {
    fn name(&self) -> &'static str {
        "SemihardNegativeMiner"
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
        let [n, m] = d.dims();
        let (pos, neg) = all_pairs(labels, ref_labels, same_set);
        let ap = d.clone().reshape([n, m, 1]).expand([n, m, m]);
        let an = d.reshape([n, 1, m]).expand([n, m, m]);
        let candidate = crate::miner::pair_product(&pos, &neg)
            * an.clone().greater(ap.clone()).float()
            * an.clone().lower(ap.add_scalar(c.margin)).float();
        let any = candidate.clone().sum_dim(2).greater_elem(0.0).float(); // [n, m, 1]
        let chosen = an.mask_fill(candidate.lower_equal_elem(0.0), FAR).argmin(2); // [n, m, 1]
        let range = Tensor::<1, Int>::arange(0..m as i64, &chosen.device())
            .reshape([1, 1, m])
            .expand([n, m, m]);
        let mask = range.equal(chosen.expand([n, m, m])).float() * any.expand([n, m, m]);
        Ok(Mined::Triplets(Triplets::Dense(mask)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::LossError;

    #[test]
    fn rejects_non_positive_margin() {
        for margin in [0.0, -0.1, f64::NAN] {
            let err = SemihardNegativeMinerConfig::new().with_margin(margin).init().unwrap_err();
            assert!(matches!(err, LossError::InvalidConfig { field: "margin", .. }));
        }
    }
}
