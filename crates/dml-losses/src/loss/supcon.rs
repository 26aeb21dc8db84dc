use burn::config::Config;
use burn::module::Module;
use burn::tensor::Tensor;

use super::pair_util::{any_gate, pair_gate};
use super::{LossInput, MetricLoss};
use crate::distance::Distance;
use crate::error::{LossResult, check_positive};
use crate::fused::{self, FusedReduction, PairKernel};
use crate::ops::l2_normalize;
use crate::ops::masked_logsumexp;
use crate::reducer::{LossTerm, Reducer, TermKind};

/// Configuration of [`SupConLoss`]; defaults are PML's `SupConLoss()`.
#[derive(Config, Debug)]
pub struct SupConLossConfig {
    /// Softmax temperature `tau`.
    #[config(default = 0.1)]
    pub temperature: f64,
    /// How embeddings are compared (PML's default: cosine similarity; a distance is negated).
    #[config(default = "Distance::Cosine")]
    pub distance: Distance,
    /// How the per-anchor values are reduced.
    #[config(default = "Reducer::AvgNonZero")]
    pub reducer: Reducer,
}

/// Supervised contrastive loss (Khosla et al., "Supervised Contrastive Learning", NeurIPS
/// 2020; PML's `SupConLoss`).
///
/// With `z_ij = s_ij / tau` (`s` a similarity, or minus a distance), per anchor `i`:
/// `L_i = -1/|P_i| sum_{p in P_i} (z_ip - log sum_{j in P_i u N_i} exp(z_ij))`,
/// 0 when the anchor has no positive. The whole loss is 0 when the batch has no positive or no
/// negative pair. Mined pairs are taken as a 0/1 mask. One value per anchor, reduced by the
/// average over non-zero values by default.
#[derive(Module, Debug)]
pub struct SupConLoss {
    #[module(skip)]
    config: SupConLossConfig,
}

impl SupConLossConfig {
    /// Validates the configuration and builds the loss.
    pub fn init(&self) -> LossResult<SupConLoss> {
        check_positive("SupConLoss", "temperature", self.temperature)?;
        self.distance.validate("SupConLoss")?;
        self.reducer.validate()?;
        Ok(SupConLoss { config: self.clone() })
    }
}

impl MetricLoss for SupConLoss {
    fn name(&self) -> &'static str {
        "SupConLoss"
    }

    fn reducer(&self) -> Reducer {
        self.config.reducer.clone()
    }

    /// The fused kernel (PairKernel::SupCon) for the cosine similarity with nothing mined, on a device that has it.
    fn fused_forward(&self, input: &LossInput) -> LossResult<Option<Tensor<1>>> {
        let c = &self.config;
        let reduction = FusedReduction::of(&c.reducer);
        let Some(reduction) = reduction.filter(|_| {
            c.distance.is_cosine() && input.mined.is_none() && fused::available(&input.embeddings)
        }) else {
            return Ok(None);
        };
        let kernel = PairKernel::SupCon { temperature: c.temperature as f32, reduction };
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
        let gate = pair_gate(&pos, &neg) * any_gate(&pos) * any_gate(&neg);
        let z = c.distance.closeness(mat);
        let z = z.div_scalar(c.temperature);
        let pos_b = pos.greater_elem(0.0);
        let keep = pos_b.clone().bool_or(neg.greater_elem(0.0));
        let log_prob = z.clone() - masked_logsumexp(z, keep, false);
        let pos_f = pos_b.float();
        let count = pos_f.clone().sum_dim(1).clamp_min(1.0);
        let mean_log_prob_pos = (pos_f * log_prob).sum_dim(1) / count;
        let loss = (mean_log_prob_pos.neg() * gate).reshape([n]);
        Ok(vec![LossTerm::dense("loss", TermKind::Element, loss)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::LossError;

    #[test]
    fn rejects_bad_config() {
        for t in [0.0, -0.1, f64::NAN] {
            let config = SupConLossConfig::new().with_temperature(t);
            assert!(matches!(config.init(), Err(LossError::InvalidConfig { .. })));
        }
        assert!(SupConLossConfig::new().init().is_ok());
    }
}
