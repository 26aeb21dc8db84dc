//! Plain (optionally shuffled) batching of every index.

use burn::config::Config;

use super::BatchSampler;
use crate::error::{DataResult, invalid};
use crate::rng::SplitMix64;

/// Configuration of a [`RandomSampler`].
#[derive(Config, Debug)]
pub struct RandomSamplerConfig {
    /// Images per batch.
    pub batch_size: usize,
    /// Whether to draw a fresh permutation each epoch (false: index order, for evaluation).
    #[config(default = true)]
    pub shuffle: bool,
    /// Whether to drop the last, incomplete batch.
    #[config(default = false)]
    pub drop_last: bool,
    /// Seed of the permutations (combined with the epoch number).
    #[config(default = 0)]
    pub seed: u64,
}

impl RandomSamplerConfig {
    /// Builds a sampler over a dataset of `len` images.
    pub fn init(&self, len: usize) -> DataResult<RandomSampler> {
        if self.batch_size == 0 {
            return Err(invalid("RandomSamplerConfig", "batch_size", "must be positive"));
        }
        Ok(RandomSampler { len, config: self.clone() })
    }
}

/// Every index once per epoch, in batches: a fresh permutation per epoch when shuffling.
#[derive(Debug, Clone)]
pub struct RandomSampler {
    len: usize,
    config: RandomSamplerConfig,
}

impl BatchSampler for RandomSampler {
    fn batches(&self, epoch: u64) -> Vec<Vec<usize>> {
        let mut order: Vec<usize> = (0..self.len).collect();
        if self.config.shuffle {
            SplitMix64::from_parts(&[self.config.seed, epoch, 0x5eed]).shuffle(&mut order);
        }
        order
            .chunks(self.config.batch_size)
            .filter(|c| !self.config.drop_last || c.len() == self.config.batch_size)
            .map(<[usize]>::to_vec)
            .collect()
    }

    fn num_items(&self) -> usize {
        if self.config.drop_last { self.len - self.len % self.config.batch_size } else { self.len }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_every_index_and_reshuffles() {
        let s = RandomSamplerConfig::new(4).with_seed(3).init(10).unwrap();
        let e0: Vec<usize> = s.batches(0).concat();
        let mut sorted = e0.clone();
        sorted.sort();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        assert_ne!(e0, s.batches(1).concat());
        assert_eq!(s.batches(0).concat(), e0);
        let d = RandomSamplerConfig::new(4).with_drop_last(true).init(10).unwrap();
        assert_eq!(d.batches(0).len(), 2);
        assert_eq!(d.num_items(), 8);
        let seq = RandomSamplerConfig::new(4).with_shuffle(false).init(5).unwrap();
        assert_eq!(seq.batches(9), vec![vec![0, 1, 2, 3], vec![4]]);
    }
}
