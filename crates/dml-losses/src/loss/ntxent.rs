use burn::config::Config;
use burn::module::Module;
use burn::tensor::Tensor;

use super::pair_util::{pair_gate, row_any, weighted_logsumexp};
use super::{LossInput, MetricLoss};
use crate::distance::Distance;
use crate::error::{LossResult, check_positive};
use crate::fused::{self, FusedReduction, PairKernel};
use crate::ops::l2_normalize;
use crate::ops::softplus;
use crate::reducer::{LossTerm, Reducer, TermKind};

/// Configuration of [`NTXentLoss`]; defaults are PML's `NTXentLoss()`.
#[derive(Config, Debug)]
pub struct NTXentLossConfig {
    /// Softmax temperature `tau`.
    #[config(default = 0.07)]
    pub temperature: f64,
    /// How embeddings are compared (PML's default: cosine similarity; a distance is negated).
    #[config(default = "Distance::Cosine")]
    pub distance: Distance,
    /// How the per-positive-pair values are reduced.
    #[config(default = "Reducer::Mean")]
    pub reducer: Reducer,
}

/// Normalized temperature-scaled cross entropy (Chen et al., "A Simple Framework for
/// Contrastive Learning of Visual Representations" (SimCLR), ICML 2020; also InfoNCE; PML's
/// `NTXentLoss`).
///
/// With `z_ij = s_ij / tau` (`s` a similarity, or minus a distance), one value per positive
/// pair `(a, p)`: a softmax over that pair and the anchor's negative pairs,
/// `L_ap = -log( exp(z_ap) / (exp(z_ap) + sum_{n in N_a} w_an exp(z_an)) )`,
/// computed as `softplus(log sum_n w_an exp(z_an) - z_ap)`. `w_an` is how many times the
/// negative pair was given (1 for all pairs; mined index lists may repeat a pair). Pairs whose
/// anchor has no negative give 0. Reduced by the mean over positive pairs by default.
#[derive(Module, Debug)]
pub struct NTXentLoss {
    #[module(skip)]
    config: NTXentLossConfig,
}

impl NTXentLossConfig {
    /// Validates the configuration and builds the loss.
    pub fn init(&self) -> LossResult<NTXentLoss> {
        check_positive("NTXentLoss", "temperature", self.temperature)?;
        self.distance.validate("NTXentLoss")?;
        self.reducer.validate()?;
        Ok(NTXentLoss { config: self.clone() })
    }
}

impl MetricLoss for NTXentLoss {
    fn name(&self) -> &'static str {
        "NTXentLoss"
    }

    fn reducer(&self) -> Reducer {
        self.config.reducer.clone()
    }

    /// The fused kernel (PairKernel::NTXent) for the cosine similarity with nothing mined, on a device that has it.
    fn fused_forward(&self, input: &LossInput) -> LossResult<Option<Tensor<1>>> {
        let c = &self.config;
        let reduction = FusedReduction::of(&c.reducer);
        let Some(reduction) = reduction.filter(|_| {
            c.distance.is_cosine() && input.mined.is_none() && fused::available(&input.embeddings)
        }) else {
            return Ok(None);
        };
        let kernel = PairKernel::NTXent { temperature: c.temperature as f32, reduction };
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
        let gate = pair_gate(&pos, &neg);
        let z = c.distance.closeness(mat);
        let z = z.div_scalar(c.temperature);
        let has_neg = row_any(&neg).float();
        let neg_lse = weighted_logsumexp(z.clone(), neg);
        let loss = softplus(neg_lse - z) * has_neg * gate;
        Ok(vec![LossTerm::masked("loss", TermKind::PosPair, loss, pos)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::LossError;

    #[test]
    fn rejects_bad_config() {
        for t in [0.0, -1.0, f64::INFINITY] {
            let config = NTXentLossConfig::new().with_temperature(t);
            assert!(matches!(config.init(), Err(LossError::InvalidConfig { .. })));
        }
        assert!(NTXentLossConfig::new().init().is_ok());
    }
}
