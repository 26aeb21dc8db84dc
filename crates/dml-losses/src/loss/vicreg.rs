use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Int, Tensor, TensorData};

use super::{LossInput, MetricLoss};
use crate::error::{LossError, LossResult, check_finite, invalid};
use crate::ops::{one_hot, relu, same_label};
use crate::reducer::{LossTerm, Reducer, TermKind};

const NAME: &str = "VICRegLoss";

/// Configuration of [`VICRegLoss`]; defaults are PML's `VICRegLoss()`.
#[derive(Config, Debug)]
pub struct VICRegLossConfig {
    /// Weight `lambda` of the invariance term.
    #[config(default = 25.0)]
    pub invariance_lambda: f64,
    /// Weight `mu` of the variance terms.
    #[config(default = 25.0)]
    pub variance_mu: f64,
    /// Weight `nu` of the covariance term.
    #[config(default = 1.0)]
    pub covariance_v: f64,
    /// Added to the variance under the square root (must be > 0).
    #[config(default = 1e-4)]
    pub eps: f64,
    /// How the per-row invariance values and the per-dimension variance values are reduced
    /// (the covariance term is already reduced).
    #[config(default = "Reducer::Mean")]
    pub reducer: Reducer,
}

/// VICReg (Bardes, Ponce and LeCun, "VICReg: Variance-Invariance-Covariance Regularization for
/// Self-Supervised Learning", ICLR 2022), as PML's `VICRegLoss`: two views `Z` and `Z'` of the
/// same `n` items, row `i` of one matching row `i` of the other.
///
/// - invariance, one value per row: `lambda mean_d (z_id - z'_id)^2`;
/// - variance, one value per dimension and view: `mu [1 - sqrt(var_d(Z) + eps)]+ / 2` (the
///   unbiased variance over the rows), and the same for `Z'`;
/// - covariance, already reduced: `nu (sum_{d != e} C(Z)_de^2 + sum_{d != e} C(Z')_de^2) / D`,
///   `C` the unbiased covariance matrix of the dimensions.
///
/// Each of the four sub-losses is reduced on its own (the reducer, mean by default) and they are
/// summed.
///
/// Where the views come from: `Z` is the batch's embeddings. With a reference set
/// ([`LossInput::with_reference`], PML's `ref_emb`), `Z'` is the reference embeddings (as many
/// rows as the batch; the labels are not used). Without one, the labels say which rows are views
/// of the same item: row `i`'s second view is the next row of the batch with its label,
/// cyclically, and a row alone with its label is its own second view. A batch of `m` images per
/// class thus pairs each image with another image of its class (both ways when `m = 2`), and
/// `Z'` is a permutation of `Z`.
#[derive(Module, Debug)]
pub struct VICRegLoss {
    #[module(skip)]
    config: VICRegLossConfig,
}

impl VICRegLossConfig {
    /// Validates the configuration and builds the loss.
    pub fn init(&self) -> LossResult<VICRegLoss> {
        check_finite(NAME, "invariance_lambda", self.invariance_lambda)?;
        check_finite(NAME, "variance_mu", self.variance_mu)?;
        check_finite(NAME, "covariance_v", self.covariance_v)?;
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(invalid(NAME, "eps", format!("must be finite and > 0, got {}", self.eps)));
        }
        self.reducer.validate()?;
        Ok(VICRegLoss { config: self.clone() })
    }
}

/// Row `i` of the result is the next row `j` after `i` (cyclically) with `labels[j] ==
/// labels[i]`, or `i` itself when there is none, as a one-hot `[n, n]` matrix.
///
/// # Shapes
/// - `labels`: `[n]` -> `[n, n]`
fn next_of_label(labels: &Tensor<1, Int>) -> Tensor<2> {
    let n = labels.dims()[0];
    let device = labels.device();
    // (j - i) mod n for j != i, n for j = i: the nearest following row has the smallest key.
    let offsets: Vec<f32> = (0..n * n)
        .map(|idx| {
            let (i, j) = (idx / n, idx % n);
            if i == j { n as f32 } else { ((j + n - i) % n) as f32 }
        })
        .collect();
    let offsets = Tensor::<2>::from_data(TensorData::new(offsets, [n, n]), &device);
    let other_label = same_label(labels, labels).bool_not();
    let key = offsets.mask_fill(other_label, 2.0 * n as f64);
    one_hot(&key.argmin(1).reshape([n]), n).float()
}

impl VICRegLoss {
    /// The configuration the loss was built with.
    pub fn config(&self) -> &VICRegLossConfig {
        &self.config
    }

    /// `mu [1 - sqrt(var + eps)]+ / 2` per dimension, and the off-diagonal sum of squares of
    /// the covariance matrix divided by `D`.
    ///
    /// # Shapes
    /// - `z`: `[n, D]` -> `[D]`, `[1]`
    fn variance_and_covariance(&self, z: Tensor<2>) -> (Tensor<1>, Tensor<1>) {
        let c = &self.config;
        let [n, d] = z.dims();
        let centred = z.clone() - z.mean_dim(0);
        let var = centred.clone().square().sum_dim(0).div_scalar((n - 1) as f64).reshape([d]);
        let std = var.add_scalar(c.eps).sqrt();
        let variance = relu(std.neg().add_scalar(1.0)).mul_scalar(c.variance_mu / 2.0);
        let cov = centred.clone().transpose().matmul(centred).div_scalar((n - 1) as f64);
        let off_diagonal = Tensor::<2>::eye(d, &cov.device()).neg().add_scalar(1.0);
        let covariance = (cov * off_diagonal).square().sum().div_scalar(d as f64);
        (variance, covariance)
    }
}

impl MetricLoss for VICRegLoss {
    /// PML rejects an `indices_tuple`: the loss uses every row.
    fn accepts_mined(&self) -> bool {
        false
    }

    /// The reference set is the second view, row by row, not a memory bank or a gallery to
    /// compare with (a cross-batch memory does not fit).
    fn accepts_reference(&self) -> bool {
        false
    }

    fn name(&self) -> &'static str {
        NAME
    }

    fn reducer(&self) -> Reducer {
        self.config.reducer.clone()
    }

    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        if input.mined.is_some() {
            return Err(LossError::Unsupported {
                component: NAME,
                detail: "mined pairs or triplets (the loss uses every row)".into(),
            });
        }
        let [n, d] = input.embeddings.dims();
        if n < 2 {
            return Err(LossError::ShapeMismatch {
                component: NAME,
                detail: format!("a batch of {n} row has no variance; the loss needs at least 2"),
            });
        }
        let z = input.embeddings.clone();
        let z2 = match &input.reference {
            Some((r, _)) => {
                let m = r.dims()[0];
                if m != n {
                    return Err(LossError::ShapeMismatch {
                        component: NAME,
                        detail: format!(
                            "the second view (the reference set) has {m} rows but the batch has \
                             {n}: row i of each must be a view of the same item"
                        ),
                    });
                }
                r.clone()
            }
            None => next_of_label(&input.labels).matmul(z.clone()),
        };
        let c = &self.config;
        let invariance = (z.clone() - z2.clone())
            .square()
            .sum_dim(1)
            .reshape([n])
            .mul_scalar(c.invariance_lambda / d as f64);
        let (variance1, covariance1) = self.variance_and_covariance(z);
        let (variance2, covariance2) = self.variance_and_covariance(z2);
        let covariance = (covariance1 + covariance2).mul_scalar(c.covariance_v);
        Ok(vec![
            LossTerm::dense("invariance_loss", TermKind::Element, invariance),
            LossTerm::dense("variance_loss1", TermKind::Element, variance1),
            LossTerm::dense("variance_loss2", TermKind::Element, variance2),
            LossTerm::reduced("covariance_loss", covariance),
        ])
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::*;

    fn rows(t: Tensor<2>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn rejects_bad_config() {
        let bad = [
            ("invariance_lambda", VICRegLossConfig::new().with_invariance_lambda(f64::NAN)),
            ("variance_mu", VICRegLossConfig::new().with_variance_mu(f64::INFINITY)),
            ("covariance_v", VICRegLossConfig::new().with_covariance_v(f64::NAN)),
            ("eps", VICRegLossConfig::new().with_eps(0.0)),
            ("eps", VICRegLossConfig::new().with_eps(-1e-4)),
        ];
        for (name, config) in bad {
            match config.init() {
                Err(LossError::InvalidConfig { field, .. }) => assert_eq!(field, name),
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn each_row_is_paired_with_the_next_row_of_its_label() {
        let device = Device::flex();
        let y = Tensor::<1, Int>::from_ints([0, 1, 0, 2, 1, 0], &device);
        let e = Tensor::<2>::from_floats([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0]], &device);
        let views = next_of_label(&y).matmul(e);
        // label 0: rows 0 -> 2 -> 5 -> 0; label 1: 1 <-> 4; label 2: row 3 alone.
        assert_eq!(rows(views), vec![2.0, 4.0, 5.0, 3.0, 1.0, 0.0]);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let device = Device::flex();
        let loss = VICRegLossConfig::new().init().unwrap();
        let e = Tensor::<2>::from_floats([[1.0, 2.0], [3.0, 1.0], [0.0, 1.0]], &device);
        let y = Tensor::<1, Int>::from_ints([0, 0, 1], &device);
        let short = e.clone().slice(0..2);
        let input =
            LossInput::new(e.clone(), y.clone()).with_reference(short, y.clone().slice(0..2));
        assert!(matches!(loss.forward_input(&input), Err(LossError::ShapeMismatch { .. })));
        let one = LossInput::new(e.clone().slice(0..1), y.clone().slice(0..1))
            .with_reference(e.clone().slice(1..2), y.clone().slice(1..2));
        assert!(matches!(loss.forward_input(&one), Err(LossError::ShapeMismatch { .. })));
        let mined = crate::miner::Mined::Pairs {
            positive: Tensor::zeros([3, 3], &device),
            negative: Tensor::zeros([3, 3], &device),
        };
        let input = LossInput::new(e, y).with_mined(mined);
        assert!(matches!(loss.forward_input(&input), Err(LossError::Unsupported { .. })));
    }

    #[test]
    fn constant_dimensions_and_duplicates_are_finite() {
        let device = Device::flex().autodiff();
        let loss = VICRegLossConfig::new().init().unwrap();
        // The second dimension is constant (zero variance), rows 0 and 1 coincide.
        let e = Tensor::<2>::from_floats([[1.0, 5.0], [1.0, 5.0], [2.0, 5.0], [0.0, 5.0]], &device)
            .require_grad();
        let y = Tensor::<1, Int>::from_ints([0, 0, 1, 1], &device);
        let value = loss.forward(e.clone(), y).unwrap();
        assert!(value.clone().into_scalar::<f32>().is_finite());
        let g = e.grad(&value.backward()).unwrap();
        assert!(g.to_data().iter::<f32>().all(f32::is_finite));
    }
}
