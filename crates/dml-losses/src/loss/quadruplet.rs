use burn::config::Config;
use burn::module::Module;

use super::{LossInput, MetricLoss};
use crate::distance::Distance;
use crate::error::{LossError, LossResult, check_finite};
use crate::ops::relu;
use crate::reducer::{LossTerm, Reducer};

/// Fill value that no squared distance between normalized embeddings reaches (they lie in
/// `[0, 4]`).
const FAR: f64 = 1e30;

/// Configuration of [`QuadrupletLoss`]; defaults are PaddlePaddle's / MindSpore's
/// `QuadrupletLoss(margin=0.1)`.
#[derive(Config, Debug)]
pub struct QuadrupletLossConfig {
    /// Required gap between the batch's smallest negative and largest positive distance.
    #[config(default = 0.1)]
    pub margin: f64,
}

/// The "quadruplet" loss of PaddlePaddle's and MindSpore's metric-learning examples, which is
/// Margin Sample Mining (MSML, Xiao et al. 2017, "Margin Sample Mining Loss"):
///
/// `loss = [max_{(a,p)} d2(a, p) - min_{(a,n)} d2(a, n) + margin]+`
///
/// with `d2` the squared euclidean distance between L2-normalized embeddings, the maximum taken
/// over every anchor-positive pair of the batch (`a != p`, same label) and the minimum over
/// every anchor-negative pair. One scalar per batch; the gradient flows only through the two
/// selected distances, as with `torch.max` / `torch.min`.
///
/// A batch with no positive pair or no negative pair gives 0 (graph connected).
/// The loss is already reduced: every [`Reducer`] passes it through.
#[derive(Module, Debug)]
pub struct QuadrupletLoss {
    #[module(skip)]
    config: QuadrupletLossConfig,
}

impl QuadrupletLossConfig {
    /// Validates the configuration and builds the loss.
    pub fn init(&self) -> LossResult<QuadrupletLoss> {
        check_finite("QuadrupletLoss", "margin", self.margin)?;
        Ok(QuadrupletLoss { config: self.clone() })
    }
}

impl MetricLoss for QuadrupletLoss {
    fn name(&self) -> &'static str {
        "QuadrupletLoss"
    }

    fn accepts_mined(&self) -> bool {
        false
    }

    fn reducer(&self) -> Reducer {
        Reducer::Mean
    }

    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        if input.mined.is_some() {
            return Err(LossError::Unsupported {
                component: self.name(),
                detail: "the loss mines its own pair; do not pass mined pairs".into(),
            });
        }
        let mat = Distance::squared_l2().matrix(input.embeddings.clone(), input.ref_embeddings());
        let (pos, neg) = input.pair_masks();
        let flat = mat.flatten::<1>(0, 1);
        let pos = pos.flatten::<1>(0, 1);
        let neg = neg.flatten::<1>(0, 1);
        let has_pos = pos.clone().sum().greater_elem(0.0).float();
        let has_neg = neg.clone().sum().greater_elem(0.0).float();
        let pos_idx = flat.clone().detach().mask_fill(pos.lower_equal_elem(0.0), -FAR).argmax(0);
        let neg_idx = flat.clone().detach().mask_fill(neg.lower_equal_elem(0.0), FAR).argmin(0);
        let pos_max = flat.clone().gather(0, pos_idx);
        let neg_min = flat.gather(0, neg_idx);
        let loss = relu((pos_max - neg_min).add_scalar(self.config.margin)) * has_pos * has_neg;
        Ok(vec![LossTerm::reduced("loss", loss)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_finite_margin() {
        let err = QuadrupletLossConfig::new().with_margin(f64::NAN).init().unwrap_err();
        assert!(matches!(err, LossError::InvalidConfig { field: "margin", .. }));
    }
}
