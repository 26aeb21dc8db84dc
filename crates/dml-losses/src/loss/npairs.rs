use std::collections::BTreeMap;

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Int, Tensor};

use super::{LossInput, MetricLoss};
use crate::distance::Distance;
use crate::error::{LossError, LossResult};
use crate::ops::{logsumexp, off_diagonal};
use crate::reducer::{LossTerm, Reducer, TermKind};

/// Configuration of [`NPairsLoss`]; defaults are PML's `NPairsLoss()`.
#[derive(Config, Debug)]
pub struct NPairsLossConfig {
    /// How anchors and positives are compared (PML's default: dot product of normalized
    /// embeddings; a distance is negated).
    #[config(default = "Distance::DotProduct { normalize_embeddings: true }")]
    pub distance: Distance,
    /// How the per-pair cross entropies are reduced.
    #[config(default = "Reducer::Mean")]
    pub reducer: Reducer,
}

/// N-pair loss (Sohn, "Improved Deep Metric Learning with Multi-class N-pair Loss Objective",
/// NeurIPS 2016; PML's `NPairsLoss`).
///
/// One positive pair `(a_k, p_k)` is taken per label: scanning the positive pairs (all of them,
/// or the mined ones) in row-major order, the first pair whose anchor has that label, as PML's
/// `convert_to_pos_pairs_with_unique_labels` does with `np.unique(..., return_index=True)`.
/// With `S_kl = s(a_k, p_l)` (minus a distance), each pair gives the cross entropy
/// `L_k = log sum_l exp(S_kl) - S_kk`, reduced by the mean by default; no positive pair gives
/// 0.
///
/// The selection reads the labels and the positive-pair mask back to the host (it depends on
/// labels and mining only, not on the embeddings' values). A separate reference set is not
/// supported, as in PML.
#[derive(Module, Debug)]
pub struct NPairsLoss {
    #[module(skip)]
    config: NPairsLossConfig,
}

impl NPairsLossConfig {
    /// Validates the configuration and builds the loss.
    pub fn init(&self) -> LossResult<NPairsLoss> {
        self.distance.validate("NPairsLoss")?;
        self.reducer.validate()?;
        Ok(NPairsLoss { config: self.clone() })
    }
}

impl NPairsLoss {
    /// The anchor and positive index of the first positive pair of each label, in label order.
    ///
    /// # Shapes
    /// - `pos`: `[n, n]`, `labels`: `[n]`
    fn select_pairs(pos: &Tensor<2>, labels: &Tensor<1, Int>) -> (Vec<i64>, Vec<i64>) {
        let [n, m] = pos.dims();
        let labels: Vec<i64> = labels.to_data().iter::<i64>().collect();
        let mask: Vec<f32> = pos.to_data().iter::<f32>().collect();
        let mut first: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
        for i in 0..n {
            let Some(&label) = labels.get(i) else { break };
            if first.contains_key(&label) {
                continue;
            }
            let row = mask.get(i * m..(i + 1) * m).unwrap_or(&[]);
            if let Some(j) = row.iter().position(|&w| w > 0.0) {
                first.insert(label, (i as i64, j as i64));
            }
        }
        first.values().copied().unzip()
    }
}

impl MetricLoss for NPairsLoss {
    fn name(&self) -> &'static str {
        "NPairsLoss"
    }

    fn accepts_reference(&self) -> bool {
        false
    }

    fn reducer(&self) -> Reducer {
        self.config.reducer.clone()
    }

    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        if !input.same_set() {
            return Err(LossError::Unsupported {
                component: self.name(),
                detail: "a separate reference set is not supported (as in PML)".into(),
            });
        }
        let (pos, _) = input.pair_masks();
        let (anchors, positives) = Self::select_pairs(&pos, &input.labels);
        let k = anchors.len();
        if k == 0 {
            let zero = input.embeddings.clone().sum() * 0.0;
            return Ok(vec![LossTerm::reduced("loss", zero)]);
        }
        let device = input.embeddings.device();
        let anchors = Tensor::<1, Int>::from_ints(anchors.as_slice(), &device);
        let positives = Tensor::<1, Int>::from_ints(positives.as_slice(), &device);
        let a = input.embeddings.clone().select(0, anchors.clone());
        let p = input.embeddings.clone().select(0, positives);
        let sim = self.config.distance.matrix(a, p);
        let sim = self.config.distance.closeness(sim);
        let diag = off_diagonal(k, k, &device).bool_not().float();
        let target = (sim.clone() * diag).sum_dim(1);
        let loss = (logsumexp(sim) - target).reshape([k]);
        Ok(vec![LossTerm::dense("loss", TermKind::Element, loss).with_anchor_indices(anchors)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::LossError;

    #[test]
    fn rejects_bad_config() {
        let config = NPairsLossConfig::new().with_reducer(Reducer::Divisor { divisor: -1.0 });
        assert!(matches!(config.init(), Err(LossError::InvalidConfig { .. })));
        assert!(NPairsLossConfig::new().init().is_ok());
    }

    #[test]
    fn rejects_reference_set() {
        let device = burn::tensor::Device::flex();
        let e = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0]], &device);
        let y = Tensor::<1, Int>::from_ints([0, 0], &device);
        let input = LossInput::new(e.clone(), y.clone()).with_reference(e, y);
        let loss = NPairsLossConfig::new().init().unwrap();
        assert!(matches!(loss.forward_input(&input), Err(LossError::Unsupported { .. })));
    }
}
