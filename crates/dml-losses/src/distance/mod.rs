//! Distances and similarities between embeddings.

mod batched;
mod kind;

pub use batched::BatchedDistance;
pub use kind::{Distance, EXACT_DIFFERENCE_LIMIT};
