use burn::config::Config;
use burn::module::{Module, ParamId};
use burn::tensor::{Int, Tensor, TensorData};

use super::{BoxedLoss, ClassWeights, LossConfig, LossInput, MetricLoss, NTXentLossConfig};
use crate::error::{LossError, LossResult, invalid};
use crate::reducer::{LossTerm, Reducer};

const NAME: &str = "SelfSupervisedLoss";

/// Configuration of [`SelfSupervisedLoss`]; defaults are PML's
/// `SelfSupervisedLoss(loss, symmetric=True)`, with `NTXentLoss()` (SimCLR's loss) as the
/// catalogue's wrapped loss, which PML leaves to the caller.
#[derive(Config, Debug)]
pub struct SelfSupervisedLossConfig {
    /// The wrapped loss: a pair or triplet loss that can compare the batch with a reference set
    /// ([`LossConfig::accepts_reference`]).
    pub loss: Box<LossConfig>,
    /// True: the two views form one batch of `2n` embeddings, each labelled with its sample's
    /// index. False: the first view is compared with the second as a reference set.
    #[config(default = true)]
    pub symmetric: bool,
}

/// Self-supervised wrapper (PML's `SelfSupervisedLoss`): the batch holds two augmented views of
/// the same `n` samples, `embeddings` (`x`) and `ref_emb` (`x'`, given as the reference set,
/// [`LossInput::with_reference`]), and the only positives are the views of the same sample.
///
/// The labels are the sample indices `0..n` for both views (the batch's own labels are not
/// used). With `symmetric` (the default) the wrapped loss sees `[x; x']` (`2n` rows) labelled
/// `[0..n, 0..n]`, so the views of other samples in either view are negatives and both views are
/// anchors; otherwise it sees `x` against the reference `x'`, anchors in `x` only. The value is
/// the wrapped loss's, reduced by its own reducer; its learnable state (MarginLoss's `beta`)
/// sits under `loss`.
#[derive(Module, Debug)]
pub struct SelfSupervisedLoss {
    /// The wrapped loss.
    pub loss: BoxedLoss,
    #[module(skip)]
    config: SelfSupervisedLossConfig,
}

impl Default for SelfSupervisedLossConfig {
    fn default() -> Self {
        Self::new(Box::new(LossConfig::NTXentLoss(NTXentLossConfig::new())))
    }
}

impl SelfSupervisedLossConfig {
    /// Checks the wrapped loss without building it (nothing is drawn).
    ///
    /// # Errors
    /// The wrapped loss's own error, or [`LossError::InvalidConfig`] for the field `loss` when
    /// it cannot take a reference set (a classifier, proxy or batch-only loss; PML's
    /// `supported_losses` list refuses those too).
    pub fn validate(&self) -> LossResult<()> {
        self.loss.validate()?;
        if !self.loss.accepts_reference() {
            return Err(invalid(
                NAME,
                "loss",
                format!(
                    "{} cannot compare the batch with a reference set; SelfSupervisedLoss wraps \
                     pair and triplet losses (ContrastiveLoss, NTXentLoss, TripletMarginLoss, ...)",
                    self.loss.name()
                ),
            ));
        }
        Ok(())
    }

    /// Validates the configuration and builds the wrapped loss on `device`.
    pub fn init(&self, device: &burn::tensor::Device) -> LossResult<SelfSupervisedLoss> {
        self.validate()?;
        let loss = BoxedLoss::new(self.loss.init(device)?);
        Ok(SelfSupervisedLoss { loss, config: self.clone() })
    }
}

impl SelfSupervisedLoss {
    /// The configuration the loss was built with.
    pub fn config(&self) -> &SelfSupervisedLossConfig {
        &self.config
    }

    /// The learnable margins of the wrapped loss.
    pub fn margin_params(&self) -> Vec<ParamId> {
        self.loss.margin_params()
    }

    /// What the wrapped loss is given for `input`: the views labelled by sample index,
    /// concatenated (symmetric) or as batch and reference.
    ///
    /// # Errors
    /// [`LossError::Unsupported`] without a second view or with mined tuples,
    /// [`LossError::ShapeMismatch`] when the views differ in length.
    pub fn wrapped_input(&self, input: &LossInput) -> LossResult<LossInput> {
        let Some((second, _)) = &input.reference else {
            return Err(LossError::Unsupported {
                component: NAME,
                detail: "a batch without its second view: give the augmented copies as the \
                         reference set (LossInput::with_reference)"
                    .into(),
            });
        };
        if input.mined.is_some() {
            return Err(LossError::Unsupported {
                component: NAME,
                detail: "mined pairs or triplets (PML's SelfSupervisedLoss takes none: the \
                         views define the positives)"
                    .into(),
            });
        }
        let (n, m) = (input.batch_size(), second.dims()[0]);
        if n != m {
            return Err(LossError::ShapeMismatch {
                component: NAME,
                detail: format!("{n} embeddings but {m} in the second view; each needs its copy"),
            });
        }
        let index: Vec<i64> = (0..n as i64).collect();
        if self.config.symmetric {
            let both = Tensor::cat(vec![input.embeddings.clone(), second.clone()], 0);
            let labels: Vec<i64> = index.iter().chain(&index).copied().collect();
            Ok(LossInput::from_host_labels(both, &labels))
        } else {
            let device = input.embeddings.device();
            let ref_labels =
                Tensor::<1, Int>::from_data(TensorData::new(index.clone(), [n]), &device);
            Ok(LossInput::from_host_labels(input.embeddings.clone(), &index)
                .with_reference(second.clone(), ref_labels))
        }
    }
}

impl MetricLoss for SelfSupervisedLoss {
    fn name(&self) -> &'static str {
        NAME
    }

    fn reducer(&self) -> Reducer {
        self.loss.reducer()
    }

    /// A batch of one sample still has two views.
    fn needs_pairs(&self) -> bool {
        false
    }

    /// The views define the positives; PML's `forward` takes no mined tuples.
    fn accepts_mined(&self) -> bool {
        false
    }

    /// The reference slot holds the second view, so the loss cannot also be compared with a
    /// memory bank or a gallery.
    fn accepts_reference(&self) -> bool {
        false
    }

    /// The wrapped loss's class weights, if it has any (the pair and triplet losses it can wrap
    /// have none).
    fn class_weights(&self) -> Option<ClassWeights> {
        self.loss.class_weights()
    }

    /// What the wrapped loss sees ([`SelfSupervisedLoss::wrapped_input`]): a regularizer or
    /// reducer acting on this loss acts on the views as PML's wrapped loss would, both views
    /// when symmetric.
    fn terms_input(&self, input: &LossInput) -> LossResult<Option<LossInput>> {
        self.wrapped_input(input).map(Some)
    }

    /// The wrapped loss's terms on [`MetricLoss::terms_input`].
    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        self.loss.terms(&self.wrapped_input(input)?)
    }

    fn forward_input(&self, input: &LossInput) -> LossResult<Tensor<1>> {
        input.validate(NAME)?;
        self.loss.forward_input(&self.wrapped_input(input)?)
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::*;
    use crate::loss::{ContrastiveLossConfig, Loss, MarginLossConfig, SoftmaxLossConfig};

    fn views(device: &Device) -> (Tensor<2>, Tensor<2>) {
        let x = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]], device);
        let y = Tensor::<2>::from_floats([[0.9, 0.2], [0.1, 1.0], [0.6, 0.8]], device);
        (x, y)
    }

    #[test]
    fn the_wrapped_loss_keeps_its_parameters_under_loss() {
        let margin = MarginLossConfig::new().with_learn_beta(true);
        let config = SelfSupervisedLossConfig::new(Box::new(LossConfig::MarginLoss(margin)));
        let loss = LossConfig::SelfSupervisedLoss(config).init(&Device::flex()).unwrap();
        let paths = crate::loss::multiple_losses::tests::param_paths(&loss);
        assert_eq!(paths, ["SelfSupervisedLoss.loss.MarginLoss.beta"]);
        let Loss::SelfSupervisedLoss(ssl) = &loss else { panic!("SelfSupervisedLoss") };
        assert_eq!(loss.margin_params(), ssl.margin_params());
        assert_eq!(loss.margin_params().len(), 1);
    }

    #[test]
    fn rejects_losses_without_a_reference_set() {
        let config = SelfSupervisedLossConfig::new(Box::new(LossConfig::SoftmaxLoss(
            SoftmaxLossConfig::new(3, 2),
        )));
        let err = config.validate().unwrap_err();
        assert!(matches!(err, LossError::InvalidConfig { field: "loss", .. }), "{err}");
        assert!(SelfSupervisedLossConfig::default().validate().is_ok());
    }

    #[test]
    fn labels_the_views_by_sample_and_needs_both() {
        let device = Device::flex();
        let (x, y) = views(&device);
        let labels = Tensor::<1, Int>::from_ints([5, 5, 5], &device);
        let contrastive = LossConfig::ContrastiveLoss(ContrastiveLossConfig::new());
        for symmetric in [true, false] {
            let loss = SelfSupervisedLossConfig::new(Box::new(contrastive.clone()))
                .with_symmetric(symmetric)
                .init(&device)
                .unwrap();
            let input =
                LossInput::new(x.clone(), labels.clone()).with_reference(y.clone(), labels.clone());
            let got = loss.forward_input(&input).unwrap().into_scalar::<f32>();
            let inner = ContrastiveLossConfig::new().init().unwrap();
            let index = Tensor::<1, Int>::from_ints([0, 1, 2], &device);
            let expected = if symmetric {
                let both = Tensor::cat(vec![x.clone(), y.clone()], 0);
                inner.forward(both, Tensor::<1, Int>::from_ints([0, 1, 2, 0, 1, 2], &device))
            } else {
                inner.forward_input(
                    &LossInput::new(x.clone(), index.clone()).with_reference(y.clone(), index),
                )
            };
            let expected = expected.unwrap().into_scalar::<f32>();
            assert!((got - expected).abs() < 1e-6, "symmetric {symmetric}: {got} vs {expected}");
            let alone = loss.forward(x.clone(), labels.clone());
            assert!(matches!(alone, Err(LossError::Unsupported { .. })));
            let short = LossInput::new(x.clone(), labels.clone())
                .with_reference(y.clone().narrow(0, 0, 2), labels.clone().narrow(0, 0, 2));
            assert!(matches!(loss.forward_input(&short), Err(LossError::ShapeMismatch { .. })));
        }
    }
}
