use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Bool, Tensor};

use super::{LossInput, MetricLoss};
use crate::distance::Distance;
use crate::error::{LossError, LossResult, check_finite, invalid};
use crate::ops::{MASKED_LOGIT, off_diagonal, same_label};
use crate::reducer::{LossTerm, Reducer, TermKind};

const NAME: &str = "RankedListLoss";

/// PML's constant added to every entry of a weight row's sum (`sum(w + 1e-5)`), so a row with
/// no selected pair divides 0 by a positive number.
const WEIGHT_EPS: f64 = 1e-5;

/// Configuration of [`RankedListLoss`]; PML's `RankedListLoss(margin, Tn, imbalance=0.5,
/// alpha=None, Tp=0)`. PML has no default for `margin` and `Tn`; the catalogue's default
/// configuration ([`crate::LossConfig::defaults`]) uses the paper's `margin = 0.4, Tn = 10`.
#[derive(Config, Debug)]
pub struct RankedListLossConfig {
    /// Margin `m` between the positive boundary `alpha - m` and the negative boundary `alpha`.
    pub margin: f64,
    /// Temperature `T_n` weighting the violating negatives (PML's `Tn`).
    pub tn: f64,
    /// Weight `lambda` of the negative part; the positive part gets `1 - lambda`.
    #[config(default = 0.5)]
    pub imbalance: f64,
    /// Negative boundary `alpha`; `None` (PML's default) means `1 + margin / 2`.
    #[config(default = "None")]
    pub alpha: Option<f64>,
    /// Temperature `T_p` weighting the violating positives (PML's `Tp`; 0: equal weights).
    #[config(default = 0.0)]
    pub tp: f64,
    /// How embeddings are compared (PML's default: L2 distance of normalized embeddings).
    #[config(default = "Distance::l2()")]
    pub distance: Distance,
    /// How the per-embedding values are reduced.
    #[config(default = "Reducer::Mean")]
    pub reducer: Reducer,
}

/// Ranked List loss (Wang et al., "Ranked List Loss for Deep Metric Learning", CVPR 2019), as
/// PML's `RankedListLoss` (by default the paper's RLL-Simpler, `T_p = 0`).
///
/// With `d_ij` the distance (the diagonal set to 0, as PML), `b = alpha - m`, the violating
/// positives `P*_i = {j != i, y_j = y_i, d_ij > b, d_ij > 0}` and negatives
/// `N*_i = {j: y_j != y_i, d_ij < alpha, d_ij > 0}`, weights `w+_ij = exp(T_p (d_ij - b))` and
/// `w-_ij = exp(T_n (alpha - d_ij))`:
///
/// `L_P(i) = sum_{P*_i} w+ (d - b) / (sum_{P*_i} w+ + n 1e-5)`,
/// `L_N(i) = sum_{N*_i} w- (alpha - d) / (sum_{N*_i} w- + n 1e-5)`
///
/// `loss_i = (1 - lambda) L_P(i) + lambda L_N(i)`, one value per embedding. The weights stay in
/// the graph, as in PML. Both ratios are computed with the row's largest exponent factored out,
/// so large temperatures do not overflow.
#[derive(Module, Debug)]
pub struct RankedListLoss {
    #[module(skip)]
    config: RankedListLossConfig,
}

impl RankedListLossConfig {
    /// Validates the configuration and builds the loss.
    pub fn init(&self) -> LossResult<RankedListLoss> {
        check_finite(NAME, "margin", self.margin)?;
        check_finite(NAME, "tn", self.tn)?;
        check_finite(NAME, "tp", self.tp)?;
        if !(0.0..=1.0).contains(&self.imbalance) {
            return Err(invalid(
                NAME,
                "imbalance",
                format!("must be between 0 and 1, got {}", self.imbalance),
            ));
        }
        if let Some(alpha) = self.alpha {
            check_finite(NAME, "alpha", alpha)?;
        }
        self.distance.validate(NAME)?;
        self.reducer.validate()?;
        Ok(RankedListLoss { config: self.clone() })
    }

    /// The negative boundary `alpha` (`1 + margin / 2` when not given).
    pub fn boundary(&self) -> f64 {
        self.alpha.unwrap_or(1.0 + self.margin / 2.0)
    }
}

impl RankedListLoss {
    /// The configuration the loss was built with.
    pub fn config(&self) -> &RankedListLossConfig {
        &self.config
    }
}

/// `sum_j e^z_ij x_ij / (sum_j e^z_ij + eps_total)` over the selected entries of each row, with
/// the (detached, at least 0) row maximum of `z` factored out of both sums.
///
/// # Shapes
/// - `z`, `x`, `keep`: `[n, n]` -> `[n, 1]`
fn weighted_ratio(z: Tensor<2>, x: Tensor<2>, keep: Tensor<2, Bool>, eps_total: f64) -> Tensor<2> {
    let z = z.mask_fill(keep.clone().bool_not(), MASKED_LOGIT);
    let max = z.clone().max_dim(1).clamp_min(0.0).detach(); // [n, 1]
    let w = (z - max.clone()).exp().mask_fill(keep.bool_not(), 0.0);
    let num = (w.clone() * x).sum_dim(1);
    let den = w.sum_dim(1) + max.neg().exp().mul_scalar(eps_total);
    num / den
}

impl MetricLoss for RankedListLoss {
    fn name(&self) -> &'static str {
        NAME
    }

    fn reducer(&self) -> Reducer {
        self.config.reducer.clone()
    }

    fn accepts_mined(&self) -> bool {
        false
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
        if input.mined.is_some() {
            return Err(LossError::Unsupported {
                component: NAME,
                detail: "mined pairs or triplets (the loss selects its own pairs)".into(),
            });
        }
        let c = &self.config;
        let n = input.batch_size();
        let device = input.embeddings.device();
        let alpha = c.boundary();
        let bound = alpha - c.margin;
        let off = off_diagonal(n, n, &device);
        let mat = c.distance.matrix(input.embeddings.clone(), input.embeddings.clone());
        let mat = mat.mask_fill(off.clone().bool_not(), 0.0); // PML zeroes the diagonal
        let same = same_label(&input.labels, &input.labels);
        let above_zero = mat.clone().greater_elem(0.0);
        let pos = same.clone().bool_and(off).bool_and(mat.clone().greater_elem(bound));
        let pos = pos.bool_and(above_zero.clone());
        let neg = same.bool_not().bool_and(mat.clone().lower_elem(alpha)).bool_and(above_zero);
        let eps_total = WEIGHT_EPS * n as f64;
        let pos_gap = mat.clone().sub_scalar(bound); // d - b
        let neg_gap = mat.neg().add_scalar(alpha); // alpha - d
        let loss_p = weighted_ratio(pos_gap.clone().mul_scalar(c.tp), pos_gap, pos, eps_total);
        let loss_n = weighted_ratio(neg_gap.clone().mul_scalar(c.tn), neg_gap, neg, eps_total);
        let loss = loss_p.mul_scalar(1.0 - c.imbalance) + loss_n.mul_scalar(c.imbalance);
        Ok(vec![LossTerm::dense("loss", TermKind::Element, loss.reshape([n]))])
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Int, Tensor};

    use super::*;

    #[test]
    fn rejects_bad_config_naming_the_field() {
        let base = || RankedListLossConfig::new(0.4, 10.0);
        let bad = [
            (RankedListLossConfig::new(f64::NAN, 10.0), "margin"),
            (RankedListLossConfig::new(0.4, f64::INFINITY), "tn"),
            (base().with_tp(f64::NAN), "tp"),
            (base().with_imbalance(1.5), "imbalance"),
            (base().with_imbalance(-0.1), "imbalance"),
            (base().with_alpha(Some(f64::NAN)), "alpha"),
            (base().with_reducer(Reducer::Divisor { divisor: 0.0 }), "divisor"),
        ];
        for (config, name) in bad {
            match config.init() {
                Err(LossError::InvalidConfig { field, .. }) => assert_eq!(field, name),
                other => panic!("{name}: {other:?}"),
            }
        }
        assert!((base().boundary() - 1.2).abs() < 1e-12);
    }

    /// Nothing violates (all labels distinct and far apart): 0 with the graph connected.
    /// Huge temperatures stay finite (PML overflows).
    #[test]
    fn nothing_to_select_gives_zero_and_large_temperatures_are_finite() {
        let device = Device::flex().autodiff();
        let e = Tensor::<2>::from_floats([[1.0, 0.0], [-1.0, 0.0]], &device).require_grad();
        let y = Tensor::<1, Int>::from_ints([0, 1], &device);
        let loss = RankedListLossConfig::new(0.4, 10.0).init().unwrap();
        let value = loss.forward(e.clone(), y).unwrap();
        assert_eq!(value.clone().into_scalar::<f32>(), 0.0);
        let g = e.grad(&value.backward()).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert!(g.iter().all(|v| *v == 0.0), "{g:?}");

        let e = Tensor::<2>::from_floats([[1.0, 0.0], [0.9, 0.1], [0.8, 0.3], [1.0, 0.0]], &device)
            .require_grad();
        let y = Tensor::<1, Int>::from_ints([0, 1, 1, 0], &device);
        let loss = RankedListLossConfig::new(0.4, 500.0).with_tp(500.0).init().unwrap();
        let value = loss.forward(e.clone(), y).unwrap();
        assert!(value.clone().into_scalar::<f32>().is_finite());
        let g = e.grad(&value.backward()).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert!(g.iter().all(|v| v.is_finite()), "{g:?}");
    }

    #[test]
    fn mined_input_and_a_reference_set_are_rejected() {
        let device = Device::flex();
        let loss = RankedListLossConfig::new(0.4, 10.0).init().unwrap();
        let e = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0]], &device);
        let y = Tensor::<1, Int>::from_ints([0, 1], &device);
        let with_ref = LossInput::new(e.clone(), y.clone()).with_reference(e.clone(), y.clone());
        assert!(matches!(loss.forward_input(&with_ref), Err(LossError::Unsupported { .. })));
        let z = Tensor::<2>::zeros([2, 2], &device);
        let mined = LossInput::new(e, y)
            .with_mined(crate::miner::Mined::Pairs { positive: z.clone(), negative: z });
        assert!(matches!(loss.forward_input(&mined), Err(LossError::Unsupported { .. })));
    }
}
