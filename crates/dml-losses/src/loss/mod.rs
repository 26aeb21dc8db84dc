//! The losses, one per file, each with its `Config` and PML's defaults.

mod am_loss;
mod arc_face;
mod arc_margin;
mod circle;
mod classification;
mod contrastive;
mod cos_face;
mod cross_batch_memory;
mod eml;
mod generalized_lifted_structure;
mod input;
mod lifted_structure;
mod margin;
mod metric_loss;
mod multi_similarity;
mod normalized_softmax;
mod npairs;
mod ntxent;
mod pair_util;
mod proxy_anchor;
mod proxy_common;
mod proxy_nca;
mod quadruplet;
mod softmax;
mod sub_center_arc_face;
mod supcon;
mod triplet_margin;

pub use am_loss::{AMLoss, AMLossConfig};
pub use arc_face::{ArcFaceLoss, ArcFaceLossConfig};
pub use arc_margin::{ArcMarginLoss, ArcMarginLossConfig};
pub use circle::{CircleLoss, CircleLossConfig};
pub use contrastive::{ContrastiveLoss, ContrastiveLossConfig};
pub use cos_face::{CosFaceLoss, CosFaceLossConfig};
pub use cross_batch_memory::{CrossBatchMemory, CrossBatchMemoryConfig};
pub use eml::{EmlLoss, EmlLossConfig};
pub use generalized_lifted_structure::{
    GeneralizedLiftedStructureLoss, GeneralizedLiftedStructureLossConfig,
};
pub use input::LossInput;
pub use lifted_structure::{LiftedStructureLoss, LiftedStructureLossConfig};
pub use margin::{MarginLoss, MarginLossConfig};
pub use metric_loss::MetricLoss;
pub use multi_similarity::{MultiSimilarityLoss, MultiSimilarityLossConfig};
pub use normalized_softmax::{NormalizedSoftmaxLoss, NormalizedSoftmaxLossConfig};
pub use npairs::{NPairsLoss, NPairsLossConfig};
pub use ntxent::{NTXentLoss, NTXentLossConfig};
pub use proxy_anchor::{ProxyAnchorLoss, ProxyAnchorLossConfig};
pub use proxy_nca::{ProxyNCALoss, ProxyNCALossConfig};
pub use quadruplet::{QuadrupletLoss, QuadrupletLossConfig};
pub use softmax::{SoftmaxLoss, SoftmaxLossConfig};
pub use sub_center_arc_face::{SubCenterArcFaceLoss, SubCenterArcFaceLossConfig};
pub use supcon::{SupConLoss, SupConLossConfig};
pub use triplet_margin::{DENSE_TRIPLET_BLOCK, TripletMarginLoss, TripletMarginLossConfig};
