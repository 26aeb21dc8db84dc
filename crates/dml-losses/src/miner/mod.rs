//! Miners: choose the informative pairs or triplets of a batch, on detached embeddings.

mod batch_hard;
mod mined;
mod miner_trait;
mod triplet_margin;

pub use batch_hard::{BatchHardMiner, BatchHardMinerConfig, hardest_per_anchor};
pub(crate) use mined::pair_product;
pub use mined::{Mined, Triplets, all_pairs};
pub use miner_trait::Miner;
pub use triplet_margin::{TripletMarginMiner, TripletMarginMinerConfig, TripletType};
