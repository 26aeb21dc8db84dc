//! The online-metric-learning seed's samplers: a random chunk of each of several classes.

use burn::config::Config;
use serde::{Deserialize, Serialize};

use super::BatchSampler;
use crate::error::{DataResult, invalid};
use crate::rng::SplitMix64;

/// How many images a class contributes to a batch of a [`ClassChunkSampler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChunkSize {
    /// Uniform in `min..=max`, capped at the class size (the seed's CUB sampler: 5..=10).
    Range {
        /// Smallest chunk (positive).
        min: usize,
        /// Largest chunk (at least `min`).
        max: usize,
    },
    /// Uniform in `n / 2..=n` (integer division) for a class of `n` images; classes with at
    /// most one image are never sampled (the seed's In-shop sampler).
    HalfToAll,
}

/// Configuration of a [`ClassChunkSampler`].
#[derive(Config, Debug)]
pub struct ClassChunkSamplerConfig {
    /// Images per batch.
    pub batch_size: usize,
    /// Seed, combined with the epoch number: the same (seed, epoch) gives the same batches.
    #[config(default = 0)]
    pub seed: u64,
    /// Images each class contributes.
    pub chunk: ChunkSize,
    /// Batches per epoch; `None`: `len(labels) / batch_size` (at least 1).
    pub num_batches: Option<usize>,
}

impl ClassChunkSamplerConfig {
    /// Builds the sampler for a dataset whose image `i` has label `labels[i]`.
    pub fn init(&self, labels: &[usize]) -> DataResult<ClassChunkSampler> {
        const C: &str = "ClassChunkSamplerConfig";
        let b = self.batch_size;
        if b == 0 {
            return Err(invalid(C, "batch_size", "must be positive"));
        }
        if let ChunkSize::Range { min, max } = self.chunk
            && (min == 0 || min > max)
        {
            return Err(invalid(
                C,
                "chunk",
                format!("range {min}..={max} must have 0 < min <= max"),
            ));
        }
        if self.num_batches == Some(0) {
            return Err(invalid(C, "num_batches", "must be positive"));
        }
        let mut classes = super::by_class::group_by_class(labels);
        if self.chunk == ChunkSize::HalfToAll {
            classes.retain(|c| c.len() > 1);
        }
        let total: usize = classes.iter().map(Vec::len).sum();
        if total < b {
            return Err(invalid(
                C,
                "batch_size",
                format!("{b} is more than the {total} images that can be sampled"),
            ));
        }
        let num_batches = self.num_batches.unwrap_or((labels.len() / b).max(1));
        Ok(ClassChunkSampler { classes, config: self.clone(), num_batches })
    }
}

/// The samplers of the online-metric-learning seed. Each batch walks the classes in a fresh
/// random order (so no class appears twice in a batch); each class contributes a random
/// subset of its images, without replacement, whose size follows [`ChunkSize`]; classes are
/// added until the batch holds at least `batch_size` images, which is then truncated to
/// `batch_size` (the last class may contribute fewer) and shuffled.
///
/// When every class has been visited and the batch is still short (possible only when the
/// data barely has `batch_size` images), it is filled with a random selection of the visited
/// classes' remaining images, so every batch has exactly `batch_size` distinct images.
#[derive(Debug, Clone)]
pub struct ClassChunkSampler {
    /// Image indices of every class that can be sampled, ascending label.
    classes: Vec<Vec<usize>>,
    config: ClassChunkSamplerConfig,
    num_batches: usize,
}

impl ClassChunkSampler {
    /// The number of batches per epoch.
    pub fn num_batches(&self) -> usize {
        self.num_batches
    }

    /// The chunk size for a class of `n` (> 0) images.
    fn chunk_len(&self, n: usize, rng: &mut SplitMix64) -> usize {
        match self.config.chunk {
            ChunkSize::Range { min, max } => (min + rng.below(max - min + 1)).min(n),
            ChunkSize::HalfToAll => n / 2 + rng.below(n - n / 2 + 1),
        }
    }
}

impl BatchSampler for ClassChunkSampler {
    fn batches(&self, epoch: u64) -> Vec<Vec<usize>> {
        let b = self.config.batch_size;
        let mut rng = SplitMix64::from_parts(&[self.config.seed, epoch, 0xc4a0]);
        let mut order: Vec<usize> = (0..self.classes.len()).collect();
        let mut scratch = Vec::new();
        let mut rest = Vec::new();
        (0..self.num_batches)
            .map(|_| {
                rng.shuffle(&mut order);
                let mut batch = Vec::with_capacity(b + self.classes.len().min(64));
                rest.clear();
                for &c in &order {
                    let idx = &self.classes[c];
                    let k = self.chunk_len(idx.len(), &mut rng);
                    // Partial Fisher-Yates: k distinct images.
                    scratch.clear();
                    scratch.extend_from_slice(idx);
                    for i in 0..k {
                        let j = i + rng.below(scratch.len() - i);
                        scratch.swap(i, j);
                    }
                    batch.extend_from_slice(&scratch[..k]);
                    if batch.len() >= b {
                        break;
                    }
                    rest.extend_from_slice(&scratch[k..]);
                }
                if batch.len() < b {
                    rng.shuffle(&mut rest);
                    batch.extend_from_slice(&rest[..(b - batch.len()).min(rest.len())]);
                }
                batch.truncate(b);
                rng.shuffle(&mut batch);
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
    use std::collections::BTreeMap;

    use super::*;
    use crate::error::DataError;

    /// 40 classes of 1 to 20 images.
    fn labels() -> Vec<usize> {
        (0..40).flat_map(|c| std::iter::repeat_n(c, 1 + c % 20)).collect()
    }

    fn counts(batch: &[usize], labels: &[usize]) -> BTreeMap<usize, usize> {
        let mut m = BTreeMap::new();
        for &i in batch {
            *m.entry(labels[i]).or_insert(0) += 1;
        }
        m
    }

    fn field(r: DataResult<ClassChunkSampler>) -> &'static str {
        match r {
            Err(DataError::InvalidConfig { field, .. }) => field,
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }

    #[test]
    fn range_chunks_within_bounds() {
        let labels = labels();
        let range = ChunkSize::Range { min: 5, max: 10 };
        let s = ClassChunkSamplerConfig::new(32, range).with_seed(1).init(&labels).unwrap();
        let epoch = s.batches(0);
        assert_eq!(epoch.len(), labels.len() / 32);
        for batch in &epoch {
            assert_eq!(batch.len(), 32);
            let mut uniq = batch.clone();
            uniq.sort();
            uniq.dedup();
            assert_eq!(uniq.len(), 32, "no image twice");
            let c = counts(batch, &labels);
            // Every class but possibly the truncated one gives min(5..=10, n) images.
            let odd = c.iter().filter(|&(&l, &k)| k > 10 || k < 5.min(1 + l % 20)).count();
            assert!(odd <= 1, "{c:?}");
            assert!(c.values().all(|&k| k <= 10), "{c:?}");
        }
    }

    #[test]
    fn half_to_all_skips_singletons_and_bounds_chunks() {
        let labels = labels();
        let size = |l: usize| 1 + l % 20;
        let cfg = ClassChunkSamplerConfig::new(60, ChunkSize::HalfToAll).with_num_batches(Some(40));
        let mut seen_low = false;
        for batch in cfg.init(&labels).unwrap().batches(3) {
            assert_eq!(batch.len(), 60);
            let c = counts(&batch, &labels);
            assert!(c.keys().all(|&l| l % 20 != 0), "classes of one image are skipped");
            let out_of_range: Vec<_> =
                c.iter().filter(|&(&l, &k)| k < size(l) / 2 || k > size(l)).collect();
            assert!(out_of_range.len() <= 1, "{c:?}");
            seen_low |= c.iter().any(|(&l, &k)| k == size(l) / 2 && k > 1);
        }
        assert!(seen_low);
    }

    #[test]
    fn deterministic_per_seed_and_epoch() {
        let labels = labels();
        let cfg = ClassChunkSamplerConfig::new(16, ChunkSize::Range { min: 2, max: 4 })
            .with_seed(9)
            .with_num_batches(Some(5));
        let s = cfg.init(&labels).unwrap();
        let e0 = s.batches(0);
        assert_eq!(e0.len(), 5);
        assert_eq!(s.num_items(), 80);
        assert_eq!(s.batches(0), e0);
        assert_eq!(cfg.init(&labels).unwrap().batches(0), e0);
        assert_ne!(s.batches(1), e0);
        assert_ne!(cfg.clone().with_seed(10).init(&labels).unwrap().batches(0), e0);
    }

    #[test]
    fn barely_enough_images_still_fills_the_batch() {
        // 7 images; chunks of 1..=2 cannot reach 7 from 3 classes, the fallback fills it.
        let labels = [0, 0, 0, 1, 1, 2, 2];
        let s = ClassChunkSamplerConfig::new(7, ChunkSize::Range { min: 1, max: 2 })
            .with_num_batches(Some(20))
            .init(&labels)
            .unwrap();
        for mut batch in s.batches(0) {
            batch.sort();
            assert_eq!(batch, (0..7).collect::<Vec<_>>());
        }
    }

    #[test]
    fn errors_name_the_field() {
        let labels = labels();
        let r = |min, max| ChunkSize::Range { min, max };
        assert_eq!(field(ClassChunkSamplerConfig::new(0, r(1, 2)).init(&labels)), "batch_size");
        assert_eq!(field(ClassChunkSamplerConfig::new(8, r(0, 2)).init(&labels)), "chunk");
        assert_eq!(field(ClassChunkSamplerConfig::new(8, r(3, 2)).init(&labels)), "chunk");
        let zero = ClassChunkSamplerConfig::new(8, r(1, 2)).with_num_batches(Some(0));
        assert_eq!(field(zero.init(&labels)), "num_batches");
        assert_eq!(field(ClassChunkSamplerConfig::new(4, r(1, 2)).init(&[0, 1, 2])), "batch_size");
        // HalfToAll cannot use the one-image classes.
        let half = ClassChunkSamplerConfig::new(3, ChunkSize::HalfToAll);
        assert_eq!(field(half.init(&[0, 0, 1, 2])), "batch_size");
        assert!(half.init(&[0, 0, 1, 1]).is_ok());
    }
}
