use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Int, Tensor};

use super::{Mined, Miner, all_pairs};
use crate::distance::Distance;
use crate::error::{LossResult, invalid};

/// Fill value that no real distance or similarity reaches.
const FAR: f64 = 1e30;

/// Configuration of [`HDCMiner`]; defaults are PML's `HDCMiner()`.
#[derive(Config, Debug)]
pub struct HDCMinerConfig {
    /// Fraction of the positive pairs and of the negative pairs kept, in `[0, 1]`.
    #[config(default = 0.5)]
    pub filter_percentage: f64,
    /// How embeddings are compared.
    #[config(default = "Distance::l2()")]
    pub distance: Distance,
}

/// Hard pair mining of Hard-Aware Deeply Cascaded Embedding (Yuan et al., ICCV 2017; PML's
/// `HDCMiner`): of all positive pairs of the batch, the `ceil(p * #positive)` farthest; of all
/// negative pairs, the `ceil(p * #negative)` closest (`p = filter_percentage`, over the whole
/// batch, not per anchor). Among pairs tied at the cut, which ones are kept is unspecified, as
/// in PML's `torch.topk`.
#[derive(Module, Debug)]
pub struct HDCMiner {
    #[module(skip)]
    config: HDCMinerConfig,
}

impl HDCMinerConfig {
    /// Validates the configuration and builds the miner.
    pub fn init(&self) -> LossResult<HDCMiner> {
        let p = self.filter_percentage;
        if !(0.0..=1.0).contains(&p) {
            return Err(invalid("HDCMiner", "filter_percentage", format!("{p} is not in [0, 1]")));
        }
        self.distance.validate("HDCMiner")?;
        Ok(HDCMiner { config: self.clone() })
    }
}

/// Keeps the `ceil(fraction * count)` entries of `valid` with the largest `score`, computed on
/// the device (ranks from a sort, no read-back).
fn keep_largest(score: Tensor<2>, valid: Tensor<2>, fraction: f64) -> Tensor<2> {
    let [n, m] = score.dims();
    let flat = score.mask_fill(valid.clone().lower_equal_elem(0.0), -FAR).reshape([n * m]);
    let order = flat.argsort_descending(0);
    // The inverse permutation: the rank of every entry.
    let rank = order.argsort(0).float().reshape([n, m]);
    // rank < ceil(x) for an integer rank is rank < x.
    let cut = valid.clone().sum().mul_scalar(fraction).reshape([1, 1]).expand([n, m]);
    valid * rank.lower(cut).float()
}

impl Miner for HDCMiner {
    fn name(&self) -> &'static str {
        "HDCMiner"
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
        let far = c.distance.farness(c.distance.matrix(embeddings, ref_embeddings));
        let (pos, neg) = all_pairs(labels, ref_labels, same_set);
        let positive = keep_largest(far.clone(), pos, c.filter_percentage);
        let negative = keep_largest(far.neg(), neg, c.filter_percentage);
        Ok(Mined::Pairs { positive, negative })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::LossError;

    #[test]
    fn rejects_a_fraction_outside_0_1() {
        for p in [1.5, -0.1, f64::NAN] {
            let err = HDCMinerConfig::new().with_filter_percentage(p).init().unwrap_err();
            assert!(matches!(err, LossError::InvalidConfig { field: "filter_percentage", .. }));
        }
    }
}
