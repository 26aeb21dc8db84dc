use burn::config::Config;
use burn::module::Module;

use super::pair_util::row_any;
use super::proxy_common::miner_weights;
use super::{LossInput, MetricLoss};
use crate::distance::Distance;
use crate::error::{LossResult, check_positive};
use crate::ops::{masked_logsumexp, off_diagonal, same_label, softplus};
use crate::reducer::{LossTerm, Reducer, TermKind};

const NAME: &str = "NCALoss";

/// Configuration of [`NCALoss`]; defaults are PML's `NCALoss(softmax_scale=1)`.
#[derive(Config, Debug)]
pub struct NCALossConfig {
    /// Factor `s` multiplying the (negated) distances before the softmax.
    #[config(default = 1.0)]
    pub softmax_scale: f64,
    /// How embeddings are compared (PML's default for NCA: squared L2 distance of normalized
    /// embeddings).
    #[config(default = "Distance::squared_l2()")]
    pub distance: Distance,
    /// How the per-anchor values are reduced (PML's default: mean over the anchors that have a
    /// positive).
    #[config(default = "Reducer::Mean")]
    pub reducer: Reducer,
}

/// Neighbourhood Components Analysis loss (Goldberger et al., "Neighbourhood Components
/// Analysis", NeurIPS 2004), as PML's `NCALoss`.
///
/// With `z_ij = s * -D(x_i, r_j)` (`s * S(x_i, r_j)` for a similarity) and the anchor itself
/// left out of its own row when the reference set is the batch, anchor `i` puts probability
/// `p_i = sum_{j: y_j = y_i} softmax_j(z_i)` on its own class and gets
/// `loss_i = -w_i log p_i`, computed as
/// `w_i softplus(logsumexp_{j: y_j != y_i} z_ij - logsumexp_{j: y_j = y_i} z_ij)`.
/// `w_i` is 1, or PML's miner weight (how often `i` occurs in the mined pairs or triplets,
/// divided by the largest count) when something was mined. Anchors with no positive in the
/// reference set have `p_i = 0` and are left out of the reduction, as in PML.
#[derive(Module, Debug)]
pub struct NCALoss {
    #[module(skip)]
    config: NCALossConfig,
}

impl NCALossConfig {
    /// Validates the configuration and builds the loss.
    pub fn init(&self) -> LossResult<NCALoss> {
        check_positive(NAME, "softmax_scale", self.softmax_scale)?;
        self.distance.validate(NAME)?;
        self.reducer.validate()?;
        Ok(NCALoss { config: self.clone() })
    }
}

impl NCALoss {
    /// The configuration the loss was built with.
    pub fn config(&self) -> &NCALossConfig {
        &self.config
    }
}

impl MetricLoss for NCALoss {
    fn name(&self) -> &'static str {
        NAME
    }

    fn reducer(&self) -> Reducer {
        self.config.reducer.clone()
    }

    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        let c = &self.config;
        let n = input.batch_size();
        let mat = c.distance.matrix(input.embeddings.clone(), input.ref_embeddings());
        let logits = c.distance.closeness(mat).mul_scalar(c.softmax_scale); // [n, m]
        let [_, m] = logits.dims();
        let same = same_label(&input.labels, &input.ref_labels());
        let (keep_pos, keep_neg) = if input.same_set() {
            let off = off_diagonal(n, m, &logits.device());
            (same.clone().bool_and(off), same.bool_not())
        } else {
            (same.clone(), same.bool_not())
        };
        let has_pos = row_any(&keep_pos.clone().float()).float(); // [n, 1]
        let has_neg = row_any(&keep_neg.clone().float()).float(); // [n, 1]
        // -log p = log(1 + sum_neg / sum_pos): a softplus of the log-ratio, which keeps its
        // relative precision when p is close to 1 (a difference of two log-sum-exps does not).
        let pos_lse = masked_logsumexp(logits.clone(), keep_pos, false);
        let neg_lse = masked_logsumexp(logits, keep_neg, false);
        let mut loss =
            softplus(neg_lse - pos_lse) * has_neg * miner_weights(input, !input.same_set());
        if n <= 1 {
            // PML returns zero losses for a query set of one embedding, even with a reference set.
            loss = loss.mul_scalar(0.0);
        }
        Ok(vec![LossTerm::masked(
            "loss",
            TermKind::Element,
            loss.reshape([n]),
            has_pos.reshape([n]),
        )])
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Int, Tensor};

    use super::*;
    use crate::error::LossError;

    #[test]
    fn rejects_bad_config_naming_the_field() {
        let bad = [
            (NCALossConfig::new().with_softmax_scale(0.0), "softmax_scale"),
            (NCALossConfig::new().with_softmax_scale(f64::INFINITY), "softmax_scale"),
            (NCALossConfig::new().with_reducer(Reducer::Divisor { divisor: -1.0 }), "divisor"),
        ];
        for (config, name) in bad {
            match config.init() {
                Err(LossError::InvalidConfig { field, .. }) => assert_eq!(field, name),
                other => panic!("{name}: {other:?}"),
            }
        }
        assert!(NCALossConfig::new().init().is_ok());
    }

    /// PML returns NaN here (the mean of no anchor); this loss returns 0 with the graph
    /// connected.
    #[test]
    fn no_positive_anywhere_gives_zero_with_a_connected_graph() {
        let device = Device::flex().autodiff();
        let loss = NCALossConfig::new().init().unwrap();
        let e =
            Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], &device).require_grad();
        let y = Tensor::<1, Int>::from_ints([0, 1, 2], &device);
        let value = loss.forward(e.clone(), y).unwrap();
        assert_eq!(value.clone().into_scalar::<f32>(), 0.0);
        let g = e.grad(&value.backward()).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert!(g.iter().all(|v| *v == 0.0), "{g:?}");
    }
}
