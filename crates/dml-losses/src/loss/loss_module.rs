//! [`Loss`]: any loss of this crate as one Burn module, built by [`super::LossConfig::init`].

use burn::module::{Module, ParamId};

use super::*;
use crate::error::LossResult;
use crate::reducer::{LossTerm, Reducer};

/// Any loss of this crate. Every loss is a Burn [`Module`] (those without learnable state have no
/// parameters), so a `Loss` can sit inside a model, be optimized with it and be saved with its
/// record; it implements [`MetricLoss`] by delegating to the loss it holds.
#[derive(Module, Debug)]
#[allow(clippy::enum_variant_names)] // the variants are PML's class names, which end in "Loss"
#[allow(clippy::large_enum_variant)] // one value per run; boxing would only add indirection
pub enum Loss {
    /// Learnable Dynamic Margin (LDM's `AMLoss`): Proxy Anchor with per-class learnable margins.
    AMLoss(AMLoss),
    /// PML's `AngularLoss` (angle at the negative of anchor-positive-negative triangles).
    AngularLoss(AngularLoss),
    /// PML's `ArcFaceLoss` (additive angular margin on class weights).
    ArcFaceLoss(ArcFaceLoss),
    /// PaddlePaddle's `arcmargin` (ArcFace with `easy_margin`).
    ArcMarginLoss(ArcMarginLoss),
    /// PML's `CircleLoss`.
    CircleLoss(CircleLoss),
    /// PML's `ContrastiveLoss`.
    ContrastiveLoss(ContrastiveLoss),
    /// PML's `CosFaceLoss` (additive cosine margin on class weights).
    CosFaceLoss(CosFaceLoss),
    /// PML's `DynamicSoftMarginLoss` (triplets weighted by the running CDF of `d(a, p) - d(a, n)`).
    DynamicSoftMarginLoss(DynamicSoftMarginLoss),
    /// PaddlePaddle's `emlloss`.
    EmlLoss(EmlLoss),
    /// PML's `FastAPLoss` (histogram approximation of average precision).
    FastAPLoss(FastAPLoss),
    /// PML's `GeneralizedLiftedStructureLoss`.
    GeneralizedLiftedStructureLoss(GeneralizedLiftedStructureLoss),
    /// PML's `HistogramLoss` (overlap of positive and negative similarity histograms).
    HistogramLoss(HistogramLoss),
    /// PML's `InstanceLoss` (cross-entropy over the batch's scaled cosine similarities).
    InstanceLoss(InstanceLoss),
    /// PML's `LargeMarginSoftmaxLoss` (L-Softmax: the target angle multiplied by an integer margin).
    LargeMarginSoftmaxLoss(LargeMarginSoftmaxLoss),
    /// PML's `IntraPairVarianceLoss` (spread of positive and negative pair similarities).
    IntraPairVarianceLoss(IntraPairVarianceLoss),
    /// PML's `LiftedStructureLoss`.
    LiftedStructureLoss(LiftedStructureLoss),
    /// PML's `ManifoldLoss` (random-walk similarities of embeddings and learnable proxies).
    ManifoldLoss(ManifoldLoss),
    /// PML's `MarginLoss` (learnable boundary `beta`).
    MarginLoss(MarginLoss),
    /// PML's `MultiSimilarityLoss`.
    MultiSimilarityLoss(MultiSimilarityLoss),
    /// PML's `MultipleLosses`: a weighted sum of losses, each with its own miner.
    MultipleLosses(MultipleLosses),
    /// PML's `NCALoss` (neighbourhood components analysis over the batch).
    NCALoss(NCALoss),
    /// PML's `NormalizedSoftmaxLoss`.
    NormalizedSoftmaxLoss(NormalizedSoftmaxLoss),
    /// PML's `NPairsLoss`.
    NPairsLoss(NPairsLoss),
    /// PML's `NTXentLoss`.
    NTXentLoss(NTXentLoss),
    /// The online-metric-learning seed's `ContrastiveLoss` (squared distances, `triu` quirk).
    OnlineContrastiveLoss(OnlineContrastiveLoss),
    /// The online-metric-learning seed's `LiftedLoss`.
    OnlineLiftedStructureLoss(OnlineLiftedStructureLoss),
    /// The online-metric-learning seed's `TripletLoss` (hardest, semi-hard or all).
    OnlineTripletLoss(OnlineTripletLoss),
    /// PML's `P2SGradLoss` (squared error of class cosines against one-hot targets).
    P2SGradLoss(P2SGradLoss),
    /// PML's `PNPLoss` (penalizes negatives ranked before positives).
    PNPLoss(PNPLoss),
    /// PML's `ProxyAnchorLoss`.
    ProxyAnchorLoss(ProxyAnchorLoss),
    /// PML's `ProxyNCALoss`.
    ProxyNCALoss(ProxyNCALoss),
    /// PaddlePaddle's and MindSpore's `quadrupletloss` (margin sample mining).
    QuadrupletLoss(QuadrupletLoss),
    /// PML's `RankedListLoss` (weighted violating positives and negatives of each ranked list).
    RankedListLoss(RankedListLoss),
    /// PML's `SelfSupervisedLoss`: a pair or triplet loss on two augmented views of a batch.
    SelfSupervisedLoss(SelfSupervisedLoss),
    /// PML's `SignalToNoiseRatioContrastiveLoss` (contrastive loss on the SNR distance).
    SignalToNoiseRatioContrastiveLoss(SignalToNoiseRatioContrastiveLoss),
    /// PML's `SmoothAPLoss` (one minus a sigmoid-smoothed average precision per embedding).
    SmoothAPLoss(SmoothAPLoss),
    /// PML's `SoftTripleLoss` (several learnable centers per class).
    SoftTripleLoss(SoftTripleLoss),
    /// Softmax cross-entropy on a linear classifier (PaddlePaddle's and MindSpore's pre-training).
    SoftmaxLoss(SoftmaxLoss),
    /// PML's `SphereFaceLoss` (L-Softmax with unit class weights, A-Softmax).
    SphereFaceLoss(SphereFaceLoss),
    /// The online-metric-learning seed's `ProxyNCA` (fixed proxies, own proxy left out).
    StaticProxyNCALoss(StaticProxyNCALoss),
    /// PML's `SubCenterArcFaceLoss`.
    SubCenterArcFaceLoss(SubCenterArcFaceLoss),
    /// PML's `SupConLoss`.
    SupConLoss(SupConLoss),
    /// PML's `ThresholdConsistentMarginLoss` (cosine margins on positive and negative pairs).
    ThresholdConsistentMarginLoss(ThresholdConsistentMarginLoss),
    /// PML's `TripletMarginLoss`.
    TripletMarginLoss(TripletMarginLoss),
    /// PML's `TupletMarginLoss` (angular margin on positive pairs, cosine similarity).
    TupletMarginLoss(TupletMarginLoss),
    /// PML's `VICRegLoss` (variance, invariance and covariance of two views).
    VICRegLoss(VICRegLoss),
}

/// `match` over every variant, binding the loss to `$l`.
macro_rules! each_loss {
    ($self:expr, $l:ident => $body:expr) => {
        match $self {
            Loss::AMLoss($l) => $body,
            Loss::AngularLoss($l) => $body,
            Loss::ArcFaceLoss($l) => $body,
            Loss::ArcMarginLoss($l) => $body,
            Loss::CircleLoss($l) => $body,
            Loss::ContrastiveLoss($l) => $body,
            Loss::CosFaceLoss($l) => $body,
            Loss::DynamicSoftMarginLoss($l) => $body,
            Loss::EmlLoss($l) => $body,
            Loss::FastAPLoss($l) => $body,
            Loss::GeneralizedLiftedStructureLoss($l) => $body,
            Loss::HistogramLoss($l) => $body,
            Loss::InstanceLoss($l) => $body,
            Loss::LargeMarginSoftmaxLoss($l) => $body,
            Loss::IntraPairVarianceLoss($l) => $body,
            Loss::LiftedStructureLoss($l) => $body,
            Loss::ManifoldLoss($l) => $body,
            Loss::MarginLoss($l) => $body,
            Loss::MultiSimilarityLoss($l) => $body,
            Loss::MultipleLosses($l) => $body,
            Loss::NCALoss($l) => $body,
            Loss::NormalizedSoftmaxLoss($l) => $body,
            Loss::NPairsLoss($l) => $body,
            Loss::NTXentLoss($l) => $body,
            Loss::OnlineContrastiveLoss($l) => $body,
            Loss::OnlineLiftedStructureLoss($l) => $body,
            Loss::OnlineTripletLoss($l) => $body,
            Loss::P2SGradLoss($l) => $body,
            Loss::PNPLoss($l) => $body,
            Loss::ProxyAnchorLoss($l) => $body,
            Loss::ProxyNCALoss($l) => $body,
            Loss::QuadrupletLoss($l) => $body,
            Loss::RankedListLoss($l) => $body,
            Loss::SelfSupervisedLoss($l) => $body,
            Loss::SignalToNoiseRatioContrastiveLoss($l) => $body,
            Loss::SmoothAPLoss($l) => $body,
            Loss::SoftTripleLoss($l) => $body,
            Loss::SoftmaxLoss($l) => $body,
            Loss::SphereFaceLoss($l) => $body,
            Loss::StaticProxyNCALoss($l) => $body,
            Loss::SubCenterArcFaceLoss($l) => $body,
            Loss::SupConLoss($l) => $body,
            Loss::ThresholdConsistentMarginLoss($l) => $body,
            Loss::TripletMarginLoss($l) => $body,
            Loss::TupletMarginLoss($l) => $body,
            Loss::VICRegLoss($l) => $body,
        }
    };
}

impl Loss {
    /// The parameters that train as margins (their own optimizer group): AMLoss's per-class
    /// margins and MarginLoss's `beta`, also inside a composite loss. Empty for every other
    /// loss.
    pub fn margin_params(&self) -> Vec<ParamId> {
        match self {
            Loss::AMLoss(l) => vec![l.margins.id],
            Loss::MarginLoss(l) => vec![l.beta.id],
            Loss::MultipleLosses(l) => l.margin_params(),
            Loss::SelfSupervisedLoss(l) => l.margin_params(),
            _ => Vec::new(),
        }
    }
}

impl MetricLoss for Loss {
    fn name(&self) -> &'static str {
        each_loss!(self, l => l.name())
    }

    fn reducer(&self) -> Reducer {
        each_loss!(self, l => l.reducer())
    }

    fn needs_pairs(&self) -> bool {
        each_loss!(self, l => l.needs_pairs())
    }

    fn accepts_mined(&self) -> bool {
        each_loss!(self, l => l.accepts_mined())
    }

    fn accepts_reference(&self) -> bool {
        each_loss!(self, l => l.accepts_reference())
    }

    fn terms(&self, input: &LossInput) -> LossResult<Vec<LossTerm>> {
        each_loss!(self, l => l.terms(input))
    }

    fn class_weights(&self) -> Option<ClassWeights> {
        each_loss!(self, l => MetricLoss::class_weights(l))
    }

    fn terms_input(&self, input: &LossInput) -> LossResult<Option<LossInput>> {
        each_loss!(self, l => l.terms_input(input))
    }

    fn fused_forward(&self, input: &LossInput) -> LossResult<Option<burn::tensor::Tensor<1>>> {
        each_loss!(self, l => l.fused_forward(input))
    }

    fn forward_input(&self, input: &LossInput) -> LossResult<burn::tensor::Tensor<1>> {
        each_loss!(self, l => l.forward_input(input))
    }
}
