//! The loss of a run: learnable losses (classifier weights, proxies, margins) are a Burn
//! [`Module`] trained and checkpointed beside the model; pair losses are plain values.

use burn::module::{Module, ParamId};
use burn::tensor::{Device, Int, Tensor};
use dml_losses::{
    AMLoss, AMLossConfig, ArcMarginLoss, ArcMarginLossConfig, ContrastiveLossConfig, EmlLossConfig,
    MetricLoss, MultiSimilarityLossConfig, NormalizedSoftmaxLoss, NormalizedSoftmaxLossConfig,
    ProxyAnchorLoss, ProxyAnchorLossConfig, QuadrupletLossConfig, SoftmaxLoss, SoftmaxLossConfig,
    TripletMarginLossConfig,
};

use crate::config::{LossKind, TrainConfig};
use crate::error::TrainResult;

/// A loss with learnable state, as one module so that it is optimized and checkpointed as a
/// whole.
#[derive(Module, Debug)]
pub enum LearnableLoss {
    /// Softmax cross-entropy on a linear classifier.
    Softmax(SoftmaxLoss),
    /// ArcMargin.
    Arcmargin(ArcMarginLoss),
    /// NormalizedSoftmax.
    NormalizedSoftmax(NormalizedSoftmaxLoss),
    /// Proxy-Anchor.
    ProxyAnchor(ProxyAnchorLoss),
    /// AMLoss (proxies + per-class margins).
    Am(AMLoss),
}

impl LearnableLoss {
    /// The loss as a [`MetricLoss`].
    pub fn metric(&self) -> &dyn MetricLoss {
        match self {
            Self::Softmax(l) => l,
            Self::Arcmargin(l) => l,
            Self::NormalizedSoftmax(l) => l,
            Self::ProxyAnchor(l) => l,
            Self::Am(l) => l,
        }
    }

    /// The parameter that has its own optimizer (AMLoss's margins), if any.
    pub fn margin_param(&self) -> Option<ParamId> {
        match self {
            Self::Am(l) => Some(l.margins.id),
            _ => None,
        }
    }
}

/// The loss of a run: either learnable (a module) or a pair loss (no parameters).
#[allow(clippy::large_enum_variant)]
pub enum TrainLoss {
    /// A loss with parameters.
    Learnable(LearnableLoss),
    /// A pair / triplet loss.
    Pair(Box<dyn MetricLoss + Send + Sync>),
}

impl TrainLoss {
    /// Builds the configured loss for `num_classes` training classes on `device`.
    ///
    /// Settings: ArcMargin takes `arc_scale`, `arc_margin`, `arc_easy_margin`; Proxy-Anchor
    /// `alpha` and `mrg`; AMLoss `alpha` for both of its scales; triplet and quadruplet take
    /// `margin`; the other losses use their reference defaults (PML's or the seed system's).
    pub fn init(config: &TrainConfig, num_classes: usize, device: &Device) -> TrainResult<Self> {
        let d = config.embedding_size;
        Ok(match config.loss {
            LossKind::Softmax => Self::Learnable(LearnableLoss::Softmax(
                SoftmaxLossConfig::new(num_classes, d).init(device)?,
            )),
            LossKind::Arcmargin => Self::Learnable(LearnableLoss::Arcmargin(
                ArcMarginLossConfig::new(num_classes, d)
                    .with_scale(config.arc_scale)
                    .with_margin(config.arc_margin)
                    .with_easy_margin(config.arc_easy_margin)
                    .init(device)?,
            )),
            LossKind::NormalizedSoftmax => Self::Learnable(LearnableLoss::NormalizedSoftmax(
                NormalizedSoftmaxLossConfig::new(num_classes, d).init(device)?,
            )),
            LossKind::ProxyAnchor => Self::Learnable(LearnableLoss::ProxyAnchor(
                ProxyAnchorLossConfig::new(num_classes, d)
                    .with_alpha(config.alpha)
                    .with_margin(config.mrg)
                    .init(device)?,
            )),
            LossKind::AmLoss => Self::Learnable(LearnableLoss::Am(
                AMLossConfig::new(num_classes, d)
                    .with_alpha_pos(config.alpha)
                    .with_alpha_neg(config.alpha)
                    .init(device)?,
            )),
            LossKind::Triplet => Self::Pair(Box::new(
                TripletMarginLossConfig::new().with_margin(config.margin).init()?,
            )),
            LossKind::Quadruplet => {
                Self::Pair(Box::new(QuadrupletLossConfig::new().with_margin(config.margin).init()?))
            }
            LossKind::Eml => Self::Pair(Box::new(EmlLossConfig::new().init()?)),
            LossKind::Contrastive => Self::Pair(Box::new(ContrastiveLossConfig::new().init()?)),
            LossKind::MultiSimilarity => {
                Self::Pair(Box::new(MultiSimilarityLossConfig::new().init()?))
            }
        })
    }

    /// The loss value for a batch.
    ///
    /// # Shapes
    /// - `embeddings`: `[n, d]`, `labels`: `[n]` -> `[1]`
    pub fn forward(&self, embeddings: Tensor<2>, labels: Tensor<1, Int>) -> TrainResult<Tensor<1>> {
        Ok(match self {
            Self::Learnable(l) => l.metric().forward(embeddings, labels)?,
            Self::Pair(l) => l.forward(embeddings, labels)?,
        })
    }
}
