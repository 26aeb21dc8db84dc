use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Int, Tensor};

use super::{Mined, Miner, Triplets, all_pairs};
use crate::distance::Distance;
use crate::error::LossResult;

/// Fill value that no real distance or similarity reaches.
const FAR: f64 = 1e30;

/// Configuration of [`HardestNegativeMiner`]; defaults follow the pytorch-online-metric-learning
/// seed (squared euclidean distance between normalized embeddings).
#[derive(Config, Debug)]
pub struct HardestNegativeMinerConfig {
    /// How embeddings are compared.
    #[config(default = "Distance::squared_l2()")]
    pub distance: Distance,
}

/// FaceNet-style hardest-negative mining (Schroff et al. 2015; the "hardest" strategy of
/// pytorch-online-metric-learning): for every anchor-positive pair `(a, p)` (`a != p`), the
/// triplet `(a, p, n*)` with `n* = argmin_{n in N(a)} d(a, n)` (the most similar negative for a
/// similarity). Ties go to the lowest index. Anchors without a negative give no triplet.
///
/// The seed also pairs an anchor with itself as a positive; like PML, this miner does not.
/// The result is a dense `[n, m, m]` triplet mask.
#[derive(Module, Debug)]
pub struct HardestNegativeMiner {
    #[module(skip)]
    config: HardestNegativeMinerConfig,
}

impl HardestNegativeMinerConfig {
    /// Builds the miner.
    pub fn init(&self) -> LossResult<HardestNegativeMiner> {
        self.distance.validate("HardestNegativeMiner")?;
        Ok(HardestNegativeMiner { config: self.clone() })
    }
}

impl Miner for HardestNegativeMiner {
    fn name(&self) -> &'static str {
        "HardestNegativeMiner"
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
        let has_neg = neg.clone().sum_dim(1).greater_elem(0.0).float(); // [n, 1]
        let hardest = d.mask_fill(neg.lower_equal_elem(0.0), FAR).argmin(1).reshape([n]);
        let one_hot = crate::ops::one_hot(&hardest, m).float() * has_neg; // [n, m]
        let mask =
            pos.reshape([n, m, 1]).expand([n, m, m]) * one_hot.reshape([n, 1, m]).expand([n, m, m]);
        Ok(Mined::Triplets(Triplets::Dense(mask)))
    }
}
