//! The losses, one per file, each with its `Config` and PML's defaults.

mod circle;
mod contrastive;
mod generalized_lifted_structure;
mod input;
mod lifted_structure;
mod margin;
mod metric_loss;
mod multi_similarity;
mod npairs;
mod ntxent;
mod pair_util;
mod supcon;
mod triplet_margin;

pub use circle::{CircleLoss, CircleLossConfig};
pub use contrastive::{ContrastiveLoss, ContrastiveLossConfig};
pub use generalized_lifted_structure::{
    GeneralizedLiftedStructureLoss, GeneralizedLiftedStructureLossConfig,
};
pub use input::LossInput;
pub use lifted_structure::{LiftedStructureLoss, LiftedStructureLossConfig};
pub use margin::{MarginLoss, MarginLossConfig};
pub use metric_loss::MetricLoss;
pub use multi_similarity::{MultiSimilarityLoss, MultiSimilarityLossConfig};
pub use npairs::{NPairsLoss, NPairsLossConfig};
pub use ntxent::{NTXentLoss, NTXentLossConfig};
pub use supcon::{SupConLoss, SupConLossConfig};
pub use triplet_margin::{DENSE_TRIPLET_BLOCK, TripletMarginLoss, TripletMarginLossConfig};
