//! The losses, one per file, each with its `Config` and PML's defaults.

mod arc_face;
mod arc_margin;
mod classification;
mod contrastive;
mod cos_face;
mod input;
mod metric_loss;
mod normalized_softmax;
mod softmax;
mod sub_center_arc_face;
mod triplet_margin;

pub use arc_face::{ArcFaceLoss, ArcFaceLossConfig};
pub use arc_margin::{ArcMarginLoss, ArcMarginLossConfig};
pub use contrastive::{ContrastiveLoss, ContrastiveLossConfig};
pub use cos_face::{CosFaceLoss, CosFaceLossConfig};
pub use input::LossInput;
pub use metric_loss::MetricLoss;
pub use normalized_softmax::{NormalizedSoftmaxLoss, NormalizedSoftmaxLossConfig};
pub use softmax::{SoftmaxLoss, SoftmaxLossConfig};
pub use sub_center_arc_face::{SubCenterArcFaceLoss, SubCenterArcFaceLossConfig};
pub use triplet_margin::{DENSE_TRIPLET_BLOCK, TripletMarginLoss, TripletMarginLossConfig};
