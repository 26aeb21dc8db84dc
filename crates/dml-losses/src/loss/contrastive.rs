use burn::config::Config;
use burn::module::Module;
use burn::tensor::Tensor;

use super::{LossInput, MetricLoss};
use crate::distance::{Distance, EXACT_DIFFERENCE_LIMIT};
use crate::error::{LossResult, check_finite};
use crate::fused::{self, FusedReduction, PairKernel};
use crate::ops::l2_normalize;
use crate::ops::relu;
use crate::reducer::{LossTerm, Reducer, TermKind};

/// Configuration of [`ContrastiveLoss`]; defaults are PML's `ContrastiveLoss()`.
#[derive(Config, Debug)]
pub struct ContrastiveLossConfig {
    /// Positive pairs closer than this cost nothing.
    #[config(default = 0.0)]
    pub pos_margin: f64,
    /// Negative pairs farther than this cost nothing.
    #[config(default = 1.0)]
    pub neg_margin: f64,
    /// How embeddings are compared.
    #[config(default = "Distance::l2()")]
    pub distance: Distance,
    /// How per-pair values are reduced (each of the two sub-losses separately, then summed).
    #[config(default = "Reducer::AvgNonZero")]
    pub reducer: Reducer,
}

/// Contrastive loss (Hadsell et al. 2006) over all pairs of a batch, or the mined ones.
///
/// `pos_loss = [d(a, p) - m_pos]+` per positive pair, `neg_loss = [m_neg - d(a, n)]+` per
/// negative pair (with a similarity the signs flip); each sub-loss is reduced on its own.
#[derive(Module, Debug)]
pub struct ContrastiveLoss {
    #[module(skip)]
    config: ContrastiveLossConfig,
}

impl ContrastiveLossConfig {
    /// Validates the configuration and builds the loss.
    pub fn init(&self) -> LossResult<ContrastiveLoss> {
        self.init_named("ContrastiveLoss")
    }

    /// [`ContrastiveLossConfig::init`] for a loss built on this one, which names itself in
    /// configuration errors.
    pub(crate) fn init_named(&self, component: &'static str) -> LossResult<ContrastiveLoss> {
        check_finite(component, "pos_margin", self.pos_margin)?;
        check_finite(component, "neg_margin", self.neg_margin)?;
        self.distance.validate(component)?;
        self.reducer.validate()?;
        Ok(ContrastiveLoss { config: self.clone() })
    }
}

impl MetricLoss for ContrastiveLoss {
    fn name(&self) -> &'static str {
        "ContrastiveLoss"
    }

    fn reducer(&self) -> Reducer {
        self.config.reducer.clone()
    }

    /// The fused kernel for the L2 distance of normalized embeddings with nothing mined, on a
    /// device that has it, for batches large enough that the composed path also computes the
    /// distances from a matrix product (smaller ones it computes from exact differences).
    fn fused_forward(&self, input: &LossInput) -> LossResult<Option<Tensor<1>>> {
        let c = &self.config;
        let [n, d] = input.embeddings.dims();
        let large = n * input.ref_size() * d > EXACT_DIFFERENCE_LIMIT;
        let reduction = FusedReduction::of(&c.reducer);
        let Some(reduction) = reduction.filter(|_| {
            large
                && c.distance.is_normalized_l2(1.0)
                && input.mined.is_none()
                && fused::available(&input.embeddings)
        }) else {
            return Ok(None);
        };
        let kernel = PairKernel::Contrastive {
            pos_margin: c.pos_margin as f32,
            neg_margin: c.neg_margin as f32,
            reduction,
        };
        let reference = input.reference.clone().map(|(e, l)| (l2_normalize(e), l));
        Ok(fused::pair_loss(
            l2_normalize(input.embeddings.clone()),
            &input.labels,
            reference,
            false,
            kernel,
        ))
    }

    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        let c = &self.config;
        let mat = c.distance.matrix(input.embeddings.clone(), input.ref_embeddings());
        let (pos, neg) = input.pair_masks();
        let pos_loss = relu(c.distance.margin_to(mat.clone(), c.pos_margin));
        let neg_loss = relu(c.distance.margin_from(c.neg_margin, mat));
        Ok(vec![
            LossTerm::masked("pos_loss", TermKind::PosPair, pos_loss, pos),
            LossTerm::masked("neg_loss", TermKind::NegPair, neg_loss, neg),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::LossError;
    use burn::tensor::{Device, Int, Tensor};

    #[test]
    fn non_finite_margins_are_rejected() {
        let err = ContrastiveLossConfig::new().with_neg_margin(f64::NAN).init().unwrap_err();
        assert!(matches!(err, LossError::InvalidConfig { field: "neg_margin", .. }), "{err}");
    }

    #[test]
    fn a_batch_that_cannot_hold_a_pair_is_an_error() {
        let device = Device::flex();
        let loss = ContrastiveLossConfig::new().init().unwrap();
        let e = Tensor::<2>::from_floats([[1.0, 0.0]], &device);
        let y = Tensor::<1, Int>::from_ints([0], &device);
        let err = loss.forward(e, y).unwrap_err();
        assert!(err.to_string().contains("cannot hold a pair"), "{err}");
    }

    #[test]
    fn mismatched_labels_are_an_error() {
        let device = Device::flex();
        let loss = ContrastiveLossConfig::new().init().unwrap();
        let e = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0]], &device);
        let y = Tensor::<1, Int>::from_ints([0, 1, 1], &device);
        let err = loss.forward(e, y).unwrap_err();
        assert!(matches!(err, LossError::ShapeMismatch { .. }), "{err}");
    }

    #[test]
    fn nothing_to_mine_gives_zero_with_a_connected_graph() {
        let device = Device::flex().autodiff();
        let loss = ContrastiveLossConfig::new().init().unwrap();
        // one class, embeddings identical: no negative pair, every positive at distance 0
        let e =
            Tensor::<2>::from_floats([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]], &device).require_grad();
        let y = Tensor::<1, Int>::from_ints([3, 3, 3], &device);
        let value = loss.forward(e.clone(), y).unwrap();
        assert_eq!(value.clone().into_scalar::<f32>(), 0.0);
        let grads = value.backward();
        let g = e.grad(&grads).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert!(g.iter().all(|v| *v == 0.0), "{g:?}");
    }
}
