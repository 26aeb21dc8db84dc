//! Image transforms (torchvision semantics) and normalisation.

mod normalize;
mod pipeline;
mod resample;
mod step;

pub use normalize::Normalization;
pub use pipeline::{Pipeline, PipelineConfig};
pub use resample::resize_region;
pub use step::Transform;
