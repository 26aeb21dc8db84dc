//! A trained embedding network read back from a training checkpoint, and the embedding of
//! image files with the preprocessing it was trained with.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use dml_backbones::EmbeddingModel;
use dml_data::{ImageLoader, ImageSource, LoaderConfig, Normalization, PipelineConfig, Transform};

use crate::checkpoint::Checkpoint;
use dml_backbones::BackboneConfig;

use crate::config::TrainConfig;
use crate::data::{MemoryImages, SequentialBatches};
use crate::error::{TrainError, TrainResult};
use crate::trainer::{build_model, load_module, read_meta};

/// An embedding network with the configuration it was trained with.
pub struct TrainedModel {
    /// The network, in inference mode (BatchNorm uses running statistics).
    pub model: EmbeddingModel,
    /// The configuration of the run that wrote the checkpoint.
    pub config: TrainConfig,
    /// The checkpoint it was read from.
    pub checkpoint: PathBuf,
    /// SHA-256 of its weights (the checkpoint's `model` section): what embedding indexes
    /// record, so that an index is only searched with the model that computed it.
    pub model_hash: String,
    /// The configuration hash of the run that wrote it.
    pub config_hash: String,
}

impl TrainedModel {
    /// Reads the model of a training checkpoint (`best.ckpt` or `last.ckpt`); the loss and
    /// optimizer sections are not needed.
    ///
    /// # Errors
    /// [`TrainError::MissingCheckpoint`], [`TrainError::CorruptCheckpoint`] or
    /// [`TrainError::IncompatibleCheckpoint`] naming the file.
    pub fn load(path: &Path, device: &Device) -> TrainResult<Self> {
        let ckpt = Checkpoint::load(path)?;
        let meta = read_meta(&ckpt, path)?;
        let mut config = meta.config;
        // The weights come from the checkpoint: the original ImageNet file is not needed.
        config.pretrained = None;
        config.run.resume = None;
        let model = build_model(&config, device)?;
        let section = ckpt.section("model", path)?;
        let model = load_module(model, section, path, "model")?.valid();
        let model_hash = crate::provenance::weights_hash(&model);
        if model_hash != meta.model_hash {
            return Err(TrainError::CorruptCheckpoint {
                path: path.into(),
                reason: format!(
                    "its weights hash to {model_hash}, its metadata says {}",
                    meta.model_hash
                ),
            });
        }
        Ok(Self {
            model,
            config,
            checkpoint: path.to_path_buf(),
            model_hash,
            config_hash: meta.config_hash,
        })
    }

    /// The evaluation preprocessing of image files for this model: the run's test transform
    /// (`data.test_transform`, by default `Resize(resize)` + `CenterCrop(image_size)` with the
    /// backbone's normalisation); for the 28x28 grey
    /// network, `Resize(28)` + `CenterCrop(28)` in `[0, 1]` (converted to grey by
    /// [`embed_batch`](Self::embed_batch)).
    pub fn file_pipeline(&self) -> PipelineConfig {
        match &self.config.model.backbone {
            BackboneConfig::SmallCnn(_) => PipelineConfig::new(vec![
                Transform::Resize { size: 28 },
                Transform::CenterCrop { size: 28 },
            ])
            .with_normalization(Normalization::Unit),
            backbone => self.config.data.test_pipeline(backbone),
        }
    }

    /// L2-normalised embeddings of a batch of preprocessed images.
    ///
    /// # Shapes
    /// - `images`: `[batch, 3, h, w]` from [`file_pipeline`](Self::file_pipeline), or
    ///   `[batch, 1, 28, 28]` already normalised for the grey network
    /// - output: `[batch, embedding_size]`
    pub fn embed_batch(&self, images: Tensor<4>) -> Tensor<2> {
        let [b, c, h, w] = images.dims();
        let grey = matches!(self.config.model.backbone, BackboneConfig::SmallCnn(_));
        let images = if grey && c == 3 {
            // Pillow's convert("L") weights, then the Fashion-MNIST statistics.
            let device = images.device();
            let weights =
                Tensor::<1>::from_floats([0.299, 0.587, 0.114], &device).reshape([1, 3, 1, 1]);
            let grey = (images * weights).sum_dim(1).reshape([b, 1, h, w]);
            grey.sub_scalar(0.2860).div_scalar(0.3530)
        } else {
            images
        };
        self.model.infer(images)
    }

    /// Embeds every image of `source` in index order (`batch` images at a time, decoded on
    /// `workers` threads): `(row-major [n, d] values, d)`.
    ///
    /// # Errors
    /// [`TrainError::Data`] naming the image that fails to decode.
    pub fn embed_source(
        &self,
        source: Arc<dyn ImageSource>,
        batch: usize,
        workers: usize,
        device: &Device,
    ) -> TrainResult<(Vec<f32>, usize)> {
        let n = source.len();
        let pipeline = self.file_pipeline().init().map_err(|e| TrainError::Data(e.to_string()))?;
        let sampler = Arc::new(SequentialBatches::new(n, batch));
        let loader = ImageLoader::new(
            source,
            sampler,
            pipeline,
            LoaderConfig::new().with_num_workers(workers),
        )
        .map_err(|e| TrainError::Data(e.to_string()))?;
        let mut out = Vec::new();
        let mut dim = 0;
        for b in loader.epoch(0, device) {
            let b = b.map_err(|e| TrainError::Data(e.to_string()))?;
            dim = push_rows(self.embed_batch(b.images), &mut out)?;
        }
        Ok((out, dim))
    }

    /// Embeds in-memory images (already normalised, e.g. Fashion-MNIST): `(values, d)`.
    pub fn embed_memory(
        &self,
        images: &MemoryImages,
        batch: usize,
        device: &Device,
    ) -> TrainResult<(Vec<f32>, usize)> {
        let mut out = Vec::with_capacity(images.len() * self.config.embedding_size());
        let mut dim = 0;
        let idx: Vec<usize> = (0..images.len()).collect();
        for chunk in idx.chunks(batch.max(1)) {
            dim = push_rows(self.embed_batch(images.batch(chunk, device).images), &mut out)?;
        }
        Ok((out, dim))
    }
}

/// Appends the rows of `emb` to `out` and returns the row length.
fn push_rows(emb: Tensor<2>, out: &mut Vec<f32>) -> TrainResult<usize> {
    let [_, d] = emb.dims();
    let values = emb
        .into_data()
        .try_to_vec::<f32>()
        .map_err(|e| TrainError::Eval(format!("reading embeddings: {e:?}")))?;
    out.extend(values);
    Ok(d)
}
