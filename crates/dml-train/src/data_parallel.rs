//! Data-parallel training steps: the batch is split over several devices, each runs the
//! network on its shard, and the loss sees the whole (global) batch.
//!
//! One step on devices `d_0, ..., d_{k-1}` (`d_0` is the run's main device, where the loss,
//! its parameters, the optimizers and the master copy of the model live):
//!
//! 1. the batch's images are cut into `k` contiguous shards ([`shard_sizes`]); device `d_j`
//!    gets shard `j` and a replica of the model: the same parameters (ids and values), forked
//!    to `d_j` as fresh autodiff leaves, so that each replica's gradients are its own (the
//!    replica of `d_0` is the master model itself);
//! 2. each replica embeds its shard, and the embeddings are gathered on `d_0` in batch order,
//!    detached, as one leaf `E` ([`Shards::gathered`]);
//! 3. the loss (with its miner or cross-batch memory) runs once on `E` and all the labels, so
//!    batch-hard mining, pair losses and proxy losses see the global batch, and its backward
//!    pass gives `dL/dE` and the gradients of the loss's own parameters;
//! 4. each device runs the backward pass of its shard with its rows of `dL/dE` as the output
//!    gradient ([`Shards::backward`]), which gives that replica's parameter gradients;
//! 5. the replicas' gradients are summed on `d_0` ([`sum_gradients`]), and the optimizers step
//!    once on the master model, which the next step forks again.
//!
//! The gradient is therefore the gradient of the global batch's loss, exactly as on one device
//! (up to the order of floating-point sums), and it does not depend on the device count: the
//! loss is computed once, not once per device and averaged. BatchNorm layers in training mode
//! normalize with their own shard's statistics (as PyTorch's DistributedDataParallel does); the
//! replicas share the master's running statistics (Burn's `RunningState`), into which each
//! shard's batch statistics are folded in turn, one momentum update per shard; with
//! BatchNorm frozen (`model.freeze_batch_norm`, as LDM trains) or absent, the run equals the
//! one-device run.
//!
//! The devices are driven from one thread: Burn's GPU backends queue work asynchronously, so the
//! devices compute concurrently, and the CPU backend already uses every core for one shard.
//!
//! With synchronized BatchNorm statistics (`run.sync_batch_norm`, [`Shards::forward_synced`]),
//! steps 2 and 4 change: each shard's forward pass runs on its own thread (taking turns, one
//! thread at a time, from one BatchNorm layer to the next), and every BatchNorm
//! layer in training mode waits for the same layer of the other shards and normalizes with the
//! statistics of the whole batch ([`dml_backbones::batch_norm_sync`]); the embeddings are
//! gathered on `d_0` without detaching them ([`Shards::joined`]), so that the loss's one
//! backward pass goes through the global statistics into every replica, and [`sum_gradients`]
//! takes every replica's gradients from that one set. The run then equals the one-device run
//! with BatchNorm training too.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Device, FloatDType, Gradients, Tensor};
use dml_backbones::batch_norm_sync::settle;
use dml_backbones::precision::forward_in_precision;
use dml_backbones::{BatchNormSync, EmbeddingModel};

/// How `n` samples split over `k` devices: contiguous shards, the first `n % k` one sample
/// larger (the global batch order is kept, so every device count sees the same data).
///
/// # Panics
/// Never for `k >= 1`; `k == 0` gives an empty list.
pub fn shard_sizes(n: usize, k: usize) -> Vec<usize> {
    if k == 0 {
        return Vec::new();
    }
    (0..k).map(|j| n / k + usize::from(j < n % k)).collect()
}

/// The batch's shards (contiguous, [`shard_sizes`]) and the devices after the main one that
/// get one: a batch smaller than the device count uses the first `n` devices.
fn split<'a>(images: &Tensor<4>, others: &'a [Device]) -> (&'a [Device], Vec<Tensor<4>>) {
    let n = images.dims()[0];
    let others = &others[..others.len().min(n.saturating_sub(1))];
    let sizes = shard_sizes(n, 1 + others.len());
    let mut start = 0;
    let mut shards = Vec::with_capacity(sizes.len());
    for &len in &sizes {
        shards.push(images.clone().narrow(0, start, len));
        start += len;
    }
    (others, shards)
}

/// One step's shards after the forward pass: each device's replica and embeddings.
pub struct Shards {
    /// The replica of each device after the first (the first device's is the master model).
    pub replicas: Vec<EmbeddingModel>,
    /// Each device's embeddings (`[n_j, d]`, on its device, with its autodiff graph).
    pub embeddings: Vec<Tensor<2>>,
    /// Whether the shards' BatchNorm layers shared their statistics ([`Shards::forward_synced`]):
    /// then the shards' graphs are one graph, differentiated by one backward pass.
    pub synced: bool,
}

impl Shards {
    /// Splits `images` (on the main device) over the main device and `others` and embeds
    /// each shard with its replica of `model` (`model` itself on the main device), computed in
    /// `precision` (`None`: float32; the embeddings are float32 either way). A batch
    /// smaller than the device count (an epoch's last, short batch) uses the first `n` devices.
    ///
    /// # Shapes
    /// - `images`: `[n, c, h, w]`, `n >= 1`
    pub fn forward(
        model: &EmbeddingModel,
        images: Tensor<4>,
        others: &[Device],
        precision: Option<FloatDType>,
    ) -> Self {
        let (others, shards) = split(&images, others);
        let mut shards = shards.into_iter();
        let first = shards.next().expect("at least one shard");
        let mut embeddings = vec![forward_in_precision(model, first, precision)];
        let mut replicas = Vec::with_capacity(others.len());
        for (device, shard) in others.iter().zip(shards) {
            let replica = model.clone().fork(device);
            embeddings.push(forward_in_precision(&replica, shard.to_device(device), precision));
            replicas.push(replica);
        }
        Self { replicas, embeddings, synced: false }
    }

    /// [`Shards::forward`] with synchronized BatchNorm statistics: each shard's forward pass
    /// runs on its own thread (the main device's on this one), and every BatchNorm layer in
    /// training mode normalizes with the statistics of the whole batch
    /// ([`dml_backbones::batch_norm_sync`]), combined on the main device in device order. The
    /// embeddings stay in one autodiff graph with the statistics; gather them with
    /// [`Shards::joined`] and differentiate the loss with one backward pass.
    ///
    /// # Shapes
    /// - `images`: `[n, c, h, w]`, `n >= 1`
    pub fn forward_synced(
        model: &EmbeddingModel,
        images: Tensor<4>,
        others: &[Device],
        precision: Option<FloatDType>,
    ) -> Self {
        let main = images.device();
        let (others, shards) = split(&images, others);
        let count = shards.len();
        let mut shards = shards.into_iter();
        let first = shards.next().expect("at least one shard");
        // Forked here, in device order, before any shard runs.
        let work: Vec<(EmbeddingModel, Tensor<4>)> = others
            .iter()
            .zip(shards)
            .map(|(device, shard)| (model.clone().fork(device), shard.to_device(device)))
            .collect();
        // The forks and shards are read on the shards' threads: settled here first, and each
        // thread settles its own work before handing its embeddings back
        // ([`dml_backbones::batch_norm_sync::settle`]).
        settle(&main);
        for (_, shard) in &work {
            settle(&shard.device());
        }
        let sync = BatchNormSync::new(&main, count);
        let embeddings = std::thread::scope(|scope| {
            let handles: Vec<_> = work
                .iter()
                .enumerate()
                .map(|(j, (replica, shard))| {
                    let sync = &sync;
                    scope.spawn(move || {
                        // Settled before the turn passes on (the main thread reads them).
                        sync.run(j + 1, || {
                            let e = forward_in_precision(replica, shard.clone(), precision);
                            settle(&shard.device());
                            e
                        })
                    })
                })
                .collect();
            // Shard 0 on this thread: the master model's running statistics are updated from
            // the thread that reads them.
            let mut embeddings =
                vec![sync.run(0, || forward_in_precision(model, first, precision))];
            for handle in handles {
                match handle.join() {
                    Ok(e) => embeddings.push(e),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            embeddings
        });
        let replicas = work.into_iter().map(|(replica, _)| replica).collect();
        Self { replicas, embeddings, synced: true }
    }

    /// The embeddings of all shards on `main`, in batch order, still in the shards' autodiff
    /// graph (a synced step's loss input: its backward pass reaches every replica).
    pub fn joined(&self, main: &Device) -> Tensor<2> {
        Tensor::cat(self.embeddings.iter().map(|e| e.clone().to_device(main)).collect(), 0)
    }

    /// The embeddings of all shards on `main`, in batch order, detached from the shards'
    /// graphs, as one leaf that requires a gradient (the loss's input).
    pub fn gathered(&self, main: &Device) -> Tensor<2> {
        let parts: Vec<Tensor<2>> =
            self.embeddings.iter().map(|e| e.clone().detach().to_device(main)).collect();
        Tensor::cat(parts, 0).require_grad()
    }

    /// The backward pass of every shard, given `grad` = `dL/dE` of the gathered embeddings
    /// (`[n, d]`, on the main device, no autodiff): device `j` back-propagates its rows of it.
    /// Returns each device's gradients, the main device's first.
    pub fn backward(&self, grad: Tensor<2>) -> Vec<Gradients> {
        let mut start = 0;
        self.embeddings
            .iter()
            .map(|e| {
                let len = e.dims()[0];
                let device = e.device();
                let rows = grad.clone().narrow(0, start, len).to_device(&device.clone().inner());
                start += len;
                // d/dθ sum(e ⊙ g) = J_θ(e)ᵀ g: the chain rule with `g` as e's output gradient.
                (e.clone() * Tensor::from_inner(rows)).sum().backward()
            })
            .collect()
    }

    /// The replica that produced shard `j` (`master` for the first).
    pub fn replica<'a>(&'a self, master: &'a EmbeddingModel, j: usize) -> &'a EmbeddingModel {
        if j == 0 { master } else { &self.replicas[j - 1] }
    }
}

/// The gradients of the parameters `ids` of `master`, summed over the devices' backward
/// passes (`grads[j]` from the replica [`Shards::replica`]`(master, j)`; for synced shards,
/// `grads` is the one backward pass of their joined graph, which holds every replica's), on
/// the main device's tensors. Summed in device order, so the result does not depend on timing.
pub fn sum_gradients(
    grads: &mut [Gradients],
    shards: &Shards,
    master: &EmbeddingModel,
    ids: &[ParamId],
) -> GradientsParams {
    let mut total = GradientsParams::new();
    if let (true, [g]) = (shards.synced, &mut *grads) {
        for j in 0..shards.embeddings.len() {
            let part = GradientsParams::from_params(g, shards.replica(master, j), ids);
            master.visit(&mut AddInto { total: &mut total, part });
        }
        return total;
    }
    for (j, g) in grads.iter_mut().enumerate() {
        let part = GradientsParams::from_params(g, shards.replica(master, j), ids);
        master.visit(&mut AddInto { total: &mut total, part });
    }
    total
}

/// Adds each gradient of `part` into `total` (moved to the device of `total`'s tensor).
struct AddInto<'a> {
    total: &'a mut GradientsParams,
    part: GradientsParams,
}

impl ModuleVisitor for AddInto<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let Some(g) = self.part.remove::<D>(param.id) else {
            return;
        };
        let sum = match self.total.remove::<D>(param.id) {
            Some(t) => {
                let device = t.device();
                t + g.to_device(&device)
            }
            None => g,
        };
        self.total.register::<D>(param.id, sum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_batch_in_order_and_differ_by_at_most_one() {
        assert_eq!(shard_sizes(8, 2), [4, 4]);
        assert_eq!(shard_sizes(9, 2), [5, 4]);
        assert_eq!(shard_sizes(10, 4), [3, 3, 2, 2]);
        assert_eq!(shard_sizes(3, 3), [1, 1, 1]);
        assert_eq!(shard_sizes(5, 1), [5]);
        for n in 1..40 {
            for k in 1..=n.min(9) {
                let s = shard_sizes(n, k);
                assert_eq!(s.iter().sum::<usize>(), n);
                assert!(s.iter().max().unwrap() - s.iter().min().unwrap() <= 1);
            }
        }
    }
}
