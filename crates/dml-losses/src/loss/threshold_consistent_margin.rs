use burn::config::Config;
use burn::module::Module;
use burn::tensor::Tensor;

use super::{LossInput, MetricLoss};
use crate::distance::Distance;
use crate::error::{LossError, LossResult, check_finite};
use crate::reducer::{LossTerm, Reducer};

const NAME: &str = "ThresholdConsistentMarginLoss";

/// Configuration of [`ThresholdConsistentMarginLoss`]; defaults are PML's
/// `ThresholdConsistentMarginLoss()`.
#[derive(Config, Debug)]
pub struct ThresholdConsistentMarginLossConfig {
    /// Weight `lambda+` of the positive part.
    #[config(default = 1.0)]
    pub lambda_plus: f64,
    /// Weight `lambda-` of the negative part.
    #[config(default = 1.0)]
    pub lambda_minus: f64,
    /// Cosine `m+` below which a positive pair is penalized.
    #[config(default = 0.9)]
    pub margin_plus: f64,
    /// Cosine `m-` above which a negative pair is penalized.
    #[config(default = 0.5)]
    pub margin_minus: f64,
}

/// Threshold-consistent margin loss (Zhang et al. 2023, "Threshold-Consistent Margin Loss for
/// Open-World Deep Metric Learning", arXiv 2307.04047), as PML's
/// `ThresholdConsistentMarginLoss`: a regularizer that keeps the cosine similarities of
/// positive pairs above `m+` and of negative pairs below `m-`.
///
/// With `s_ij` the cosine similarity of a pair (always cosine, as PML requires):
///
/// `loss = lambda+ sum_{P: s <= m+} (m+ - s) / |{P: s <= m+}|
///       + lambda- sum_{N: s >= m-} (s - m-) / |{N: s >= m-}|`
///
/// over the positive pairs `P` and negative pairs `N` of the batch (all of them, or what a
/// miner selected, counted with their multiplicity); a part with no pair on the wrong side of
/// its margin is 0. The value is already reduced.
#[derive(Module, Debug)]
pub struct ThresholdConsistentMarginLoss {
    #[module(skip)]
    config: ThresholdConsistentMarginLossConfig,
}

impl ThresholdConsistentMarginLossConfig {
    /// Validates the configuration and builds the loss.
    pub fn init(&self) -> LossResult<ThresholdConsistentMarginLoss> {
        check_finite(NAME, "lambda_plus", self.lambda_plus)?;
        check_finite(NAME, "lambda_minus", self.lambda_minus)?;
        check_finite(NAME, "margin_plus", self.margin_plus)?;
        check_finite(NAME, "margin_minus", self.margin_minus)?;
        Ok(ThresholdConsistentMarginLoss { config: self.clone() })
    }
}

impl ThresholdConsistentMarginLoss {
    /// The configuration the loss was built with.
    pub fn config(&self) -> &ThresholdConsistentMarginLossConfig {
        &self.config
    }
}

/// `sum(w * v) / max(sum(w), 1)` over the selected entries (`w` the pair multiplicities where
/// the pair violates its margin): the mean of `v` over them, 0 when there is none.
///
/// # Shapes
/// - `v`, `w`: `[n, m]` -> `[1]`
fn mean_over(v: Tensor<2>, w: Tensor<2>) -> Tensor<1> {
    (v * w.clone()).sum() / w.sum().clamp_min(1.0)
}

impl MetricLoss for ThresholdConsistentMarginLoss {
    fn name(&self) -> &'static str {
        NAME
    }

    fn reducer(&self) -> Reducer {
        // The term is already reduced, which every reducer passes through.
        Reducer::Mean
    }

    /// PML reads both members of every pair from the batch, even the reference member, so a
    /// separate reference set has no meaning for it.
    fn accepts_reference(&self) -> bool {
        false
    }

    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        if input.reference.is_some() {
            return Err(LossError::Unsupported {
                component: NAME,
                detail: "a reference set (the loss compares the batch with itself)".into(),
            });
        }
        let c = &self.config;
        let sim = Distance::Cosine.matrix(input.embeddings.clone(), input.embeddings.clone());
        let (pos, neg) = input.pair_masks();
        let pos_w = pos * sim.clone().lower_equal_elem(c.margin_plus).float();
        let neg_w = neg * sim.clone().greater_equal_elem(c.margin_minus).float();
        let pos_part = mean_over(sim.clone().neg().add_scalar(c.margin_plus), pos_w);
        let neg_part = mean_over(sim.sub_scalar(c.margin_minus), neg_w);
        let loss = pos_part.mul_scalar(c.lambda_plus) + neg_part.mul_scalar(c.lambda_minus);
        Ok(vec![LossTerm::reduced("loss", loss)])
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Int};

    use super::*;

    #[test]
    fn rejects_bad_config() {
        let bad = [
            ThresholdConsistentMarginLossConfig::new().with_lambda_plus(f64::NAN),
            ThresholdConsistentMarginLossConfig::new().with_lambda_minus(f64::INFINITY),
            ThresholdConsistentMarginLossConfig::new().with_margin_plus(f64::NAN),
            ThresholdConsistentMarginLossConfig::new().with_margin_minus(f64::NEG_INFINITY),
        ];
        for config in bad {
            assert!(matches!(config.init(), Err(LossError::InvalidConfig { .. })));
        }
    }

    #[test]
    fn rejects_a_reference_set() {
        let device = Device::flex();
        let e = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0]], &device);
        let y = Tensor::<1, Int>::from_ints([0, 1], &device);
        let input = LossInput::new(e.clone(), y.clone()).with_reference(e, y);
        let loss = ThresholdConsistentMarginLossConfig::new().init().unwrap();
        assert!(matches!(loss.forward_input(&input), Err(LossError::Unsupported { .. })));
    }

    #[test]
    fn pairs_on_the_right_side_give_zero_with_a_connected_graph() {
        // Positives identical (cosine 1 > 0.9), negatives orthogonal (cosine 0 < 0.5).
        let device = Device::flex().autodiff();
        let e = Tensor::<2>::from_floats([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 3.0]], &device)
            .require_grad();
        let y = Tensor::<1, Int>::from_ints([0, 0, 1, 1], &device);
        let loss = ThresholdConsistentMarginLossConfig::new().init().unwrap();
        let value = loss.forward(e.clone(), y).unwrap();
        assert_eq!(value.clone().into_scalar::<f32>(), 0.0);
        let grad = e.grad(&value.backward()).expect("embeddings in the graph");
        assert!(grad.to_data().iter::<f32>().all(|g| g == 0.0));
    }
}
