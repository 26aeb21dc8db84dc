//! Miners: choose the informative pairs or triplets of a batch, on detached embeddings.

mod angular;
mod batch_easy_hard;
mod batch_hard;
mod distance_weighted;
mod embeddings_already_packaged_as_triplets;
mod hardest_negative;
mod hdc;
mod mined;
mod miner_config;
mod miner_trait;
mod multi_similarity;
mod pair_margin;
mod semihard_negative;
mod triplet_margin;
mod uniform_histogram;

pub use angular::{AngularMiner, AngularMinerConfig};
pub use batch_easy_hard::{BatchEasyHardMiner, BatchEasyHardMinerConfig, BatchMiningStrategy};
pub use batch_hard::{BatchHardMiner, BatchHardMinerConfig, hardest_per_anchor};
pub use distance_weighted::{DistanceWeightedMiner, DistanceWeightedMinerConfig};
pub use embeddings_already_packaged_as_triplets::{
    EmbeddingsAlreadyPackagedAsTriplets, EmbeddingsAlreadyPackagedAsTripletsConfig,
};
pub use hardest_negative::{HardestNegativeMiner, HardestNegativeMinerConfig};
pub use hdc::{HDCMiner, HDCMinerConfig};
pub(crate) use mined::pair_product;
pub use mined::{Mined, Triplets, all_pairs};
pub use miner_config::{AnyMiner, MinerConfig};
pub use miner_trait::Miner;
pub use multi_similarity::{MultiSimilarityMiner, MultiSimilarityMinerConfig};
pub use pair_margin::{PairMarginMiner, PairMarginMinerConfig};
pub use semihard_negative::{SemihardNegativeMiner, SemihardNegativeMinerConfig};
pub use triplet_margin::{TripletMarginMiner, TripletMarginMinerConfig, TripletType};
pub(crate) use uniform_histogram::uniforms;
pub use uniform_histogram::{UniformHistogramMiner, UniformHistogramMinerConfig};
