//! Regularizers (PML's `regularizers`): a penalty on the embeddings or on a loss's class
//! weights, with its own reducer, added to the loss as a sub-loss of its own
//! (`embedding_reg_loss`, `weight_reg_loss`), as PML's `EmbeddingRegularizerMixin` and
//! `WeightRegularizerMixin` do.

mod center_invariant;
mod lp;
mod regular_face;
mod regularization;
mod regularized;
mod regularizer_config;
mod regularizer_trait;
mod sparse_centers;
mod zero_mean;

pub use center_invariant::{CenterInvariantRegularizer, CenterInvariantRegularizerConfig};
pub use lp::{LpRegularizer, LpRegularizerConfig};
pub use regular_face::{RegularFaceRegularizer, RegularFaceRegularizerConfig};
pub use regularization::RegularizationConfig;
pub use regularized::Regularized;
pub use regularizer_config::RegularizerConfig;
pub use regularizer_trait::Regularizer;
pub use sparse_centers::{SparseCentersRegularizer, SparseCentersRegularizerConfig};
pub use zero_mean::{ZeroMeanRegularizer, ZeroMeanRegularizerConfig};
