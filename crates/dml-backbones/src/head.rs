//! The embedding head of the seed systems: GAP + GMP, optional linear, L2 normalize.

use burn::config::Config;
use burn::module::{Initializer, Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

/// Global average pooling over the spatial dimensions.
///
/// # Shapes
/// - input: `[batch, channels, height, width]`
/// - output: `[batch, channels]`
pub fn global_avg_pool(x: Tensor<4>) -> Tensor<2> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h * w]).mean_dim(2).reshape([n, c])
}

/// Global max pooling over the spatial dimensions.
///
/// # Shapes
/// - input: `[batch, channels, height, width]`
/// - output: `[batch, channels]`
pub fn global_max_pool(x: Tensor<4>) -> Tensor<2> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h * w]).max_dim(2).reshape([n, c])
}

/// Row-wise L2 normalization, `x / max(|x|, 1e-12)` (PyTorch's `F.normalize`).
///
/// # Shapes
/// - input / output: `[batch, dim]`
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-12);
    x / norm
}

/// How the feature map is pooled.
#[derive(Config, Debug, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// Global average pooling.
    Avg,
    /// Global max pooling.
    Max,
    /// `avg + max`, as Proxy-Anchor does.
    AvgPlusMax,
}

/// Configuration of [`EmbeddingHead`].
#[derive(Config, Debug)]
pub struct EmbeddingHeadConfig {
    /// Channels of the backbone's feature map (2048 for ResNet50, 1024 for BN-Inception).
    pub in_channels: usize,
    /// Embedding size of the linear layer; `None` keeps the pooled, unprojected feature.
    #[config(default = "Some(512)")]
    pub embedding_size: Option<usize>,
    /// Pooling of the feature map.
    #[config(default = "Pooling::AvgPlusMax")]
    pub pooling: Pooling,
    /// Whether [`EmbeddingHead::infer`] L2-normalizes.
    #[config(default = true)]
    pub normalize: bool,
}

impl EmbeddingHeadConfig {
    /// Builds the head. The linear layer is initialized as Proxy-Anchor does:
    /// `kaiming_normal_(mode='fan_out')` weights, zero bias.
    pub fn init(&self, device: &Device) -> EmbeddingHead {
        let linear = self.embedding_size.map(|e| {
            let mut linear = LinearConfig::new(self.in_channels, e)
                .with_initializer(Initializer::KaimingNormal {
                    gain: core::f64::consts::SQRT_2,
                    fan_out_only: true,
                })
                .init(device);
            linear.bias = Some(Param::from_tensor(Tensor::zeros([e], device)));
            linear
        });
        EmbeddingHead { linear, pooling: self.pooling, normalize: self.normalize }
    }
}

/// Pool, project, normalize at inference.
#[derive(Module, Debug)]
pub struct EmbeddingHead {
    /// Projection to the embedding size (`None`: the pooled feature is the embedding).
    pub linear: Option<Linear>,
    /// Pooling of the feature map.
    #[module(skip)]
    pub pooling: Pooling,
    /// Whether [`infer`](Self::infer) L2-normalizes.
    pub normalize: bool,
}

impl EmbeddingHead {
    /// Pooled feature, before the linear layer.
    ///
    /// # Shapes
    /// - input: `[batch, channels, height, width]`
    /// - output: `[batch, channels]`
    pub fn pool(&self, features: Tensor<4>) -> Tensor<2> {
        match self.pooling {
            Pooling::Avg => global_avg_pool(features),
            Pooling::Max => global_max_pool(features),
            Pooling::AvgPlusMax => global_avg_pool(features.clone()) + global_max_pool(features),
        }
    }

    /// The training-time embedding: pooled and projected, not normalized (losses normalize
    /// themselves where their formula does).
    ///
    /// # Shapes
    /// - input: `[batch, channels, height, width]`
    /// - output: `[batch, embedding_size]` (or `[batch, channels]` without projection)
    pub fn forward(&self, features: Tensor<4>) -> Tensor<2> {
        let pooled = self.pool(features);
        match &self.linear {
            Some(linear) => linear.forward(pooled),
            None => pooled,
        }
    }

    /// The inference embedding: [`forward`](Self::forward), L2-normalized when configured.
    ///
    /// # Shapes
    /// - input: `[batch, channels, height, width]`
    /// - output: `[batch, embedding_size]`
    pub fn infer(&self, features: Tensor<4>) -> Tensor<2> {
        let e = self.forward(features);
        if self.normalize { l2_normalize(e) } else { e }
    }

    /// Output size.
    pub fn output_size(&self, in_channels: usize) -> usize {
        match &self.linear {
            Some(linear) => linear.weight.shape().dims::<2>()[1],
            None => in_channels,
        }
    }
}
