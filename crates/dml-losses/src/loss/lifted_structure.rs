use burn::config::Config;
use burn::module::Module;
use burn::tensor::Tensor;

use super::pair_util::{any_gate, or_masked, pair_gate, row_any, weighted_logsumexp};
use super::{LossInput, MetricLoss};
use crate::distance::Distance;
use crate::error::{LossResult, check_finite};
use crate::ops::{MASKED_LOGIT, off_diagonal, relu};
use crate::reducer::{LossTerm, Reducer, TermKind};

/// Configuration of [`LiftedStructureLoss`]; defaults are PML's `LiftedStructureLoss()`.
#[derive(Config, Debug)]
pub struct LiftedStructureLossConfig {
    /// Negative pairs farther than this cost nothing.
    #[config(default = 1.0)]
    pub neg_margin: f64,
    /// Positive pairs closer than this cost nothing.
    #[config(default = 0.0)]
    pub pos_margin: f64,
    /// How embeddings are compared.
    #[config(default = "Distance::l2()")]
    pub distance: Distance,
    /// How the per-positive-pair values are reduced.
    #[config(default = "Reducer::Mean")]
    pub reducer: Reducer,
}

/// Lifted structured loss (Oh Song et al., "Deep Metric Learning via Lifted Structured Feature
/// Embedding", CVPR 2016; PML's `LiftedStructureLoss`).
///
/// One value per positive pair `(a, p)`:
/// `L_ap = 1/2 [ log( sum_{(a, n) in N} exp(m_neg - d_an) + sum_{(p, n) in N} exp(m_neg - d_pn) )
///              + d_ap - m_pos ]+^2`
/// (with a similarity the signs flip), where the sums run over the negative pairs whose first
/// index is `a` or `p` (each counted as often as it was given, and once when `a = p`); with no
/// such pair the log term is 0. The whole loss is 0 when there is no negative pair at all. As
/// in PML, the first index of a negative pair is compared with `p` literally, which with a
/// separate reference set compares a query index with a reference index. Reduced by the mean
/// over positive pairs by default.
#[derive(Module, Debug)]
pub struct LiftedStructureLoss {
    #[module(skip)]
    config: LiftedStructureLossConfig,
}

impl LiftedStructureLossConfig {
    /// Validates the configuration and builds the loss.
    pub fn init(&self) -> LossResult<LiftedStructureLoss> {
        check_finite("LiftedStructureLoss", "neg_margin", self.neg_margin)?;
        check_finite("LiftedStructureLoss", "pos_margin", self.pos_margin)?;
        self.distance.validate("LiftedStructureLoss")?;
        self.reducer.validate()?;
        Ok(LiftedStructureLoss { config: self.clone() })
    }
}

impl MetricLoss for LiftedStructureLoss {
    fn name(&self) -> &'static str {
        "LiftedStructureLoss"
    }

    fn reducer(&self) -> Reducer {
        self.config.reducer.clone()
    }

    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        let c = &self.config;
        let mat = c.distance.matrix(input.embeddings.clone(), input.ref_embeddings());
        let [n, m] = mat.dims();
        let (pos, neg) = input.pair_masks();
        let gate = pair_gate(&pos, &neg) * any_gate(&neg);
        let remaining_pos = c.distance.margin_to(mat.clone(), c.pos_margin);
        let remaining_neg = c.distance.margin_from(c.neg_margin, mat);
        // Per query row i: log sum over the negative pairs (i, n).
        let has = row_any(&neg);
        let row_lse = or_masked(weighted_logsumexp(remaining_neg, neg), has.clone()); // [n, 1]
        // The same per-row values indexed by a reference column j (rows beyond n have none).
        let col_lse: Tensor<2> = if m <= n {
            row_lse.clone().slice(0..m).reshape([1, m])
        } else {
            let fill = Tensor::<2>::full([m - n, 1], MASKED_LOGIT, &row_lse.device());
            Tensor::cat(vec![row_lse.clone(), fill], 0).reshape([1, m])
        };
        let col_has = if m <= n {
            has.clone().float().slice(0..m).reshape([1, m])
        } else {
            let fill = Tensor::<2>::zeros([m - n, 1], &row_lse.device());
            Tensor::cat(vec![has.clone().float(), fill], 0).reshape([1, m])
        };
        // A pair (i, i) (query and reference index equal, possible with a reference set) takes
        // row i's negatives once, as PML's `a2 == a1 | a2 == p` does.
        let diagonal = off_diagonal(n, m, &row_lse.device()).bool_not();
        let a = row_lse.expand([n, m]);
        let b = col_lse.expand([n, m]).mask_fill(diagonal.clone(), MASKED_LOGIT);
        let col_has = col_has.expand([n, m]).mask_fill(diagonal, 0.0);
        let top = a.clone().max_pair(b.clone()).detach();
        let lse = (a - top.clone()).exp() + (b - top.clone()).exp();
        let lse = lse.log() + top;
        let any = has.float().expand([n, m]) + col_has;
        let lse = lse.mask_fill(any.lower_equal_elem(0.0), 0.0);
        let loss = relu(lse + remaining_pos).square().div_scalar(2.0) * gate;
        Ok(vec![LossTerm::masked("loss", TermKind::PosPair, loss, pos)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::LossError;

    #[test]
    fn rejects_bad_config() {
        let bad = [
            LiftedStructureLossConfig::new().with_neg_margin(f64::NAN),
            LiftedStructureLossConfig::new().with_pos_margin(f64::INFINITY),
            LiftedStructureLossConfig::new()
                .with_reducer(Reducer::Threshold { low: None, high: None }),
        ];
        for config in bad {
            assert!(matches!(config.init(), Err(LossError::InvalidConfig { .. })));
        }
        assert!(LiftedStructureLossConfig::new().init().is_ok());
    }
}
