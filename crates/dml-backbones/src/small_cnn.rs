//! A small convolutional backbone for 28x28 grayscale images (the Fashion-MNIST quickstart).

use burn::config::Config;
use burn::module::Module;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::tensor::{Device, Tensor};

use crate::conv_bn::ConvBn;

/// Configuration of [`SmallCnn`].
#[derive(Config, Debug)]
pub struct SmallCnnConfig {
    /// Input channels (1 for grayscale).
    #[config(default = 1)]
    pub in_channels: usize,
    /// Channels of the three 3x3 convolutions.
    #[config(default = "[32, 64, 128]")]
    pub channels: [usize; 3],
}

impl SmallCnnConfig {
    /// Builds the model (PyTorch-default-like random init from Burn).
    pub fn init(&self, device: &Device) -> SmallCnn {
        let [a, b, c] = self.channels;
        let unit = |cin, cout| {
            let u = ConvBn::new([cin, cout], 3, 1, 1, true, device);
            (u.conv, u.bn)
        };
        let (conv1, bn1) = unit(self.in_channels, a);
        let (conv2, bn2) = unit(a, b);
        let (conv3, bn3) = unit(b, c);
        SmallCnn {
            block1: ConvBn { conv: conv1, bn: bn1 },
            block2: ConvBn { conv: conv2, bn: bn2 },
            block3: ConvBn { conv: conv3, bn: bn3 },
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
        }
    }
}

/// `[conv3x3-bn-relu-maxpool2] x 2, conv3x3-bn-relu`: a 28x28 image becomes a 7x7 map.
///
/// PyTorch layout (`tools/gen_backbone_checkpoints.py`, `SmallCnn`): `conv1, bn1, conv2, bn2,
/// conv3, bn3`, remapped by [`SMALL_CNN_KEY_REMAPS`].
#[derive(Module, Debug)]
pub struct SmallCnn {
    /// First unit (`conv1`, `bn1`).
    pub block1: ConvBn,
    /// Second unit (`conv2`, `bn2`).
    pub block2: ConvBn,
    /// Third unit (`conv3`, `bn3`).
    pub block3: ConvBn,
    /// 2x2 max pool after the first two units.
    pub pool: MaxPool2d,
}

/// Key remappings from the PyTorch `SmallCnn` state dict (`convK.*`, `bnK.*`) to [`SmallCnn`].
pub const SMALL_CNN_KEY_REMAPS: &[(&str, &str)] =
    &[(r"^conv([123])\.", "block${1}.conv."), (r"^bn([123])\.", "block${1}.bn.")];

impl SmallCnn {
    /// Output channels of the last unit.
    pub fn feature_channels(&self) -> usize {
        self.block3.bn.beta.shape().dims::<1>()[0]
    }

    /// The feature map.
    ///
    /// # Shapes
    /// - input: `[batch, in_channels, 28, 28]` (any size divisible by 4 works)
    /// - output: `[batch, channels[2], 7, 7]`
    pub fn forward_features(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.pool.forward(self.block1.forward(x));
        let x = self.pool.forward(self.block2.forward(x));
        self.block3.forward(x)
    }

    /// Freezes every BatchNorm.
    pub fn freeze_batch_norm(self) -> Self {
        Self {
            block1: self.block1.freeze_batch_norm(),
            block2: self.block2.freeze_batch_norm(),
            block3: self.block3.freeze_batch_norm(),
            pool: self.pool,
        }
    }
}
