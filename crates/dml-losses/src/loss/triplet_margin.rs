use burn::config::Config;
use burn::module::Module;
use burn::tensor::Tensor;

use super::{LossInput, MetricLoss};
use crate::distance::Distance;
use crate::error::{LossError, LossResult, check_finite};
use crate::miner::{Mined, Triplets, pair_product};
use crate::ops::{relu, softplus};
use crate::reducer::{LossTerm, Reducer, TermKind};

/// Largest number of `[anchor, positive, negative]` entries evaluated at once; bigger batches
/// are processed in blocks of anchors so memory stays bounded (`4 * 2^24` bytes per tensor).
pub const DENSE_TRIPLET_BLOCK: usize = 1 << 24;

/// Configuration of [`TripletMarginLoss`]; defaults are PML's `TripletMarginLoss()`.
#[derive(Config, Debug)]
pub struct TripletMarginLossConfig {
    /// Required gap between the anchor-negative and anchor-positive distances.
    #[config(default = 0.05)]
    pub margin: f64,
    /// Use the positive-negative distance when it violates the margin more (Balntas 2016).
    #[config(default = false)]
    pub swap: bool,
    /// Use `softplus` instead of the hinge.
    #[config(default = false)]
    pub smooth_loss: bool,
    /// How embeddings are compared.
    #[config(default = "Distance::l2()")]
    pub distance: Distance,
    /// How per-triplet values are reduced.
    #[config(default = "Reducer::AvgNonZero")]
    pub reducer: Reducer,
}

/// Triplet margin loss `[d(a, p) - d(a, n) + margin]+` over every triplet of the batch, or over
/// the triplets (or pairs sharing an anchor) that a miner selected.
///
/// PML samples triplets when `triplets_per_anchor` is a number; this implementation always
/// uses all of them (PML's default, `"all"`), computed in blocks of anchors.
#[derive(Module, Debug)]
pub struct TripletMarginLoss {
    #[module(skip)]
    config: TripletMarginLossConfig,
}

impl TripletMarginLossConfig {
    /// Validates the configuration and builds the loss.
    pub fn init(&self) -> LossResult<TripletMarginLoss> {
        check_finite("TripletMarginLoss", "margin", self.margin)?;
        self.distance.validate("TripletMarginLoss")?;
        self.reducer.validate()?;
        Ok(TripletMarginLoss { config: self.clone() })
    }
}

impl TripletMarginLoss {
    fn per_triplet(&self, violation: Tensor<3>) -> Tensor<3> {
        let v = violation.add_scalar(self.config.margin);
        if self.config.smooth_loss { softplus(v) } else { relu(v) }
    }
}

impl MetricLoss for TripletMarginLoss {
    fn name(&self) -> &'static str {
        "TripletMarginLoss"
    }

    fn reducer(&self) -> Reducer {
        self.config.reducer.clone()
    }

    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        let c = &self.config;
        if c.swap && !input.same_set() {
            return Err(LossError::Unsupported {
                component: self.name(),
                detail: "swap needs positive-negative distances, which a separate reference set \
                         does not give"
                    .into(),
            });
        }
        // One triplet per anchor (a batch-hard miner): the three distances of each triplet from
        // its rows alone, O(n d), instead of a whole [n, m] matrix.
        if let Some(Mined::Triplets(Triplets::PerAnchor { positive, negative, valid })) =
            &input.mined
        {
            let n = input.batch_size();
            // Each set normalized once (a row of the normalized set is the normalized row).
            let anchors = c.distance.maybe_normalize(input.embeddings.clone());
            let reference = match &input.reference {
                Some((r, _)) => c.distance.maybe_normalize(r.clone()),
                None => anchors.clone(),
            };
            let pos_rows = reference.clone().select(0, positive.clone());
            let neg_rows = reference.select(0, negative.clone());
            let ap = c.distance.paired_normalized(anchors.clone(), pos_rows.clone());
            let mut an = c.distance.paired_normalized(anchors, neg_rows.clone());
            if c.swap {
                an = c.distance.smallest(an, c.distance.paired_normalized(pos_rows, neg_rows));
            }
            let violation = c.distance.margin(ap, an).reshape([n, 1, 1]);
            let loss = self.per_triplet(violation).reshape([n]);
            return Ok(vec![LossTerm::masked("loss", TermKind::Triplet, loss, valid.clone())]);
        }
        let mat = c.distance.matrix(input.embeddings.clone(), input.ref_embeddings());
        // Dense triplet weights are built block by block from the pair masks when possible, so
        // that all-triplet losses never hold an [n, m, m] mask.
        match &input.mined {
            Some(Mined::Triplets(Triplets::PerAnchor { .. })) => unreachable!("handled above"),
            Some(Mined::Triplets(Triplets::Dense(mask))) => {
                Ok(self.dense_terms(&mat, |a, b| mask.clone().slice(a..b)))
            }
            _ => {
                let (pos, neg) = input.pair_masks();
                Ok(self.dense_terms(&mat, |a, b| {
                    pair_product(&pos.clone().slice(a..b), &neg.clone().slice(a..b))
                }))
            }
        }
    }
}

impl TripletMarginLoss {
    /// Terms over all `(a, p, n)` with weights from `weights(start, end)` for anchor rows
    /// `start..end`.
    fn dense_terms(
        &self,
        mat: &Tensor<2>,
        weights: impl Fn(usize, usize) -> Tensor<3>,
    ) -> Vec<LossTerm> {
        let c = &self.config;
        let [n, m] = mat.dims();
        let block = (DENSE_TRIPLET_BLOCK / (m * m).max(1)).max(1);
        let mut terms = Vec::new();
        let mut start = 0;
        while start < n {
            let end = (start + block).min(n);
            let b = end - start;
            let rows = mat.clone().slice(start..end);
            let ap = rows.clone().reshape([b, m, 1]).expand([b, m, m]);
            let mut an = rows.reshape([b, 1, m]).expand([b, m, m]);
            if c.swap {
                let pn = mat.clone().reshape([1, m, m]).expand([b, m, m]);
                an = c.distance.smallest(an, pn);
            }
            let loss = self.per_triplet(c.distance.margin(ap, an));
            terms.push(
                LossTerm::masked("loss", TermKind::Triplet, loss, weights(start, end))
                    .from_anchor(start),
            );
            start = end;
        }
        terms
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Int};

    #[test]
    fn infinite_margin_is_rejected() {
        assert!(TripletMarginLossConfig::new().with_margin(f64::INFINITY).init().is_err());
    }

    #[test]
    fn blocks_of_anchors_give_the_same_value_as_one_block() {
        // n = 300 > DENSE_TRIPLET_BLOCK / n^2 = 186, so two blocks are used.
        let device = Device::flex();
        let n = 300;
        let e = Tensor::<2>::random([n, 8], burn::tensor::Distribution::Default, &device);
        let y = Tensor::<1, Int>::arange(0..n as i64, &device).div_scalar(10);
        let loss = TripletMarginLossConfig::new().with_margin(0.3).init().unwrap();
        let input = LossInput::new(e.clone(), y.clone());
        let terms = loss.terms(&input).unwrap();
        assert!(terms.len() > 1, "expected several blocks");
        let blocked = loss.forward(e.clone(), y.clone()).unwrap().into_scalar::<f32>();
        // Reference: the same loss from explicit loops on the host.
        let mat = loss.config.distance.matrix(e.clone(), e);
        let d = mat.into_data().try_to_vec::<f32>().unwrap();
        let labels: Vec<i64> = y.into_data().convert::<i64>().try_to_vec::<i64>().unwrap();
        let (mut sum, mut count) = (0.0f64, 0usize);
        for a in 0..n {
            for p in 0..n {
                if p == a || labels[p] != labels[a] {
                    continue;
                }
                for q in 0..n {
                    if labels[q] == labels[a] {
                        continue;
                    }
                    let v = (d[a * n + p] - d[a * n + q]) as f64 + 0.3;
                    if v > 0.0 {
                        sum += v;
                        count += 1;
                    }
                }
            }
        }
        let expected = sum / count as f64;
        assert!((blocked as f64 - expected).abs() < 1e-4 * expected, "{blocked} vs {expected}");
    }
}
