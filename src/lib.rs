//! # dml: deep metric learning on Burn
//!
//! This crate re-exports the workspace's member crates:
//!
//! - [`losses`]: losses, distances, miners and reducers, matching pytorch-metric-learning.
//! - [`eval`]: exact k-nearest-neighbour retrieval metrics (Recall@K, MAP@R, ...) and NMI/AMI.
//! - [`backbones`]: ResNet50, BN-Inception and a small CNN that load PyTorch checkpoints, the
//!   embedding head and the training switches.
//! - [`data`]: dataset readers, augmentation, samplers and a prefetching loader.
//!
//! - [`train`]: training recipes, checkpoints and resume (see `docs/training.md`).
//!
//! ```
//! use burn::tensor::{Device, Distribution, Int, Tensor};
//! use dml::losses::{BatchHardMinerConfig, LossInput, MetricLoss, Miner, TripletMarginLossConfig};
//!
//! let device = Device::flex().autodiff();
//! let embeddings = Tensor::<2>::random([64, 128], Distribution::Default, &device).require_grad();
//! let labels = Tensor::<1, Int>::arange(0..64, &device).div_scalar(4); // 16 classes x 4
//! let mined = BatchHardMinerConfig::new().init().mine(embeddings.clone(), labels.clone())?;
//! let loss = TripletMarginLossConfig::new().with_margin(0.2).init()?;
//! let value = loss.forward_input(&LossInput::new(embeddings.clone(), labels).with_mined(mined))?;
//! let grads = value.backward();
//! let d_embeddings = embeddings.grad(&grads); // Some([64, 128])
//! assert!(d_embeddings.is_some());
//! # Ok::<(), dml::losses::LossError>(())
//! ```

pub use dml_backbones as backbones;
pub use dml_data as data;
pub use dml_eval as eval;
pub use dml_losses as losses;
pub use dml_train as train;
