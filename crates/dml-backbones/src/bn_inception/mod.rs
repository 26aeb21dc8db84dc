//! BN-Inception in the layout of the checkpoint DML papers fine-tune from
//! (`bn_inception-52deb4733.pth`, Cadene's pretrainedmodels port of the Caffe model).

mod block;
mod model;

pub use block::{InceptionBlock, InceptionBlockConfig, InceptionPool};
pub use model::{BN_INCEPTION_KEY_REMAPS, BnInception, BnInceptionConfig};
