use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Bool, Int, Tensor};
use serde::{Deserialize, Serialize};

use super::{Mined, Miner, all_pairs};
use crate::distance::Distance;
use crate::error::{LossResult, invalid};
use crate::ops::one_hot;

/// Fill value that no real distance or similarity reaches.
const FAR: f64 = 1e30;

/// How a [`BatchEasyHardMiner`] picks the positive or the negative of each anchor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BatchMiningStrategy {
    /// The hardest one: the farthest positive, the closest negative.
    Hard,
    /// The hardest one that is still easier than the anchor's pick of the other kind: the
    /// farthest positive closer than the chosen negative, or the closest negative farther than
    /// the chosen positive.
    Semihard,
    /// The easiest one: the closest positive, the farthest negative.
    Easy,
    /// Every pair of that kind (no per-anchor choice).
    All,
}

/// Configuration of [`BatchEasyHardMiner`]; defaults are PML's `BatchEasyHardMiner()`.
#[derive(Config, Debug)]
pub struct BatchEasyHardMinerConfig {
    /// How the positive of each anchor is chosen.
    #[config(default = "BatchMiningStrategy::Easy")]
    pub pos_strategy: BatchMiningStrategy,
    /// How the negative of each anchor is chosen.
    #[config(default = "BatchMiningStrategy::Semihard")]
    pub neg_strategy: BatchMiningStrategy,
    /// Only positive pairs whose distance (or similarity) lies in `[low, high]` can be chosen
    /// (`None`: any); not applied under [`BatchMiningStrategy::All`], as in PML.
    #[config(default = "None")]
    pub allowed_pos_range: Option<[f64; 2]>,
    /// Only negative pairs whose distance (or similarity) lies in `[low, high]` can be chosen
    /// (`None`: any); not applied under [`BatchMiningStrategy::All`], as in PML.
    #[config(default = "None")]
    pub allowed_neg_range: Option<[f64; 2]>,
    /// How embeddings are compared.
    #[config(default = "Distance::l2()")]
    pub distance: Distance,
}

/// One positive and one negative per anchor, each the easiest, the hardest or the semi-hard one
/// (PML's `BatchEasyHardMiner`, after Xuan et al., "Improved Embeddings with Easy Positive
/// Triplet Mining", WACV 2020); [`BatchMiningStrategy::All`] keeps every pair of that kind.
///
/// An anchor keeps its pair(s) only when both of its choices exist (a positive and a negative
/// that pass the allowed ranges and, for the semi-hard side, the threshold set by the other
/// side's choice). The result is PML's 4-tuple as pair masks: a pair loss uses the pairs, a
/// triplet loss the one triplet per anchor they form.
#[derive(Module, Debug)]
pub struct BatchEasyHardMiner {
    #[module(skip)]
    config: BatchEasyHardMinerConfig,
}

impl BatchEasyHardMinerConfig {
    /// Validates the configuration and builds the miner.
    pub fn init(&self) -> LossResult<BatchEasyHardMiner> {
        use BatchMiningStrategy::{All, Semihard};
        const NAME: &str = "BatchEasyHardMiner";
        match (self.pos_strategy, self.neg_strategy) {
            (Semihard, Semihard) => {
                return Err(invalid(
                    NAME,
                    "neg_strategy",
                    "cannot be Semihard when pos_strategy is",
                ));
            }
            (All, Semihard) => {
                return Err(invalid(NAME, "neg_strategy", "Semihard cannot be used with All"));
            }
            (Semihard, All) => {
                return Err(invalid(NAME, "pos_strategy", "Semihard cannot be used with All"));
            }
            _ => {}
        }
        for (field, range) in [
            ("allowed_pos_range", self.allowed_pos_range),
            ("allowed_neg_range", self.allowed_neg_range),
        ] {
            if let Some([low, high]) = range
                && (low.is_nan() || high.is_nan() || low > high)
            {
                return Err(invalid(NAME, field, format!("[{low}, {high}] is not a range")));
            }
        }
        self.distance.validate(NAME)?;
        Ok(BatchEasyHardMiner { config: self.clone() })
    }
}

/// Which end of a row of distances a choice takes.
#[derive(Clone, Copy)]
enum End {
    Nearest,
    Farthest,
}

/// Per row of the distance-like `far` (larger is farther): the index and value of the nearest
/// or farthest allowed entry, and whether the row has one. With `threshold`, only entries
/// beyond it (farther than it for `Nearest`, nearer for `Farthest`) are allowed.
fn pick(
    far: &Tensor<2>,
    allowed: Tensor<2, Bool>,
    end: End,
    threshold: Option<&Tensor<2>>,
) -> (Tensor<1, Int>, Tensor<2>, Tensor<1>) {
    let [n, m] = far.dims();
    let mut allowed = allowed;
    if let Some(t) = threshold {
        let t = t.clone().expand([n, m]);
        let beyond = match end {
            End::Nearest => far.clone().greater(t),
            End::Farthest => far.clone().lower(t),
        };
        allowed = allowed.bool_and(beyond);
    }
    let has = allowed.clone().float().sum_dim(1).greater_elem(0.0).float().reshape([n]);
    let not_allowed = allowed.bool_not();
    let (idx, value) = match end {
        End::Nearest => {
            let f = far.clone().mask_fill(not_allowed, FAR);
            (f.clone().argmin(1).reshape([n]), f.min_dim(1))
        }
        End::Farthest => {
            let f = far.clone().mask_fill(not_allowed, -FAR);
            (f.clone().argmax(1).reshape([n]), f.max_dim(1))
        }
    };
    (idx, value, has)
}

/// Entries of `mat` inside `range` (all when `None`).
fn in_range(mat: &Tensor<2>, valid: Tensor<2, Bool>, range: Option<[f64; 2]>) -> Tensor<2, Bool> {
    match range {
        None => valid,
        Some([low, high]) => valid
            .bool_and(mat.clone().greater_equal_elem(low))
            .bool_and(mat.clone().lower_equal_elem(high)),
    }
}

impl Miner for BatchEasyHardMiner {
    fn name(&self) -> &'static str {
        "BatchEasyHardMiner"
    }

    fn mine_against(
        &self,
        embeddings: Tensor<2>,
        labels: &Tensor<1, Int>,
        ref_embeddings: Tensor<2>,
        ref_labels: &Tensor<1, Int>,
        same_set: bool,
    ) -> LossResult<Mined> {
        use BatchMiningStrategy::{All, Easy, Semihard};
        let c = &self.config;
        let mat = c.distance.matrix(embeddings, ref_embeddings);
        let [n, m] = mat.dims();
        let far = c.distance.farness(mat.clone());
        let (pos, neg) = all_pairs(labels, ref_labels, same_set);
        let pos_ok = in_range(&mat, pos.clone().greater_elem(0.0), c.allowed_pos_range);
        let neg_ok = in_range(&mat, neg.clone().greater_elem(0.0), c.allowed_neg_range);
        let pos_end = if c.pos_strategy == Easy { End::Nearest } else { End::Farthest };
        let neg_end = if c.neg_strategy == Easy { End::Farthest } else { End::Nearest };
        // The semi-hard side is chosen after the other side, against its choice.
        let (p, q) = match (c.pos_strategy, c.neg_strategy) {
            (_, All) | (All, _) => (
                (c.pos_strategy != All).then(|| pick(&far, pos_ok, pos_end, None)),
                (c.neg_strategy != All).then(|| pick(&far, neg_ok, neg_end, None)),
            ),
            (Semihard, _) => {
                let q = pick(&far, neg_ok, neg_end, None);
                (Some(pick(&far, pos_ok, pos_end, Some(&q.1))), Some(q))
            }
            (_, Semihard) => {
                let p = pick(&far, pos_ok, pos_end, None);
                let q = pick(&far, neg_ok, neg_end, Some(&p.1));
                (Some(p), Some(q))
            }
            _ => (Some(pick(&far, pos_ok, pos_end, None)), Some(pick(&far, neg_ok, neg_end, None))),
        };
        let pairs = |choice: &(Tensor<1, Int>, Tensor<2>, Tensor<1>), keep: Tensor<1>| {
            one_hot(&choice.0, m).float() * keep.reshape([n, 1])
        };
        let (positive, negative) = match (p, q) {
            (Some(p), Some(q)) => {
                let keep = p.2.clone() * q.2.clone();
                (pairs(&p, keep.clone()), pairs(&q, keep))
            }
            (None, Some(q)) => (pos, pairs(&q, q.2.clone())),
            (Some(p), None) => (pairs(&p, p.2.clone()), neg),
            (None, None) => (pos, neg),
        };
        Ok(Mined::Pairs { positive, negative })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::LossError;
    use BatchMiningStrategy::*;

    fn field(config: BatchEasyHardMinerConfig) -> &'static str {
        match config.init().unwrap_err() {
            LossError::InvalidConfig { field, .. } => field,
            other => panic!("unexpected error {other}"),
        }
    }

    #[test]
    fn rejects_invalid_strategy_pairs() {
        let c = || BatchEasyHardMinerConfig::new();
        assert_eq!(field(c().with_pos_strategy(Semihard)), "neg_strategy");
        assert_eq!(field(c().with_pos_strategy(All)), "neg_strategy");
        assert_eq!(field(c().with_pos_strategy(Semihard).with_neg_strategy(All)), "pos_strategy");
        assert!(c().with_pos_strategy(All).with_neg_strategy(All).init().is_ok());
    }

    #[test]
    fn rejects_bad_ranges() {
        let c = BatchEasyHardMinerConfig::new().with_allowed_pos_range(Some([0.5, 0.1]));
        assert_eq!(field(c), "allowed_pos_range");
        let c = BatchEasyHardMinerConfig::new().with_allowed_neg_range(Some([f64::NAN, 1.0]));
        assert_eq!(field(c), "allowed_neg_range");
    }
}
