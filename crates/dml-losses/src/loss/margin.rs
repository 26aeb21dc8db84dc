use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::{Device, Int, Tensor};

use super::{LossInput, MetricLoss};
use crate::distance::Distance;
use crate::error::{LossError, LossResult, check_finite, invalid};
use crate::miner::Mined;
use crate::ops::relu;
use crate::reducer::{LossTerm, Reducer};

/// Configuration of [`MarginLoss`]; defaults are PML's `MarginLoss()`.
///
/// PML's `triplets_per_anchor` is always `"all"` here (its default): every triplet of the
/// batch, or every mined one.
#[derive(Config, Debug)]
pub struct MarginLossConfig {
    /// Margin `alpha` around the boundary `beta`.
    #[config(default = 0.2)]
    pub margin: f64,
    /// Weight `nu` of the regularisation `nu * beta` (only used with `learn_beta`).
    #[config(default = 0.0)]
    pub nu: f64,
    /// Initial boundary `beta` between positive and negative distances.
    #[config(default = 1.2)]
    pub beta: f64,
    /// Make `beta` a learnable parameter.
    #[config(default = false)]
    pub learn_beta: bool,
    /// Number of classes for one `beta` per class (`None`: a single `beta`).
    #[config(default = "None")]
    pub num_classes: Option<usize>,
    /// How embeddings are compared.
    #[config(default = "Distance::l2()")]
    pub distance: Distance,
}

/// Margin loss (Wu et al., "Sampling Matters in Deep Embedding Learning", ICCV 2017; PML's
/// `MarginLoss`).
///
/// For every triplet `(a, p, n)` (all of them, or the mined ones; mined pairs sharing an anchor
/// form triplets), with `b = beta` (or `beta[y_a]` per class):
/// `pos = [d_ap - b + margin]+`, `neg = [b - d_an + margin]+` (signs flipped for a similarity),
/// `margin_loss = sum_triplets (pos + neg) / (#{pos > 0} + #{neg > 0})`, the counts running over
/// triplets (PML's `DivisorReducer`; 0 when the count is 0). With `learn_beta`, `beta` is a
/// parameter and `beta_reg_loss` is `nu * beta` for a single `beta` (0 without triplets) or
/// `nu * sum_triplets beta[y_a]` divided by the same count for per-class `beta`s. The result is
/// the sum of both sub-losses.
///
/// Only PML's default reduction is implemented: both sub-losses are returned as already
/// reduced terms, so [`MetricLoss::reducer`] (any [`Reducer`] except [`Reducer::None`]) leaves
/// them unchanged. Everything is computed on `[n, m]` pair grids weighted by how many triplets
/// use each pair, so no `[n, m, m]` tensor is built for unmined batches.
#[derive(Module, Debug)]
pub struct MarginLoss {
    /// The boundary `beta`: one value, or one per class.
    ///
    /// # Shapes
    /// - `[1]` or `[num_classes]`
    pub beta: Param<Tensor<1>>,
    #[module(skip)]
    config: MarginLossConfig,
}

impl MarginLossConfig {
    /// Checks every field without building the loss; returns the number of `beta` values.
    pub fn validate(&self) -> LossResult<usize> {
        check_finite("MarginLoss", "margin", self.margin)?;
        check_finite("MarginLoss", "nu", self.nu)?;
        check_finite("MarginLoss", "beta", self.beta)?;
        self.distance.validate("MarginLoss")?;
        match self.num_classes {
            Some(0) => Err(invalid("MarginLoss", "num_classes", "must be at least 1, got 0")),
            Some(k) => Ok(k),
            None => Ok(1),
        }
    }

    /// Validates the configuration and builds the loss with every `beta` set to
    /// [`MarginLossConfig::beta`] on `device`.
    pub fn init(&self, device: &Device) -> LossResult<MarginLoss> {
        let k = self.validate()?;
        self.build(Tensor::<1>::full([k], self.beta, device))
    }

    /// Validates the configuration and builds the loss with the given initial `beta` values
    /// (for example restored from a checkpoint or a reference implementation).
    ///
    /// # Shapes
    /// - `beta`: `[1]`, or `[num_classes]` when `num_classes` is set
    pub fn init_with(&self, beta: Tensor<1>) -> LossResult<MarginLoss> {
        let k = self.validate()?;
        let got = beta.dims()[0];
        if got != k {
            return Err(LossError::ShapeMismatch {
                component: "MarginLoss",
                detail: format!("expected {k} beta values, got {got}"),
            });
        }
        self.build(beta)
    }

    fn build(&self, beta: Tensor<1>) -> LossResult<MarginLoss> {
        let beta = Param::from_tensor(beta).set_require_grad(self.learn_beta);
        Ok(MarginLoss { beta, config: self.clone() })
    }
}

impl MarginLoss {
    /// The configuration the loss was built from.
    pub fn config(&self) -> &MarginLossConfig {
        &self.config
    }

    /// `beta` of each anchor's class, checking the labels when there is one `beta` per class.
    ///
    /// # Shapes
    /// - `labels`: `[n]` -> `[n, 1]`
    fn beta_per_anchor(&self, labels: &Tensor<1, Int>) -> LossResult<Tensor<2>> {
        let beta = if self.config.learn_beta { self.beta.val() } else { self.beta.val().detach() };
        let n = labels.dims()[0];
        if let Some(num_classes) = self.config.num_classes {
            for label in labels.to_data().iter::<i64>() {
                if label < 0 || label as u64 >= num_classes as u64 {
                    return Err(LossError::LabelOutOfRange {
                        component: "MarginLoss",
                        label,
                        num_classes,
                    });
                }
            }
        }
        if beta.dims()[0] == 1 {
            Ok(beta.reshape([1, 1]).expand([n, 1]))
        } else {
            Ok(beta.select(0, labels.clone()).reshape([n, 1]))
        }
    }
}

impl MetricLoss for MarginLoss {
    fn name(&self) -> &'static str {
        "MarginLoss"
    }

    /// Unused: both sub-losses are already reduced (PML's `DivisorReducer`).
    fn reducer(&self) -> Reducer {
        Reducer::Sum
    }

    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        let c = &self.config;
        let mat = c.distance.matrix(input.embeddings.clone(), input.ref_embeddings());
        let [n, m] = mat.dims();
        // How many triplets use each anchor-positive and each anchor-negative pair.
        let (wp, wn) = match &input.mined {
            Some(Mined::Triplets(t)) => t.to_pairs(m),
            _ => {
                let (pos, neg) = input.pair_masks();
                let wp = pos.clone() * neg.clone().sum_dim(1);
                let wn = neg * pos.sum_dim(1);
                (wp, wn)
            }
        };
        let beta_a = self.beta_per_anchor(&input.labels)?;
        let beta_mat = beta_a.clone().expand([n, m]);
        let pos_loss = relu(c.distance.margin(mat.clone(), beta_mat.clone()).add_scalar(c.margin));
        let neg_loss = relu(c.distance.margin(beta_mat, mat).add_scalar(c.margin));
        let active_pos = wp.clone() * pos_loss.clone().greater_elem(0.0).float();
        let active_neg = wn.clone() * neg_loss.clone().greater_elem(0.0).float();
        let divisor = active_pos.sum() + active_neg.sum();
        let has_divisor = divisor.clone().greater_elem(0.0).float();
        let divisor = divisor.clamp_min(1.0);
        let numerator = (pos_loss * wp.clone()).sum() + (neg_loss * wn).sum();
        let margin_loss = numerator.clone() / divisor.clone();
        let reg = if !c.learn_beta {
            numerator * 0.0
        } else if self.beta.val().dims()[0] == 1 {
            let has_triplets = wp.clone().sum().greater_elem(0.0).float();
            beta_a.slice(0..1).reshape([1]).mul_scalar(c.nu) * has_triplets
        } else {
            let per_anchor = wp.sum_dim(1);
            (beta_a * per_anchor).sum().mul_scalar(c.nu) / divisor * has_divisor
        };
        Ok(vec![
            LossTerm::reduced("margin_loss", margin_loss),
            LossTerm::reduced("beta_reg_loss", reg),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::LossError;

    #[test]
    fn rejects_bad_config() {
        let device = Device::flex();
        let bad = [
            MarginLossConfig::new().with_margin(f64::NAN),
            MarginLossConfig::new().with_beta(f64::INFINITY),
            MarginLossConfig::new().with_nu(f64::NAN),
            MarginLossConfig::new().with_num_classes(Some(0)),
        ];
        for config in bad {
            assert!(matches!(config.init(&device), Err(LossError::InvalidConfig { .. })));
        }
        assert!(MarginLossConfig::new().init(&device).is_ok());
    }

    #[test]
    fn rejects_wrong_beta_length_and_labels() {
        let device = Device::flex();
        let config = MarginLossConfig::new().with_learn_beta(true).with_num_classes(Some(3));
        let beta = Tensor::<1>::from_floats([1.0, 1.1], &device);
        assert!(matches!(config.init_with(beta), Err(LossError::ShapeMismatch { .. })));
        let loss = config.init(&device).unwrap();
        let e = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0]], &device);
        let y = Tensor::<1, Int>::from_ints([0, 3], &device);
        assert!(matches!(loss.forward(e, y), Err(LossError::LabelOutOfRange { label: 3, .. })));
    }
}
