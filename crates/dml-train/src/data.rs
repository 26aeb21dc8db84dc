//! Where batches come from: images held in memory (Fashion-MNIST, synthetic data) or
//! decoded from files by `dml-data`'s loader (CUB, Cars, SOP, In-shop), sampled by an
//! epoch-seeded sampler so that epoch `e` always sees the same batches (exact resume).

use std::sync::Arc;

use burn::tensor::{Device, Tensor, TensorData};
use dml_data::{
    BatchSampler, Cars196, ChunkSize, ClassChunkSamplerConfig, Cub200, CycleSamplerConfig,
    ImageLoader, ImageSource, InShop, LoaderConfig, MPerClassSamplerConfig, MnistFormat,
    RandomSamplerConfig, SopSubset, Split, StanfordOnlineProducts, TripletSamplerConfig,
};

use crate::config::{DatasetKind, SamplerConfig, TrainConfig};
use crate::error::{TrainError, TrainResult};

/// One training or evaluation batch.
///
/// # Shapes
/// - `images`: `[batch, channels, height, width]`, normalized for the backbone
/// - `labels`: `[batch]`
pub struct Batch {
    /// The images.
    pub images: Tensor<4>,
    /// The labels (`0..num_classes`), as host values: the loss takes them to the device once
    /// and checks their range on the host ([`crate::loss::TrainLoss::forward`]).
    pub labels: Vec<i64>,
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
    /// What each image is (`<idx file>[<index in the file>]`, or `synthetic/<i>`): the ids an
    /// embedding index of the split records.
    pub ids: Vec<String>,
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
            self.ids.truncate(n);
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
        Batch { images, labels }
    }

    /// Fashion-MNIST (or any MNIST-format directory): `Train` = classes 0-4 of the train
    /// files, `Test` = classes 5-9 of the t10k files, labels remapped to 0-4; pixels scaled to
    /// `[0, 1]` and normalized with Fashion-MNIST's mean and std, 1 channel.
    ///
    /// # Errors
    /// [`TrainError::Data`] naming the file for a missing or malformed file, a label outside
    /// 0-9, a file without images, or images smaller than the small CNN takes (8x8: it pools
    /// three times by 2).
    pub fn mnist_format(dir: &str, split: Split) -> TrainResult<Self> {
        let set = MnistFormat::new(dir).load(split).map_err(data_err)?;
        if set.rows < 8 || set.cols < 8 {
            return Err(TrainError::Data(format!(
                "{}: its images are {}x{} pixels; the small CNN needs at least 8x8 (it pools \
                 three times by 2)",
                set.source.display(),
                set.rows,
                set.cols
            )));
        }
        if set.is_empty() {
            return Err(TrainError::Data(format!(
                "{}: no image of the {split} classes",
                set.source.display()
            )));
        }
        let (mean, std) = (0.2860f32, 0.3530f32);
        let pixels = set.pixels.iter().map(|&p| (p as f32 / 255.0 - mean) / std).collect();
        Ok(Self {
            pixels: Arc::new(pixels),
            shape: [1, set.rows, set.cols],
            labels: set.labels().to_vec(),
            ids: (0..set.len()).map(|i| set.describe(i)).collect(),
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
        let ids = (0..labels.len()).map(|i| format!("synthetic/seed-{seed}/{i}")).collect();
        Self { pixels: Arc::new(pixels), shape: [1, 28, 28], labels, ids }
    }
}

/// The training batches of a run.
pub enum TrainData {
    /// In-memory images with a sampler.
    Memory(MemoryImages, Arc<dyn BatchSampler>),
    /// Files decoded on worker threads.
    Files(ImageLoader, usize),
}

/// The batch sampler `config.data.sampler` asks for over a training split with these labels,
/// seeded by `config.run.seed` (and the epoch, inside the sampler).
pub fn sampler(config: &TrainConfig, labels: &[usize]) -> TrainResult<Arc<dyn BatchSampler>> {
    let (b, seed) = (config.data.batch_size, config.run.seed);
    Ok(match &config.data.sampler {
        SamplerConfig::Random => Arc::new(
            RandomSamplerConfig::new(b)
                .with_seed(seed)
                .with_drop_last(true)
                .init(labels.len())
                .map_err(data_err)?,
        ),
        SamplerConfig::Cycle => Arc::new(
            CycleSamplerConfig::new(b).with_seed(seed).init(labels.len()).map_err(data_err)?,
        ),
        SamplerConfig::MPerClass { m, length } => Arc::new(
            MPerClassSamplerConfig::new(*m, b)
                .with_seed(seed)
                .with_length_before_new_iter(length.unwrap_or(labels.len()).max(b))
                .init(labels)
                .map_err(data_err)?,
        ),
        SamplerConfig::Triplets => {
            Arc::new(TripletSamplerConfig::new(b).with_seed(seed).init(labels).map_err(data_err)?)
        }
        SamplerConfig::ClassChunks { min, max } => Arc::new(
            ClassChunkSamplerConfig::new(b, ChunkSize::Range { min: *min, max: *max })
                .with_seed(seed)
                .init(labels)
                .map_err(data_err)?,
        ),
        SamplerConfig::ClassHalves => Arc::new(
            ClassChunkSamplerConfig::new(b, ChunkSize::HalfToAll)
                .with_seed(seed)
                .init(labels)
                .map_err(data_err)?,
        ),
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

    /// The batches of the 0-based `epoch` from batch `start` on, in order (the skipped ones
    /// are not decoded: a run resumed mid-epoch sees exactly the batches it would have).
    pub fn epoch_from(
        &self,
        epoch: u64,
        start: usize,
        device: &Device,
    ) -> Box<dyn Iterator<Item = TrainResult<Batch>> + '_> {
        match self {
            Self::Memory(m, s) => {
                let device = device.clone();
                Box::new(
                    s.batches(epoch)
                        .into_iter()
                        .skip(start)
                        .map(move |idx| Ok(m.batch(&idx, &device))),
                )
            }
            Self::Files(loader, _) => Box::new(loader.epoch_from(epoch, start, device).map(|b| {
                b.map(|b| Batch { images: b.images, labels: b.host_labels }).map_err(data_err)
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

/// The images of `split` of an image-file dataset (CUB, Cars, SOP with `subset`, In-shop)
/// under `dir`.
///
/// # Errors
/// [`TrainError::Data`] for a missing or malformed annotation file, or for an in-memory
/// dataset kind (Fashion-MNIST, synthetic), which has no image files.
pub fn file_split(
    kind: DatasetKind,
    dir: &str,
    subset: SopSubset,
    split: Split,
) -> TrainResult<Arc<dyn ImageSource>> {
    Ok(match kind {
        DatasetKind::Cub200 => Arc::new(Cub200::new(dir).load(split).map_err(data_err)?),
        DatasetKind::Cars196 => Arc::new(Cars196::new(dir).load(split).map_err(data_err)?),
        DatasetKind::Sop => Arc::new(
            StanfordOnlineProducts::new(dir).with_subset(subset).load(split).map_err(data_err)?,
        ),
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
    Ok((load_train(config)?, load_eval(config, None)?))
}

/// The training data of `config`'s dataset, with the configured sampler and transform.
pub fn load_train(config: &TrainConfig) -> TrainResult<TrainData> {
    let data = &config.data;
    let seed = config.run.seed;
    match data.dataset {
        DatasetKind::FashionMnist | DatasetKind::Synthetic => {
            let train = if data.dataset == DatasetKind::Synthetic {
                MemoryImages::synthetic(4, 10, seed)
            } else {
                MemoryImages::mnist_format(&data.dir, Split::Train)?
            };
            let s = sampler(config, &train.labels)?;
            Ok(TrainData::Memory(train, s))
        }
        kind => {
            let train = file_split(kind, &data.dir, data.sop_subset, Split::Train)?;
            let loader_config =
                LoaderConfig::new().with_num_workers(data.num_workers).with_seed(seed);
            let pipeline = data.train_pipeline(&config.model.backbone).init().map_err(data_err)?;
            let classes = train.num_classes();
            let s = sampler(config, train.labels())?;
            let loader = ImageLoader::new(train, s, pipeline, loader_config).map_err(data_err)?;
            Ok(TrainData::Files(loader, classes))
        }
    }
}

/// The evaluation data of `config`'s dataset: its test split (In-shop: query and gallery), or
/// `split` of it when given (self-retrieval), with the test transform.
pub fn load_eval(config: &TrainConfig, split: Option<Split>) -> TrainResult<EvalData> {
    let data = &config.data;
    let seed = config.run.seed;
    match data.dataset {
        DatasetKind::FashionMnist | DatasetKind::Synthetic => {
            let split = split.unwrap_or(Split::Test);
            let mut test = if data.dataset == DatasetKind::Synthetic {
                if split == Split::Train {
                    MemoryImages::synthetic(4, 10, seed)
                } else {
                    MemoryImages::synthetic(3, 8, seed + 1000)
                }
            } else {
                MemoryImages::mnist_format(&data.dir, split)?
            };
            if let Some(n) = data.max_eval_images {
                test = test.truncate(n);
            }
            Ok(EvalData::Memory(test))
        }
        kind => {
            let load = |split: Split| file_split(kind, &data.dir, data.sop_subset, split);
            let loader_config =
                LoaderConfig::new().with_num_workers(data.num_workers).with_seed(seed);
            let eval_loader =
                |source: Arc<dyn ImageSource>| -> TrainResult<(ImageLoader, Vec<usize>)> {
                    let mut n = source.len();
                    if let Some(m) = data.max_eval_images {
                        n = n.min(m);
                    }
                    let labels = source.labels()[..n].to_vec();
                    let sampler: Arc<dyn BatchSampler> =
                        Arc::new(SequentialBatches::new(n, data.test_batch_size));
                    let pipeline =
                        data.test_pipeline(&config.model.backbone).init().map_err(data_err)?;
                    Ok((
                        ImageLoader::new(source, sampler, pipeline, loader_config.clone())
                            .map_err(data_err)?,
                        labels,
                    ))
                };
            Ok(match split {
                Some(split) => {
                    let (q, ql) = eval_loader(load(split)?)?;
                    EvalData::Files(q, ql, None)
                }
                None if kind == DatasetKind::Inshop => {
                    let (q, ql) = eval_loader(load(Split::Query)?)?;
                    EvalData::Files(q, ql, Some(eval_loader(load(Split::Gallery)?)?))
                }
                None => {
                    let (q, ql) = eval_loader(load(Split::Test)?)?;
                    EvalData::Files(q, ql, None)
                }
            })
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
