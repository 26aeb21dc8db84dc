//! ResNet50 with torchvision's parameter names.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use super::Bottleneck;
use crate::batch_norm::batch_norm;

/// Key remappings from a torchvision `resnet50` state dict to [`ResNet50`]'s parameter paths:
/// the shortcut's `Sequential` indices become named fields. BatchNorm `weight`/`bias` ->
/// `gamma`/`beta` and the Linear transpose are done by burn-store's PyTorch adapter.
pub const RESNET50_KEY_REMAPS: &[(&str, &str)] =
    &[(r"\.downsample\.0\.", ".downsample.conv."), (r"\.downsample\.1\.", ".downsample.bn.")];

/// Configuration of [`ResNet50`].
#[derive(Config, Debug)]
pub struct ResNet50Config {
    /// Size of the ImageNet classifier `fc` (1000 for torchvision's checkpoint); `None` builds
    /// the backbone without it (its checkpoint keys are then reported unused on import).
    #[config(default = "None")]
    pub num_classes: Option<usize>,
}

impl ResNet50Config {
    /// Builds the model with Burn's default initialization (import weights to get torchvision's).
    pub fn init(&self, device: &Device) -> ResNet50 {
        let stage = |in_ch: usize, width: usize, blocks: usize, stride: usize| {
            (0..blocks)
                .map(|i| {
                    let (cin, s) = if i == 0 { (in_ch, stride) } else { (width * 4, 1) };
                    Bottleneck::new(cin, width, s, device)
                })
                .collect::<Vec<_>>()
        };
        ResNet50 {
            conv1: Conv2dConfig::new([3, 64], [7, 7])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(3, 3, 3, 3))
                .with_bias(false)
                .init(device),
            bn1: BatchNormConfig::new(64).init(device),
            maxpool: MaxPool2dConfig::new([3, 3])
                .with_strides([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(),
            layer1: stage(64, 64, 3, 1),
            layer2: stage(256, 128, 4, 2),
            layer3: stage(512, 256, 6, 2),
            layer4: stage(1024, 512, 3, 2),
            fc: self.num_classes.map(|n| LinearConfig::new(2048, n).init(device)),
        }
    }
}

/// ResNet50 (torchvision layout, v1.5 bottlenecks). Input: RGB in `[0, 1]` normalized with
/// ImageNet mean/std (see [`InputNormalization::imagenet`](crate::InputNormalization::imagenet)).
#[derive(Module, Debug)]
pub struct ResNet50 {
    /// 7x7 stride-2 stem convolution.
    pub conv1: Conv2d,
    /// Stem BatchNorm.
    pub bn1: BatchNorm,
    /// 3x3 stride-2 max pool.
    pub maxpool: MaxPool2d,
    /// 3 bottlenecks, 256 channels.
    pub layer1: Vec<Bottleneck>,
    /// 4 bottlenecks, 512 channels, stride 2.
    pub layer2: Vec<Bottleneck>,
    /// 6 bottlenecks, 1024 channels, stride 2.
    pub layer3: Vec<Bottleneck>,
    /// 3 bottlenecks, 2048 channels, stride 2.
    pub layer4: Vec<Bottleneck>,
    /// ImageNet classifier, if configured.
    pub fc: Option<Linear>,
}

impl ResNet50 {
    /// Channels of the feature map [`forward_features`](Self::forward_features) returns.
    pub const FEATURE_CHANNELS: usize = 2048;

    /// The last feature map, before any pooling.
    ///
    /// # Shapes
    /// - input: `[batch, 3, height, width]`
    /// - output: `[batch, 2048, height / 32, width / 32]` (rounded up)
    pub fn forward_features(&self, x: Tensor<4>) -> Tensor<4> {
        let x = relu(batch_norm(&self.bn1, self.conv1.forward(x)));
        let mut x = self.maxpool.forward(x);
        for block in self.layer1.iter().chain(&self.layer2).chain(&self.layer3).chain(&self.layer4)
        {
            x = block.forward(x);
        }
        x
    }

    /// torchvision's `forward`: features, global average pool, then `fc` when present (else
    /// the 2048-d pooled feature).
    ///
    /// # Shapes
    /// - input: `[batch, 3, height, width]`
    /// - output: `[batch, num_classes]`, or `[batch, 2048]` without `fc`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let pooled = crate::head::global_avg_pool(self.forward_features(x));
        match &self.fc {
            Some(fc) => fc.forward(pooled),
            None => pooled,
        }
    }

    /// Freezes every BatchNorm (running statistics and gamma/beta).
    pub fn freeze_batch_norm(mut self) -> Self {
        self.bn1 = self.bn1.freeze();
        let freeze = |layer: Vec<Bottleneck>| -> Vec<Bottleneck> {
            layer.into_iter().map(Bottleneck::freeze_batch_norm).collect()
        };
        self.layer1 = freeze(self.layer1);
        self.layer2 = freeze(self.layer2);
        self.layer3 = freeze(self.layer3);
        self.layer4 = freeze(self.layer4);
        self
    }
}
