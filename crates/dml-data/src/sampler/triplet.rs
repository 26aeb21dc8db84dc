//! PaddlePaddle's and MindSpore's triplet reader: batches of (anchor, positive, negative).

use burn::config::Config;

use super::BatchSampler;
use crate::error::{DataResult, invalid};
use crate::rng::SplitMix64;

/// Configuration of a [`TripletSampler`].
#[derive(Config, Debug)]
pub struct TripletSamplerConfig {
    /// Images per batch; a positive multiple of 3 (`batch_size / 3` triples).
    pub batch_size: usize,
    /// Seed, combined with the epoch number: the same (seed, epoch) gives the same batches.
    #[config(default = 0)]
    pub seed: u64,
    /// Batches per epoch; `None`: `len(labels) / batch_size` (at least 1).
    pub num_batches: Option<usize>,
}

impl TripletSamplerConfig {
    /// Builds the sampler for a dataset whose image `i` has label `labels[i]`.
    pub fn init(&self, labels: &[usize]) -> DataResult<TripletSampler> {
        const C: &str = "TripletSamplerConfig";
        let b = self.batch_size;
        if b == 0 || !b.is_multiple_of(3) {
            return Err(invalid(C, "batch_size", format!("{b} is not a positive multiple of 3")));
        }
        if self.num_batches == Some(0) {
            return Err(invalid(C, "num_batches", "must be positive"));
        }
        let classes = super::by_class::group_by_class(labels);
        if classes.len() < 2 {
            return Err(invalid(
                C,
                "labels",
                format!("triplets need 2 classes, the data has {}", classes.len()),
            ));
        }
        let anchors: Vec<usize> = (0..classes.len()).filter(|&c| classes[c].len() >= 2).collect();
        if anchors.is_empty() {
            return Err(invalid(
                C,
                "labels",
                "no class has the 2 images an anchor and positive need",
            ));
        }
        let num_batches = self.num_batches.unwrap_or((labels.len() / b).max(1));
        Ok(TripletSampler { classes, anchors, config: self.clone(), num_batches })
    }
}

/// The triplet reader of PaddlePaddle's `metric_learning` and MindSpore's triplet training:
/// each batch is `batch_size / 3` consecutive triples laid out anchor, positive, negative,
/// anchor, positive, negative, ... For each triple, two distinct classes are drawn uniformly
/// (the first among the classes with at least 2 images, the second among all the other
/// classes, so one-image classes only serve as negatives); the anchor and positive are two
/// distinct random images of the first, the negative a random image of the second. Triples
/// are drawn independently, so a class or image may recur within a batch.
#[derive(Debug, Clone)]
pub struct TripletSampler {
    /// Image indices of every class present, ascending label.
    classes: Vec<Vec<usize>>,
    /// Positions in `classes` of the classes with at least 2 images.
    anchors: Vec<usize>,
    config: TripletSamplerConfig,
    num_batches: usize,
}

impl TripletSampler {
    /// The number of batches per epoch.
    pub fn num_batches(&self) -> usize {
        self.num_batches
    }
}

impl BatchSampler for TripletSampler {
    fn batches(&self, epoch: u64) -> Vec<Vec<usize>> {
        let mut rng = SplitMix64::from_parts(&[self.config.seed, epoch, 0x7319]);
        let n = self.classes.len();
        (0..self.num_batches)
            .map(|_| {
                let mut batch = Vec::with_capacity(self.config.batch_size);
                for _ in 0..self.config.batch_size / 3 {
                    let pos = self.anchors[rng.below(self.anchors.len())];
                    // Uniform over the other n - 1 classes.
                    let mut neg = rng.below(n - 1);
                    if neg >= pos {
                        neg += 1;
                    }
                    let images = &self.classes[pos];
                    let a = rng.below(images.len());
                    let mut p = rng.below(images.len() - 1);
                    if p >= a {
                        p += 1;
                    }
                    let negatives = &self.classes[neg];
                    batch.push(images[a]);
                    batch.push(images[p]);
                    batch.push(negatives[rng.below(negatives.len())]);
                }
                batch
            })
            .collect()
    }

    fn num_items(&self) -> usize {
        self.num_batches * self.config.batch_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::DataError;

    fn labels() -> Vec<usize> {
        // Class 3 has a single image, class 5 none (absent labels are fine).
        let mut l: Vec<usize> = (0..3).flat_map(|c| std::iter::repeat_n(c, 3 + c)).collect();
        l.push(3);
        l.extend([4, 4, 6, 6]);
        l
    }

    fn field(r: DataResult<TripletSampler>) -> &'static str {
        match r {
            Err(DataError::InvalidConfig { field, .. }) => field,
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }

    #[test]
    fn triples_are_anchor_positive_negative() {
        let labels = labels();
        let s = TripletSamplerConfig::new(12).with_seed(3).init(&labels).unwrap();
        let epoch = s.batches(0);
        assert_eq!(epoch.len(), labels.len() / 12);
        assert_eq!(s.num_items(), epoch.len() * 12);
        let mut negative_singletons = 0;
        for _ in 0..50 {
            for batch in TripletSamplerConfig::new(30).init(&labels).unwrap().batches(7) {
                assert_eq!(batch.len(), 30);
                for t in batch.chunks_exact(3) {
                    assert_eq!(labels[t[0]], labels[t[1]]);
                    assert_ne!(t[0], t[1], "anchor and positive are distinct images");
                    assert_ne!(labels[t[0]], labels[t[2]]);
                    assert_ne!(labels[t[0]], 3, "a one-image class cannot be an anchor");
                    negative_singletons += usize::from(labels[t[2]] == 3);
                }
            }
        }
        assert!(negative_singletons > 0, "a one-image class still serves as a negative");
    }

    #[test]
    fn deterministic_per_seed_and_epoch() {
        let labels = labels();
        let cfg = TripletSamplerConfig::new(9).with_seed(5).with_num_batches(Some(6));
        let s = cfg.init(&labels).unwrap();
        let e0 = s.batches(0);
        assert_eq!(e0.len(), 6);
        assert_eq!(s.batches(0), e0);
        assert_eq!(cfg.init(&labels).unwrap().batches(0), e0);
        assert_ne!(s.batches(1), e0);
        assert_ne!(cfg.clone().with_seed(6).init(&labels).unwrap().batches(0), e0);
    }

    #[test]
    fn errors_name_the_field() {
        let labels = labels();
        assert_eq!(field(TripletSamplerConfig::new(0).init(&labels)), "batch_size");
        assert_eq!(field(TripletSamplerConfig::new(10).init(&labels)), "batch_size");
        let zero = TripletSamplerConfig::new(3).with_num_batches(Some(0));
        assert_eq!(field(zero.init(&labels)), "num_batches");
        assert_eq!(field(TripletSamplerConfig::new(3).init(&[0, 0, 0])), "labels");
        assert_eq!(field(TripletSamplerConfig::new(3).init(&[0, 1, 2])), "labels");
        assert_eq!(field(TripletSamplerConfig::new(3).init(&[])), "labels");
        // Tiny data: still one batch per epoch.
        let s = TripletSamplerConfig::new(6).init(&[0, 0, 1]).unwrap();
        assert_eq!(s.batches(0).len(), 1);
    }
}
