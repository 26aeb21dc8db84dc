//! Samplers: which dataset indices form each batch of an epoch.

mod batch_sampler;
mod by_class;
mod class_chunk;
mod cycle;
mod m_per_class;
mod random;
mod triplet;

pub use batch_sampler::BatchSampler;
pub use class_chunk::{ChunkSize, ClassChunkSampler, ClassChunkSamplerConfig};
pub use cycle::{CycleSampler, CycleSamplerConfig};
pub use m_per_class::{MPerClassSampler, MPerClassSamplerConfig, SmallClassPolicy};
pub use random::{RandomSampler, RandomSamplerConfig};
pub use triplet::{TripletSampler, TripletSamplerConfig};
