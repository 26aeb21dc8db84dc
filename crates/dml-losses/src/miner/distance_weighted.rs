use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{IndexingUpdateOp, Int, Tensor};

use super::uniform_histogram::uniforms;
use super::{Mined, Miner, Triplets, all_pairs};
use crate::distance::Distance;
use crate::error::{LossResult, invalid};

/// Fill value that no real log-weight reaches.
const FAR: f64 = 1e30;

/// Configuration of [`DistanceWeightedMiner`]; defaults are PML's `DistanceWeightedMiner()`,
/// plus the seed of dml's deterministic sampling.
#[derive(Config, Debug)]
pub struct DistanceWeightedMinerConfig {
    /// Distances below this are raised to it before the weights are computed.
    #[config(default = 0.5)]
    pub cutoff: f64,
    /// Negatives at this distance or farther get weight 0.
    #[config(default = 1.4)]
    pub nonzero_loss_cutoff: f64,
    /// Seed of the draws: the same seed, batches and call order give the same triplets.
    #[config(default = 0)]
    pub seed: u64,
}

/// Distance-weighted sampling of Wu et al., "Sampling Matters in Deep Embedding Learning"
/// (ICCV 2017), as PML's `DistanceWeightedMiner`: every anchor with a positive and a negative
/// of non-zero weight gets as many triplets as the reference set has embeddings of its label,
/// each with a uniformly drawn positive and a negative drawn with probability proportional to
/// the inverse of the density of distances between points on the unit sphere,
/// `q(d) = d^(D - 2) (1 - d^2 / 4)^((D - 3) / 2)` (`D` the embedding size), for
/// `cutoff <= d < nonzero_loss_cutoff` (L2 distance of normalized embeddings).
///
/// The weights are PML's exactly ([`DistanceWeightedMiner::sampling_weights`]); the draws come
/// from a seeded generator on the host instead of PyTorch's (see `UniformHistogramMiner`).
#[derive(Module, Debug)]
pub struct DistanceWeightedMiner {
    #[module(skip)]
    config: DistanceWeightedMinerConfig,
    /// Number of calls so far (the generator's counter).
    #[module(skip)]
    calls: Arc<AtomicU64>,
}

impl DistanceWeightedMinerConfig {
    /// Validates the configuration and builds the miner.
    pub fn init(&self) -> LossResult<DistanceWeightedMiner> {
        const NAME: &str = "DistanceWeightedMiner";
        if !(self.cutoff.is_finite() && self.cutoff > 0.0) {
            return Err(invalid(NAME, "cutoff", format!("{} is not finite and > 0", self.cutoff)));
        }
        if self.nonzero_loss_cutoff.is_nan() {
            return Err(invalid(NAME, "nonzero_loss_cutoff", "is NaN"));
        }
        Ok(DistanceWeightedMiner { config: self.clone(), calls: Arc::new(AtomicU64::new(0)) })
    }
}

impl DistanceWeightedMiner {
    /// PML's sampling weights of the negatives: row `i` is anchor `i`'s distribution over the
    /// reference set (0 on its own label). A row that PML cannot normalize (all weights 0,
    /// PML's NaN row) is all 0 here.
    ///
    /// # Shapes
    /// - `embeddings`: `[n, d]`, `labels`: `[n]`, `ref_embeddings`: `[m, d]`, `ref_labels`: `[m]`
    ///   -> `[n, m]`
    pub fn sampling_weights(
        &self,
        embeddings: Tensor<2>,
        labels: &Tensor<1, Int>,
        ref_embeddings: Tensor<2>,
        ref_labels: &Tensor<1, Int>,
    ) -> Tensor<2> {
        let c = &self.config;
        let d = embeddings.dims()[1] as f64;
        let mat = Distance::l2().matrix(embeddings, ref_embeddings).clamp_min(c.cutoff);
        let [n, m] = mat.dims();
        let inner = mat.clone().square().mul_scalar(-0.25).add_scalar(1.0);
        // PML's inf / NaN log-weights: distances of 2 or more (log of a non-positive number).
        let bad = inner.clone().lower_equal_elem(0.0);
        let log_w = mat.clone().log().mul_scalar(2.0 - d)
            - inner.clamp_min(1e-30).log().mul_scalar((d - 3.0) / 2.0);
        let (_, neg) = all_pairs(labels, ref_labels, false);
        let log_w = log_w * neg.clone();
        let top = log_w.clone().mask_fill(bad.clone(), -FAR).max().reshape([1, 1]);
        let w = (log_w - top.expand([n, m])).exp()
            * neg
            * mat.lower_elem(c.nonzero_loss_cutoff).float();
        let w = w.mask_fill(bad, 0.0);
        let total = w.clone().sum_dim(1);
        let has = total.clone().greater_elem(0.0).float();
        w / total.clamp_min(1e-30) * has
    }
}

/// Per `(row, draw)`: the first column whose running sum `cum` exceeds `target`, i.e. the number
/// of columns whose running sum is at most `target`.
///
/// # Shapes
/// - `cum`: `[n, m]`, `target`: `[n, k]` -> `[n, k]`
fn first_above(cum: &Tensor<2>, target: Tensor<2>) -> Tensor<2> {
    let [n, m] = cum.dims();
    let k = target.dims()[1];
    cum.clone()
        .reshape([n, 1, m])
        .expand([n, k, m])
        .lower_equal(target.reshape([n, k, 1]).expand([n, k, m]))
        .float()
        .sum_dim(2)
        .reshape([n, k])
        .clamp_max((m - 1) as f64)
}

impl Miner for DistanceWeightedMiner {
    fn name(&self) -> &'static str {
        "DistanceWeightedMiner"
    }

    fn mine_against(
        &self,
        embeddings: Tensor<2>,
        labels: &Tensor<1, Int>,
        ref_embeddings: Tensor<2>,
        ref_labels: &Tensor<1, Int>,
        same_set: bool,
    ) -> LossResult<Mined> {
        let n = embeddings.dims()[0];
        let m = ref_embeddings.dims()[0];
        let device = embeddings.device();
        let w = self.sampling_weights(embeddings, labels, ref_embeddings, ref_labels);
        let (pos, _) = all_pairs(labels, ref_labels, same_set);
        let num_pos = pos.clone().sum_dim(1); // [n, 1]
        // PML's triplets per anchor: the reference embeddings of its label.
        let per_anchor = if same_set { num_pos.clone().add_scalar(1.0) } else { num_pos.clone() };
        let valid = num_pos.clone().greater_elem(0.0).float()
            * w.clone().sum_dim(1).greater_elem(0.0).float(); // [n, 1]
        let call = self.calls.fetch_add(1, Ordering::Relaxed);
        let seed = self.config.seed;
        let u_pos = Tensor::<1>::from_floats(uniforms(seed, 2 * call, n * m).as_slice(), &device)
            .reshape([n, m]);
        let u_neg =
            Tensor::<1>::from_floats(uniforms(seed, 2 * call + 1, n * m).as_slice(), &device)
                .reshape([n, m]);
        // Draw j of anchor i exists when j < per_anchor[i].
        let j = Tensor::<1, Int>::arange(0..m as i64, &device).float().reshape([1, m]);
        let draw = j.expand([n, m]).lower(per_anchor.expand([n, m])).float() * valid.expand([n, m]);
        // The positive: rank floor(u * count) among the anchor's positives.
        let count = num_pos.expand([n, m]);
        let rank = (u_pos * count.clone()).floor().min_pair(count.sub_scalar(1.0).clamp_min(0.0));
        let p = first_above(&pos.cumsum(1), rank);
        // The negative: inverse CDF of the weights row.
        let cdf = w.cumsum(1);
        let last = cdf.clone().slice([0..n, m - 1..m]).expand([n, m]);
        let target = (u_neg * last.clone()).min_pair(last.mul_scalar(1.0 - 1e-6));
        let q = first_above(&cdf, target);
        let a = Tensor::<1, Int>::arange(0..n as i64, &device).float().reshape([n, 1]);
        let flat = (a.expand([n, m]).mul_scalar((m * m) as f64) + p.mul_scalar(m as f64) + q)
            .reshape([n * m])
            .int();
        let mask = Tensor::<1>::zeros([n * m * m], &device).select_assign(
            0,
            flat,
            draw.reshape([n * m]),
            IndexingUpdateOp::Add,
        );
        Ok(Mined::Triplets(Triplets::Dense(mask.reshape([n, m, m]))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::LossError;

    #[test]
    fn rejects_bad_cutoffs() {
        for c in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let err = DistanceWeightedMinerConfig::new().with_cutoff(c).init().unwrap_err();
            assert!(matches!(err, LossError::InvalidConfig { field: "cutoff", .. }));
        }
        let err = DistanceWeightedMinerConfig::new()
            .with_nonzero_loss_cutoff(f64::NAN)
            .init()
            .unwrap_err();
        assert!(matches!(err, LossError::InvalidConfig { field: "nonzero_loss_cutoff", .. }));
    }
}
