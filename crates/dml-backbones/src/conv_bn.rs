//! Convolution + BatchNorm + ReLU, the unit BN-Inception and the small CNN are built from.

use crate::batch_norm::batch_norm;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

/// `relu(bn(conv(x)))` with a biased convolution (the Caffe-ported BN-Inception layout).
///
/// Field names are the two halves of a PyTorch unit: `conv` holds `<unit>.weight/bias`, `bn`
/// holds `<unit>_bn.*`.
#[derive(Module, Debug)]
pub struct ConvBn {
    /// The convolution (with bias).
    pub conv: Conv2d,
    /// The BatchNorm after it.
    pub bn: BatchNorm,
}

impl ConvBn {
    /// A square `kernel` convolution with the given stride and symmetric padding, then BatchNorm
    /// with epsilon 1e-5 and PyTorch's momentum 0.1.
    pub fn new(
        channels: [usize; 2],
        kernel: usize,
        stride: usize,
        padding: usize,
        bias: bool,
        device: &Device,
    ) -> Self {
        let conv = Conv2dConfig::new(channels, [kernel, kernel])
            .with_stride([stride, stride])
            .with_padding(PaddingConfig2d::Explicit(padding, padding, padding, padding))
            .with_bias(bias)
            .init(device);
        let bn = BatchNormConfig::new(channels[1]).init(device);
        Self { conv, bn }
    }

    /// `relu(bn(conv(x)))`.
    ///
    /// # Shapes
    /// - input: `[batch, in_channels, height, width]`
    /// - output: `[batch, out_channels, height', width']`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        relu(batch_norm(&self.bn, self.conv.forward(x)))
    }

    /// Freezes the BatchNorm: running statistics no longer update, gamma/beta need no gradient.
    pub fn freeze_batch_norm(mut self) -> Self {
        self.bn = self.bn.freeze();
        self
    }
}
