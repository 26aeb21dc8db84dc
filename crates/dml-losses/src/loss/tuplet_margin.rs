use burn::config::Config;
use burn::module::Module;

use super::pair_util::{any_gate, pair_gate, row_any, weighted_logsumexp};
use super::{LossInput, MetricLoss};
use crate::distance::Distance;
use crate::error::{LossResult, check_finite, check_positive};
use crate::ops::{safe_sqrt, softplus};
use crate::reducer::{LossTerm, Reducer, TermKind};

const NAME: &str = "TupletMarginLoss";

/// Configuration of [`TupletMarginLoss`]; defaults are PML's
/// `TupletMarginLoss(margin=5.73, scale=64)`. The comparison is always the cosine similarity
/// (PML asserts it), so there is no `distance` field.
#[derive(Config, Debug)]
pub struct TupletMarginLossConfig {
    /// Angular margin added to each positive pair's angle, in degrees (PML's unit).
    #[config(default = 5.73)]
    pub margin: f64,
    /// Factor `s` multiplying the cosine differences inside the exponent.
    #[config(default = 64.0)]
    pub scale: f64,
    /// How the per-positive-pair values are reduced (PML's default: mean).
    #[config(default = "Reducer::Mean")]
    pub reducer: Reducer,
}

/// Tuplet margin loss (Yu and Tao, "Deep Metric Learning with Tuplet Margin Loss", ICCV 2019),
/// as PML's `TupletMarginLoss`.
///
/// With `S` the cosine similarity and `m` the margin in radians, each positive pair `(a, p)`
/// gets `loss_ap = log(1 + sum_{(a, n)} exp(s (S_an - cos(theta_ap - m))))`, where
/// `theta_ap = acos(S_ap)` and the sum runs over the negative pairs of the same anchor (with
/// their multiplicity). `cos(theta - m)` is computed as `S cos m + sqrt(1 - S^2) sin m` with a
/// clamped square root, so identical embeddings (`S = 1`, where `acos` has an infinite slope)
/// get a finite gradient. Positive pairs whose anchor has no negative give 0; no positive or no
/// negative pair at all, or at most one of each, gives 0 (PML's `GenericPairLoss`).
#[derive(Module, Debug)]
pub struct TupletMarginLoss {
    #[module(skip)]
    config: TupletMarginLossConfig,
}

impl TupletMarginLossConfig {
    /// Validates the configuration and builds the loss.
    pub fn init(&self) -> LossResult<TupletMarginLoss> {
        check_finite(NAME, "margin", self.margin)?;
        check_positive(NAME, "scale", self.scale)?;
        self.reducer.validate()?;
        Ok(TupletMarginLoss { config: self.clone() })
    }
}

impl TupletMarginLoss {
    /// The configuration the loss was built with.
    pub fn config(&self) -> &TupletMarginLossConfig {
        &self.config
    }
}

impl MetricLoss for TupletMarginLoss {
    fn name(&self) -> &'static str {
        NAME
    }

    fn reducer(&self) -> Reducer {
        self.config.reducer.clone()
    }

    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        let c = &self.config;
        let sim = Distance::Cosine.matrix(input.embeddings.clone(), input.ref_embeddings());
        let (pos, neg) = input.pair_masks();
        let gate = pair_gate(&pos, &neg) * any_gate(&pos) * any_gate(&neg); // [1, 1]
        let margin = c.margin.to_radians();
        // cos(acos(S) - m) for S in [-1, 1]; sin(acos(S)) = sqrt(1 - S^2) >= 0.
        let sine = safe_sqrt(sim.clone().square().neg().add_scalar(1.0));
        let shifted = sim.clone().mul_scalar(margin.cos()) + sine.mul_scalar(margin.sin());
        let has_neg = row_any(&neg).float(); // [n, 1]
        let neg_lse = weighted_logsumexp(sim.mul_scalar(c.scale), neg); // [n, 1]
        let loss = softplus(neg_lse - shifted.mul_scalar(c.scale)) * has_neg * gate;
        Ok(vec![LossTerm::masked("loss", TermKind::PosPair, loss, pos)])
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
            (TupletMarginLossConfig::new().with_margin(f64::NAN), "margin"),
            (TupletMarginLossConfig::new().with_scale(0.0), "scale"),
            (TupletMarginLossConfig::new().with_scale(-3.0), "scale"),
            (
                TupletMarginLossConfig::new()
                    .with_reducer(Reducer::Threshold { low: None, high: None }),
                "low/high",
            ),
        ];
        for (config, name) in bad {
            match config.init() {
                Err(LossError::InvalidConfig { field, .. }) => assert_eq!(field, name),
                other => panic!("{name}: {other:?}"),
            }
        }
        assert!(TupletMarginLossConfig::new().init().is_ok());
    }

    /// PML's gradient is infinite here (`acos` at 1); this one is finite.
    #[test]
    fn identical_embeddings_give_a_finite_gradient() {
        let device = Device::flex().autodiff();
        let loss = TupletMarginLossConfig::new().init().unwrap();
        let e = Tensor::<2>::from_floats(
            [[1.0, 0.5, 0.0], [1.0, 0.5, 0.0], [0.0, 1.0, 0.2], [0.3, -1.0, 0.5]],
            &device,
        )
        .require_grad();
        let y = Tensor::<1, Int>::from_ints([0, 0, 1, 1], &device);
        let value = loss.forward(e.clone(), y).unwrap();
        assert!(value.clone().into_scalar::<f32>().is_finite());
        let g = e.grad(&value.backward()).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert!(g.iter().all(|v| v.is_finite()), "{g:?}");
    }

    #[test]
    fn nothing_to_mine_gives_zero_with_a_connected_graph() {
        let device = Device::flex().autodiff();
        let loss = TupletMarginLossConfig::new().init().unwrap();
        let e =
            Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], &device).require_grad();
        let y = Tensor::<1, Int>::from_ints([4, 4, 4], &device);
        let value = loss.forward(e.clone(), y).unwrap();
        assert_eq!(value.clone().into_scalar::<f32>(), 0.0);
        let g = e.grad(&value.backward()).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert!(g.iter().all(|v| *v == 0.0), "{g:?}");
    }
}
