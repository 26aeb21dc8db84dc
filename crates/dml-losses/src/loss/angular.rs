use burn::config::Config;
use burn::module::Module;

use super::pair_util::{any_gate, row_any};
use super::{DENSE_TRIPLET_BLOCK, LossInput, MetricLoss};
use crate::error::{LossResult, invalid};
use crate::ops::{l2_normalize, masked_logsumexp, same_label, softplus};
use crate::reducer::{LossTerm, Reducer, TermKind};

const NAME: &str = "AngularLoss";

/// Configuration of [`AngularLoss`]; defaults are PML's `AngularLoss(alpha=40)`. PML fixes the
/// comparison (L2 of normalized embeddings), so there is no `distance` field.
#[derive(Config, Debug)]
pub struct AngularLossConfig {
    /// The angle `alpha` bounding the triangle at the negative, in degrees (PML's unit); must lie
    /// strictly between 0 and 90.
    #[config(default = 40.0)]
    pub alpha: f64,
    /// How the per-positive-pair values are reduced (PML's default: mean).
    #[config(default = "Reducer::Mean")]
    pub reducer: Reducer,
}

/// Angular loss (Wang et al., "Deep Metric Learning with Angular Loss", ICCV 2017), as PML's
/// `AngularLoss`.
///
/// With `t = tan^2(alpha)`, `a^`, `p^` the normalized anchor and positive of a positive pair and
/// `x_n` the reference embeddings of another class than the anchor's, **not normalized** (PML
/// multiplies the raw reference embeddings), each positive pair gets
/// `loss_ap = log(1 + sum_n exp(4 t (a^ + p^) . x_n - 2 (1 + t) a^ . p^))`.
/// The negatives are every reference embedding with another label, whatever was mined: mined
/// negative pairs only decide whether the loss is computed at all (PML returns 0 when there is no
/// positive or no negative pair). An anchor with no negative gives 0.
#[derive(Module, Debug)]
pub struct AngularLoss {
    #[module(skip)]
    config: AngularLossConfig,
}

impl AngularLossConfig {
    /// Validates the configuration and builds the loss.
    pub fn init(&self) -> LossResult<AngularLoss> {
        if !(self.alpha.is_finite() && self.alpha > 0.0 && self.alpha < 90.0) {
            let reason = format!(
                "must be an angle in degrees strictly between 0 and 90, got {}",
                self.alpha
            );
            return Err(invalid(NAME, "alpha", reason));
        }
        self.reducer.validate()?;
        Ok(AngularLoss { config: self.clone() })
    }
}

impl AngularLoss {
    /// The configuration the loss was built with.
    pub fn config(&self) -> &AngularLossConfig {
        &self.config
    }
}

impl MetricLoss for AngularLoss {
    fn name(&self) -> &'static str {
        NAME
    }

    fn reducer(&self) -> Reducer {
        self.config.reducer.clone()
    }

    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        let tan_sq = self.config.alpha.to_radians().tan().powi(2);
        let reference = input.ref_embeddings();
        let n = input.batch_size();
        let m = input.ref_size();
        let anchors = l2_normalize(input.embeddings.clone());
        let positives = l2_normalize(reference.clone());
        let raw = reference.transpose(); // [d, m]
        // (a^ + p^) . x_j = a^ . x_j + p^ . x_j, both scaled by 4t.
        let anchor_dot = anchors.clone().matmul(raw.clone()).mul_scalar(4.0 * tan_sq); // [n, m]
        let positive_dot = positives.clone().matmul(raw).mul_scalar(4.0 * tan_sq); // [m, m]
        let pair_dot = anchors.matmul(positives.transpose()).mul_scalar(2.0 * (1.0 + tan_sq));
        let (pos, neg) = input.pair_masks();
        let gate = any_gate(&pos) * any_gate(&neg); // [1, 1]
        let others = same_label(&input.labels, &input.ref_labels()).bool_not(); // [n, m]
        let has_neg = row_any(&others.clone().float()).float(); // [n, 1]
        // One [anchors, positives, negatives] block at a time.
        let block = (DENSE_TRIPLET_BLOCK / (m * m).max(1)).clamp(1, n);
        let mut terms = Vec::with_capacity(n.div_ceil(block));
        for start in (0..n).step_by(block) {
            let end = (start + block).min(n);
            let b = end - start;
            let logits = anchor_dot.clone().slice(start..end).reshape([b, 1, m]).expand([b, m, m])
                + positive_dot.clone().reshape([1, m, m]).expand([b, m, m]);
            let keep = others.clone().slice(start..end).reshape([b, 1, m]).expand([b, m, m]);
            let lse = masked_logsumexp(logits.reshape([b * m, m]), keep.reshape([b * m, m]), false)
                .reshape([b, m]);
            let loss = softplus(lse - pair_dot.clone().slice(start..end))
                * has_neg.clone().slice(start..end)
                * gate.clone();
            terms.push(
                LossTerm::masked("loss", TermKind::PosPair, loss, pos.clone().slice(start..end))
                    .from_anchor(start),
            );
        }
        Ok(terms)
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
            (AngularLossConfig::new().with_alpha(0.0), "alpha"),
            (AngularLossConfig::new().with_alpha(90.0), "alpha"),
            (AngularLossConfig::new().with_alpha(f64::NAN), "alpha"),
            (AngularLossConfig::new().with_reducer(Reducer::Divisor { divisor: 0.0 }), "divisor"),
        ];
        for (config, name) in bad {
            match config.init() {
                Err(LossError::InvalidConfig { field, .. }) => assert_eq!(field, name),
                other => panic!("{name}: {other:?}"),
            }
        }
        assert!(AngularLossConfig::new().init().is_ok());
    }

    #[test]
    fn no_negative_gives_zero_with_a_connected_graph_and_duplicates_stay_finite() {
        let device = Device::flex().autodiff();
        let loss = AngularLossConfig::new().init().unwrap();
        let e =
            Tensor::<2>::from_floats([[1.0, 0.0], [1.0, 0.0], [0.0, 0.0]], &device).require_grad();
        let one_class = Tensor::<1, Int>::from_ints([2, 2, 2], &device);
        let value = loss.forward(e.clone(), one_class).unwrap();
        assert_eq!(value.clone().into_scalar::<f32>(), 0.0);
        let g = e.grad(&value.backward()).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert!(g.iter().all(|v| *v == 0.0), "{g:?}");
        // identical anchor and positive, and an all-zero embedding
        let y = Tensor::<1, Int>::from_ints([0, 0, 1], &device);
        let value = loss.forward(e.clone(), y).unwrap();
        assert!(value.clone().into_scalar::<f32>().is_finite());
        let g = e.grad(&value.backward()).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert!(g.iter().all(|v| v.is_finite()), "{g:?}");
    }
}
