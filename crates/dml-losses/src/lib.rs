//! Losses, distances, miners and reducers for deep metric learning on Burn.
//!
//! The pipeline follows pytorch-metric-learning (PML): a [`Distance`] compares embeddings, a
//! [`Miner`] optionally picks informative pairs or triplets, a loss computes unreduced
//! [`LossTerm`]s, and a [`Reducer`] turns them into the scalar to minimise. Defaults are PML's,
//! so the same call gives the same number (checked against PML-generated fixtures in
//! `tests/`).
//!
//! ```
//! use burn::tensor::{Device, Int, Tensor};
//! use dml_losses::{MetricLoss, TripletMarginLossConfig};
//!
//! let device = Device::flex().autodiff();
//! let embeddings = Tensor::<2>::from_floats([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]], &device)
//!     .require_grad();
//! let labels = Tensor::<1, Int>::from_ints([0, 0, 1, 1], &device);
//! let loss = TripletMarginLossConfig::new().init()?;
//! let value = loss.forward(embeddings.clone(), labels)?;
//! let grads = value.backward();
//! assert!(embeddings.grad(&grads).is_some());
//! # Ok::<(), dml_losses::LossError>(())
//! ```

pub mod distance;
pub mod error;
pub mod fused;
pub mod loss;
pub mod miner;
pub mod ops;
pub mod reducer;
pub mod regularizer;

pub use distance::{BatchedDistance, Distance};
pub use error::{LossError, LossResult};
pub use loss::*;
pub use miner::*;
pub use reducer::{Anchors, LossTerm, Reducer, TermKind};
pub use regularizer::*;
