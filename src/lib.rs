//! # dml: deep metric learning on Burn
//!
//! This crate re-exports the workspace's member crates:
//!
//! - [`losses`]: losses, distances, miners and reducers, matching pytorch-metric-learning.
//!
//! The backbones, data, evaluation and training crates are planned (see the repository's
//! issues and `docs/`).

pub use dml_losses as losses;
