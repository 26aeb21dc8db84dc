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

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> Tensor<4> {
        // [1, 2, 2, 2]: channel 0 = 1, 2, 3, 4; channel 1 = -1, 0, 0, 5
        Tensor::<1>::from_floats([1.0, 2.0, 3.0, 4.0, -1.0, 0.0, 0.0, 5.0], &Device::flex())
            .reshape([1, 2, 2, 2])
    }

    fn values(t: Tensor<2>) -> Vec<f32> {
        t.into_data().try_to_vec().expect("f32")
    }

    #[test]
    fn avg_plus_max_pooling_sums_both() {
        assert_eq!(values(global_avg_pool(map())), vec![2.5, 1.0]);
        assert_eq!(values(global_max_pool(map())), vec![4.0, 5.0]);
        let head = EmbeddingHeadConfig::new(2).with_embedding_size(None).init(&Device::flex());
        assert_eq!(values(head.forward(map())), vec![6.5, 6.0]);
        assert_eq!(head.output_size(2), 2);
    }

    #[test]
    fn inference_embeddings_have_unit_norm() {
        let device = Device::flex();
        let head = EmbeddingHeadConfig::new(2).with_embedding_size(Some(3)).init(&device);
        assert_eq!(head.output_size(2), 3);
        let e = values(head.infer(map()));
        let norm: f32 = e.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-6, "{norm}");
        let bias = head.linear.as_ref().and_then(|l| l.bias.as_ref()).expect("bias").val();
        assert_eq!(bias.into_data().try_to_vec::<f32>().expect("f32"), vec![0.0; 3]);
    }

    #[test]
    fn l2_normalize_keeps_zero_rows_finite() {
        let zero = Tensor::<2>::zeros([1, 4], &Device::flex());
        assert_eq!(values(l2_normalize(zero)), vec![0.0; 4]);
    }
}
