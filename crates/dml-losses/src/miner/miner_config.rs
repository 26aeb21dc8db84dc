//! [`MinerConfig`]: every miner of this crate as one configuration type (PML's class names as
//! tags), and the [`AnyMiner`] module it builds.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Int, Tensor};

use super::*;
use crate::error::LossResult;
use crate::loss::loose_name;

/// The configuration of any miner of this crate, tagged with PML's class name. In JSON:
/// `{"TripletMarginMiner": {"margin": 0.2, "type_of_triplets": "Semihard", ...}}`; in TOML:
/// `[miner.TripletMarginMiner]`.
#[derive(Config, Debug)]
pub enum MinerConfig {
    /// PML's `AngularMiner`: the triplets whose angle at the negative exceeds a threshold.
    AngularMiner(AngularMinerConfig),
    /// PML's `BatchEasyHardMiner`: per anchor, the easiest, hardest or semi-hard positive and negative.
    BatchEasyHardMiner(BatchEasyHardMinerConfig),
    /// PML's `BatchHardMiner`: the farthest positive and the nearest negative of each anchor.
    BatchHardMiner(BatchHardMinerConfig),
    /// PML's `DistanceWeightedMiner`: negatives drawn by the inverse density of sphere distances.
    DistanceWeightedMiner(DistanceWeightedMinerConfig),
    /// PML's `EmbeddingsAlreadyPackagedAsTriplets`: rows `3k, 3k + 1, 3k + 2` are one triplet.
    EmbeddingsAlreadyPackagedAsTriplets(EmbeddingsAlreadyPackagedAsTripletsConfig),
    /// FaceNet's hardest-negative mining (the online-metric-learning seed's `hardest`).
    HardestNegativeMiner(HardestNegativeMinerConfig),
    /// PML's `HDCMiner`: the farthest positive and the closest negative pairs of the batch.
    HDCMiner(HDCMinerConfig),
    /// PML's `MultiSimilarityMiner`.
    MultiSimilarityMiner(MultiSimilarityMinerConfig),
    /// PML's `PairMarginMiner`.
    PairMarginMiner(PairMarginMinerConfig),
    /// FaceNet's semi-hard negative mining (the online-metric-learning seed's `semihard`).
    SemihardNegativeMiner(SemihardNegativeMinerConfig),
    /// PML's `TripletMarginMiner` (all, hard, semihard or easy triplets).
    TripletMarginMiner(TripletMarginMinerConfig),
    /// PML's `UniformHistogramMiner`: pairs drawn evenly from a histogram of their distances.
    UniformHistogramMiner(UniformHistogramMinerConfig),
}

impl MinerConfig {
    /// One configuration per miner, with PML's (or the seed's) defaults.
    pub fn defaults() -> Vec<MinerConfig> {
        vec![
            Self::AngularMiner(AngularMinerConfig::new()),
            Self::BatchEasyHardMiner(BatchEasyHardMinerConfig::new()),
            Self::BatchHardMiner(BatchHardMinerConfig::new()),
            Self::DistanceWeightedMiner(DistanceWeightedMinerConfig::new()),
            Self::EmbeddingsAlreadyPackagedAsTriplets(
                EmbeddingsAlreadyPackagedAsTripletsConfig::new(),
            ),
            Self::HardestNegativeMiner(HardestNegativeMinerConfig::new()),
            Self::HDCMiner(HDCMinerConfig::new()),
            Self::MultiSimilarityMiner(MultiSimilarityMinerConfig::new()),
            Self::PairMarginMiner(PairMarginMinerConfig::new()),
            Self::SemihardNegativeMiner(SemihardNegativeMinerConfig::new()),
            Self::TripletMarginMiner(TripletMarginMinerConfig::new()),
            Self::UniformHistogramMiner(UniformHistogramMinerConfig::new()),
        ]
    }

    /// The variant's name: PML's class name (`"BatchHardMiner"`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::AngularMiner(_) => "AngularMiner",
            Self::BatchEasyHardMiner(_) => "BatchEasyHardMiner",
            Self::BatchHardMiner(_) => "BatchHardMiner",
            Self::DistanceWeightedMiner(_) => "DistanceWeightedMiner",
            Self::EmbeddingsAlreadyPackagedAsTriplets(_) => "EmbeddingsAlreadyPackagedAsTriplets",
            Self::HardestNegativeMiner(_) => "HardestNegativeMiner",
            Self::HDCMiner(_) => "HDCMiner",
            Self::MultiSimilarityMiner(_) => "MultiSimilarityMiner",
            Self::PairMarginMiner(_) => "PairMarginMiner",
            Self::SemihardNegativeMiner(_) => "SemihardNegativeMiner",
            Self::TripletMarginMiner(_) => "TripletMarginMiner",
            Self::UniformHistogramMiner(_) => "UniformHistogramMiner",
        }
    }

    /// The default configuration of the miner called `name`, matched loosely (case, `_`, `-`
    /// and spaces ignored, as [`crate::LossConfig::default_for`]).
    pub fn default_for(name: &str) -> Option<MinerConfig> {
        let wanted = loose_name(name);
        Self::defaults().into_iter().find(|c| loose_name(c.name()) == wanted)
    }

    /// Validates the configuration and builds the miner.
    pub fn init(&self) -> LossResult<AnyMiner> {
        Ok(match self {
            Self::AngularMiner(c) => AnyMiner::AngularMiner(c.init()?),
            Self::BatchEasyHardMiner(c) => AnyMiner::BatchEasyHardMiner(c.init()?),
            Self::BatchHardMiner(c) => {
                c.distance.validate("BatchHardMiner")?;
                AnyMiner::BatchHardMiner(c.init())
            }
            Self::DistanceWeightedMiner(c) => AnyMiner::DistanceWeightedMiner(c.init()?),
            Self::EmbeddingsAlreadyPackagedAsTriplets(c) => {
                AnyMiner::EmbeddingsAlreadyPackagedAsTriplets(c.init()?)
            }
            Self::HardestNegativeMiner(c) => AnyMiner::HardestNegativeMiner(c.init()?),
            Self::HDCMiner(c) => AnyMiner::HDCMiner(c.init()?),
            Self::MultiSimilarityMiner(c) => AnyMiner::MultiSimilarityMiner(c.init()?),
            Self::PairMarginMiner(c) => AnyMiner::PairMarginMiner(c.init()?),
            Self::SemihardNegativeMiner(c) => AnyMiner::SemihardNegativeMiner(c.init()?),
            Self::TripletMarginMiner(c) => AnyMiner::TripletMarginMiner(c.init()?),
            Self::UniformHistogramMiner(c) => AnyMiner::UniformHistogramMiner(c.init()?),
        })
    }
}

/// Any miner of this crate, as one (parameter-free) Burn module; it implements [`Miner`] by
/// delegating to the miner it holds.
#[derive(Module, Debug)]
#[allow(clippy::enum_variant_names)] // the variants are PML's class names, which end in "Miner"
pub enum AnyMiner {
    /// PML's `AngularMiner`: the triplets whose angle at the negative exceeds a threshold.
    AngularMiner(AngularMiner),
    /// PML's `BatchEasyHardMiner`: per anchor, the easiest, hardest or semi-hard positive and negative.
    BatchEasyHardMiner(BatchEasyHardMiner),
    /// PML's `BatchHardMiner`: the farthest positive and the nearest negative of each anchor.
    BatchHardMiner(BatchHardMiner),
    /// PML's `DistanceWeightedMiner`: negatives drawn by the inverse density of sphere distances.
    DistanceWeightedMiner(DistanceWeightedMiner),
    /// PML's `EmbeddingsAlreadyPackagedAsTriplets`: rows `3k, 3k + 1, 3k + 2` are one triplet.
    EmbeddingsAlreadyPackagedAsTriplets(EmbeddingsAlreadyPackagedAsTriplets),
    /// FaceNet's hardest-negative mining (the online-metric-learning seed's `hardest`).
    HardestNegativeMiner(HardestNegativeMiner),
    /// PML's `HDCMiner`: the farthest positive and the closest negative pairs of the batch.
    HDCMiner(HDCMiner),
    /// PML's `MultiSimilarityMiner`.
    MultiSimilarityMiner(MultiSimilarityMiner),
    /// PML's `PairMarginMiner`.
    PairMarginMiner(PairMarginMiner),
    /// FaceNet's semi-hard negative mining (the online-metric-learning seed's `semihard`).
    SemihardNegativeMiner(SemihardNegativeMiner),
    /// PML's `TripletMarginMiner` (all, hard, semihard or easy triplets).
    TripletMarginMiner(TripletMarginMiner),
    /// PML's `UniformHistogramMiner`: pairs drawn evenly from a histogram of their distances.
    UniformHistogramMiner(UniformHistogramMiner),
}

/// `match` over every variant, binding the miner to `$m`.
macro_rules! each_miner {
    ($self:expr, $m:ident => $body:expr) => {
        match $self {
            AnyMiner::AngularMiner($m) => $body,
            AnyMiner::BatchEasyHardMiner($m) => $body,
            AnyMiner::BatchHardMiner($m) => $body,
            AnyMiner::DistanceWeightedMiner($m) => $body,
            AnyMiner::EmbeddingsAlreadyPackagedAsTriplets($m) => $body,
            AnyMiner::HardestNegativeMiner($m) => $body,
            AnyMiner::HDCMiner($m) => $body,
            AnyMiner::MultiSimilarityMiner($m) => $body,
            AnyMiner::PairMarginMiner($m) => $body,
            AnyMiner::SemihardNegativeMiner($m) => $body,
            AnyMiner::TripletMarginMiner($m) => $body,
            AnyMiner::UniformHistogramMiner($m) => $body,
        }
    };
}

impl Miner for AnyMiner {
    fn name(&self) -> &'static str {
        each_miner!(self, m => m.name())
    }

    fn mine_against(
        &self,
        embeddings: Tensor<2>,
        labels: &Tensor<1, Int>,
        ref_embeddings: Tensor<2>,
        ref_labels: &Tensor<1, Int>,
        same_set: bool,
    ) -> LossResult<Mined> {
        each_miner!(self, m => m.mine_against(embeddings, labels, ref_embeddings, ref_labels, same_set))
    }
}
