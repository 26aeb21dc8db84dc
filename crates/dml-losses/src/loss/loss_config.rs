//! [`LossConfig`]: every loss of the crate as one configuration type, serialized with PML's
//! class names as tags, paired with the [`Loss`] module it builds (Burn's
//! `ActivationConfig` / `Activation` pattern).

// The variants are PML's class names, which end in "Loss"; the lint also fires on the code
// `#[derive(Config)]` generates for the enum, which an attribute on the enum does not reach.
#![allow(clippy::enum_variant_names)]

use burn::config::Config;
use burn::tensor::Device;

use super::*;
use crate::error::LossResult;

/// The configuration of any loss of this crate, tagged with PML's class name (or the seed
/// system's, for the losses PML does not have). In JSON:
/// `{"ProxyAnchorLoss": {"num_classes": 100, "embedding_size": 512, "margin": 0.1, ...}}`; in
/// TOML: `[loss.ProxyAnchorLoss]`.
///
/// Losses with class weights or proxies carry `num_classes` and `embedding_size`; a training run
/// fills them in from its data and model ([`LossConfig::set_classes`]), so a configuration file
/// may leave them out. [`LossConfig::init`] validates every field and builds the [`Loss`].
#[derive(Config, Debug)]
#[allow(clippy::enum_variant_names)] // the variants are PML's class names, which end in "Loss"
pub enum LossConfig {
    /// Learnable Dynamic Margin (LDM's `AMLoss`): Proxy Anchor with per-class learnable margins.
    AMLoss(AMLossConfig),
    /// PML's `AngularLoss` (angle at the negative of anchor-positive-negative triangles).
    AngularLoss(AngularLossConfig),
    /// PML's `ArcFaceLoss` (additive angular margin on class weights).
    ArcFaceLoss(ArcFaceLossConfig),
    /// PaddlePaddle's `arcmargin` (ArcFace with `easy_margin`).
    ArcMarginLoss(ArcMarginLossConfig),
    /// PML's `CircleLoss`.
    CircleLoss(CircleLossConfig),
    /// PML's `ContrastiveLoss`.
    ContrastiveLoss(ContrastiveLossConfig),
    /// PML's `CosFaceLoss` (additive cosine margin on class weights).
    CosFaceLoss(CosFaceLossConfig),
    /// PML's `DynamicSoftMarginLoss` (triplets weighted by the running CDF of `d(a, p) - d(a, n)`).
    DynamicSoftMarginLoss(DynamicSoftMarginLossConfig),
    /// PaddlePaddle's `emlloss`.
    EmlLoss(EmlLossConfig),
    /// PML's `FastAPLoss` (histogram approximation of average precision).
    FastAPLoss(FastAPLossConfig),
    /// PML's `GeneralizedLiftedStructureLoss`.
    GeneralizedLiftedStructureLoss(GeneralizedLiftedStructureLossConfig),
    /// PML's `HistogramLoss` (overlap of positive and negative similarity histograms).
    HistogramLoss(HistogramLossConfig),
    /// PML's `InstanceLoss` (cross-entropy over the batch's scaled cosine similarities).
    InstanceLoss(InstanceLossConfig),
    /// PML's `LargeMarginSoftmaxLoss` (L-Softmax: the target angle multiplied by an integer margin).
    LargeMarginSoftmaxLoss(LargeMarginSoftmaxLossConfig),
    /// PML's `IntraPairVarianceLoss` (spread of positive and negative pair similarities).
    IntraPairVarianceLoss(IntraPairVarianceLossConfig),
    /// PML's `LiftedStructureLoss`.
    LiftedStructureLoss(LiftedStructureLossConfig),
    /// PML's `ManifoldLoss` (random-walk similarities of embeddings and learnable proxies).
    ManifoldLoss(ManifoldLossConfig),
    /// PML's `MarginLoss` (learnable boundary `beta`).
    MarginLoss(MarginLossConfig),
    /// PML's `MultiSimilarityLoss`.
    MultiSimilarityLoss(MultiSimilarityLossConfig),
    /// PML's `MultipleLosses`: a weighted sum of losses, each with its own miner.
    MultipleLosses(MultipleLossesConfig),
    /// PML's `NCALoss` (neighbourhood components analysis over the batch).
    NCALoss(NCALossConfig),
    /// PML's `NormalizedSoftmaxLoss`.
    NormalizedSoftmaxLoss(NormalizedSoftmaxLossConfig),
    /// PML's `NPairsLoss`.
    NPairsLoss(NPairsLossConfig),
    /// PML's `NTXentLoss`.
    NTXentLoss(NTXentLossConfig),
    /// The online-metric-learning seed's `ContrastiveLoss` (squared distances, `triu` quirk).
    OnlineContrastiveLoss(OnlineContrastiveLossConfig),
    /// The online-metric-learning seed's `LiftedLoss`.
    OnlineLiftedStructureLoss(OnlineLiftedStructureLossConfig),
    /// The online-metric-learning seed's `TripletLoss` (hardest, semi-hard or all).
    OnlineTripletLoss(OnlineTripletLossConfig),
    /// PML's `P2SGradLoss` (squared error of class cosines against one-hot targets).
    P2SGradLoss(P2SGradLossConfig),
    /// PML's `PNPLoss` (penalizes negatives ranked before positives).
    PNPLoss(PNPLossConfig),
    /// PML's `ProxyAnchorLoss`.
    ProxyAnchorLoss(ProxyAnchorLossConfig),
    /// PML's `ProxyNCALoss`.
    ProxyNCALoss(ProxyNCALossConfig),
    /// PaddlePaddle's and MindSpore's `quadrupletloss` (margin sample mining).
    QuadrupletLoss(QuadrupletLossConfig),
    /// PML's `RankedListLoss` (weighted violating positives and negatives of each ranked list).
    RankedListLoss(RankedListLossConfig),
    /// PML's `SelfSupervisedLoss`: a pair or triplet loss on two augmented views of a batch.
    SelfSupervisedLoss(SelfSupervisedLossConfig),
    /// PML's `SignalToNoiseRatioContrastiveLoss` (contrastive loss on the SNR distance).
    SignalToNoiseRatioContrastiveLoss(SignalToNoiseRatioContrastiveLossConfig),
    /// PML's `SmoothAPLoss` (one minus a sigmoid-smoothed average precision per embedding).
    SmoothAPLoss(SmoothAPLossConfig),
    /// PML's `SoftTripleLoss` (several learnable centers per class).
    SoftTripleLoss(SoftTripleLossConfig),
    /// Softmax cross-entropy on a linear classifier (PaddlePaddle's and MindSpore's pre-training).
    SoftmaxLoss(SoftmaxLossConfig),
    /// PML's `SphereFaceLoss` (L-Softmax with unit class weights, A-Softmax).
    SphereFaceLoss(SphereFaceLossConfig),
    /// The online-metric-learning seed's `ProxyNCA` (fixed proxies, own proxy left out).
    StaticProxyNCALoss(StaticProxyNCALossConfig),
    /// PML's `SubCenterArcFaceLoss`.
    SubCenterArcFaceLoss(SubCenterArcFaceLossConfig),
    /// PML's `SupConLoss`.
    SupConLoss(SupConLossConfig),
    /// PML's `ThresholdConsistentMarginLoss` (cosine margins on positive and negative pairs).
    ThresholdConsistentMarginLoss(ThresholdConsistentMarginLossConfig),
    /// PML's `TripletMarginLoss`.
    TripletMarginLoss(TripletMarginLossConfig),
    /// PML's `TupletMarginLoss` (angular margin on positive pairs, cosine similarity).
    TupletMarginLoss(TupletMarginLossConfig),
    /// PML's `VICRegLoss` (variance, invariance and covariance of two views).
    VICRegLoss(VICRegLossConfig),
}

impl LossConfig {
    /// One configuration per loss, with the reference defaults (class counts 0: to be set).
    pub fn defaults() -> Vec<LossConfig> {
        vec![
            Self::AMLoss(AMLossConfig::new(0, 0)),
            Self::AngularLoss(AngularLossConfig::new()),
            Self::ArcFaceLoss(ArcFaceLossConfig::new(0, 0)),
            Self::ArcMarginLoss(ArcMarginLossConfig::new(0, 0)),
            Self::CircleLoss(CircleLossConfig::new()),
            Self::ContrastiveLoss(ContrastiveLossConfig::new()),
            Self::CosFaceLoss(CosFaceLossConfig::new(0, 0)),
            Self::DynamicSoftMarginLoss(DynamicSoftMarginLossConfig::new()),
            Self::EmlLoss(EmlLossConfig::new()),
            Self::FastAPLoss(FastAPLossConfig::new()),
            Self::GeneralizedLiftedStructureLoss(GeneralizedLiftedStructureLossConfig::new()),
            Self::HistogramLoss(HistogramLossConfig::new()),
            Self::InstanceLoss(InstanceLossConfig::new()),
            Self::LargeMarginSoftmaxLoss(LargeMarginSoftmaxLossConfig::new(0, 0)),
            Self::IntraPairVarianceLoss(IntraPairVarianceLossConfig::new()),
            Self::LiftedStructureLoss(LiftedStructureLossConfig::new()),
            Self::ManifoldLoss(ManifoldLossConfig::new(0).with_num_proxies(0)),
            Self::MarginLoss(MarginLossConfig::new()),
            Self::MultiSimilarityLoss(MultiSimilarityLossConfig::new()),
            Self::MultipleLosses(MultipleLossesConfig::joint_default()),
            Self::NCALoss(NCALossConfig::new()),
            Self::NormalizedSoftmaxLoss(NormalizedSoftmaxLossConfig::new(0, 0)),
            Self::NPairsLoss(NPairsLossConfig::new()),
            Self::NTXentLoss(NTXentLossConfig::new()),
            Self::OnlineContrastiveLoss(OnlineContrastiveLossConfig::new()),
            Self::OnlineLiftedStructureLoss(OnlineLiftedStructureLossConfig::new()),
            Self::OnlineTripletLoss(OnlineTripletLossConfig::new()),
            Self::P2SGradLoss(P2SGradLossConfig::new(0, 0)),
            Self::PNPLoss(PNPLossConfig::new()),
            Self::ProxyAnchorLoss(ProxyAnchorLossConfig::new(0, 0)),
            Self::ProxyNCALoss(ProxyNCALossConfig::new(0, 0)),
            Self::QuadrupletLoss(QuadrupletLossConfig::new()),
            Self::RankedListLoss(RankedListLossConfig::new(0.4, 10.0)),
            Self::SelfSupervisedLoss(SelfSupervisedLossConfig::default()),
            Self::SignalToNoiseRatioContrastiveLoss(SignalToNoiseRatioContrastiveLossConfig::new()),
            Self::SmoothAPLoss(SmoothAPLossConfig::new()),
            Self::SoftTripleLoss(SoftTripleLossConfig::new(0, 0)),
            Self::SoftmaxLoss(SoftmaxLossConfig::new(0, 0)),
            Self::SphereFaceLoss(SphereFaceLossConfig::new(0, 0)),
            Self::StaticProxyNCALoss(StaticProxyNCALossConfig::new(0, 0)),
            Self::SubCenterArcFaceLoss(SubCenterArcFaceLossConfig::new(0, 0)),
            Self::SupConLoss(SupConLossConfig::new()),
            Self::ThresholdConsistentMarginLoss(ThresholdConsistentMarginLossConfig::new()),
            Self::TripletMarginLoss(TripletMarginLossConfig::new()),
            Self::TupletMarginLoss(TupletMarginLossConfig::new()),
            Self::VICRegLoss(VICRegLossConfig::new()),
        ]
    }

    /// The variant's name: PML's class name (`"TripletMarginLoss"`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::AMLoss(_) => "AMLoss",
            Self::AngularLoss(_) => "AngularLoss",
            Self::ArcFaceLoss(_) => "ArcFaceLoss",
            Self::ArcMarginLoss(_) => "ArcMarginLoss",
            Self::CircleLoss(_) => "CircleLoss",
            Self::ContrastiveLoss(_) => "ContrastiveLoss",
            Self::CosFaceLoss(_) => "CosFaceLoss",
            Self::DynamicSoftMarginLoss(_) => "DynamicSoftMarginLoss",
            Self::EmlLoss(_) => "EmlLoss",
            Self::FastAPLoss(_) => "FastAPLoss",
            Self::GeneralizedLiftedStructureLoss(_) => "GeneralizedLiftedStructureLoss",
            Self::HistogramLoss(_) => "HistogramLoss",
            Self::InstanceLoss(_) => "InstanceLoss",
            Self::LargeMarginSoftmaxLoss(_) => "LargeMarginSoftmaxLoss",
            Self::IntraPairVarianceLoss(_) => "IntraPairVarianceLoss",
            Self::LiftedStructureLoss(_) => "LiftedStructureLoss",
            Self::ManifoldLoss(_) => "ManifoldLoss",
            Self::MarginLoss(_) => "MarginLoss",
            Self::MultiSimilarityLoss(_) => "MultiSimilarityLoss",
            Self::MultipleLosses(_) => "MultipleLosses",
            Self::NCALoss(_) => "NCALoss",
            Self::NormalizedSoftmaxLoss(_) => "NormalizedSoftmaxLoss",
            Self::NPairsLoss(_) => "NPairsLoss",
            Self::NTXentLoss(_) => "NTXentLoss",
            Self::OnlineContrastiveLoss(_) => "OnlineContrastiveLoss",
            Self::OnlineLiftedStructureLoss(_) => "OnlineLiftedStructureLoss",
            Self::OnlineTripletLoss(_) => "OnlineTripletLoss",
            Self::P2SGradLoss(_) => "P2SGradLoss",
            Self::PNPLoss(_) => "PNPLoss",
            Self::ProxyAnchorLoss(_) => "ProxyAnchorLoss",
            Self::ProxyNCALoss(_) => "ProxyNCALoss",
            Self::QuadrupletLoss(_) => "QuadrupletLoss",
            Self::RankedListLoss(_) => "RankedListLoss",
            Self::SelfSupervisedLoss(_) => "SelfSupervisedLoss",
            Self::SignalToNoiseRatioContrastiveLoss(_) => "SignalToNoiseRatioContrastiveLoss",
            Self::SmoothAPLoss(_) => "SmoothAPLoss",
            Self::SoftTripleLoss(_) => "SoftTripleLoss",
            Self::SoftmaxLoss(_) => "SoftmaxLoss",
            Self::SphereFaceLoss(_) => "SphereFaceLoss",
            Self::StaticProxyNCALoss(_) => "StaticProxyNCALoss",
            Self::SubCenterArcFaceLoss(_) => "SubCenterArcFaceLoss",
            Self::SupConLoss(_) => "SupConLoss",
            Self::ThresholdConsistentMarginLoss(_) => "ThresholdConsistentMarginLoss",
            Self::TripletMarginLoss(_) => "TripletMarginLoss",
            Self::TupletMarginLoss(_) => "TupletMarginLoss",
            Self::VICRegLoss(_) => "VICRegLoss",
        }
    }

    /// The default configuration of the loss called `name`, matched loosely: case, `_`, `-`,
    /// spaces and a trailing `Loss` are ignored, so `"AMLoss"`, `"am_loss"`, `"Proxy_Anchor"`
    /// and `"proxyanchor"` all name a loss.
    pub fn default_for(name: &str) -> Option<LossConfig> {
        let wanted = loose_name(name);
        Self::defaults().into_iter().find(|c| loose_name(c.name()) == wanted)
    }

    /// `(num_classes, embedding_size)` for losses with class weights or proxies.
    pub fn classes(&self) -> Option<(usize, usize)> {
        match self {
            Self::AMLoss(c) => Some((c.num_classes, c.embedding_size)),
            Self::ArcFaceLoss(c) => Some((c.num_classes, c.embedding_size)),
            Self::ArcMarginLoss(c) => Some((c.num_classes, c.embedding_size)),
            Self::CosFaceLoss(c) => Some((c.num_classes, c.embedding_size)),
            Self::LargeMarginSoftmaxLoss(c) => Some((c.num_classes, c.embedding_size)),
            // One proxy per class when the labels are the meta classes.
            Self::ManifoldLoss(c) if c.meta_classes == ManifoldMetaClasses::Labels => {
                Some((c.num_proxies, c.embedding_size))
            }
            Self::NormalizedSoftmaxLoss(c) => Some((c.num_classes, c.embedding_size)),
            Self::P2SGradLoss(c) => Some((c.num_classes, c.embedding_size)),
            Self::ProxyAnchorLoss(c) => Some((c.num_classes, c.embedding_size)),
            Self::ProxyNCALoss(c) => Some((c.num_classes, c.embedding_size)),
            Self::SoftTripleLoss(c) => Some((c.num_classes, c.embedding_size)),
            Self::SoftmaxLoss(c) => Some((c.num_classes, c.embedding_size)),
            Self::SphereFaceLoss(c) => Some((c.num_classes, c.embedding_size)),
            Self::StaticProxyNCALoss(c) => Some((c.num_classes, c.embedding_size)),
            Self::SubCenterArcFaceLoss(c) => Some((c.num_classes, c.embedding_size)),
            // A composite loss: the first of its losses that has class weights or proxies.
            Self::MultipleLosses(c) => c.losses.iter().find_map(|e| e.loss.classes()),
            Self::SelfSupervisedLoss(c) => c.loss.classes(),
            _ => None,
        }
    }

    /// True for losses whose class weights or proxies are learned (what a weight regularizer
    /// acts on: [`MetricLoss::class_weights`]); StaticProxyNCALoss's proxies are fixed.
    pub fn has_class_weights(&self) -> bool {
        self.class_weight_loss().is_some()
    }

    /// The loss whose learned class weights or proxies [`MetricLoss::class_weights`] hands a
    /// weight regularizer: this loss, or inside a composite the wrapped loss
    /// (`SelfSupervisedLoss`) or the only loss of a `MultipleLosses` list that has them
    /// (none when several do: which one's would be ambiguous). `None` without any.
    pub fn class_weight_loss(&self) -> Option<&LossConfig> {
        match self {
            Self::MultipleLosses(c) => {
                let mut with = c.losses.iter().filter_map(|e| e.loss.class_weight_loss());
                let first = with.next();
                if with.next().is_some() { None } else { first }
            }
            Self::SelfSupervisedLoss(c) => c.loss.class_weight_loss(),
            // Fixed proxies; and ManifoldLoss's proxies, which PML gives no weight regularizer.
            Self::StaticProxyNCALoss(_) | Self::ManifoldLoss(_) => None,
            _ => self.classes().map(|_| self),
        }
    }

    /// Sets the class count and embedding size of a loss with class weights or proxies; other
    /// losses are unchanged.
    pub fn set_classes(&mut self, num_classes: usize, embedding_size: usize) {
        match self {
            Self::AMLoss(c) => {
                c.num_classes = num_classes;
                c.embedding_size = embedding_size;
            }
            Self::ArcFaceLoss(c) => {
                c.num_classes = num_classes;
                c.embedding_size = embedding_size;
            }
            Self::ArcMarginLoss(c) => {
                c.num_classes = num_classes;
                c.embedding_size = embedding_size;
            }
            Self::CosFaceLoss(c) => {
                c.num_classes = num_classes;
                c.embedding_size = embedding_size;
            }
            Self::LargeMarginSoftmaxLoss(c) => {
                c.num_classes = num_classes;
                c.embedding_size = embedding_size;
            }
            Self::ManifoldLoss(c) => {
                // Random meta classes keep their configured number of proxies.
                if c.meta_classes == ManifoldMetaClasses::Labels {
                    c.num_proxies = num_classes;
                }
                c.embedding_size = embedding_size;
            }
            Self::NormalizedSoftmaxLoss(c) => {
                c.num_classes = num_classes;
                c.embedding_size = embedding_size;
            }
            Self::P2SGradLoss(c) => {
                c.num_classes = num_classes;
                c.embedding_size = embedding_size;
            }
            Self::ProxyAnchorLoss(c) => {
                c.num_classes = num_classes;
                c.embedding_size = embedding_size;
            }
            Self::ProxyNCALoss(c) => {
                c.num_classes = num_classes;
                c.embedding_size = embedding_size;
            }
            Self::SoftTripleLoss(c) => {
                c.num_classes = num_classes;
                c.embedding_size = embedding_size;
            }
            Self::SphereFaceLoss(c) => {
                c.num_classes = num_classes;
                c.embedding_size = embedding_size;
            }
            Self::SoftmaxLoss(c) => {
                c.num_classes = num_classes;
                c.embedding_size = embedding_size;
            }
            Self::StaticProxyNCALoss(c) => {
                c.num_classes = num_classes;
                c.embedding_size = embedding_size;
            }
            Self::SubCenterArcFaceLoss(c) => {
                c.num_classes = num_classes;
                c.embedding_size = embedding_size;
            }
            Self::MultipleLosses(c) => {
                c.losses.iter_mut().for_each(|e| e.loss.set_classes(num_classes, embedding_size))
            }
            Self::SelfSupervisedLoss(c) => c.loss.set_classes(num_classes, embedding_size),
            _ => {}
        }
    }

    /// Checks every field without building the loss: no class weights or proxies are drawn,
    /// so checking a configuration never consumes the device's random generator.
    pub fn validate(&self) -> LossResult<()> {
        match self {
            Self::AMLoss(c) => c.validate(),
            Self::ArcFaceLoss(c) => c.validate(),
            Self::ArcMarginLoss(c) => c.validate(),
            Self::CosFaceLoss(c) => c.validate(),
            Self::DynamicSoftMarginLoss(c) => c.validate(),
            Self::ManifoldLoss(c) => c.validate(),
            Self::MarginLoss(c) => c.validate().map(drop),
            Self::LargeMarginSoftmaxLoss(c) => c.validate(),
            Self::NormalizedSoftmaxLoss(c) => c.validate(),
            Self::P2SGradLoss(c) => c.validate(),
            Self::ProxyAnchorLoss(c) => c.validate(),
            Self::ProxyNCALoss(c) => c.validate(),
            Self::SoftTripleLoss(c) => c.validate(),
            Self::SoftmaxLoss(c) => c.validate(),
            Self::SphereFaceLoss(c) => c.validate(),
            Self::StaticProxyNCALoss(c) => c.validate(),
            Self::SubCenterArcFaceLoss(c) => c.validate(),
            Self::MultipleLosses(c) => c.validate(),
            Self::SelfSupervisedLoss(c) => c.validate(),
            // Losses without learnable state draw nothing: building them is the check.
            other => other.init(&Device::flex()).map(drop),
        }
    }

    /// [`MetricLoss::accepts_mined`] of the loss this configuration builds, without building
    /// it.
    pub fn accepts_mined(&self) -> bool {
        match self {
            Self::AMLoss(_)
            | Self::ArcFaceLoss(_)
            | Self::ArcMarginLoss(_)
            | Self::CosFaceLoss(_)
            | Self::NormalizedSoftmaxLoss(_)
            | Self::P2SGradLoss(_)
            | Self::SoftmaxLoss(_)
            | Self::StaticProxyNCALoss(_)
            | Self::SubCenterArcFaceLoss(_)
            | Self::ManifoldLoss(_) => false,
            Self::ProxyAnchorLoss(_)
            | Self::ProxyNCALoss(_)
            | Self::MarginLoss(_)
            | Self::LargeMarginSoftmaxLoss(_)
            | Self::SphereFaceLoss(_)
            | Self::SoftTripleLoss(_) => true,
            Self::MultipleLosses(c) => c.accepts_mined(),
            Self::SelfSupervisedLoss(_) => false,
            other => other.init(&Device::flex()).is_ok_and(|l| l.accepts_mined()),
        }
    }

    /// [`MetricLoss::accepts_reference`] of the loss this configuration builds, without
    /// building it.
    pub fn accepts_reference(&self) -> bool {
        match self {
            Self::AMLoss(_)
            | Self::ArcFaceLoss(_)
            | Self::ArcMarginLoss(_)
            | Self::CosFaceLoss(_)
            | Self::NormalizedSoftmaxLoss(_)
            | Self::P2SGradLoss(_)
            | Self::SoftmaxLoss(_)
            | Self::StaticProxyNCALoss(_)
            | Self::SubCenterArcFaceLoss(_)
            | Self::ProxyAnchorLoss(_)
            | Self::ProxyNCALoss(_)
            | Self::LargeMarginSoftmaxLoss(_)
            | Self::SphereFaceLoss(_)
            | Self::SoftTripleLoss(_)
            | Self::MultipleLosses(_)
            | Self::SelfSupervisedLoss(_)
            | Self::ManifoldLoss(_) => false,
            Self::MarginLoss(_) => true,
            other => other.init(&Device::flex()).is_ok_and(|l| l.accepts_reference()),
        }
    }

    /// Validates the configuration and builds the loss (class weights and proxies drawn from
    /// the device's generator, on `device`).
    pub fn init(&self, device: &Device) -> LossResult<Loss> {
        Ok(match self {
            Self::AMLoss(c) => Loss::AMLoss(c.init(device)?),
            Self::AngularLoss(c) => Loss::AngularLoss(c.init()?),
            Self::ArcFaceLoss(c) => Loss::ArcFaceLoss(c.init(device)?),
            Self::ArcMarginLoss(c) => Loss::ArcMarginLoss(c.init(device)?),
            Self::CircleLoss(c) => Loss::CircleLoss(c.init()?),
            Self::ContrastiveLoss(c) => Loss::ContrastiveLoss(c.init()?),
            Self::CosFaceLoss(c) => Loss::CosFaceLoss(c.init(device)?),
            Self::DynamicSoftMarginLoss(c) => Loss::DynamicSoftMarginLoss(c.init(device)?),
            Self::EmlLoss(c) => Loss::EmlLoss(c.init()?),
            Self::FastAPLoss(c) => Loss::FastAPLoss(c.init()?),
            Self::GeneralizedLiftedStructureLoss(c) => {
                Loss::GeneralizedLiftedStructureLoss(c.init()?)
            }
            Self::HistogramLoss(c) => Loss::HistogramLoss(c.init()?),
            Self::InstanceLoss(c) => Loss::InstanceLoss(c.init()?),
            Self::LargeMarginSoftmaxLoss(c) => Loss::LargeMarginSoftmaxLoss(c.init(device)?),
            Self::IntraPairVarianceLoss(c) => Loss::IntraPairVarianceLoss(c.init()?),
            Self::LiftedStructureLoss(c) => Loss::LiftedStructureLoss(c.init()?),
            Self::ManifoldLoss(c) => Loss::ManifoldLoss(c.init(device)?),
            Self::MarginLoss(c) => Loss::MarginLoss(c.init(device)?),
            Self::MultiSimilarityLoss(c) => Loss::MultiSimilarityLoss(c.init()?),
            Self::MultipleLosses(c) => Loss::MultipleLosses(c.init(device)?),
            Self::NCALoss(c) => Loss::NCALoss(c.init()?),
            Self::NormalizedSoftmaxLoss(c) => Loss::NormalizedSoftmaxLoss(c.init(device)?),
            Self::NPairsLoss(c) => Loss::NPairsLoss(c.init()?),
            Self::NTXentLoss(c) => Loss::NTXentLoss(c.init()?),
            Self::OnlineContrastiveLoss(c) => Loss::OnlineContrastiveLoss(c.init()?),
            Self::OnlineLiftedStructureLoss(c) => Loss::OnlineLiftedStructureLoss(c.init()?),
            Self::OnlineTripletLoss(c) => Loss::OnlineTripletLoss(c.init()?),
            Self::P2SGradLoss(c) => Loss::P2SGradLoss(c.init(device)?),
            Self::PNPLoss(c) => Loss::PNPLoss(c.init()?),
            Self::ProxyAnchorLoss(c) => Loss::ProxyAnchorLoss(c.init(device)?),
            Self::ProxyNCALoss(c) => Loss::ProxyNCALoss(c.init(device)?),
            Self::QuadrupletLoss(c) => Loss::QuadrupletLoss(c.init()?),
            Self::RankedListLoss(c) => Loss::RankedListLoss(c.init()?),
            Self::SelfSupervisedLoss(c) => Loss::SelfSupervisedLoss(c.init(device)?),
            Self::SignalToNoiseRatioContrastiveLoss(c) => {
                Loss::SignalToNoiseRatioContrastiveLoss(c.init()?)
            }
            Self::SmoothAPLoss(c) => Loss::SmoothAPLoss(c.init()?),
            Self::SoftTripleLoss(c) => Loss::SoftTripleLoss(c.init(device)?),
            Self::SoftmaxLoss(c) => Loss::SoftmaxLoss(c.init(device)?),
            Self::SphereFaceLoss(c) => Loss::SphereFaceLoss(c.init(device)?),
            Self::StaticProxyNCALoss(c) => Loss::StaticProxyNCALoss(c.init(device)?),
            Self::SubCenterArcFaceLoss(c) => Loss::SubCenterArcFaceLoss(c.init(device)?),
            Self::SupConLoss(c) => Loss::SupConLoss(c.init()?),
            Self::ThresholdConsistentMarginLoss(c) => {
                Loss::ThresholdConsistentMarginLoss(c.init()?)
            }
            Self::TripletMarginLoss(c) => Loss::TripletMarginLoss(c.init()?),
            Self::TupletMarginLoss(c) => Loss::TupletMarginLoss(c.init()?),
            Self::VICRegLoss(c) => Loss::VICRegLoss(c.init()?),
        })
    }
}

/// `name` lower-cased without `_`, `-`, spaces and a trailing `loss`.
pub fn loose_name(name: &str) -> String {
    let s: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    match s.strip_suffix("loss") {
        Some(stem) if !stem.is_empty() => stem.to_string(),
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_configuration_accepts_is_what_its_loss_accepts() {
        let device = Device::flex();
        for mut config in LossConfig::defaults() {
            config.set_classes(4, 8);
            config.validate().unwrap_or_else(|e| panic!("{}: {e}", config.name()));
            let loss = config.init(&device).expect("builds");
            assert_eq!(config.accepts_mined(), loss.accepts_mined(), "{}", config.name());
            assert_eq!(config.accepts_reference(), loss.accepts_reference(), "{}", config.name());
            let has = loss.class_weights().is_some();
            assert_eq!(config.has_class_weights(), has, "{}", config.name());
        }
    }
}
