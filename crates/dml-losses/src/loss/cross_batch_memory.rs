use burn::config::Config;
use burn::tensor::{Device, Int, Tensor};

use super::{LossInput, MetricLoss};
use crate::error::{LossError, LossResult, check_count};
use crate::miner::{Mined, Miner, Triplets, all_pairs};

/// Configuration of [`CrossBatchMemory`]; defaults are PML's
/// `CrossBatchMemory(loss, embedding_size, memory_size=1024)`.
#[derive(Config, Debug)]
pub struct CrossBatchMemoryConfig {
    /// Size `d` of the embeddings stored in the memory.
    pub embedding_size: usize,
    /// Number of past embeddings kept (the queue length).
    #[config(default = 1024)]
    pub memory_size: usize,
}

/// Cross-batch memory (Wang et al. 2020, "Cross-Batch Memory for Embedding Learning"; PML's
/// `CrossBatchMemory`): wraps a pair or triplet loss so that each batch is compared with a
/// queue of recent embeddings instead of only with itself.
///
/// On every [`CrossBatchMemory::forward`] call, as in PML:
/// 1. the batch (detached) and its labels are written into the queue at the write position,
///    wrapping around at `memory_size`;
/// 2. the reference set is the filled part of the queue (all of it once it has wrapped), which
///    includes the batch just written;
/// 3. the pairs are all anchor-positive / anchor-negative pairs between the batch and the
///    reference set (or what the optional miner selects against it), minus each embedding's
///    pair with its own copy in the queue;
/// 4. the wrapped loss is evaluated on the batch against that reference set with those pairs.
///
/// Gradients flow only into the batch (the queue is detached). PML's `enqueue_mask` and
/// extra `indices_tuple` arguments are not supported.
pub struct CrossBatchMemory<L: MetricLoss> {
    loss: L,
    miner: Option<Box<dyn Miner>>,
    embedding_size: usize,
    memory_size: usize,
    device: Device,
    embedding_memory: Tensor<2>,
    label_memory: Tensor<1, Int>,
    queue_idx: usize,
    has_been_filled: bool,
}

impl<L: MetricLoss> std::fmt::Debug for CrossBatchMemory<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CrossBatchMemory")
            .field("loss", &self.loss.name())
            .field("miner", &self.miner.as_ref().map(|m| m.name()))
            .field("embedding_size", &self.embedding_size)
            .field("memory_size", &self.memory_size)
            .field("queue_idx", &self.queue_idx)
            .field("has_been_filled", &self.has_been_filled)
            .finish()
    }
}

impl CrossBatchMemoryConfig {
    /// Validates the configuration and wraps `loss` with an empty memory on `device`.
    pub fn init<L: MetricLoss>(&self, loss: L, device: &Device) -> LossResult<CrossBatchMemory<L>> {
        check_count("CrossBatchMemory", "embedding_size", self.embedding_size)?;
        check_count("CrossBatchMemory", "memory_size", self.memory_size)?;
        let mut memory = CrossBatchMemory {
            loss,
            miner: None,
            embedding_size: self.embedding_size,
            memory_size: self.memory_size,
            device: device.clone(),
            embedding_memory: Tensor::zeros([1, 1], device),
            label_memory: Tensor::zeros([1], device),
            queue_idx: 0,
            has_been_filled: false,
        };
        memory.reset_queue();
        Ok(memory)
    }
}

impl<L: MetricLoss> CrossBatchMemory<L> {
    /// Mines the pairs or triplets against the memory with `miner` instead of using all pairs
    /// (PML's `miner` argument).
    pub fn with_miner(mut self, miner: impl Miner + 'static) -> Self {
        self.miner = Some(Box::new(miner));
        self
    }

    /// Like [`CrossBatchMemory::with_miner`], for a miner chosen at run time.
    pub fn with_boxed_miner(mut self, miner: Box<dyn Miner>) -> Self {
        self.miner = Some(miner);
        self
    }

    /// The wrapped loss.
    pub fn loss(&self) -> &L {
        &self.loss
    }

    /// The wrapped loss, mutably (an optimizer updating its parameters).
    pub fn loss_mut(&mut self) -> &mut L {
        &mut self.loss
    }

    /// Puts back a queue saved with [`CrossBatchMemory::memory`],
    /// [`CrossBatchMemory::queue_idx`] and [`CrossBatchMemory::has_been_filled`] (a resumed
    /// run continues with the same memory).
    ///
    /// # Shapes
    /// - `embeddings`: `[memory_size, embedding_size]`, `labels`: `[memory_size]`
    ///
    /// # Errors
    /// [`LossError::ShapeMismatch`] when the shapes or the position do not fit the memory.
    pub fn restore_queue(
        &mut self,
        embeddings: Tensor<2>,
        labels: Tensor<1, Int>,
        queue_idx: usize,
        has_been_filled: bool,
    ) -> LossResult<()> {
        let expected = [self.memory_size, self.embedding_size];
        if embeddings.dims() != expected
            || labels.dims() != [self.memory_size]
            || queue_idx >= self.memory_size
        {
            return Err(LossError::ShapeMismatch {
                component: "CrossBatchMemory",
                detail: format!(
                    "a saved queue of {:?} embeddings, {:?} labels at position {queue_idx} does                      not fit a memory of {expected:?}",
                    embeddings.dims(),
                    labels.dims()
                ),
            });
        }
        self.embedding_memory = embeddings.to_device(&self.device).detach();
        self.label_memory = labels.to_device(&self.device);
        self.queue_idx = queue_idx;
        self.has_been_filled = has_been_filled;
        Ok(())
    }

    /// Next write position in the queue (PML's `queue_idx`).
    pub fn queue_idx(&self) -> usize {
        self.queue_idx
    }

    /// Whether the queue has wrapped around at least once (PML's `has_been_filled`).
    pub fn has_been_filled(&self) -> bool {
        self.has_been_filled
    }

    /// Number of queue slots currently used as the reference set.
    pub fn len(&self) -> usize {
        if self.has_been_filled { self.memory_size } else { self.queue_idx }
    }

    /// True before the first batch (or after [`CrossBatchMemory::reset_queue`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The whole queue, embeddings and labels, including unused (zero) slots.
    ///
    /// # Shapes
    /// - returns `([memory_size, embedding_size], [memory_size])`
    pub fn memory(&self) -> (Tensor<2>, Tensor<1, Int>) {
        (self.embedding_memory.clone(), self.label_memory.clone())
    }

    /// Empties the queue: zero embeddings and labels, write position 0, not filled.
    pub fn reset_queue(&mut self) {
        self.embedding_memory =
            Tensor::zeros([self.memory_size, self.embedding_size], &self.device);
        self.label_memory = Tensor::zeros([self.memory_size], &self.device);
        self.queue_idx = 0;
        self.has_been_filled = false;
    }

    /// Adds the batch to the memory and returns the wrapped loss of the batch against it.
    ///
    /// # Shapes
    /// - `embeddings`: `[n, embedding_size]` with `1 <= n <= memory_size`, `labels`: `[n]`
    ///   -> `[1]`
    pub fn forward(
        &mut self,
        embeddings: Tensor<2>,
        labels: Tensor<1, Int>,
    ) -> LossResult<Tensor<1>> {
        let component = "CrossBatchMemory";
        let [n, d] = embeddings.dims();
        if n == 0 || n > self.memory_size {
            return Err(LossError::ShapeMismatch {
                component,
                detail: format!("batch of {n} embeddings for a memory of {}", self.memory_size),
            });
        }
        if d != self.embedding_size {
            return Err(LossError::ShapeMismatch {
                component,
                detail: format!("embedding size {d}, memory built for {}", self.embedding_size),
            });
        }
        if labels.dims()[0] != n {
            return Err(LossError::ShapeMismatch {
                component,
                detail: format!("{n} embeddings but {} labels", labels.dims()[0]),
            });
        }
        let slots = self.add_to_memory(&embeddings, &labels);
        let m = self.len();
        let ref_emb = self.embedding_memory.clone().slice(0..m);
        let ref_labels = self.label_memory.clone().slice(0..m);
        let mined = match &self.miner {
            Some(miner) => miner.mine_with_reference(
                embeddings.clone(),
                labels.clone(),
                ref_emb.clone(),
                ref_labels.clone(),
            )?,
            None => {
                let (positive, negative) = all_pairs(&labels, &ref_labels, false);
                Mined::Pairs { positive, negative }
            }
        };
        let mined = self.remove_self_comparisons(mined, &slots, m);
        let input = LossInput::new(embeddings, labels)
            .with_reference(ref_emb, ref_labels)
            .with_mined(mined);
        self.loss.forward_input(&input)
    }

    /// Writes the detached batch at the queue position; returns the slot of each row.
    fn add_to_memory(&mut self, embeddings: &Tensor<2>, labels: &Tensor<1, Int>) -> Vec<usize> {
        let n = embeddings.dims()[0];
        let size = self.memory_size;
        let start = self.queue_idx;
        let slots: Vec<usize> = (0..n).map(|i| (start + i) % size).collect();
        let e = embeddings.clone().detach();
        let first = n.min(size - start);
        self.embedding_memory = self
            .embedding_memory
            .clone()
            .slice_assign(start..start + first, e.clone().slice(0..first));
        self.label_memory = self
            .label_memory
            .clone()
            .slice_assign(start..start + first, labels.clone().slice(0..first));
        if first < n {
            let rest = n - first;
            self.embedding_memory =
                self.embedding_memory.clone().slice_assign(0..rest, e.slice(first..n));
            self.label_memory =
                self.label_memory.clone().slice_assign(0..rest, labels.clone().slice(first..n));
        }
        // Keep the queue out of every autodiff graph.
        self.embedding_memory = self.embedding_memory.clone().detach();
        let prev = self.queue_idx;
        self.queue_idx = (start + n) % size;
        if !self.has_been_filled && self.queue_idx <= prev {
            self.has_been_filled = true;
        }
        slots
    }

    /// Drops every anchor-positive pair (or triplet) that pairs row `i` with its own copy at
    /// `slots[i]`.
    fn remove_self_comparisons(&self, mined: Mined, slots: &[usize], m: usize) -> Mined {
        let n = slots.len();
        let mut keep = vec![1.0f32; n * m];
        for (i, &slot) in slots.iter().enumerate() {
            if let Some(v) = keep.get_mut(i * m + slot) {
                *v = 0.0;
            }
        }
        let keep = Tensor::<1>::from_floats(keep.as_slice(), &self.device).reshape([n, m]);
        match mined {
            Mined::Pairs { positive, negative } => {
                Mined::Pairs { positive: positive * keep, negative }
            }
            Mined::Triplets(Triplets::Dense(mask)) => {
                Mined::Triplets(Triplets::Dense(mask * keep.reshape([n, m, 1])))
            }
            Mined::Triplets(Triplets::PerAnchor { positive, negative, valid }) => {
                let kept = keep.gather(1, positive.clone().reshape([n, 1])).reshape([n]);
                Mined::Triplets(Triplets::PerAnchor { positive, negative, valid: valid * kept })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::ContrastiveLossConfig;

    fn device() -> Device {
        Device::flex()
    }

    #[test]
    fn rejects_zero_sizes() {
        let loss = ContrastiveLossConfig::new().init().unwrap();
        let err = CrossBatchMemoryConfig::new(0).init(loss.clone(), &device()).unwrap_err();
        assert!(matches!(err, LossError::InvalidConfig { field: "embedding_size", .. }));
        let err =
            CrossBatchMemoryConfig::new(4).with_memory_size(0).init(loss, &device()).unwrap_err();
        assert!(matches!(err, LossError::InvalidConfig { field: "memory_size", .. }));
    }

    #[test]
    fn rejects_oversized_batch_and_wrong_width() {
        let loss = ContrastiveLossConfig::new().init().unwrap();
        let mut cbm =
            CrossBatchMemoryConfig::new(2).with_memory_size(2).init(loss, &device()).unwrap();
        let e = Tensor::<2>::zeros([3, 2], &device());
        let y = Tensor::<1, Int>::zeros([3], &device());
        assert!(matches!(cbm.forward(e, y), Err(LossError::ShapeMismatch { .. })));
        let e = Tensor::<2>::zeros([2, 3], &device());
        let y = Tensor::<1, Int>::zeros([2], &device());
        assert!(matches!(cbm.forward(e, y), Err(LossError::ShapeMismatch { .. })));
        assert!(cbm.is_empty());
    }

    #[test]
    fn queue_wraps_and_resets() {
        let loss = ContrastiveLossConfig::new().init().unwrap();
        let mut cbm =
            CrossBatchMemoryConfig::new(2).with_memory_size(5).init(loss, &device()).unwrap();
        let e = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], &device());
        let y = Tensor::<1, Int>::from_ints([0, 1, 0], &device());
        cbm.forward(e.clone(), y.clone()).unwrap();
        assert_eq!((cbm.queue_idx(), cbm.has_been_filled(), cbm.len()), (3, false, 3));
        cbm.forward(e, y).unwrap();
        assert_eq!((cbm.queue_idx(), cbm.has_been_filled(), cbm.len()), (1, true, 5));
        let labels = cbm.memory().1.to_data().convert::<i64>().try_to_vec::<i64>().unwrap();
        assert_eq!(labels, vec![0, 1, 0, 0, 1]);
        cbm.reset_queue();
        assert!(cbm.is_empty());
        assert!(!cbm.has_been_filled());
    }
}
