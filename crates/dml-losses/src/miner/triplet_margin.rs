use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Int, Tensor};
use serde::{Deserialize, Serialize};

use super::{Mined, Miner, Triplets, all_pairs, pair_product};
use crate::distance::Distance;
use crate::error::{LossResult, check_finite};

/// Which triplets a [`TripletMarginMiner`] keeps, by their margin `t = d(a, n) - d(a, p)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TripletType {
    /// Every triplet that violates the margin: `t <= margin`.
    All,
    /// Violating triplets whose negative is closer than the positive: `t <= 0`.
    Hard,
    /// Violating triplets whose negative is farther than the positive: `0 < t <= margin`.
    Semihard,
    /// Triplets that satisfy the margin: `t > margin`.
    Easy,
}

/// Configuration of [`TripletMarginMiner`]; defaults are PML's `TripletMarginMiner()`.
#[derive(Config, Debug)]
pub struct TripletMarginMinerConfig {
    /// The margin the triplets are measured against.
    #[config(default = 0.2)]
    pub margin: f64,
    /// Which triplets to keep.
    #[config(default = "TripletType::All")]
    pub type_of_triplets: TripletType,
    /// How embeddings are compared.
    #[config(default = "Distance::l2()")]
    pub distance: Distance,
}

/// Keeps the triplets whose margin falls in a band (PML's `TripletMarginMiner`).
///
/// The result is a dense `[n, m, m]` mask: 4 n m^2 bytes (268 MB at n = m = 256, 4.3 GB at
/// 1024). Above a few hundred embeddings use [`super::BatchHardMiner`] or a pair miner.
#[derive(Module, Debug)]
pub struct TripletMarginMiner {
    #[module(skip)]
    config: TripletMarginMinerConfig,
}

impl TripletMarginMinerConfig {
    /// Validates the configuration and builds the miner.
    pub fn init(&self) -> LossResult<TripletMarginMiner> {
        check_finite("TripletMarginMiner", "margin", self.margin)?;
        self.distance.validate("TripletMarginMiner")?;
        Ok(TripletMarginMiner { config: self.clone() })
    }
}

impl Miner for TripletMarginMiner {
    fn name(&self) -> &'static str {
        "TripletMarginMiner"
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
        let [n, m] = mat.dims();
        let (pos, neg) = all_pairs(labels, ref_labels, same_set);
        let ap = mat.clone().reshape([n, m, 1]).expand([n, m, m]);
        let an = mat.reshape([n, 1, m]).expand([n, m, m]);
        // t = an - ap for distances, ap - an for similarities.
        let t = c.distance.margin(an, ap);
        let keep = match c.type_of_triplets {
            TripletType::Easy => t.greater_elem(c.margin).float(),
            TripletType::All => t.lower_equal_elem(c.margin).float(),
            TripletType::Hard => t.lower_equal_elem(c.margin.min(0.0)).float(),
            TripletType::Semihard => {
                t.clone().lower_equal_elem(c.margin).float() * t.greater_elem(0.0).float()
            }
        };
        Ok(Mined::Triplets(Triplets::Dense(pair_product(&pos, &neg) * keep)))
    }
}
