use burn::config::Config;
use burn::module::Module;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::{LossInput, MetricLoss};
use crate::distance::Distance;
use crate::error::{LossError, LossResult, check_finite, check_positive};
use crate::ops::{off_diagonal, same_label};
use crate::reducer::{LossTerm, Reducer};

const NAME: &str = "PNPLoss";

/// How [`PNPLoss`] turns the soft count `R` of negatives ranked above a positive into a penalty
/// (PML's `variant`; the names are the paper's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PnpVariant {
    /// Decreasing derivative, `log(1 + R)`.
    Ds,
    /// Decreasing derivative, `1 / (1 + R)^alpha`; the loss is one minus the mean.
    Dq,
    /// Increasing derivative, unbounded: `(1 + R) log(1 + R)`.
    Iu,
    /// Increasing derivative, bounded: `(b R - log(1 + b R)) / b^2`.
    Ib,
    /// The plain count `R` (PML's default).
    O,
}

/// Configuration of [`PNPLoss`]; defaults are PML's `PNPLoss(b=2, alpha=1, anneal=0.01,
/// variant="O")`.
#[derive(Config, Debug)]
pub struct PNPLossConfig {
    /// Slope `b` of the `Ib` variant.
    #[config(default = 2.0)]
    pub b: f64,
    /// Exponent `alpha` of the `Dq` variant.
    #[config(default = 1.0)]
    pub alpha: f64,
    /// Temperature of the sigmoid that softens "ranked above".
    #[config(default = 0.01)]
    pub anneal: f64,
    /// The penalty applied to the soft counts.
    #[config(default = "PnpVariant::O")]
    pub variant: PnpVariant,
}

/// PNP loss (Li et al., "Rethinking the Optimization of Average Precision: Only Penalizing
/// Negative Instances before Positive Ones is Enough", AAAI 2022), as PML's `PNPLoss`. Always
/// cosine similarity (PML asserts it).
///
/// For anchor `i`, its positive set `P_i` is the other embeddings of its class *and `i` itself*
/// (as PML, when it has another positive), `N_i` the embeddings of other classes. The soft number
/// of negatives ranked above `j in P_i` is
///
/// `R_ij = sum_{k in N_i} sigma((s_ik - s_ij) / anneal)`
///
/// with PML's sigmoid `1 / (1 + exp(clamp(-x, -50, 50)))` (no gradient where the clamp bites).
/// `loss = mean_{i: |P_i| > 0} (1 / |P_i|) sum_{j in P_i} f(R_ij)`, `f` the variant (for `Dq`,
/// one minus that mean). 0 with the graph connected when no anchor has a positive.
#[derive(Module, Debug)]
pub struct PNPLoss {
    #[module(skip)]
    config: PNPLossConfig,
}

impl PNPLossConfig {
    /// Validates the configuration and builds the loss.
    pub fn init(&self) -> LossResult<PNPLoss> {
        check_positive(NAME, "b", self.b)?;
        check_finite(NAME, "alpha", self.alpha)?;
        check_positive(NAME, "anneal", self.anneal)?;
        Ok(PNPLoss { config: self.clone() })
    }
}

impl PNPLoss {
    /// The configuration the loss was built with.
    pub fn config(&self) -> &PNPLossConfig {
        &self.config
    }

    /// The variant's penalty of the soft counts.
    fn penalty(&self, r: Tensor<2>) -> Tensor<2> {
        let c = &self.config;
        match c.variant {
            PnpVariant::O => r,
            PnpVariant::Ds => r.log1p(),
            PnpVariant::Dq => r.add_scalar(1.0).powf_scalar(-c.alpha),
            PnpVariant::Iu => r.clone().add_scalar(1.0) * r.log1p(),
            PnpVariant::Ib => {
                let br = r.mul_scalar(c.b);
                (br.clone() - br.log1p()).div_scalar(c.b * c.b)
            }
        }
    }
}

impl MetricLoss for PNPLoss {
    fn name(&self) -> &'static str {
        NAME
    }

    fn reducer(&self) -> Reducer {
        // The term is already reduced, which every reducer passes through.
        Reducer::Mean
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
                detail: "mined pairs or triplets (the loss uses every pair)".into(),
            });
        }
        let c = &self.config;
        let n = input.batch_size();
        let device = input.embeddings.device();
        let sim = Distance::Cosine.matrix(input.embeddings.clone(), input.embeddings.clone());
        let same = same_label(&input.labels, &input.labels);
        let others = same.clone().bool_and(off_diagonal(n, n, &device)).float();
        let has_pos = others.sum_dim(1).greater_elem(0.0).float(); // [n, 1]
        // Positives include the anchor itself when it has another positive (PML's I_pos).
        let pos = same.clone().float() * has_pos.clone();
        let neg = same.bool_not().float();
        // diff[i, j, k] = (s_ik - s_ij) / anneal
        let diff = (sim.clone().reshape([n, 1, n]) - sim.reshape([n, n, 1])).div_scalar(c.anneal);
        let exponent = diff.neg().clamp(-50.0, 50.0);
        let sig = exponent.exp().add_scalar(1.0).recip();
        let r = (sig * neg.reshape([n, 1, n])).sum_dim(2).reshape([n, n]);
        let f = self.penalty(r);
        let n_pos = pos.clone().sum_dim(1).clamp_min(1.0);
        let per_anchor = (f * pos).sum_dim(1) / n_pos * has_pos.clone(); // [n, 1]
        let anchors = has_pos.sum();
        let any = anchors.clone().greater_elem(0.0).float();
        let mean = per_anchor.sum() / anchors.clamp_min(1.0);
        let loss = match c.variant {
            PnpVariant::Dq => mean.neg().add_scalar(1.0) * any,
            _ => mean,
        };
        Ok(vec![LossTerm::reduced("loss", loss)])
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Int, Tensor};

    use super::*;
    use crate::miner::Mined;

    #[test]
    fn rejects_bad_config_naming_the_field() {
        let bad = [
            (PNPLossConfig::new().with_b(0.0), "b"),
            (PNPLossConfig::new().with_alpha(f64::NAN), "alpha"),
            (PNPLossConfig::new().with_anneal(-1.0), "anneal"),
            (PNPLossConfig::new().with_anneal(0.0), "anneal"),
        ];
        for (config, name) in bad {
            match config.init() {
                Err(LossError::InvalidConfig { field, .. }) => assert_eq!(field, name),
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn variants_parse_by_their_pml_names() {
        for (text, v) in [("\"Ds\"", PnpVariant::Ds), ("\"Ib\"", PnpVariant::Ib)] {
            assert_eq!(serde_json::from_str::<PnpVariant>(text).unwrap(), v);
        }
    }

    /// No anchor with a positive: PML's zero loss, for every variant; here 0 with the graph
    /// connected. Duplicates are finite.
    #[test]
    fn no_positive_gives_zero_in_every_variant() {
        let device = Device::flex().autodiff();
        let e =
            Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], &device).require_grad();
        let y = Tensor::<1, Int>::from_ints([0, 1, 2], &device);
        for v in [PnpVariant::O, PnpVariant::Ds, PnpVariant::Dq, PnpVariant::Iu, PnpVariant::Ib] {
            let loss = PNPLossConfig::new().with_variant(v).init().unwrap();
            let value = loss.forward(e.clone(), y.clone()).unwrap();
            assert_eq!(value.clone().into_scalar::<f32>(), 0.0, "{v:?}");
            let g = e.grad(&value.backward()).unwrap().into_data().try_to_vec::<f32>().unwrap();
            assert!(g.iter().all(|x| *x == 0.0), "{v:?}: {g:?}");
        }
        let e =
            Tensor::<2>::from_floats([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], &device).require_grad();
        let y = Tensor::<1, Int>::from_ints([0, 0, 1], &device);
        let value = PNPLossConfig::new().init().unwrap().forward(e.clone(), y).unwrap();
        assert!(value.clone().into_scalar::<f32>().is_finite());
        let g = e.grad(&value.backward()).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert!(g.iter().all(|x| x.is_finite()), "{g:?}");
    }

    #[test]
    fn mined_input_and_a_reference_set_are_rejected() {
        let device = Device::flex();
        let loss = PNPLossConfig::new().init().unwrap();
        let e = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0]], &device);
        let y = Tensor::<1, Int>::from_ints([0, 1], &device);
        let with_ref = LossInput::new(e.clone(), y.clone()).with_reference(e.clone(), y.clone());
        assert!(matches!(loss.forward_input(&with_ref), Err(LossError::Unsupported { .. })));
        let z = Tensor::<2>::zeros([2, 2], &device);
        let mined =
            LossInput::new(e, y).with_mined(Mined::Pairs { positive: z.clone(), negative: z });
        assert!(matches!(loss.forward_input(&mined), Err(LossError::Unsupported { .. })));
    }
}
