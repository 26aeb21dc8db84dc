use burn::config::Config;
use burn::module::Module;
use burn::tensor::Tensor;

use super::online_common::{SEED_EPS, check_batch_only, positive_mask, squared_distances};
use super::{LossInput, MetricLoss};
use crate::error::{LossResult, check_finite};
use crate::ops::relu;
use crate::reducer::{LossTerm, Reducer};

const NAME: &str = "OnlineContrastiveLoss";

/// Configuration of [`OnlineContrastiveLoss`]; the default is the seed's
/// `ContrastiveLoss(margin=1.0)` (its example command uses 0.1 on L2-normalized embeddings).
#[derive(Config, Debug)]
pub struct OnlineContrastiveLossConfig {
    /// Negative pairs whose squared distance exceeds this cost nothing.
    #[config(default = 1.0)]
    pub margin: f64,
}

/// The contrastive loss of the pytorch-online-metric-learning seed (`losses.py`,
/// `ContrastiveLoss`), transcribed with its quirks; not PML's [`super::ContrastiveLoss`].
///
/// With `D2` the squared euclidean distances of the embeddings as given and `U = triu(D2, 1)`
/// (the strict upper triangle; the diagonal and the lower triangle are 0):
///
/// `loss = (sum_{y_i = y_j} U_ij + sum_{y_i != y_j} [m - U_ij]+) / count`,
/// `count = #{y_i = y_j : U_ij > 1e-16} + #{y_i != y_j : [m - U_ij]+ > 1e-16}`.
///
/// So every positive pair counts once (its lower-triangle copy adds 0), but a negative pair
/// counts twice: its upper entry `[m - D2_ij]+`, and its lower entry `[m - 0]+ = m`, a constant
/// with no gradient that is added and counted whenever `m > 1e-16`. The loss is already
/// reduced. A zero `count` (the seed's `0 / 0`) gives 0 with the graph connected.
///
/// Batch only: a reference set or mined pairs are rejected.
#[derive(Module, Debug)]
pub struct OnlineContrastiveLoss {
    #[module(skip)]
    config: OnlineContrastiveLossConfig,
}

impl OnlineContrastiveLossConfig {
    /// Validates the configuration and builds the loss.
    pub fn init(&self) -> LossResult<OnlineContrastiveLoss> {
        check_finite(NAME, "margin", self.margin)?;
        Ok(OnlineContrastiveLoss { config: self.clone() })
    }
}

impl OnlineContrastiveLoss {
    /// The configuration the loss was built with.
    pub fn config(&self) -> &OnlineContrastiveLossConfig {
        &self.config
    }
}

impl MetricLoss for OnlineContrastiveLoss {
    fn name(&self) -> &'static str {
        NAME
    }

    /// The loss is already reduced (the seed's own divisor); the reducer is not applied.
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
        let upper = squared_distances(input.embeddings.clone()).triu(1);
        let pos = positive_mask(input);
        let neg = pos.clone().bool_not();
        let hinge = relu(upper.clone().neg().add_scalar(self.config.margin));
        let (pos, neg) = (pos.float(), neg.float());
        let sum = (upper.clone() * pos.clone()).sum() + (hinge.clone() * neg.clone()).sum();
        let count = (upper.greater_elem(SEED_EPS).float() * pos).sum()
            + (hinge.greater_elem(SEED_EPS).float() * neg).sum();
        let any = count.clone().greater_elem(0.0).float();
        let loss: Tensor<1> = sum / count.clamp_min(1.0) * any;
        Ok(vec![LossTerm::reduced("loss", loss)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::LossError;
    use burn::tensor::{Device, Int};

    #[test]
    fn rejects_non_finite_margin() {
        let err = OnlineContrastiveLossConfig::new().with_margin(f64::NAN).init().unwrap_err();
        assert!(matches!(err, LossError::InvalidConfig { field: "margin", .. }), "{err}");
    }

    #[test]
    fn hand_computed_value_counts_lower_triangle_negatives() {
        // x0 = (0, 0), x1 = (0.5, 0), x2 = (0, 1.2); labels 0, 0, 1; margin 1.
        // positives (upper): D2_01 = 0.25 (counted).
        // negatives upper: [1 - D2_02]+ = [1 - 1.44]+ = 0 (not counted),
        //                  [1 - D2_12]+ = [1 - 1.69]+ = 0 (not counted);
        // negatives lower: (2, 0) and (2, 1) each give m = 1 (counted).
        // loss = (0.25 + 0 + 0 + 1 + 1) / 3 = 0.75
        let device = Device::flex().autodiff();
        let e =
            Tensor::<2>::from_floats([[0.0, 0.0], [0.5, 0.0], [0.0, 1.2]], &device).require_grad();
        let y = Tensor::<1, Int>::from_ints([0, 0, 1], &device);
        let loss = OnlineContrastiveLossConfig::new().init().unwrap();
        let v = loss.forward(e.clone(), y).unwrap();
        assert!((v.clone().into_scalar::<f32>() - 0.75).abs() < 1e-6);
        // d/dx1 of D2_01 / 3 = 2 (x1 - x0) / 3 = (1/3, 0)
        let g = e.grad(&v.backward()).unwrap().into_data().try_to_vec::<f32>().unwrap();
        let expected = [-1.0 / 3.0, 0.0, 1.0 / 3.0, 0.0, 0.0, 0.0];
        for (a, b) in g.iter().zip(expected) {
            assert!((a - b).abs() < 1e-6, "{g:?}");
        }
    }

    #[test]
    fn zero_count_gives_zero_with_a_connected_graph() {
        // one class, identical embeddings: every positive distance 0, no negative pair.
        let device = Device::flex().autodiff();
        let e =
            Tensor::<2>::from_floats([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]], &device).require_grad();
        let y = Tensor::<1, Int>::from_ints([4, 4, 4], &device);
        let loss = OnlineContrastiveLossConfig::new().init().unwrap();
        let v = loss.forward(e.clone(), y).unwrap();
        assert_eq!(v.clone().into_scalar::<f32>(), 0.0);
        let g = e.grad(&v.backward()).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert!(g.iter().all(|v| *v == 0.0), "{g:?}");
    }

    #[test]
    fn rejects_mined_pairs_and_a_reference_set() {
        let device = Device::flex();
        let e = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0]], &device);
        let y = Tensor::<1, Int>::from_ints([0, 1], &device);
        let loss = OnlineContrastiveLossConfig::new().init().unwrap();
        assert!(!loss.accepts_mined() && !loss.accepts_reference());
        let input = LossInput::new(e.clone(), y.clone()).with_reference(e.clone(), y.clone());
        assert!(matches!(loss.forward_input(&input), Err(LossError::Unsupported { .. })));
        let (p, n) = crate::miner::all_pairs(&y, &y, true);
        let input = LossInput::new(e, y)
            .with_mined(crate::miner::Mined::Pairs { positive: p, negative: n });
        assert!(matches!(loss.forward_input(&input), Err(LossError::Unsupported { .. })));
    }
}
