//! The losses, one per file, each with its `Config` and PML's defaults.

mod am_loss;
mod contrastive;
mod input;
mod metric_loss;
mod proxy_anchor;
mod proxy_common;
mod proxy_nca;
mod triplet_margin;

pub use am_loss::{AMLoss, AMLossConfig};
pub use contrastive::{ContrastiveLoss, ContrastiveLossConfig};
pub use input::LossInput;
pub use metric_loss::MetricLoss;
pub use proxy_anchor::{ProxyAnchorLoss, ProxyAnchorLossConfig};
pub use proxy_nca::{ProxyNCALoss, ProxyNCALossConfig};
pub use triplet_margin::{DENSE_TRIPLET_BLOCK, TripletMarginLoss, TripletMarginLossConfig};
