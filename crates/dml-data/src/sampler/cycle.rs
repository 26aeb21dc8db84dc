//! PaddlePaddle's classification reader: one shuffle of the image list, repeated without end,
//! cut into batches.

use burn::config::Config;

use super::BatchSampler;
use crate::error::{DataResult, invalid};
use crate::rng::SplitMix64;

/// Configuration of a [`CycleSampler`].
#[derive(Config, Debug)]
pub struct CycleSamplerConfig {
    /// Images per batch.
    pub batch_size: usize,
    /// Seed of the one shuffle.
    #[config(default = 0)]
    pub seed: u64,
}

impl CycleSamplerConfig {
    /// Builds the sampler over a dataset of `len` images.
    pub fn init(&self, len: usize) -> DataResult<CycleSampler> {
        const C: &str = "CycleSamplerConfig";
        if self.batch_size == 0 {
            return Err(invalid(C, "batch_size", "must be positive"));
        }
        if len == 0 {
            return Err(invalid(C, "len", "the dataset is empty"));
        }
        let mut order: Vec<usize> = (0..len).collect();
        SplitMix64::from_parts(&[self.seed, 0xc7c1e]).shuffle(&mut order);
        let per_epoch = (len / self.batch_size).max(1);
        Ok(CycleSampler { order, batch_size: self.batch_size, per_epoch })
    }
}

/// The images in one fixed shuffled order, repeated: batch `k` of the stream holds positions
/// `k B .. (k + 1) B` of `order, order, order, ...` (PaddlePaddle's `arcmargin_iterator`, which
/// shuffles its list once and cycles through it, so a batch may be larger than the dataset).
/// An "epoch" is `max(1, len / B)` consecutive batches of that stream.
#[derive(Debug, Clone)]
pub struct CycleSampler {
    order: Vec<usize>,
    batch_size: usize,
    per_epoch: usize,
}

impl BatchSampler for CycleSampler {
    fn batches(&self, epoch: u64) -> Vec<Vec<usize>> {
        let n = self.order.len();
        let start = epoch as usize * self.per_epoch * self.batch_size;
        (0..self.per_epoch)
            .map(|b| {
                let first = start + b * self.batch_size;
                (first..first + self.batch_size).map(|p| self.order[p % n]).collect()
            })
            .collect()
    }

    fn num_items(&self) -> usize {
        self.per_epoch * self.batch_size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_one_shuffle_across_epochs_and_batches_larger_than_the_data() {
        let s = CycleSamplerConfig::new(4).with_seed(2).init(10).unwrap();
        let stream: Vec<usize> = (0..3).flat_map(|e| s.batches(e).concat()).collect();
        assert_eq!(stream.len(), 24);
        for (i, v) in stream.iter().enumerate() {
            assert_eq!(*v, stream[i % 10], "position {i}");
        }
        let mut first: Vec<usize> = stream[..10].to_vec();
        first.sort();
        assert_eq!(first, (0..10).collect::<Vec<_>>());
        let big = CycleSamplerConfig::new(25).init(10).unwrap();
        assert_eq!(big.batches(0).len(), 1);
        assert_eq!(big.batches(0)[0].len(), 25);
        assert!(CycleSamplerConfig::new(0).init(10).is_err());
    }
}
