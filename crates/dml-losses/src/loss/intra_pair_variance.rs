use burn::config::Config;
use burn::module::Module;
use burn::tensor::Tensor;

use super::pair_util::pair_gate;
use super::{LossInput, MetricLoss};
use crate::distance::Distance;
use crate::error::{LossResult, check_finite};
use crate::ops::relu;
use crate::reducer::{LossTerm, Reducer, TermKind};

const NAME: &str = "IntraPairVarianceLoss";

/// Configuration of [`IntraPairVarianceLoss`]; defaults are PML's
/// `IntraPairVarianceLoss(pos_eps=0.01, neg_eps=0.01)`.
#[derive(Config, Debug)]
pub struct IntraPairVarianceLossConfig {
    /// Relative tolerance around the mean positive-pair value.
    #[config(default = 0.01)]
    pub pos_eps: f64,
    /// Relative tolerance around the mean negative-pair value.
    #[config(default = 0.01)]
    pub neg_eps: f64,
    /// How embeddings are compared (PML's default here: cosine similarity).
    #[config(default = "Distance::Cosine")]
    pub distance: Distance,
    /// How each sub-loss is reduced (PML's default: mean over its pairs).
    #[config(default = "Reducer::Mean")]
    pub reducer: Reducer,
}

/// Intra-pair variance loss (Yu et al., "Deep Metric Learning with Tuplet Margin Loss",
/// ICCV 2019, section 3.3), as PML's `IntraPairVarianceLoss`.
///
/// With `mu_P` and `mu_N` the means of the similarities over all positive and all negative
/// pairs (each pair counted with its multiplicity; the means are not detached), a similarity
/// gives `pos_loss_ap = [(1 - pos_eps) mu_P - S_ap]+^2` per positive pair and
/// `neg_loss_an = [S_an - (1 + neg_eps) mu_N]+^2` per negative pair; with a distance the roles
/// of `1 - eps` and `1 + eps` swap (`[D_ap - (1 + pos_eps) mu_P]+^2`,
/// `[(1 - neg_eps) mu_N - D_an]+^2`). Each sub-loss is reduced on its own. An empty set of
/// pairs gives 0, as does a batch with at most one pair of each kind (PML's
/// `GenericPairLoss`).
#[derive(Module, Debug)]
pub struct IntraPairVarianceLoss {
    #[module(skip)]
    config: IntraPairVarianceLossConfig,
}

impl IntraPairVarianceLossConfig {
    /// Validates the configuration and builds the loss.
    pub fn init(&self) -> LossResult<IntraPairVarianceLoss> {
        check_finite(NAME, "pos_eps", self.pos_eps)?;
        check_finite(NAME, "neg_eps", self.neg_eps)?;
        self.distance.validate(NAME)?;
        self.reducer.validate()?;
        Ok(IntraPairVarianceLoss { config: self.clone() })
    }
}

impl IntraPairVarianceLoss {
    /// The configuration the loss was built with.
    pub fn config(&self) -> &IntraPairVarianceLossConfig {
        &self.config
    }
}

/// Mean of `mat` over the entries weighted by `mask` (0 when the mask is empty).
///
/// # Shapes
/// - `mat`, `mask`: `[n, m]` -> `[1, 1]`
fn masked_mean(mat: &Tensor<2>, mask: &Tensor<2>) -> Tensor<2> {
    let total = (mat.clone() * mask.clone()).sum();
    (total / mask.clone().sum().clamp_min(1.0)).reshape([1, 1])
}

impl MetricLoss for IntraPairVarianceLoss {
    fn name(&self) -> &'static str {
        NAME
    }

    fn reducer(&self) -> Reducer {
        self.config.reducer.clone()
    }

    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        let c = &self.config;
        let mat = c.distance.matrix(input.embeddings.clone(), input.ref_embeddings());
        let (pos, neg) = input.pair_masks();
        let gate = pair_gate(&pos, &neg);
        let mean_pos = masked_mean(&mat, &pos);
        let mean_neg = masked_mean(&mat, &neg);
        // The side each pair is pushed towards: similarities of positives up, of negatives
        // down (the other way round for a distance).
        let (pos_var, neg_var) = if c.distance.is_inverted() {
            (
                mean_pos.mul_scalar(1.0 - c.pos_eps) - mat.clone(),
                mat - mean_neg.mul_scalar(1.0 + c.neg_eps),
            )
        } else {
            (
                mat.clone() - mean_pos.mul_scalar(1.0 + c.pos_eps),
                mean_neg.mul_scalar(1.0 - c.neg_eps) - mat,
            )
        };
        let pos_loss = relu(pos_var).square() * gate.clone();
        let neg_loss = relu(neg_var).square() * gate;
        Ok(vec![
            LossTerm::masked("pos_loss", TermKind::PosPair, pos_loss, pos),
            LossTerm::masked("neg_loss", TermKind::NegPair, neg_loss, neg),
        ])
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Int};

    use super::*;
    use crate::error::LossError;

    #[test]
    fn rejects_bad_config_naming_the_field() {
        let bad = [
            (IntraPairVarianceLossConfig::new().with_pos_eps(f64::NAN), "pos_eps"),
            (IntraPairVarianceLossConfig::new().with_neg_eps(f64::INFINITY), "neg_eps"),
            (
                IntraPairVarianceLossConfig::new().with_reducer(Reducer::Divisor { divisor: 0.0 }),
                "divisor",
            ),
        ];
        for (config, name) in bad {
            match config.init() {
                Err(LossError::InvalidConfig { field, .. }) => assert_eq!(field, name),
                other => panic!("{name}: {other:?}"),
            }
        }
        assert!(IntraPairVarianceLossConfig::new().init().is_ok());
    }

    #[test]
    fn pairs_at_their_mean_give_zero_with_finite_gradients() {
        let device = Device::flex().autodiff();
        let loss = IntraPairVarianceLossConfig::new().init().unwrap();
        let e = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0]], &device).require_grad();
        let y = Tensor::<1, Int>::from_ints([0, 1], &device);
        // two negative pairs, (0, 1) and (1, 0), both at the mean; no positive pair
        let value = loss.forward(e.clone(), y).unwrap();
        assert_eq!(value.clone().into_scalar::<f32>(), 0.0);
        let g = e.grad(&value.backward()).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert!(g.iter().all(|v| v.is_finite()), "{g:?}");
    }
}
