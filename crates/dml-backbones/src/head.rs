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

/// Generalized-mean pooling `(mean(max(x, eps)^p))^(1/p)` over the spatial dimensions
/// (Radenovic et al., "Fine-tuning CNN Image Retrieval with No Human Annotation", TPAMI 2019),
/// with `eps = 1e-6` as their code: `p = 1` is average pooling, large `p` approaches max pooling.
///
/// # Shapes
/// - input: `[batch, channels, height, width]`
/// - output: `[batch, channels]`
pub fn global_gem_pool(x: Tensor<4>, p: f64) -> Tensor<2> {
    let [n, c, h, w] = x.dims();
    x.clamp_min(1e-6)
        .powf_scalar(p)
        .reshape([n, c, h * w])
        .mean_dim(2)
        .reshape([n, c])
        .powf_scalar(1.0 / p)
}

/// How the feature map is pooled.
#[derive(Config, Debug, Copy, PartialEq)]
pub enum Pooling {
    /// Global average pooling (PaddlePaddle's, MindSpore's and torchvision's ResNet head).
    Avg,
    /// Global max pooling.
    Max,
    /// `avg + max`, as Proxy-Anchor and LDM do.
    AvgPlusMax,
    /// Generalized-mean pooling with exponent `p` ([`global_gem_pool`]; 3 in the GeM paper).
    Gem(f64),
}

impl Pooling {
    /// One value per variant (GeM with `p = 3`), for configuration registries.
    pub fn defaults() -> Vec<Pooling> {
        vec![Self::Avg, Self::Max, Self::AvgPlusMax, Self::Gem(3.0)]
    }
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
    /// Whether [`EmbeddingHead::forward`] (the training embedding) L2-normalizes too (LDM's
    /// `--l2-norm 1`, the online-metric-learning seed's `--l2norm`).
    #[config(default = false)]
    pub normalize_training: bool,
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
        EmbeddingHead {
            linear,
            pooling: self.pooling,
            normalize: self.normalize,
            normalize_training: self.normalize_training,
        }
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
    /// Whether [`forward`](Self::forward) L2-normalizes.
    pub normalize_training: bool,
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
            Pooling::Gem(p) => global_gem_pool(features, p),
        }
    }

    /// The training-time embedding: pooled and projected; L2-normalized only with
    /// `normalize_training` (losses normalize themselves where their formula does).
    ///
    /// # Shapes
    /// - input: `[batch, channels, height, width]`
    /// - output: `[batch, embedding_size]` (or `[batch, channels]` without projection)
    pub fn forward(&self, features: Tensor<4>) -> Tensor<2> {
        let pooled = self.pool(features);
        let e = match &self.linear {
            Some(linear) => linear.forward(pooled),
            None => pooled,
        };
        if self.normalize_training { l2_normalize(e) } else { e }
    }

    /// The inference embedding: [`forward`](Self::forward), L2-normalized when configured.
    ///
    /// # Shapes
    /// - input: `[batch, channels, height, width]`
    /// - output: `[batch, embedding_size]`
    pub fn infer(&self, features: Tensor<4>) -> Tensor<2> {
        let e = self.forward(features);
        if self.normalize && !self.normalize_training { l2_normalize(e) } else { e }
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
    fn gem_pooling_spans_average_and_max() {
        let positive = map().abs().add_scalar(0.5);
        let avg = values(global_avg_pool(positive.clone()));
        let gem1 = values(global_gem_pool(positive.clone(), 1.0));
        for (a, g) in avg.iter().zip(&gem1) {
            assert!((a - g).abs() < 1e-5, "{a} vs {g}");
        }
        // channel 0 = 1.5, 2.5, 3.5, 4.5: (mean of cubes)^(1/3)
        let expected = ((1.5f64.powi(3) + 2.5f64.powi(3) + 3.5f64.powi(3) + 4.5f64.powi(3)) / 4.0)
            .powf(1.0 / 3.0);
        let gem3 = values(global_gem_pool(positive, 3.0));
        assert!((gem3[0] as f64 - expected).abs() < 1e-5, "{} vs {expected}", gem3[0]);
    }

    #[test]
    fn l2_normalize_keeps_zero_rows_finite() {
        let zero = Tensor::<2>::zeros([1, 4], &Device::flex());
        assert_eq!(values(l2_normalize(zero)), vec![0.0; 4]);
    }
}
