//! The BN-Inception network.

use burn::config::Config;
use burn::module::Module;
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use super::{InceptionBlock, InceptionBlockConfig};
use crate::conv_bn::ConvBn;

/// Key remappings from the BN-Inception checkpoint to [`BnInception`]'s parameter paths: each
/// Caffe unit `X` / `X_bn` becomes `X.conv` / `X.bn`, and inside a block `inception_NN_X`
/// becomes `inception_NN.branch_X`. The `[1, C]` BatchNorm vectors are squeezed by the importer
/// (see [`load_pytorch`](crate::load_pytorch)).
pub const BN_INCEPTION_KEY_REMAPS: &[(&str, &str)] = &[
    (r"^(conv1_7x7_s2|conv2_3x3_reduce|conv2_3x3)_bn\.", "${1}.bn."),
    (r"^(conv1_7x7_s2|conv2_3x3_reduce|conv2_3x3)\.(weight|bias)$", "${1}.conv.${2}"),
    (
        r"^inception_(\d[a-e])_(1x1|3x3_reduce|3x3|double_3x3_reduce|double_3x3_1|double_3x3_2|pool_proj)_bn\.",
        "inception_${1}.branch_${2}.bn.",
    ),
    (
        r"^inception_(\d[a-e])_(1x1|3x3_reduce|3x3|double_3x3_reduce|double_3x3_1|double_3x3_2|pool_proj)\.(weight|bias)$",
        "inception_${1}.branch_${2}.conv.${3}",
    ),
];

/// Configuration of [`BnInception`].
#[derive(Config, Debug)]
pub struct BnInceptionConfig {
    /// Size of the ImageNet classifier `last_linear` (1000 in the published checkpoint);
    /// `None` builds the backbone without it.
    #[config(default = "None")]
    pub num_classes: Option<usize>,
}

#[allow(clippy::too_many_arguments)]
const fn block(
    in_channels: usize,
    c1x1: usize,
    c3x3: [usize; 2],
    double3x3: [usize; 2],
    pool_proj: usize,
    max_pool: bool,
    stride: usize,
) -> InceptionBlockConfig {
    InceptionBlockConfig { in_channels, c1x1, c3x3, double3x3, pool_proj, max_pool, stride }
}

/// The ten blocks 3a..5b, in order.
pub(crate) const BLOCKS: [InceptionBlockConfig; 10] = [
    block(192, 64, [64, 64], [64, 96], 32, false, 1),
    block(256, 64, [64, 96], [64, 96], 64, false, 1),
    block(320, 0, [128, 160], [64, 96], 0, true, 2),
    block(576, 224, [64, 96], [96, 128], 128, false, 1),
    block(576, 192, [96, 128], [96, 128], 128, false, 1),
    block(576, 160, [128, 160], [128, 160], 128, false, 1),
    block(608, 96, [128, 192], [160, 192], 128, false, 1),
    block(608, 0, [128, 192], [192, 256], 0, true, 2),
    block(1056, 352, [192, 320], [160, 224], 128, false, 1),
    block(1024, 352, [192, 320], [192, 224], 128, true, 1),
];

impl BnInceptionConfig {
    /// Builds the model with Burn's default initialization (import weights for the real ones).
    pub fn init(&self, device: &Device) -> BnInception {
        let pool = || MaxPool2dConfig::new([3, 3]).with_strides([2, 2]).with_ceil_mode(true).init();
        let b = |i: usize| BLOCKS[i].init(device);
        BnInception {
            conv1_7x7_s2: ConvBn::new([3, 64], 7, 2, 3, true, device),
            pool1_3x3_s2: pool(),
            conv2_3x3_reduce: ConvBn::new([64, 64], 1, 1, 0, true, device),
            conv2_3x3: ConvBn::new([64, 192], 3, 1, 1, true, device),
            pool2_3x3_s2: pool(),
            inception_3a: b(0),
            inception_3b: b(1),
            inception_3c: b(2),
            inception_4a: b(3),
            inception_4b: b(4),
            inception_4c: b(5),
            inception_4d: b(6),
            inception_4e: b(7),
            inception_5a: b(8),
            inception_5b: b(9),
            last_linear: self.num_classes.map(|n| LinearConfig::new(1024, n).init(device)),
        }
    }
}

/// BN-Inception (Inception v2 with BatchNorm). Input: **BGR** in `[0, 255]` minus the means
/// `[104, 117, 128]`, std 1 (see
/// [`InputNormalization::bn_inception`](crate::InputNormalization::bn_inception)).
#[derive(Module, Debug)]
pub struct BnInception {
    /// 7x7 stride-2 stem unit.
    pub conv1_7x7_s2: ConvBn,
    /// 3x3 stride-2 ceil-mode max pool.
    pub pool1_3x3_s2: MaxPool2d,
    /// 1x1 unit.
    pub conv2_3x3_reduce: ConvBn,
    /// 3x3 unit to 192 channels.
    pub conv2_3x3: ConvBn,
    /// 3x3 stride-2 ceil-mode max pool.
    pub pool2_3x3_s2: MaxPool2d,
    /// Block 3a (256 channels out).
    pub inception_3a: InceptionBlock,
    /// Block 3b (320).
    pub inception_3b: InceptionBlock,
    /// Block 3c, stride 2 (576).
    pub inception_3c: InceptionBlock,
    /// Block 4a (576).
    pub inception_4a: InceptionBlock,
    /// Block 4b (576).
    pub inception_4b: InceptionBlock,
    /// Block 4c (608).
    pub inception_4c: InceptionBlock,
    /// Block 4d (608).
    pub inception_4d: InceptionBlock,
    /// Block 4e, stride 2 (1056).
    pub inception_4e: InceptionBlock,
    /// Block 5a (1024).
    pub inception_5a: InceptionBlock,
    /// Block 5b (1024).
    pub inception_5b: InceptionBlock,
    /// ImageNet classifier, if configured.
    pub last_linear: Option<Linear>,
}

impl BnInception {
    /// Channels of the feature map [`forward_features`](Self::forward_features) returns.
    pub const FEATURE_CHANNELS: usize = 1024;

    fn blocks(&self) -> [&InceptionBlock; 10] {
        [
            &self.inception_3a,
            &self.inception_3b,
            &self.inception_3c,
            &self.inception_4a,
            &self.inception_4b,
            &self.inception_4c,
            &self.inception_4d,
            &self.inception_4e,
            &self.inception_5a,
            &self.inception_5b,
        ]
    }

    /// The last feature map (`inception_5b` output), before any pooling.
    ///
    /// # Shapes
    /// - input: `[batch, 3, height, width]` (BGR, mean-subtracted 0-255)
    /// - output: `[batch, 1024, height', width']` (7x7 for 224x224)
    pub fn forward_features(&self, x: Tensor<4>) -> Tensor<4> {
        let x = self.pool1_3x3_s2.forward(self.conv1_7x7_s2.forward(x));
        let x = self.conv2_3x3.forward(self.conv2_3x3_reduce.forward(x));
        let mut x = self.pool2_3x3_s2.forward(x);
        for block in self.blocks() {
            x = block.forward(x);
        }
        x
    }

    /// Features, global average pool, then `last_linear` when present (else the 1024-d
    /// pooled feature).
    ///
    /// # Shapes
    /// - input: `[batch, 3, height, width]`
    /// - output: `[batch, num_classes]`, or `[batch, 1024]` without `last_linear`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let pooled = crate::head::global_avg_pool(self.forward_features(x));
        match &self.last_linear {
            Some(fc) => fc.forward(pooled),
            None => pooled,
        }
    }

    /// Freezes every BatchNorm (running statistics and gamma/beta).
    pub fn freeze_batch_norm(self) -> Self {
        Self {
            conv1_7x7_s2: self.conv1_7x7_s2.freeze_batch_norm(),
            pool1_3x3_s2: self.pool1_3x3_s2,
            conv2_3x3_reduce: self.conv2_3x3_reduce.freeze_batch_norm(),
            conv2_3x3: self.conv2_3x3.freeze_batch_norm(),
            pool2_3x3_s2: self.pool2_3x3_s2,
            inception_3a: self.inception_3a.freeze_batch_norm(),
            inception_3b: self.inception_3b.freeze_batch_norm(),
            inception_3c: self.inception_3c.freeze_batch_norm(),
            inception_4a: self.inception_4a.freeze_batch_norm(),
            inception_4b: self.inception_4b.freeze_batch_norm(),
            inception_4c: self.inception_4c.freeze_batch_norm(),
            inception_4d: self.inception_4d.freeze_batch_norm(),
            inception_4e: self.inception_4e.freeze_batch_norm(),
            inception_5a: self.inception_5a.freeze_batch_norm(),
            inception_5b: self.inception_5b.freeze_batch_norm(),
            last_linear: self.last_linear,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceil_mode_pooling_gives_7x7_at_224_and_block_widths_chain() {
        let mut channels = 192;
        for b in BLOCKS {
            assert_eq!(b.in_channels, channels);
            channels = b.out_channels();
        }
        assert_eq!(channels, BnInception::FEATURE_CHANNELS);
        let device = Device::flex();
        let model = BnInceptionConfig::new().init(&device);
        // 224 -> 112 -> 56 (ceil) -> 28 (ceil) -> 14 (3c) -> 7 (4e).
        let x = Tensor::<4>::zeros([1, 3, 224, 224], &device);
        assert_eq!(model.forward_features(x).dims(), [1, 1024, 7, 7]);
        // The stem pool rounds up: 112 -> 56 (floor mode would give 55), as in PyTorch.
        let x = Tensor::<4>::zeros([1, 64, 112, 112], &device);
        assert_eq!(model.pool1_3x3_s2.forward(x).dims(), [1, 64, 56, 56]);
    }
}
