//! Distances and similarities between embeddings.

mod kind;

pub use kind::{Distance, EXACT_DIFFERENCE_LIMIT};
