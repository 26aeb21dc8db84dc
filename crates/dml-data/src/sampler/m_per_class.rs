//! pytorch-metric-learning's `MPerClassSampler`: m images from each of B/m classes per batch.

use burn::config::Config;
use serde::{Deserialize, Serialize};

use super::BatchSampler;
use crate::error::{DataError, DataResult, invalid};
use crate::rng::SplitMix64;

/// What to do with classes that have fewer than m images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SmallClassPolicy {
    /// Refuse to build the sampler ([`DataError::ClassTooSmall`]).
    Error,
    /// Sample such classes with replacement (PML's `safe_random_choice`).
    Replace,
    /// Never sample such classes.
    Drop,
}

/// Configuration of an [`MPerClassSampler`]. Defaults follow PML.
#[derive(Config, Debug)]
pub struct MPerClassSamplerConfig {
    /// Images per class in a batch.
    pub m: usize,
    /// Images per batch; a multiple of `m`.
    pub batch_size: usize,
    /// Images per epoch before rounding down to a multiple of `batch_size` (PML's
    /// `length_before_new_iter`).
    #[config(default = 100_000)]
    pub length_before_new_iter: usize,
    /// Seed, combined with the epoch number: the same (seed, epoch) gives the same batches.
    #[config(default = 0)]
    pub seed: u64,
    /// Classes with fewer than `m` images.
    #[config(default = "SmallClassPolicy::Error")]
    pub small_classes: SmallClassPolicy,
}

impl MPerClassSamplerConfig {
    /// Builds the sampler for a dataset whose image `i` has label `labels[i]`.
    pub fn init(&self, labels: &[usize]) -> DataResult<MPerClassSampler> {
        const C: &str = "MPerClassSamplerConfig";
        let (m, b) = (self.m, self.batch_size);
        if m == 0 {
            return Err(invalid(C, "m", "must be positive"));
        }
        if b == 0 || b % m != 0 {
            return Err(invalid(
                C,
                "batch_size",
                format!("{b} is not a positive multiple of m = {m}"),
            ));
        }
        if self.length_before_new_iter < b {
            return Err(invalid(
                C,
                "length_before_new_iter",
                format!("{} is smaller than batch_size {b}", self.length_before_new_iter),
            ));
        }
        let num = labels.iter().max().map_or(0, |&l| l + 1);
        let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); num];
        for (i, &l) in labels.iter().enumerate() {
            by_class[l].push(i);
        }
        let mut classes = Vec::new();
        for (label, idx) in by_class.into_iter().enumerate() {
            if idx.is_empty() {
                continue;
            }
            if idx.len() < m {
                match self.small_classes {
                    SmallClassPolicy::Error => {
                        return Err(DataError::ClassTooSmall { label, count: idx.len(), m });
                    }
                    SmallClassPolicy::Drop => continue,
                    SmallClassPolicy::Replace => {}
                }
            }
            classes.push((label, idx));
        }
        if classes.len() * m < b {
            return Err(invalid(
                C,
                "batch_size",
                format!(
                    "{b} needs {} classes of m = {m} images, the data has {}",
                    b / m,
                    classes.len()
                ),
            ));
        }
        let list_size = self.length_before_new_iter - self.length_before_new_iter % b;
        Ok(MPerClassSampler { classes, config: self.clone(), num_batches: list_size / b })
    }
}

/// PML's `MPerClassSampler` with a batch size: each batch takes the first B/m classes of a
/// fresh shuffle of the class list and m images of each (without replacement; with
/// replacement only for small classes under [`SmallClassPolicy::Replace`]), so no class
/// repeats within a batch. An epoch holds `length_before_new_iter / batch_size` batches.
#[derive(Debug, Clone)]
pub struct MPerClassSampler {
    /// `(label, image indices)` of every class that can be sampled, ascending label.
    classes: Vec<(usize, Vec<usize>)>,
    config: MPerClassSamplerConfig,
    num_batches: usize,
}

impl MPerClassSampler {
    /// The number of batches per epoch.
    pub fn num_batches(&self) -> usize {
        self.num_batches
    }
}

impl BatchSampler for MPerClassSampler {
    fn batches(&self, epoch: u64) -> Vec<Vec<usize>> {
        let (m, b) = (self.config.m, self.config.batch_size);
        let mut rng = SplitMix64::from_parts(&[self.config.seed, epoch, 0x3e7c]);
        let mut order: Vec<usize> = (0..self.classes.len()).collect();
        let mut scratch = Vec::new();
        (0..self.num_batches)
            .map(|_| {
                rng.shuffle(&mut order);
                let mut batch = Vec::with_capacity(b);
                for &c in &order[..b / m] {
                    let idx = &self.classes[c].1;
                    if idx.len() >= m {
                        // Partial Fisher-Yates: m distinct images.
                        scratch.clear();
                        scratch.extend_from_slice(idx);
                        for k in 0..m {
                            let j = k + rng.below(scratch.len() - k);
                            scratch.swap(k, j);
                        }
                        batch.extend_from_slice(&scratch[..m]);
                    } else {
                        batch.extend((0..m).map(|_| idx[rng.below(idx.len())]));
                    }
                }
                batch
            })
            .collect()
    }

    fn num_items(&self) -> usize {
        self.num_batches * self.config.batch_size
    }
}
