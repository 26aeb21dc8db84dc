//! Where batches come from: images held in memory (Fashion-MNIST, synthetic data) or
//! decoded from files by `dml-data`'s loader (CUB, Cars, SOP, In-shop), sampled by an
//! epoch-seeded sampler so that epoch `e` always sees the same batches (exact resume).

use std::sync::Arc;

use burn::tensor::{Device, Int, Tensor, TensorData};
use dml_data::{
    BatchSampler, Cars196, Cub200, ImageLoader, ImageSource, InShop, LoaderConfig,
    MPerClassSamplerConfig, MnistFormat, Normalization, PipelineConfig, RandomSamplerConfig, Split,
    StanfordOnlineProducts,
};

use crate::config::{DatasetKind, ModelKind, TrainConfig};
use crate::error::{TrainError, TrainResult};

/// One training or evaluation batch.
///
/// # Shapes
/// - `images`: `[batch, channels, height, width]`, normalized for the backbone
/// - `labels`: `[batch]`
pub struct Batch {
    /// The images.
    pub images: Tensor<4>,
    /// The labels (`0..num_classes`).
    pub labels: Tensor<1, Int>,
}

fn data_err(e: impl std::fmt::Display) -> TrainError {
    TrainError::Data(e.to_string())
}

/// Images in memory, `[n, c, h, w]` floats already normalized, with labels.
#[derive(Clone)]
pub struct MemoryImages {
    /// Pixels, row-major `[n, c, h, w]`.
    pub pixels: Arc<Vec<f32>>,
    /// `[c, h, w]`.
    pub shape: [usize; 3],
    /// One label per image.
    pub labels: Vec<usize>,
}

impl MemoryImages {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there is no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Number of classes (largest label + 1).
    pub fn num_classes(&self) -> usize {
        self.labels.iter().max().map_or(0, |m| m + 1)
    }

    /// The first `n` images.
    pub fn truncate(mut self, n: usize) -> Self {
        let per = self.shape.iter().product::<usize>();
        if n < self.len() {
            self.labels.truncate(n);
            self.pixels = Arc::new(self.pixels[..n * per].to_vec());
        }
        self
    }

    /// The images at `indices` as a batch on `device`.
    pub fn batch(&self, indices: &[usize], device: &Device) -> Batch {
        let per = self.shape.iter().product::<usize>();
        let mut px = Vec::with_capacity(indices.len() * per);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            px.extend_from_slice(&self.pixels[i * per..(i + 1) * per]);
            labels.push(self.labels[i] as i64);
        }
        let [c, h, w] = self.shape;
        let images = Tensor::from_data(TensorData::new(px, [indices.len(), c, h, w]), device);
        let labels = Tensor::from_data(TensorData::new(labels, [indices.len()]), device);
        Batch { images, labels }
    }

    /// Fashion-MNIST (or any MNIST-format directory): `Train` = classes 0-4 of the train
    /// files, `Test` = classes 5-9 of the t10k files, labels remapped to 0-4; pixels scaled to
    /// `[0, 1]` and normalized with Fashion-MNIST's mean and std, 1 channel.
    pub fn mnist_format(dir: &str, split: Split) -> TrainResult<Self> {
        let set = MnistFormat::new(dir).load(split).map_err(data_err)?;
        let (mean, std) = (0.2860f32, 0.3530f32);
        let pixels = set.pixels.iter().map(|&p| (p as f32 / 255.0 - mean) / std).collect();
        Ok(Self {
            pixels: Arc::new(pixels),
            shape: [1, set.rows, set.cols],
            labels: set.labels().to_vec(),
        })
    }

    /// `classes x per_class` random 1x28x28 images: a class-specific pattern plus noise,
    /// deterministic in `seed` (tests and smoke runs).
    pub fn synthetic(classes: usize, per_class: usize, seed: u64) -> Self {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f32 / (1u64 << 53) as f32
        };
        let per = 28 * 28;
        let patterns: Vec<Vec<f32>> =
            (0..classes).map(|_| (0..per).map(|_| next() * 2.0 - 1.0).collect()).collect();
        let mut pixels = Vec::with_capacity(classes * per_class * per);
        let mut labels = Vec::new();
        for i in 0..per_class {
            for (c, pattern) in patterns.iter().enumerate() {
                let _ = i;
                pixels.extend(pattern.iter().map(|p| p + 0.5 * (next() * 2.0 - 1.0)));
                labels.push(c);
            }
        }
        Self { pixels: Arc::new(pixels), shape: [1, 28, 28], labels }
    }
}

/// How decoded 8-bit RGB images are turned into inputs of `model`: BGR in 0-255 minus the
/// channel means for BN-Inception (its checkpoint's convention), ImageNet mean/std otherwise.
pub fn pixel_normalization(model: ModelKind) -> Normalization {
    match model {
        ModelKind::BnInception => Normalization::BnInception,
        ModelKind::Resnet50 | ModelKind::SmallCnn => Normalization::ImageNet,
    }
}

/// The training batches of a run.
pub enum TrainData {
    /// In-memory images with a sampler.
    Memory(MemoryImages, Arc<dyn BatchSampler>),
    /// Files decoded on worker threads.
    Files(ImageLoader, usize),
}

/// The batch sampler `config` asks for: m-per-class when `samples_per_class > 1`, otherwise
/// uniformly shuffled batches (both reshuffled per epoch from `seed`).
pub fn sampler(config: &TrainConfig, labels: &[usize]) -> TrainResult<Arc<dyn BatchSampler>> {
    Ok(if config.samples_per_class > 1 {
        Arc::new(
            MPerClassSamplerConfig::new(config.samples_per_class, config.batch_size)
                .with_seed(config.seed)
                .init(labels)
                .map_err(data_err)?,
        )
    } else {
        Arc::new(
            RandomSamplerConfig::new(config.batch_size)
                .with_seed(config.seed)
                .with_drop_last(true)
                .init(labels.len())
                .map_err(data_err)?,
        )
    })
}

impl TrainData {
    /// Number of training classes.
    pub fn num_classes(&self) -> usize {
        match self {
            Self::Memory(m, _) => m.num_classes(),
            Self::Files(_, c) => *c,
        }
    }

    /// The batches of the 0-based `epoch`, in order.
    pub fn epoch(
        &self,
        epoch: u64,
        device: &Device,
    ) -> Box<dyn Iterator<Item = TrainResult<Batch>> + '_> {
        match self {
            Self::Memory(m, s) => {
                let device = device.clone();
                Box::new(s.batches(epoch).into_iter().map(move |idx| Ok(m.batch(&idx, &device))))
            }
            Self::Files(loader, _) => Box::new(loader.epoch(epoch, device).map(|b| {
                b.map(|b| Batch { images: b.images, labels: b.labels }).map_err(data_err)
            })),
        }
    }

    /// Number of batches per epoch.
    pub fn num_batches(&self) -> usize {
        match self {
            Self::Memory(_, s) => s.batches(0).len(),
            Self::Files(l, _) => l.num_batches(),
        }
    }
}

/// The images a run is evaluated on: one set for self-retrieval, or query and gallery.
pub enum EvalData {
    /// In-memory images (self-retrieval).
    Memory(MemoryImages),
    /// Files: `(loader, labels)` of the queries, and of the gallery for query-vs-gallery.
    Files(ImageLoader, Vec<usize>, Option<(ImageLoader, Vec<usize>)>),
}

/// The images of `split` of an image-file dataset (CUB, Cars, SOP, In-shop) under `dir`.
///
/// # Errors
/// [`TrainError::Data`] for a missing or malformed annotation file, or for an in-memory
/// dataset kind (Fashion-MNIST, synthetic), which has no image files.
pub fn file_split(kind: DatasetKind, dir: &str, split: Split) -> TrainResult<Arc<dyn ImageSource>> {
    Ok(match kind {
        DatasetKind::Cub200 => Arc::new(Cub200::new(dir).load(split).map_err(data_err)?),
        DatasetKind::Cars196 => Arc::new(Cars196::new(dir).load(split).map_err(data_err)?),
        DatasetKind::Sop => {
            Arc::new(StanfordOnlineProducts::new(dir).load(split).map_err(data_err)?)
        }
        DatasetKind::Inshop => Arc::new(InShop::new(dir).load(split).map_err(data_err)?),
        DatasetKind::FashionMnist | DatasetKind::Synthetic => {
            return Err(TrainError::Data(format!(
                "{kind:?} is held in memory, not in image files"
            )));
        }
    })
}

/// The train and test data of `config`'s dataset. Missing files are reported by name.
pub fn load_data(config: &TrainConfig) -> TrainResult<(TrainData, EvalData)> {
    let dir = config.data_dir.as_str();
    match config.dataset {
        DatasetKind::FashionMnist | DatasetKind::Synthetic => {
            let (train, mut test) = if config.dataset == DatasetKind::Synthetic {
                (
                    MemoryImages::synthetic(4, 10, config.seed),
                    MemoryImages::synthetic(3, 8, config.seed + 1000),
                )
            } else {
                (
                    MemoryImages::mnist_format(dir, Split::Train)?,
                    MemoryImages::mnist_format(dir, Split::Test)?,
                )
            };
            if let Some(n) = config.max_eval_images {
                test = test.truncate(n);
            }
            let s = sampler(config, &train.labels)?;
            Ok((TrainData::Memory(train, s), EvalData::Memory(test)))
        }
        kind => {
            let load = |split: Split| file_split(kind, dir, split);
            let train = load(Split::Train)?;
            let loader_config =
                LoaderConfig::new().with_num_workers(config.num_workers).with_seed(config.seed);
            let pipeline = PipelineConfig::train(config.image_size)
                .with_normalization(pixel_normalization(config.model))
                .init()
                .map_err(data_err)?;
            let classes = train.num_classes();
            let s = sampler(config, train.labels())?;
            let train_loader =
                ImageLoader::new(train, s, pipeline, loader_config.clone()).map_err(data_err)?;
            let eval_loader =
                |source: Arc<dyn ImageSource>| -> TrainResult<(ImageLoader, Vec<usize>)> {
                    let mut n = source.len();
                    if let Some(m) = config.max_eval_images {
                        n = n.min(m);
                    }
                    let labels = source.labels()[..n].to_vec();
                    let sampler: Arc<dyn BatchSampler> =
                        Arc::new(SequentialBatches::new(n, config.batch_size));
                    let pipeline = PipelineConfig::eval(config.resize, config.image_size)
                        .with_normalization(pixel_normalization(config.model))
                        .init()
                        .map_err(data_err)?;
                    Ok((
                        ImageLoader::new(source, sampler, pipeline, loader_config.clone())
                            .map_err(data_err)?,
                        labels,
                    ))
                };
            let eval = if kind == DatasetKind::Inshop {
                let (q, ql) = eval_loader(load(Split::Query)?)?;
                EvalData::Files(q, ql, Some(eval_loader(load(Split::Gallery)?)?))
            } else {
                let (q, ql) = eval_loader(load(Split::Test)?)?;
                EvalData::Files(q, ql, None)
            };
            Ok((TrainData::Files(train_loader, classes), eval))
        }
    }
}

/// The first `n` indices in order, in batches of `batch` (the last one may be smaller):
/// evaluation and inference.
pub struct SequentialBatches {
    n: usize,
    batch: usize,
}

impl SequentialBatches {
    /// Batches of `batch` (at least 1) over `0..n`.
    pub fn new(n: usize, batch: usize) -> Self {
        Self { n, batch: batch.max(1) }
    }
}

impl BatchSampler for SequentialBatches {
    fn batches(&self, _epoch: u64) -> Vec<Vec<usize>> {
        (0..self.n).collect::<Vec<_>>().chunks(self.batch.max(1)).map(<[usize]>::to_vec).collect()
    }

    fn num_items(&self) -> usize {
        self.n
    }
}
