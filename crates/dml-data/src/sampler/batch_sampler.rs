//! The interface between samplers and the loader.

/// Produces the batches of dataset indices of each epoch, reproducibly: the same sampler and
/// epoch number always give the same batches.
pub trait BatchSampler: Send + Sync {
    /// The batches of dataset indices for `epoch`.
    fn batches(&self, epoch: u64) -> Vec<Vec<usize>>;

    /// The number of indices one epoch yields (the sum of the batch sizes).
    fn num_items(&self) -> usize;
}
