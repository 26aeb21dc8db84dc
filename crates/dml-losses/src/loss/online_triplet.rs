use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Bool, Tensor};
use serde::{Deserialize, Serialize};

use super::online_common::{FAR, SEED_EPS, check_batch_only, positive_mask, squared_distances};
use super::{DENSE_TRIPLET_BLOCK, LossInput, MetricLoss};
use crate::error::{LossResult, check_finite};
use crate::miner::pair_product;
use crate::ops::relu;
use crate::reducer::{LossTerm, Reducer, TermKind};

const NAME: &str = "OnlineTripletLoss";

/// How [`OnlineTripletLoss`] picks the negative of each anchor-positive cell (the seed's
/// `mining` argument).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OnlineMining {
    /// The seed's `'hardest'`: the anchor's closest negative.
    Hardest,
    /// The seed's `'semi'`: the closest negative farther than the positive; if there is none,
    /// the farthest negative closer than the positive; if there is none either, column 0.
    Semihard,
    /// The seed's `'all'`: every negative (all valid triplets).
    All,
}

/// Configuration of [`OnlineTripletLoss`]; the defaults are the seed's
/// `TripletLoss(margin=1.0, mining='hardest')`.
#[derive(Config, Debug)]
pub struct OnlineTripletLossConfig {
    /// Required gap between the anchor-negative and anchor-positive squared distances.
    #[config(default = 1.0)]
    pub margin: f64,
    /// How the negatives are chosen.
    #[config(default = "OnlineMining::Hardest")]
    pub mining: OnlineMining,
}

/// The triplet loss of the pytorch-online-metric-learning seed (`losses.py`, `TripletLoss`),
/// transcribed with its quirks; not PML's [`super::TripletMarginLoss`].
///
/// With `D2` the squared euclidean distances of the embeddings as given and `P` the cells
/// `(a, p)` with `y_a = y_p`, **the diagonal `a = p` included**:
///
/// - `Hardest`: `loss = 1/|P| sum_{(a,p) in P} [D2_ap - min_{n: y_n != y_a} D2_an + m]+`
///   (an anchor without a negative contributes 0 but is still counted in `|P|`);
/// - `Semihard`: the same with, per cell `(a, p)`, the negative `n` with the smallest
///   `D2_an - D2_ap > 1e-16`; if there is none, the one with the largest
///   `D2_an - D2_ap < -1e-16`; if there is none either (no negative, or every negative at
///   exactly the positive's distance), column 0 of the row, whatever its label (the seed's
///   `argmax` of a row of `-inf`), with its gradient;
/// - `All`: `loss = mean over (a, p, n), (a, p) in P, y_n != y_a, of [D2_ap - D2_an + m]+`
///   (every valid triplet counted, zero or not; none gives 0 where the seed gives `0 / 0`).
///
/// Ties go to the lowest index, as `torch.min` / `torch.max`. The mean is part of the loss
/// (the reducer is fixed). Batch only: a reference set or mined triplets are rejected.
#[derive(Module, Debug)]
pub struct OnlineTripletLoss {
    #[module(skip)]
    config: OnlineTripletLossConfig,
}

impl OnlineTripletLossConfig {
    /// Validates the configuration and builds the loss.
    pub fn init(&self) -> LossResult<OnlineTripletLoss> {
        check_finite(NAME, "margin", self.margin)?;
        Ok(OnlineTripletLoss { config: self.clone() })
    }
}

impl OnlineTripletLoss {
    /// The configuration the loss was built with.
    pub fn config(&self) -> &OnlineTripletLossConfig {
        &self.config
    }

    /// `[D2_ap - D2_an + m]+` per positive cell with the hardest negative of each anchor.
    fn hardest(&self, d2: Tensor<2>, pos: Tensor<2, Bool>) -> Vec<LossTerm> {
        let n = d2.dims()[0];
        let has_neg = pos.clone().bool_not().float().sum_dim(1).greater_elem(0.0).float();
        let idx = d2.clone().detach().mask_fill(pos.clone(), FAR).argmin(1); // [n, 1]
        let hardest = d2.clone().gather(1, idx); // [n, 1]
        let violation = (d2 - hardest.expand([n, n])).add_scalar(self.config.margin);
        let loss = relu(violation) * has_neg.expand([n, n]);
        vec![LossTerm::masked("loss", TermKind::PosPair, loss, pos.float())]
    }

    /// The seed's semi-hard choice, computed for blocks of anchors (`[b, n, n]` at a time).
    fn semihard(&self, d2: Tensor<2>, pos: Tensor<2, Bool>) -> Vec<LossTerm> {
        let n = d2.dims()[0];
        let mut terms = Vec::new();
        for (start, end) in anchor_blocks(n) {
            let b = end - start;
            let rows = d2.clone().slice(start..end); // [b, n]
            let fixed = rows.clone().detach();
            let pos_rows = pos.clone().slice(start..end);
            let ap = fixed.clone().reshape([b, n, 1]).expand([b, n, n]);
            let an = fixed.reshape([b, 1, n]).expand([b, n, n]);
            let positive_col = pos_rows.clone().reshape([b, 1, n]).expand([b, n, n]);
            // diff[a, p, k] = D2_ak - D2_ap, 0 where k is a positive of a.
            let diff = (an - ap).mask_fill(positive_col, 0.0);
            let larger = diff.clone().greater_elem(SEED_EPS);
            let smaller = diff.clone().lower_elem(-SEED_EPS);
            let has_larger = larger.clone().float().sum_dim(2).greater_elem(0.0); // [b, n, 1]
            let idx_larger = diff.clone().mask_fill(larger.bool_not(), FAR).argmin(2);
            let idx_smaller = diff.mask_fill(smaller.bool_not(), -FAR).argmax(2);
            let idx = idx_smaller.mask_where(has_larger, idx_larger).reshape([b, n]);
            let negative = rows.clone().gather(1, idx); // [b, n]
            let loss = relu((rows - negative).add_scalar(self.config.margin));
            terms.push(
                LossTerm::masked("loss", TermKind::PosPair, loss, pos_rows.float())
                    .from_anchor(start),
            );
        }
        terms
    }

    /// Every valid triplet, for blocks of anchors.
    fn all(&self, d2: Tensor<2>, pos: Tensor<2, Bool>) -> Vec<LossTerm> {
        let n = d2.dims()[0];
        let pos_f = pos.clone().float();
        let neg_f = pos.bool_not().float();
        let mut terms = Vec::new();
        for (start, end) in anchor_blocks(n) {
            let b = end - start;
            let rows = d2.clone().slice(start..end);
            let ap = rows.clone().reshape([b, n, 1]).expand([b, n, n]);
            let an = rows.reshape([b, 1, n]).expand([b, n, n]);
            let loss = relu((ap - an).add_scalar(self.config.margin));
            let weights =
                pair_product(&pos_f.clone().slice(start..end), &neg_f.clone().slice(start..end));
            terms.push(
                LossTerm::masked("loss", TermKind::Triplet, loss, weights).from_anchor(start),
            );
        }
        terms
    }
}

/// `(start, end)` of consecutive anchor blocks whose `[b, n, n]` tensors hold at most
/// [`DENSE_TRIPLET_BLOCK`] entries.
fn anchor_blocks(n: usize) -> Vec<(usize, usize)> {
    let block = (DENSE_TRIPLET_BLOCK / (n * n).max(1)).max(1);
    (0..n).step_by(block).map(|s| (s, (s + block).min(n))).collect()
}

impl MetricLoss for OnlineTripletLoss {
    fn name(&self) -> &'static str {
        NAME
    }

    /// The seed's mean over its cells or triplets; fixed.
    fn reducer(&self) -> Reducer {
        Reducer::Mean
    }

    fn accepts_mined(&self) -> bool {
        false
    }

    fn accepts_reference(&self) -> bool {
        false
    }

    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        check_batch_only(NAME, input)?;
        let d2 = squared_distances(input.embeddings.clone());
        let pos = positive_mask(input);
        Ok(match self.config.mining {
            OnlineMining::Hardest => self.hardest(d2, pos),
            OnlineMining::Semihard => self.semihard(d2, pos),
            OnlineMining::All => self.all(d2, pos),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::LossError;
    use burn::tensor::{Device, Int};

    fn value(mining: OnlineMining, margin: f64, e: &[[f32; 1]], y: &[i64]) -> f32 {
        let device = Device::flex();
        let e: Vec<f32> = e.iter().map(|r| r[0]).collect();
        let e = Tensor::<1>::from_floats(e.as_slice(), &device).reshape([y.len(), 1]);
        let y = Tensor::<1, Int>::from_ints(y, &device);
        let loss =
            OnlineTripletLossConfig::new().with_margin(margin).with_mining(mining).init().unwrap();
        loss.forward(e, y).unwrap().into_scalar::<f32>()
    }

    #[test]
    fn rejects_non_finite_margin() {
        let err = OnlineTripletLossConfig::new().with_margin(f64::INFINITY).init().unwrap_err();
        assert!(matches!(err, LossError::InvalidConfig { field: "margin", .. }), "{err}");
    }

    #[test]
    fn hand_computed_values_count_the_diagonal() {
        // 1-d points 0, 1 (class 0) and 3, 6 (class 1); margin 1. D2:
        //   0: [0, 1, 9, 36]   1: [1, 0, 4, 25]   3: [9, 4, 0, 9]   6: [36, 25, 9, 0]
        // positive cells (diagonal included): 8.
        let e = [[0.0], [1.0], [3.0], [6.0]];
        let y = [0, 0, 1, 1];
        // hardest negatives: anchor 0 -> 9, 1 -> 4, 2 -> 4, 3 -> 25.
        // cells: (0,0) [0-9+1]+=0 (0,1) [1-9+1]+=0 (1,0) [1-4+1]+=0 (1,1) [0-4+1]+=0
        //        (2,2) [0-4+1]+=0 (2,3) [9-4+1]+=6 (3,2) [9-25+1]+=0 (3,3) 0  -> 6/8
        assert!((value(OnlineMining::Hardest, 1.0, &e, &y) - 0.75).abs() < 1e-6);
        // semi-hard: (0,0): closest negative farther than 0 -> 9: 0. (0,1): farther than 1
        // -> 9: 0. (1,0): farther than 1 -> 4: 0. (1,1) -> 4: 0. (2,2): -> 4: 0.
        // (2,3): D2 = 9; no negative farther (4, 9 are not > 9), largest below: 4 -> 6.
        // (3,2): farther than 9: 25 -> [9-25+1]+ = 0. (3,3): -> 25: 0.  -> 6/8
        assert!((value(OnlineMining::Semihard, 1.0, &e, &y) - 0.75).abs() < 1e-6);
        // all: anchor 2, positive 3 (D2 9) with negatives 9, 4: [9-9+1]+ + [9-4+1]+ = 1 + 6;
        // anchor 3, positive 2 (9) with 36, 25: 0; diagonals [0 - d + 1]+ with d >= 4: 0;
        // anchor 0/1 cells: (0,1) 1 - {9, 36}: 0; (1,0) 1 - {4, 25}: 0. 16 triplets -> 7/16.
        assert!((value(OnlineMining::All, 1.0, &e, &y) - 7.0 / 16.0).abs() < 1e-6);
    }

    #[test]
    fn semihard_without_negatives_uses_column_zero() {
        // one class: every cell takes column 0. D2 rows: [0, 1, 4], [1, 0, 1], [4, 1, 0].
        // [D2_ap - D2_a0 + 1]+: row 0: 1, 2, 5; row 1: 1, 0, 1; row 2: 1, 0, 0 -> 11 / 9.
        let e = [[0.0], [1.0], [2.0]];
        assert!((value(OnlineMining::Semihard, 1.0, &e, &[5, 5, 5]) - 11.0 / 9.0).abs() < 1e-6);
        // hardest: no negative, so 0; all: no triplet, so 0 (the seed's 0 / 0).
        assert_eq!(value(OnlineMining::Hardest, 1.0, &e, &[5, 5, 5]), 0.0);
        assert_eq!(value(OnlineMining::All, 1.0, &e, &[5, 5, 5]), 0.0);
    }

    #[test]
    fn no_triplet_gives_zero_with_a_connected_graph() {
        let device = Device::flex().autodiff();
        let e = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0]], &device).require_grad();
        let y = Tensor::<1, Int>::from_ints([2, 2], &device);
        for mining in [OnlineMining::Hardest, OnlineMining::All] {
            let loss = OnlineTripletLossConfig::new().with_mining(mining).init().unwrap();
            let v = loss.forward(e.clone(), y.clone()).unwrap();
            assert_eq!(v.clone().into_scalar::<f32>(), 0.0);
            let g = e.grad(&v.backward()).unwrap().into_data().try_to_vec::<f32>().unwrap();
            assert!(g.iter().all(|v| *v == 0.0), "{mining:?}: {g:?}");
        }
    }

    #[test]
    fn the_seed_losses_are_registered_in_loss_config() {
        let device = Device::flex();
        for name in ["OnlineContrastiveLoss", "online_triplet", "OnlineLiftedStructure"] {
            let config = crate::LossConfig::default_for(name).expect(name);
            let loss = config.init(&device).unwrap();
            assert!(!loss.accepts_mined() && !loss.accepts_reference(), "{name}");
        }
        let mut config = crate::LossConfig::default_for("StaticProxyNCA").unwrap();
        assert_eq!(config.classes(), Some((0, 0)));
        config.set_classes(4, 3);
        assert_eq!(config.init(&device).unwrap().name(), "StaticProxyNCALoss");
        let json = serde_json::to_string(&crate::LossConfig::OnlineTripletLoss(
            OnlineTripletLossConfig::new().with_mining(OnlineMining::All),
        ))
        .unwrap();
        assert!(json.starts_with("{\"OnlineTripletLoss\":"), "{json}");
    }

    #[test]
    fn config_round_trips_through_json() {
        let c = OnlineTripletLossConfig::new().with_mining(OnlineMining::Semihard);
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains("\"Semihard\""), "{json}");
        let back: OnlineTripletLossConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back.mining, OnlineMining::Semihard);
    }
}
