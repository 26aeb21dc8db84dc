//! The losses, one per file, each with its `Config` and PML's defaults.

mod am_loss;
mod arc_face;
mod arc_margin;
mod classification;
mod contrastive;
mod cos_face;
mod cross_batch_memory;
mod eml;
mod input;
mod metric_loss;
mod normalized_softmax;
mod proxy_anchor;
mod proxy_common;
mod proxy_nca;
mod quadruplet;
mod softmax;
mod sub_center_arc_face;
mod triplet_margin;

pub use am_loss::{AMLoss, AMLossConfig};
pub use arc_face::{ArcFaceLoss, ArcFaceLossConfig};
pub use arc_margin::{ArcMarginLoss, ArcMarginLossConfig};
pub use contrastive::{ContrastiveLoss, ContrastiveLossConfig};
pub use cos_face::{CosFaceLoss, CosFaceLossConfig};
pub use cross_batch_memory::{CrossBatchMemory, CrossBatchMemoryConfig};
pub use eml::{EmlLoss, EmlLossConfig};
pub use input::LossInput;
pub use metric_loss::MetricLoss;
pub use normalized_softmax::{NormalizedSoftmaxLoss, NormalizedSoftmaxLossConfig};
pub use proxy_anchor::{ProxyAnchorLoss, ProxyAnchorLossConfig};
pub use proxy_nca::{ProxyNCALoss, ProxyNCALossConfig};
pub use quadruplet::{QuadrupletLoss, QuadrupletLossConfig};
pub use softmax::{SoftmaxLoss, SoftmaxLossConfig};
pub use sub_center_arc_face::{SubCenterArcFaceLoss, SubCenterArcFaceLossConfig};
pub use triplet_margin::{DENSE_TRIPLET_BLOCK, TripletMarginLoss, TripletMarginLossConfig};
