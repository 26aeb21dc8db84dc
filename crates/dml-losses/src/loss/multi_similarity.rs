use burn::config::Config;
use burn::module::Module;
use burn::tensor::Tensor;

use super::pair_util::pair_gate;
use super::{LossInput, MetricLoss};
use crate::distance::Distance;
use crate::error::{LossResult, check_finite, check_positive};
use crate::fused::{self, FusedReduction, PairKernel};
use crate::ops::l2_normalize;
use crate::ops::masked_logsumexp;
use crate::reducer::{LossTerm, Reducer, TermKind};

/// Configuration of [`MultiSimilarityLoss`]; defaults are PML's `MultiSimilarityLoss()`.
#[derive(Config, Debug)]
pub struct MultiSimilarityLossConfig {
    /// Scale of the positive-pair exponent.
    #[config(default = 2.0)]
    pub alpha: f64,
    /// Scale of the negative-pair exponent.
    #[config(default = 50.0)]
    pub beta: f64,
    /// Similarity shift `lambda` applied to both kinds of pairs.
    #[config(default = 0.5)]
    pub base: f64,
    /// How embeddings are compared (PML's default: cosine similarity).
    #[config(default = "Distance::Cosine")]
    pub distance: Distance,
    /// How the per-anchor values are reduced.
    #[config(default = "Reducer::Mean")]
    pub reducer: Reducer,
}

/// Multi-similarity loss (Wang et al., "Multi-Similarity Loss with General Pair Weighting",
/// CVPR 2019; PML's `MultiSimilarityLoss`).
///
/// Per anchor `i`, with `S` the similarity matrix:
/// `L_i = 1/alpha log(1 + sum_{p in P_i} exp(-alpha (S_ip - base)))
///      + 1/beta log(1 + sum_{n in N_i} exp(beta (S_in - base)))`
/// (with a distance the signs of `S - base` flip). `P_i`/`N_i` are the anchor's positive and
/// negative pairs (all of them, or the mined ones taken as a 0/1 mask); an empty set gives 0.
/// One value per anchor, reduced by the mean by default.
#[derive(Module, Debug)]
pub struct MultiSimilarityLoss {
    #[module(skip)]
    config: MultiSimilarityLossConfig,
}

impl MultiSimilarityLossConfig {
    /// Validates the configuration and builds the loss.
    pub fn init(&self) -> LossResult<MultiSimilarityLoss> {
        check_positive("MultiSimilarityLoss", "alpha", self.alpha)?;
        check_positive("MultiSimilarityLoss", "beta", self.beta)?;
        check_finite("MultiSimilarityLoss", "base", self.base)?;
        self.distance.validate("MultiSimilarityLoss")?;
        self.reducer.validate()?;
        Ok(MultiSimilarityLoss { config: self.clone() })
    }
}

impl MetricLoss for MultiSimilarityLoss {
    fn name(&self) -> &'static str {
        "MultiSimilarityLoss"
    }

    fn reducer(&self) -> Reducer {
        self.config.reducer.clone()
    }

    /// The fused kernel (PairKernel::MultiSimilarity) for the cosine similarity with nothing mined, on a device that has it.
    fn fused_forward(&self, input: &LossInput) -> LossResult<Option<Tensor<1>>> {
        let c = &self.config;
        let reduction = FusedReduction::of(&c.reducer);
        let Some(reduction) = reduction.filter(|_| {
            c.distance.is_cosine() && input.mined.is_none() && fused::available(&input.embeddings)
        }) else {
            return Ok(None);
        };
        let kernel = PairKernel::MultiSimilarity {
            alpha: c.alpha as f32,
            beta: c.beta as f32,
            base: c.base as f32,
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
        let n = mat.dims()[0];
        let (pos, neg) = input.pair_masks();
        let gate = pair_gate(&pos, &neg);
        let pos_exp = c.distance.margin_to(mat.clone(), c.base).mul_scalar(c.alpha);
        let neg_exp = c.distance.margin_from(c.base, mat).mul_scalar(c.beta);
        let pos_loss = masked_logsumexp(pos_exp, pos.greater_elem(0.0), true).div_scalar(c.alpha);
        let neg_loss = masked_logsumexp(neg_exp, neg.greater_elem(0.0), true).div_scalar(c.beta);
        let loss = ((pos_loss + neg_loss) * gate).reshape([n]);
        Ok(vec![LossTerm::dense("loss", TermKind::Element, loss)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::LossError;

    #[test]
    fn rejects_bad_config() {
        let bad = [
            MultiSimilarityLossConfig::new().with_alpha(0.0),
            MultiSimilarityLossConfig::new().with_beta(-1.0),
            MultiSimilarityLossConfig::new().with_base(f64::NAN),
            MultiSimilarityLossConfig::new().with_reducer(Reducer::Divisor { divisor: 0.0 }),
        ];
        for config in bad {
            assert!(matches!(config.init(), Err(LossError::InvalidConfig { .. })));
        }
        assert!(MultiSimilarityLossConfig::new().init().is_ok());
    }
}
