//! Backbone + embedding head, with the training switches of the seed systems.

use burn::config::Config;
use burn::module::Module;
use burn::tensor::{Device, Tensor};

use crate::{Backbone, BackboneConfig, EmbeddingHead, EmbeddingHeadConfig, Pooling};

/// Configuration of [`EmbeddingModel`].
#[derive(Config, Debug)]
pub struct EmbeddingModelConfig {
    /// The backbone.
    pub backbone: BackboneConfig,
    /// Embedding size; `None` for the unprojected pooled feature (2048-d for ResNet50).
    #[config(default = "Some(512)")]
    pub embedding_size: Option<usize>,
    /// Pooling of the feature map (Proxy-Anchor: average + max).
    #[config(default = "Pooling::AvgPlusMax")]
    pub pooling: Pooling,
    /// L2-normalize at inference.
    #[config(default = true)]
    pub normalize: bool,
    /// L2-normalize the training embedding too (LDM's `--l2-norm`, the online-metric-learning
    /// seed's `--l2norm`).
    #[config(default = false)]
    pub normalize_training: bool,
    /// Freeze every BatchNorm of the backbone (running statistics and gamma/beta).
    #[config(default = false)]
    pub freeze_batch_norm: bool,
}

impl EmbeddingModelConfig {
    /// Builds the model (backbone weights are then usually imported, see
    /// [`load_pytorch`](crate::load_pytorch)).
    pub fn init(&self, device: &Device) -> EmbeddingModel {
        let backbone = self.backbone.init(device);
        let head = EmbeddingHeadConfig::new(backbone.feature_channels())
            .with_embedding_size(self.embedding_size)
            .with_pooling(self.pooling)
            .with_normalize(self.normalize)
            .with_normalize_training(self.normalize_training)
            .init(device);
        let model = EmbeddingModel { backbone, head, batch_norm_frozen: false };
        if self.freeze_batch_norm { model.freeze_batch_norm() } else { model }
    }
}

/// An embedding network: `head(backbone(images))`.
#[derive(Module, Debug)]
pub struct EmbeddingModel {
    /// The backbone.
    pub backbone: Backbone,
    /// The embedding head.
    pub head: EmbeddingHead,
    /// Whether [`freeze_batch_norm`](Self::freeze_batch_norm) was applied (kept across
    /// [`with_warmup`](Self::with_warmup)).
    pub batch_norm_frozen: bool,
}

impl EmbeddingModel {
    /// Training-time embedding (not normalized).
    ///
    /// # Shapes
    /// - input: `[batch, channels, height, width]`, normalized for the backbone
    /// - output: `[batch, embedding_size]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.head.forward(self.backbone.forward_features(images))
    }

    /// Inference embedding (L2-normalized when configured). Call on `model.valid()` (or a
    /// model on a plain device) so that BatchNorm uses its running statistics.
    ///
    /// # Shapes
    /// - input: `[batch, channels, height, width]`
    /// - output: `[batch, embedding_size]`
    pub fn infer(&self, images: Tensor<4>) -> Tensor<2> {
        self.head.infer(self.backbone.forward_features(images))
    }

    /// Freezes the backbone's BatchNorms: running statistics are no longer updated and
    /// gamma/beta are not trained, in training mode too.
    pub fn freeze_batch_norm(mut self) -> Self {
        self.backbone = self.backbone.freeze_batch_norm();
        self.batch_norm_frozen = true;
        self
    }

    /// Makes the backbone's BatchNorm scale and shift trainable again without un-freezing their
    /// running statistics (they keep normalizing with the running statistics): what LDM's
    /// training code does at the end of its warm-up, when it sets `requires_grad = True` on every
    /// backbone parameter while its BatchNorms stay in `eval()` mode.
    pub fn release_batch_norm_affine(mut self) -> Self {
        self.backbone = self.backbone.set_require_grad(true);
        self
    }

    /// Warm-up switch: with `true`, only the head trains (the backbone's parameters require
    /// no gradient; its BatchNorms still update their statistics unless frozen); with `false`,
    /// the backbone trains again, BatchNorms staying frozen if they were. The loss's proxies
    /// are a separate module and keep training.
    pub fn with_warmup(mut self, warmup: bool) -> Self {
        self.backbone = self.backbone.set_require_grad(!warmup);
        if self.batch_norm_frozen {
            self.backbone = self.backbone.freeze_batch_norm();
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ResNet50Config, SmallCnnConfig};

    #[test]
    fn config_round_trips_through_json() {
        let config = EmbeddingModelConfig::new(BackboneConfig::ResNet50(ResNet50Config::new()))
            .with_embedding_size(None)
            .with_freeze_batch_norm(true);
        let json = serde_json::to_string(&config).expect("serialize");
        let back: EmbeddingModelConfig = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back.embedding_size, None);
        assert!(back.freeze_batch_norm);
        assert!(matches!(back.backbone, BackboneConfig::ResNet50(_)));
    }

    #[test]
    fn unprojected_embedding_is_the_pooled_feature() {
        let device = Device::flex();
        let model = EmbeddingModelConfig::new(BackboneConfig::SmallCnn(SmallCnnConfig::new()))
            .with_embedding_size(None)
            .init(&device);
        let x = Tensor::<4>::zeros([2, 1, 28, 28], &device);
        assert_eq!(model.forward(x).dims(), [2, 128]);
    }
}
