//! Samplers: which dataset indices form each batch of an epoch.

mod batch_sampler;
mod m_per_class;
mod random;

pub use batch_sampler::BatchSampler;
pub use m_per_class::{MPerClassSampler, MPerClassSamplerConfig, SmallClassPolicy};
pub use random::{RandomSampler, RandomSamplerConfig};
