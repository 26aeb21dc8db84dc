//! Data for deep metric learning on Burn: readers for the standard benchmarks with their DML
//! class splits, torchvision-style augmentation, random and m-per-class samplers, and a
//! loader that decodes and augments on worker threads while the device trains.
//!
//! - [`dataset`]: CUB-200-2011 ([`Cub200`]), Cars-196 ([`Cars196`], reading `cars_annos.mat`
//!   with the [`mat`] module), Stanford Online Products ([`StanfordOnlineProducts`], full,
//!   half and tiny), In-shop ([`InShop`]) and MNIST-format idx files ([`MnistFormat`]).
//! - [`transform`]: resize (short side or exact), center crop, random crop, random resized
//!   crop, horizontal flip, ImageNet and BN-Inception normalisation.
//! - [`sampler`]: [`RandomSamplerConfig`], PML's [`MPerClassSamplerConfig`], the
//!   PaddlePaddle/MindSpore [`TripletSamplerConfig`] and the online-metric-learning seed's
//!   [`ClassChunkSamplerConfig`].
//! - [`ImageLoader`]: worker threads with prefetch, yielding [`ImageBatch`]es, resumable
//!   mid-epoch ([`ImageLoader::epoch_from`]).
//!
//! ```no_run
//! use std::sync::Arc;
//! use burn::tensor::Device;
//! use dml_data::{Cub200, ImageLoader, ImageSource, LoaderConfig, MPerClassSamplerConfig,
//!                PipelineConfig, Split};
//!
//! let train = Arc::new(Cub200::new("/data/CUB_200_2011").load(Split::Train)?);
//! let sampler = MPerClassSamplerConfig::new(4, 32).with_seed(1).init(train.labels())?;
//! let loader = ImageLoader::new(train, Arc::new(sampler), PipelineConfig::train(224).init()?,
//!                               LoaderConfig::new())?;
//! for batch in loader.epoch(0, &Device::flex()) {
//!     let batch = batch?; // images [32, 3, 224, 224], labels [32]
//! }
//! # Ok::<(), dml_data::DataError>(())
//! ```

pub mod batcher;
pub mod dataset;
pub mod error;
pub mod loader;
pub mod mat;
pub mod rng;
pub mod sampler;
pub mod transform;

pub use batcher::{HostBatch, ImageBatch, ProcessedImage};
pub use dataset::*;
pub use error::{DataError, DataResult};
pub use loader::{DeviceEpoch, HostEpoch, ImageLoader, LoaderConfig};
pub use sampler::*;
pub use transform::{Normalization, Pipeline, PipelineConfig, Transform};
