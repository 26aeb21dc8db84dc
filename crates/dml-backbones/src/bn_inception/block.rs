//! One BN-Inception block: 1x1, 3x3, double 3x3 and pool branches, concatenated.

use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::tensor::{Device, Tensor};

use crate::conv_bn::ConvBn;

/// The pool branch: `AvgPool2d(3, stride 1, pad 1, ceil_mode, count_include_pad)` in most
/// blocks, `MaxPool2d(3, stride 2, ceil_mode)` in the stride-2 blocks 3c and 4e, and
/// `MaxPool2d(3, stride 1, pad 1, ceil_mode)` in 5b.
#[derive(Module, Debug)]
pub enum InceptionPool {
    /// Average pooling.
    Avg(AvgPool2d),
    /// Max pooling.
    Max(MaxPool2d),
}

impl InceptionPool {
    /// Applies the pool.
    ///
    /// # Shapes
    /// - input: `[batch, channels, height, width]`
    /// - output: `[batch, channels, height', width']`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Self::Avg(pool) => pool.forward(x),
            Self::Max(pool) => pool.forward(x),
        }
    }
}

/// Channel sizes of one block (Caffe's `inception_XX` naming).
#[derive(Debug, Clone, Copy)]
pub struct InceptionBlockConfig {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels of the 1x1 branch; 0 for the stride-2 blocks, which have none.
    pub c1x1: usize,
    /// 3x3 branch: reduce channels and output channels.
    pub c3x3: [usize; 2],
    /// Double 3x3 branch: reduce channels and output channels.
    pub double3x3: [usize; 2],
    /// Pool projection channels; 0 for an unprojected pool branch.
    pub pool_proj: usize,
    /// Whether the pool is a max pool (else average).
    pub max_pool: bool,
    /// Stride of the block (2 halves the resolution).
    pub stride: usize,
}

impl InceptionBlockConfig {
    /// Output channels: the sum over branches.
    pub fn out_channels(&self) -> usize {
        let pool = if self.pool_proj > 0 { self.pool_proj } else { self.in_channels };
        self.c1x1 + self.c3x3[1] + self.double3x3[1] + pool
    }

    /// Builds the block.
    pub fn init(&self, device: &Device) -> InceptionBlock {
        let cin = self.in_channels;
        let s = self.stride;
        let pool = match (self.max_pool, s) {
            (false, _) => InceptionPool::Avg(
                AvgPool2dConfig::new([3, 3])
                    .with_strides([1, 1])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .with_ceil_mode(true)
                    .with_count_include_pad(true)
                    .init(),
            ),
            (true, 1) => InceptionPool::Max(
                MaxPool2dConfig::new([3, 3])
                    .with_strides([1, 1])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .with_ceil_mode(true)
                    .init(),
            ),
            (true, _) => InceptionPool::Max(
                MaxPool2dConfig::new([3, 3]).with_strides([s, s]).with_ceil_mode(true).init(),
            ),
        };
        InceptionBlock {
            branch_1x1: (self.c1x1 > 0)
                .then(|| ConvBn::new([cin, self.c1x1], 1, 1, 0, true, device)),
            branch_3x3_reduce: ConvBn::new([cin, self.c3x3[0]], 1, 1, 0, true, device),
            branch_3x3: ConvBn::new(self.c3x3, 3, s, 1, true, device),
            branch_double_3x3_reduce: ConvBn::new([cin, self.double3x3[0]], 1, 1, 0, true, device),
            branch_double_3x3_1: ConvBn::new(
                [self.double3x3[0], self.double3x3[1]],
                3,
                1,
                1,
                true,
                device,
            ),
            branch_double_3x3_2: ConvBn::new(
                [self.double3x3[1], self.double3x3[1]],
                3,
                s,
                1,
                true,
                device,
            ),
            pool,
            branch_pool_proj: (self.pool_proj > 0)
                .then(|| ConvBn::new([cin, self.pool_proj], 1, 1, 0, true, device)),
        }
    }
}

/// One block. Field `branch_X` holds the checkpoint's `inception_NN_X` (conv) and
/// `inception_NN_X_bn` (BatchNorm) units.
#[derive(Module, Debug)]
pub struct InceptionBlock {
    /// 1x1 branch (absent in stride-2 blocks).
    pub branch_1x1: Option<ConvBn>,
    /// 3x3 branch, reduction.
    pub branch_3x3_reduce: ConvBn,
    /// 3x3 branch, 3x3 convolution (carries the block's stride).
    pub branch_3x3: ConvBn,
    /// Double 3x3 branch, reduction.
    pub branch_double_3x3_reduce: ConvBn,
    /// Double 3x3 branch, first 3x3.
    pub branch_double_3x3_1: ConvBn,
    /// Double 3x3 branch, second 3x3 (carries the block's stride).
    pub branch_double_3x3_2: ConvBn,
    /// Pool branch.
    pub pool: InceptionPool,
    /// Projection after the pool (absent in stride-2 blocks).
    pub branch_pool_proj: Option<ConvBn>,
}

impl InceptionBlock {
    /// Runs the branches and concatenates them along channels, in the checkpoint's order
    /// (1x1, 3x3, double 3x3, pool).
    ///
    /// # Shapes
    /// - input: `[batch, in_channels, height, width]`
    /// - output: `[batch, out_channels, height', width']`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut outs = Vec::with_capacity(4);
        if let Some(b) = &self.branch_1x1 {
            outs.push(b.forward(x.clone()));
        }
        outs.push(self.branch_3x3.forward(self.branch_3x3_reduce.forward(x.clone())));
        let d = self.branch_double_3x3_reduce.forward(x.clone());
        outs.push(self.branch_double_3x3_2.forward(self.branch_double_3x3_1.forward(d)));
        let pooled = self.pool.forward(x);
        outs.push(match &self.branch_pool_proj {
            Some(p) => p.forward(pooled),
            None => pooled,
        });
        Tensor::cat(outs, 1)
    }

    /// Freezes every BatchNorm of the block.
    pub fn freeze_batch_norm(self) -> Self {
        Self {
            branch_1x1: self.branch_1x1.map(ConvBn::freeze_batch_norm),
            branch_3x3_reduce: self.branch_3x3_reduce.freeze_batch_norm(),
            branch_3x3: self.branch_3x3.freeze_batch_norm(),
            branch_double_3x3_reduce: self.branch_double_3x3_reduce.freeze_batch_norm(),
            branch_double_3x3_1: self.branch_double_3x3_1.freeze_batch_norm(),
            branch_double_3x3_2: self.branch_double_3x3_2.freeze_batch_norm(),
            pool: self.pool,
            branch_pool_proj: self.branch_pool_proj.map(ConvBn::freeze_batch_norm),
        }
    }
}
