//! The data part of a run: which dataset and split, where it is, how images are transformed,
//! batched and sampled.

use dml_backbones::BackboneConfig;
use dml_data::{Normalization, PipelineConfig, SopSubset};
use serde::{Deserialize, Serialize};

use crate::error::{TrainError, TrainResult};

/// The dataset a run trains and evaluates on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatasetKind {
    /// CUB-200-2011: classes 1-100 train, 101-200 test.
    Cub200,
    /// Cars-196: classes 1-98 train, 99-196 test.
    Cars196,
    /// Stanford Online Products: `Ebay_train.txt` / `Ebay_test.txt` (or MindSpore's half and
    /// tiny subsets, [`DataConfig::sop_subset`]).
    Sop,
    /// In-shop clothes retrieval: query vs gallery.
    Inshop,
    /// Fashion-MNIST idx files: classes 0-4 train, 5-9 test (the quickstart).
    FashionMnist,
    /// Random images of a few classes generated in memory (tests and smoke runs).
    Synthetic,
}

impl DatasetKind {
    /// True for the datasets held in memory as 28x28 grey images (Fashion-MNIST, synthetic).
    pub fn in_memory(self) -> bool {
        matches!(self, Self::FashionMnist | Self::Synthetic)
    }
}

/// How the training batches of an epoch are drawn (every sampler is seeded by the run's seed
/// and the epoch, so an epoch's batches are the same after a resume).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SamplerConfig {
    /// Shuffled batches, the last incomplete one dropped (PyTorch's `shuffle=True,
    /// drop_last=True`).
    Random,
    /// One shuffle of the training list, repeated without end and cut into batches
    /// (PaddlePaddle's classification reader; a batch may be larger than the dataset).
    Cycle,
    /// `m` images of each of `batch_size / m` distinct classes (PML's `MPerClassSampler`).
    MPerClass {
        /// Images per class.
        m: usize,
        /// Images per epoch (PML's `length_before_new_iter`); `None` is the training set's
        /// size.
        length: Option<usize>,
    },
    /// Consecutive (anchor, positive, negative) triples of two random classes (PaddlePaddle's
    /// and MindSpore's triplet readers; pair with the `EmbeddingsAlreadyPackagedAsTriplets`
    /// miner).
    Triplets,
    /// Distinct random classes, each contributing a random `min..=max` of its images, until
    /// the batch is full (the online-metric-learning seed's CUB sampler: 5 to 10).
    ClassChunks {
        /// Fewest images taken from a class.
        min: usize,
        /// Most images taken from a class.
        max: usize,
    },
    /// Distinct random classes of at least 2 images, each contributing a random half to all of
    /// its images, until the batch is full (the online-metric-learning seed's In-shop sampler).
    ClassHalves,
}

impl SamplerConfig {
    /// One default per variant (the configuration registry).
    pub fn defaults() -> Vec<Self> {
        vec![
            Self::Random,
            Self::Cycle,
            Self::MPerClass { m: 4, length: None },
            Self::Triplets,
            Self::ClassChunks { min: 5, max: 10 },
            Self::ClassHalves,
        ]
    }

    /// Checks the sampler against the batch size; errors name the key (`data.sampler`).
    pub fn validate(&self, batch_size: usize) -> TrainResult<()> {
        let bad = |key: &str, why: String| Err(TrainError::Config(format!("`data.{key}` {why}")));
        match self {
            Self::Random | Self::Cycle | Self::ClassHalves => Ok(()),
            Self::MPerClass { m, length } => {
                if *m < 2 {
                    return bad("sampler.MPerClass.m", format!("must be at least 2, got {m}"));
                }
                if !batch_size.is_multiple_of(*m) {
                    return bad(
                        "batch_size",
                        format!(
                            "({batch_size}) must be a multiple of data.sampler.MPerClass.m ({m})"
                        ),
                    );
                }
                if length.is_some_and(|l| l < batch_size) {
                    return bad(
                        "sampler.MPerClass.length",
                        format!("must be at least data.batch_size ({batch_size})"),
                    );
                }
                Ok(())
            }
            Self::Triplets => {
                if !batch_size.is_multiple_of(3) {
                    return bad(
                        "batch_size",
                        format!("({batch_size}) must be a multiple of 3 for data.sampler Triplets"),
                    );
                }
                Ok(())
            }
            Self::ClassChunks { min, max } => {
                if *min == 0 || min > max {
                    return bad(
                        "sampler.ClassChunks",
                        format!("needs 1 <= min <= max, got min {min}, max {max}"),
                    );
                }
                Ok(())
            }
        }
    }
}

/// Where the data comes from and how it is batched.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// The dataset.
    pub dataset: DatasetKind,
    /// The dataset's root directory (`CUB_200_2011`, `cars196`, `Stanford_Online_Products`,
    /// the In-shop root, or the Fashion-MNIST idx directory).
    pub dir: String,
    /// Stanford Online Products only: the full lists, or MindSpore's half / tiny subsets.
    pub sop_subset: SopSubset,
    /// The number of training classes the run expects (MindSpore's `class_num`); `None`
    /// accepts what the training split holds. A different count is an error before training.
    pub num_classes: Option<usize>,
    /// Training crop size (`RandomResizedCrop`), and the test center crop.
    pub image_size: usize,
    /// Test-time resize of the shorter side, before the center crop.
    pub resize: usize,
    /// The training transform; `None` is `RandomResizedCrop(image_size)` + horizontal flip with
    /// the backbone's input normalization.
    pub train_transform: Option<PipelineConfig>,
    /// The test transform; `None` is `Resize(resize)` + `CenterCrop(image_size)` with the
    /// backbone's input normalization.
    pub test_transform: Option<PipelineConfig>,
    /// Training batch size.
    pub batch_size: usize,
    /// Evaluation (and embedding) batch size.
    pub test_batch_size: usize,
    /// How training batches are drawn.
    pub sampler: SamplerConfig,
    /// Data-loading worker threads.
    pub num_workers: usize,
    /// Evaluate on the first this-many test images only (smoke runs); `None` uses all.
    pub max_eval_images: Option<usize>,
}

impl DataConfig {
    /// `dataset` at `dir`: 224-pixel crops of 256-pixel resizes, batches of 128 drawn at random,
    /// 4 loader threads.
    pub fn new(dataset: DatasetKind, dir: impl Into<String>) -> Self {
        Self {
            dataset,
            dir: dir.into(),
            sop_subset: SopSubset::Full,
            num_classes: None,
            image_size: 224,
            resize: 256,
            train_transform: None,
            test_transform: None,
            batch_size: 128,
            test_batch_size: 128,
            sampler: SamplerConfig::Random,
            num_workers: 4,
            max_eval_images: None,
        }
    }

    /// The input normalization a backbone was trained with: BGR in 0-255 minus the channel
    /// means for BN-Inception, ImageNet mean/std otherwise.
    pub fn normalization(backbone: &BackboneConfig) -> Normalization {
        match backbone {
            BackboneConfig::BnInception(_) => Normalization::BnInception,
            _ => Normalization::ImageNet,
        }
    }

    /// The training transform for `backbone`.
    pub fn train_pipeline(&self, backbone: &BackboneConfig) -> PipelineConfig {
        self.train_transform.clone().unwrap_or_else(|| {
            PipelineConfig::train(self.image_size).with_normalization(Self::normalization(backbone))
        })
    }

    /// The test transform for `backbone`.
    pub fn test_pipeline(&self, backbone: &BackboneConfig) -> PipelineConfig {
        self.test_transform.clone().unwrap_or_else(|| {
            PipelineConfig::eval(self.resize, self.image_size)
                .with_normalization(Self::normalization(backbone))
        })
    }

    /// Checks every field; errors name the key (`data.batch_size`).
    pub fn validate(&self) -> TrainResult<()> {
        let bad = |key: &str, why: String| Err(TrainError::Config(format!("`data.{key}` {why}")));
        if self.batch_size < 2 {
            return bad("batch_size", format!("must be at least 2, got {}", self.batch_size));
        }
        if self.test_batch_size == 0 {
            return bad("test_batch_size", "must be at least 1".into());
        }
        self.sampler.validate(self.batch_size)?;
        if self.image_size == 0 || self.resize < self.image_size {
            return bad(
                "resize",
                format!("({}) must be >= data.image_size ({}) > 0", self.resize, self.image_size),
            );
        }
        if self.sop_subset != SopSubset::Full && self.dataset != DatasetKind::Sop {
            return bad(
                "sop_subset",
                format!(
                    "{:?} applies to the sop dataset only, not {:?}",
                    self.sop_subset, self.dataset
                ),
            );
        }
        if self.num_classes == Some(0) {
            return bad("num_classes", "must be at least 1".into());
        }
        for (key, t) in
            [("train_transform", &self.train_transform), ("test_transform", &self.test_transform)]
        {
            if let Some(t) = t {
                t.init().map_err(|e| TrainError::Config(format!("`data.{key}`: {e}")))?;
            }
        }
        Ok(())
    }
}
