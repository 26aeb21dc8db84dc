//! Backbones for deep metric learning on Burn: ResNet50 (torchvision layout), BN-Inception
//! (the layout of the checkpoint DML papers fine-tune from) and a small CNN for 28x28
//! grayscale images, behind one [`Backbone`] interface; the seed systems' [`EmbeddingHead`]
//! (GAP + GMP, optional linear, L2 normalization at inference); the training switches
//! (freeze BatchNorm, warm-up); PyTorch checkpoint import and model save/load.
//!
//! ```
//! use burn::tensor::{Device, Distribution, Tensor};
//! use dml_backbones::{BackboneConfig, EmbeddingModelConfig, SmallCnnConfig};
//!
//! let device = Device::flex();
//! let config = EmbeddingModelConfig::new(BackboneConfig::SmallCnn(SmallCnnConfig::new()))
//!     .with_embedding_size(Some(64));
//! let model = config.init(&device);
//! let images = Tensor::<4>::random([2, 1, 28, 28], Distribution::Default, &device);
//! let images = config.backbone.input_normalization().apply(images)?;
//! let embeddings = model.infer(images); // [2, 64], unit rows
//! assert_eq!(embeddings.dims(), [2, 64]);
//! # Ok::<(), dml_backbones::BackboneError>(())
//! ```

pub mod backbone;
pub mod batch_norm;
pub mod batch_norm_sync;
pub mod bn_inception;
pub mod conv_bn;
pub mod error;
pub mod head;
pub mod model;
pub mod normalization;
pub mod precision;
pub mod resnet;
pub mod small_cnn;
pub mod weights;

pub use backbone::{Backbone, BackboneConfig};
pub use batch_norm::batch_norm;
pub use batch_norm_sync::BatchNormSync;
pub use bn_inception::{BN_INCEPTION_KEY_REMAPS, BnInception, BnInceptionConfig};
pub use conv_bn::ConvBn;
pub use error::{BackboneError, BackboneResult};
pub use head::{
    EmbeddingHead, EmbeddingHeadConfig, Pooling, global_avg_pool, global_gem_pool, global_max_pool,
    l2_normalize,
};
pub use model::{EmbeddingModel, EmbeddingModelConfig};
pub use normalization::InputNormalization;
pub use resnet::{RESNET50_KEY_REMAPS, ResNet50, ResNet50Config};
pub use small_cnn::{SMALL_CNN_KEY_REMAPS, SmallCnn, SmallCnnConfig};
pub use weights::{
    ImportReport, SqueezeBatchNormAdapter, load_model, load_pytorch, load_pytorch_safetensors,
    save_model,
};
