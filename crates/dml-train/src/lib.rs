//! Training recipes for deep metric learning on Burn.
//!
//! tmp
pub mod checkpoint;
pub mod config;
pub mod error;
pub mod loss;
pub mod metrics;
pub mod optim;
pub mod plot;
pub mod progress;
pub mod schedule;
