use burn::config::Config;
use burn::module::Module;

use super::{ContrastiveLoss, ContrastiveLossConfig, LossInput, MetricLoss};
use crate::distance::Distance;
use crate::error::LossResult;
use crate::reducer::{LossTerm, Reducer};

const NAME: &str = "SignalToNoiseRatioContrastiveLoss";

/// Configuration of [`SignalToNoiseRatioContrastiveLoss`]; defaults are PML's
/// `SignalToNoiseRatioContrastiveLoss()` (its `ContrastiveLoss` defaults with `SNRDistance()`).
/// PML asserts the SNR distance, so only its `normalize_embeddings` can be chosen.
#[derive(Config, Debug)]
pub struct SignalToNoiseRatioContrastiveLossConfig {
    /// Positive pairs with an SNR distance below this cost nothing.
    #[config(default = 0.0)]
    pub pos_margin: f64,
    /// Negative pairs with an SNR distance above this cost nothing.
    #[config(default = 1.0)]
    pub neg_margin: f64,
    /// L2-normalize the embeddings before the SNR distance (PML's default).
    #[config(default = true)]
    pub normalize_embeddings: bool,
    /// How each sub-loss is reduced (PML's default: average over the non-zero pairs).
    #[config(default = "Reducer::AvgNonZero")]
    pub reducer: Reducer,
}

/// Signal-to-noise-ratio contrastive loss (Yuan et al., "Signal-To-Noise Ratio: A Robust
/// Distance Metric for Deep Metric Learning", CVPR 2019), as PML's
/// `SignalToNoiseRatioContrastiveLoss`: the contrastive loss on [`Distance::Snr`],
/// `d_ij = var(x_i - x_j) / var(x_i)`.
///
/// `pos_loss_ap = [d_ap - pos_margin]+` per positive pair, `neg_loss_an = [neg_margin - d_an]+`
/// per negative pair, each sub-loss reduced on its own (average over non-zero pairs by
/// default); an empty set of pairs gives 0.
#[derive(Module, Debug)]
pub struct SignalToNoiseRatioContrastiveLoss {
    /// The contrastive loss on the SNR distance that computes the terms.
    inner: ContrastiveLoss,
    #[module(skip)]
    config: SignalToNoiseRatioContrastiveLossConfig,
}

impl SignalToNoiseRatioContrastiveLossConfig {
    /// Validates the configuration (margins finite, a valid reducer) and builds the loss.
    pub fn init(&self) -> LossResult<SignalToNoiseRatioContrastiveLoss> {
        let inner = ContrastiveLossConfig::new()
            .with_pos_margin(self.pos_margin)
            .with_neg_margin(self.neg_margin)
            .with_distance(Distance::Snr { normalize_embeddings: self.normalize_embeddings })
            .with_reducer(self.reducer.clone())
            .init_named(NAME)?;
        Ok(SignalToNoiseRatioContrastiveLoss { inner, config: self.clone() })
    }
}

impl SignalToNoiseRatioContrastiveLoss {
    /// The configuration the loss was built with.
    pub fn config(&self) -> &SignalToNoiseRatioContrastiveLossConfig {
        &self.config
    }
}

impl MetricLoss for SignalToNoiseRatioContrastiveLoss {
    fn name(&self) -> &'static str {
        NAME
    }

    fn reducer(&self) -> Reducer {
        self.config.reducer.clone()
    }

    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        self.inner.terms(input)
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Int, Tensor};

    use super::*;
    use crate::error::LossError;

    #[test]
    fn rejects_bad_config_naming_the_field() {
        let bad = [
            (
                SignalToNoiseRatioContrastiveLossConfig::new().with_pos_margin(f64::NAN),
                "pos_margin",
            ),
            (
                SignalToNoiseRatioContrastiveLossConfig::new().with_neg_margin(f64::INFINITY),
                "neg_margin",
            ),
            (
                SignalToNoiseRatioContrastiveLossConfig::new()
                    .with_reducer(Reducer::Divisor { divisor: 0.0 }),
                "divisor",
            ),
        ];
        for (config, name) in bad {
            match config.init() {
                Err(LossError::InvalidConfig { component, field, .. }) => {
                    assert_eq!(field, name);
                    if name != "divisor" {
                        assert_eq!(component, NAME);
                    }
                }
                other => panic!("{name}: {other:?}"),
            }
        }
        assert!(SignalToNoiseRatioContrastiveLossConfig::new().init().is_ok());
    }

    #[test]
    fn duplicates_and_one_class_give_zero_with_a_connected_graph() {
        let device = Device::flex().autodiff();
        let loss = SignalToNoiseRatioContrastiveLossConfig::new().init().unwrap();
        let e =
            Tensor::<2>::from_floats([[1.0, 0.0, 2.0], [1.0, 0.0, 2.0]], &device).require_grad();
        let y = Tensor::<1, Int>::from_ints([5, 5], &device);
        let value = loss.forward(e.clone(), y).unwrap();
        assert_eq!(value.clone().into_scalar::<f32>(), 0.0);
        let g = e.grad(&value.backward()).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert!(g.iter().all(|v| *v == 0.0), "{g:?}");
    }
}
