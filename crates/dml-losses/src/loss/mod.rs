//! The losses, one per file, each with its `Config` and PML's defaults.

mod contrastive;
mod cross_batch_memory;
mod eml;
mod input;
mod metric_loss;
mod quadruplet;
mod triplet_margin;

pub use contrastive::{ContrastiveLoss, ContrastiveLossConfig};
pub use cross_batch_memory::{CrossBatchMemory, CrossBatchMemoryConfig};
pub use eml::{EmlLoss, EmlLossConfig};
pub use input::LossInput;
pub use metric_loss::MetricLoss;
pub use quadruplet::{QuadrupletLoss, QuadrupletLossConfig};
pub use triplet_margin::{DENSE_TRIPLET_BLOCK, TripletMarginLoss, TripletMarginLossConfig};
