//! One interface over the three backbones.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};

use crate::InputNormalization;
use crate::bn_inception::{BnInception, BnInceptionConfig};
use crate::resnet::{ResNet50, ResNet50Config};
use crate::small_cnn::{SmallCnn, SmallCnnConfig};

/// Which backbone to build (serializes to JSON with the experiment config).
#[derive(Config, Debug)]
pub enum BackboneConfig {
    /// ResNet50, torchvision layout.
    ResNet50(ResNet50Config),
    /// BN-Inception, Cadene/Caffe layout.
    BnInception(BnInceptionConfig),
    /// The small 28x28 grayscale CNN.
    SmallCnn(SmallCnnConfig),
}

impl BackboneConfig {
    /// Builds the backbone.
    pub fn init(&self, device: &Device) -> Backbone {
        match self {
            Self::ResNet50(c) => Backbone::ResNet50(c.init(device)),
            Self::BnInception(c) => Backbone::BnInception(c.init(device)),
            Self::SmallCnn(c) => Backbone::SmallCnn(c.init(device)),
        }
    }

    /// The input normalization the backbone's checkpoint expects.
    pub fn input_normalization(&self) -> InputNormalization {
        match self {
            Self::ResNet50(_) => InputNormalization::imagenet(),
            Self::BnInception(_) => InputNormalization::bn_inception(),
            Self::SmallCnn(_) => InputNormalization::fashion_mnist(),
        }
    }
}

/// A backbone: an image batch in, a feature map out.
// One value per model: the size of the largest variant (BN-Inception's module handles) does not
// matter, and Burn's `Module` derive does not see through a `Box`.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Backbone {
    /// ResNet50.
    ResNet50(ResNet50),
    /// BN-Inception.
    BnInception(BnInception),
    /// Small CNN.
    SmallCnn(SmallCnn),
}

impl Backbone {
    /// The last feature map, before pooling.
    ///
    /// # Shapes
    /// - input: `[batch, channels_in, height, width]` (normalized, see
    ///   [`BackboneConfig::input_normalization`])
    /// - output: `[batch, feature_channels, height', width']`
    pub fn forward_features(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Self::ResNet50(m) => m.forward_features(x),
            Self::BnInception(m) => m.forward_features(x),
            Self::SmallCnn(m) => m.forward_features(x),
        }
    }

    /// Channels of the feature map.
    pub fn feature_channels(&self) -> usize {
        match self {
            Self::ResNet50(_) => ResNet50::FEATURE_CHANNELS,
            Self::BnInception(_) => BnInception::FEATURE_CHANNELS,
            Self::SmallCnn(m) => m.feature_channels(),
        }
    }

    /// Freezes every BatchNorm: running statistics stop updating and gamma/beta get no
    /// gradient (the seed systems' `bn_freeze`).
    pub fn freeze_batch_norm(self) -> Self {
        match self {
            Self::ResNet50(m) => Self::ResNet50(m.freeze_batch_norm()),
            Self::BnInception(m) => Self::BnInception(m.freeze_batch_norm()),
            Self::SmallCnn(m) => Self::SmallCnn(m.freeze_batch_norm()),
        }
    }
}
