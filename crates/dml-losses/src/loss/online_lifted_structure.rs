use burn::config::Config;
use burn::module::Module;

use super::online_common::{check_batch_only, distances, positive_mask};
use super::{LossInput, MetricLoss};
use crate::error::{LossResult, check_finite};
use crate::ops::{MASKED_LOGIT, masked_logsumexp, relu};
use crate::reducer::{LossTerm, Reducer, TermKind};

const NAME: &str = "OnlineLiftedStructureLoss";

/// Configuration of [`OnlineLiftedStructureLoss`]; the default is the seed's
/// `LiftedLoss(margin=1.0)`.
#[derive(Config, Debug)]
pub struct OnlineLiftedStructureLossConfig {
    /// The margin `m` inside the exponentials.
    #[config(default = 1.0)]
    pub margin: f64,
}

/// The lifted structured loss of the pytorch-online-metric-learning seed (`losses.py`,
/// `LiftedLoss`), transcribed; not PML's [`super::LiftedStructureLoss`].
///
/// With `D` the (non-squared) euclidean distances of the embeddings as given, for every cell
/// `(i, j)` with `y_i = y_j`, **the diagonal `i = j` included**:
///
/// `J_ij = log( sum_{k: y_k != y_i} exp(m - D_ik) + sum_{l: y_l != y_j} exp(m - D_jl) ) + D_ij`
///
/// `loss = sum_{(i,j)} [J_ij]+^2 / (2 * #cells)`.
///
/// The log is evaluated as a log-sum-exp of the two per-row log-sum-exps, so large distances
/// neither underflow nor overflow. A batch of one class (no negative anywhere) gives 0 with a
/// zero gradient, where the seed's `log(0)` gives a NaN gradient. Coincident embeddings get
/// distance 0 and gradient 0 (the seed: distance `1e-8`, gradient 0). The mean is part of the
/// loss (the reducer is fixed). Batch only: a reference set or mined pairs are rejected.
#[derive(Module, Debug)]
pub struct OnlineLiftedStructureLoss {
    #[module(skip)]
    config: OnlineLiftedStructureLossConfig,
}

impl OnlineLiftedStructureLossConfig {
    /// Validates the configuration and builds the loss.
    pub fn init(&self) -> LossResult<OnlineLiftedStructureLoss> {
        check_finite(NAME, "margin", self.margin)?;
        Ok(OnlineLiftedStructureLoss { config: self.clone() })
    }
}

impl OnlineLiftedStructureLoss {
    /// The configuration the loss was built with.
    pub fn config(&self) -> &OnlineLiftedStructureLossConfig {
        &self.config
    }
}

impl MetricLoss for OnlineLiftedStructureLoss {
    fn name(&self) -> &'static str {
        NAME
    }

    /// The seed's mean over positive cells (and its factor 1/2); fixed.
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
        let dist = distances(input.embeddings.clone());
        let n = dist.dims()[0];
        let pos = positive_mask(input);
        let neg = pos.clone().bool_not();
        let has = neg.clone().float().sum_dim(1).greater_elem(0.0); // [n, 1]
        // r_i = log sum_{k in N(i)} exp(m - D_ik); a row without negatives holds MASKED_LOGIT.
        let exponent = dist.clone().neg().add_scalar(self.config.margin);
        let row =
            masked_logsumexp(exponent, neg, false).mask_fill(has.clone().bool_not(), MASKED_LOGIT);
        let a = row.clone().expand([n, n]);
        let b = row.transpose().expand([n, n]);
        let top = a.clone().max_pair(b.clone()).detach();
        let both = ((a - top.clone()).exp() + (b - top.clone()).exp()).log() + top;
        let has = has.float();
        let any = (has.clone().expand([n, n]) + has.transpose().expand([n, n])).greater_elem(0.0);
        let j = both + dist;
        let loss = relu(j).square().div_scalar(2.0) * any.float();
        Ok(vec![LossTerm::masked("loss", TermKind::PosPair, loss, pos.float())])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::LossError;
    use burn::tensor::{Device, Int, Tensor};

    #[test]
    fn rejects_non_finite_margin() {
        let err = OnlineLiftedStructureLossConfig::new().with_margin(f64::NAN).init().unwrap_err();
        assert!(matches!(err, LossError::InvalidConfig { field: "margin", .. }), "{err}");
    }

    #[test]
    fn hand_computed_value() {
        // 1-d points 0, 1 (class 0) and 3 (class 1); margin 1. D: [0 1 3; 1 0 2; 3 2 0].
        // Cells (0,0), (0,1), (1,0), (1,1) of class 0, (2,2) of class 1: 5 cells.
        // S_0 = e^{1-3}, S_1 = e^{1-2}, S_2 = e^{1-3} + e^{1-2}.
        // J_00 = log(2 S_0), J_01 = J_10 = log(S_0 + S_1) + 1, J_11 = log(2 S_1), J_22 = log(2 S_2).
        let s0 = (-2.0f64).exp();
        let s1 = (-1.0f64).exp();
        let s2 = s0 + s1;
        let j = [
            (2.0 * s0).ln(),
            (s0 + s1).ln() + 1.0,
            (s0 + s1).ln() + 1.0,
            (2.0 * s1).ln(),
            (2.0 * s2).ln(),
        ];
        let expected: f64 = j.iter().map(|v| v.max(0.0).powi(2)).sum::<f64>() / 10.0;
        let device = Device::flex().autodiff();
        let e = Tensor::<2>::from_floats([[0.0], [1.0], [3.0]], &device).require_grad();
        let y = Tensor::<1, Int>::from_ints([0, 0, 1], &device);
        let loss = OnlineLiftedStructureLossConfig::new().init().unwrap();
        let v = loss.forward(e.clone(), y).unwrap();
        let got = v.clone().into_scalar::<f32>() as f64;
        assert!((got - expected).abs() < 1e-6 * expected.max(1.0), "{got} vs {expected}");
        let g = e.grad(&v.backward()).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert!(g.iter().all(|v| v.is_finite()), "{g:?}");
    }

    #[test]
    fn one_class_gives_zero_and_a_zero_gradient() {
        let device = Device::flex().autodiff();
        let e =
            Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], &device).require_grad();
        let y = Tensor::<1, Int>::from_ints([7, 7, 7], &device);
        let loss = OnlineLiftedStructureLossConfig::new().init().unwrap();
        let v = loss.forward(e.clone(), y).unwrap();
        assert_eq!(v.clone().into_scalar::<f32>(), 0.0);
        let g = e.grad(&v.backward()).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert!(g.iter().all(|v| *v == 0.0), "{g:?}");
    }

    #[test]
    fn large_distances_do_not_underflow() {
        // Points 0, 1000 (class 0) and -1000 (class 1): every exp(m - D) underflows in
        // float32, the log-sum-exp does not. S_0 = e^{1-1000}, S_1 = e^{1-2000}, so
        // J_01 = J_10 = log(S_0 + S_1) + 1000 = 1 (to 1e-400), while J_00, J_11 and J_22 are
        // far below 0. Five cells: loss = (1 + 1) / 10.
        let device = Device::flex().autodiff();
        let e = Tensor::<2>::from_floats([[0.0], [1000.0], [-1000.0]], &device).require_grad();
        let y = Tensor::<1, Int>::from_ints([0, 0, 1], &device);
        let loss = OnlineLiftedStructureLossConfig::new().init().unwrap();
        let v = loss.forward(e.clone(), y).unwrap();
        let got = v.clone().into_scalar::<f32>();
        assert!((got - 0.2).abs() < 1e-5, "{got}");
        let g = e.grad(&v.backward()).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert!(g.iter().all(|v| v.is_finite()), "{g:?}");
    }
}
