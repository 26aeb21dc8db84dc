use burn::config::Config;
use burn::module::Module;
use burn::tensor::Tensor;

use super::proxy_common::miner_weights;
use super::{DENSE_TRIPLET_BLOCK, LossInput, MetricLoss};
use crate::distance::Distance;
use crate::error::{LossError, LossResult, check_positive};
use crate::ops::{same_label, softplus};
use crate::reducer::{LossTerm, Reducer, TermKind};

const NAME: &str = "SmoothAPLoss";

/// Configuration of [`SmoothAPLoss`]; defaults are PML's `SmoothAPLoss()`.
#[derive(Config, Debug)]
pub struct SmoothAPLossConfig {
    /// Temperature `tau` of the sigmoid that replaces the step function of the ranks.
    #[config(default = 0.01)]
    pub temperature: f64,
    /// How the per-embedding values `1 - AP` are reduced.
    #[config(default = "Reducer::Mean")]
    pub reducer: Reducer,
}

/// Smooth-AP (Brown et al. 2020, "Smooth-AP: Smoothing the Path Towards Large-Scale Image
/// Retrieval", ECCV 2020), as PML's `SmoothAPLoss`: one minus a smoothed average precision per
/// embedding, always with cosine similarity (PML asserts it).
///
/// With `s_ak` the similarity of anchor `a` and row `k`, `sig(x) = 1 / (1 + exp(-x / tau))` and
/// `P_a` the rows with the anchor's label (the anchor among them):
///
/// - `R_all(a, p) = 1 + sum_{k != p} sig(s_ak - s_ap)` (the smoothed rank of `p` in the batch),
/// - `R_pos(a, p) = 1 + sum_{k in P_a, k != p} sig(s_ak - s_ap)` (its rank among the positives),
/// - `AP_a = sum_{p in P_a} R_pos(a, p) / R_all(a, p) / |P_a|`,
///
/// and the loss of embedding `a` is `(1 - AP_a) w_a`, `w_a` PML's miner weight (1 unless pairs
/// or triplets were mined), reduced by the reducer (mean by default). Computed in blocks of
/// anchors of at most 2^24 `[a, p, k]` entries.
///
/// PML requires every class of the batch to have the same number of rows and reads the classes
/// as consecutive blocks (whose length it takes to be the number of classes); this loss uses the
/// labels, in any order and with any class sizes: the two agree when the batch is sorted by
/// class and holds as many classes as rows per class.
#[derive(Module, Debug)]
pub struct SmoothAPLoss {
    #[module(skip)]
    config: SmoothAPLossConfig,
}

impl SmoothAPLossConfig {
    /// Validates the configuration and builds the loss.
    pub fn init(&self) -> LossResult<SmoothAPLoss> {
        check_positive(NAME, "temperature", self.temperature)?;
        self.reducer.validate()?;
        Ok(SmoothAPLoss { config: self.clone() })
    }
}

impl SmoothAPLoss {
    /// The configuration the loss was built with.
    pub fn config(&self) -> &SmoothAPLossConfig {
        &self.config
    }
}

/// `1 / (1 + exp(-x))` as `exp(-softplus(-x))`: finite with a finite gradient for any `x`.
fn sigmoid<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    softplus(x.neg()).neg().exp()
}

impl MetricLoss for SmoothAPLoss {
    fn name(&self) -> &'static str {
        NAME
    }

    fn reducer(&self) -> Reducer {
        self.config.reducer.clone()
    }

    fn accepts_reference(&self) -> bool {
        false
    }

    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        if input.reference.is_some() {
            return Err(LossError::Unsupported {
                component: NAME,
                detail: "a reference set (the loss ranks the batch against itself)".into(),
            });
        }
        let n = input.batch_size();
        let device = input.embeddings.device();
        let sim = Distance::Cosine.matrix(input.embeddings.clone(), input.embeddings.clone());
        let same = same_label(&input.labels, &input.labels).float(); // [n, n], diagonal 1
        // [1, p, k]: 1 where k != p.
        let other = Tensor::<2>::eye(n, &device).neg().add_scalar(1.0).reshape([1, n, n]);
        let block = (DENSE_TRIPLET_BLOCK / (n * n).max(1)).max(1);
        let mut aps = Vec::new();
        let mut start = 0;
        while start < n {
            let end = (start + block).min(n);
            let b = end - start;
            let rows = sim.clone().slice(start..end); // [b, n]: s_ak
            let positives = same.clone().slice(start..end); // [b, n]
            let diff = rows.clone().reshape([b, 1, n]).expand([b, n, n])
                - rows.reshape([b, n, 1]).expand([b, n, n]); // [a, p, k] = s_ak - s_ap
            let sig = sigmoid(diff.div_scalar(self.config.temperature)) * other.clone();
            let r_all = sig.clone().sum_dim(2).reshape([b, n]).add_scalar(1.0);
            let r_pos = (sig * positives.clone().reshape([b, 1, n]))
                .sum_dim(2)
                .reshape([b, n])
                .add_scalar(1.0);
            let ap = (positives.clone() * r_pos / r_all).sum_dim(1) / positives.sum_dim(1);
            aps.push(ap.reshape([b]));
            start = end;
        }
        let ap = Tensor::cat(aps, 0);
        let loss = ap.neg().add_scalar(1.0) * miner_weights(input, false).reshape([n]);
        Ok(vec![LossTerm::dense("ap_loss", TermKind::Element, loss)])
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Int};

    use super::*;

    #[test]
    fn rejects_bad_config() {
        for t in [0.0, -0.01, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                SmoothAPLossConfig::new().with_temperature(t).init(),
                Err(LossError::InvalidConfig { .. })
            ));
        }
    }

    #[test]
    fn a_perfect_ranking_has_ap_near_one_and_row_order_does_not_matter() {
        let device = Device::flex();
        let loss = SmoothAPLossConfig::new().init().unwrap();
        let e = Tensor::<2>::from_floats(
            [[1.0, 0.0], [0.99, 0.1], [0.0, 1.0], [0.1, 0.99], [-1.0, 0.0], [-0.99, -0.1]],
            &device,
        );
        let y = Tensor::<1, Int>::from_ints([0, 0, 1, 1, 2, 2], &device);
        let value = loss.forward(e.clone(), y.clone()).unwrap().into_scalar::<f32>();
        assert!(value < 1e-3, "{value}");
        // The same batch in another order: the labels, not the positions, define the classes.
        let order = Tensor::<1, Int>::from_ints([3, 0, 5, 2, 1, 4], &device);
        let shuffled = loss
            .forward(e.select(0, order.clone()), y.select(0, order))
            .unwrap()
            .into_scalar::<f32>();
        assert!((value - shuffled).abs() < 1e-6, "{value} vs {shuffled}");
    }

    #[test]
    fn extreme_similarity_gaps_are_finite() {
        let device = Device::flex().autodiff();
        let loss = SmoothAPLossConfig::new().with_temperature(1e-4).init().unwrap();
        let e =
            Tensor::<2>::from_floats([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]], &device)
                .require_grad();
        let y = Tensor::<1, Int>::from_ints([0, 1, 0, 2], &device);
        let value = loss.forward(e.clone(), y).unwrap();
        assert!(value.clone().into_scalar::<f32>().is_finite());
        let g = e.grad(&value.backward()).unwrap();
        assert!(g.to_data().iter::<f32>().all(f32::is_finite));
    }
}
