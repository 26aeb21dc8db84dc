//! torchvision's `Bottleneck` (ResNet v1.5: the stride sits on the 3x3 convolution).

use crate::batch_norm::batch_norm;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

fn conv(channels: [usize; 2], kernel: usize, stride: usize, device: &Device) -> Conv2d {
    let pad = kernel / 2;
    Conv2dConfig::new(channels, [kernel, kernel])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(false)
        .init(device)
}

/// The projection shortcut, torchvision's `downsample = Sequential(conv1x1, bn)`.
///
/// Its checkpoint keys `downsample.0.*` / `downsample.1.*` are remapped to `downsample.conv.*` /
/// `downsample.bn.*` on import.
#[derive(Module, Debug)]
pub struct Downsample {
    /// 1x1 convolution with the block's stride, no bias.
    pub conv: Conv2d,
    /// BatchNorm after it.
    pub bn: BatchNorm,
}

/// `relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))) + shortcut(x))`.
#[derive(Module, Debug)]
pub struct Bottleneck {
    /// 1x1, `in -> width`.
    pub conv1: Conv2d,
    /// BatchNorm of `conv1`.
    pub bn1: BatchNorm,
    /// 3x3 with the block's stride, `width -> width`.
    pub conv2: Conv2d,
    /// BatchNorm of `conv2`.
    pub bn2: BatchNorm,
    /// 1x1, `width -> 4 width`.
    pub conv3: Conv2d,
    /// BatchNorm of `conv3`.
    pub bn3: BatchNorm,
    /// Projection shortcut, present when the stride or channel count changes.
    pub downsample: Option<Downsample>,
}

impl Bottleneck {
    /// A block from `in_channels` to `4 * width` channels.
    pub fn new(in_channels: usize, width: usize, stride: usize, device: &Device) -> Self {
        let out = width * 4;
        let downsample = (stride != 1 || in_channels != out).then(|| Downsample {
            conv: conv([in_channels, out], 1, stride, device),
            bn: BatchNormConfig::new(out).init(device),
        });
        Self {
            conv1: conv([in_channels, width], 1, 1, device),
            bn1: BatchNormConfig::new(width).init(device),
            conv2: conv([width, width], 3, stride, device),
            bn2: BatchNormConfig::new(width).init(device),
            conv3: conv([width, out], 1, 1, device),
            bn3: BatchNormConfig::new(out).init(device),
            downsample,
        }
    }

    /// Forward pass.
    ///
    /// # Shapes
    /// - input: `[batch, in_channels, height, width]`
    /// - output: `[batch, 4 * width, height / stride, width / stride]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = match &self.downsample {
            Some(ds) => batch_norm(&ds.bn, ds.conv.forward(x.clone())),
            None => x.clone(),
        };
        let out = relu(batch_norm(&self.bn1, self.conv1.forward(x)));
        let out = relu(batch_norm(&self.bn2, self.conv2.forward(out)));
        let out = batch_norm(&self.bn3, self.conv3.forward(out));
        relu(out + identity)
    }

    /// Freezes every BatchNorm of the block (running statistics and affine parameters).
    pub fn freeze_batch_norm(mut self) -> Self {
        self.bn1 = self.bn1.freeze();
        self.bn2 = self.bn2.freeze();
        self.bn3 = self.bn3.freeze();
        self.downsample = self.downsample.map(|mut ds| {
            ds.bn = ds.bn.freeze();
            ds
        });
        self
    }
}
