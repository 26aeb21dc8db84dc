//! Synchronized BatchNorm statistics (PyTorch's `SyncBatchNorm`) for the shards of one
//! data-parallel step.
//!
//! Each shard runs the network's forward pass on its own thread, inside
//! [`BatchNormSync::run`]. Every BatchNorm layer in training mode ([`crate::batch_norm()`])
//! then waits for the same layer of every other shard: each shard gives its per-channel count,
//! mean and sum of squared deviations, moved to the main device; the shards' statistics are
//! combined there in shard order (so the result does not depend on which thread came last),
//! and each shard normalizes its samples with the global mean and biased variance, moved back
//! to its device. Everything happens in the autodiff graph (moves between devices included),
//! so one backward pass over the step's graph carries the gradient through the global
//! statistics into every shard, as for the whole batch on one device. Shard 0 (the master
//! model, on the calling thread) folds the global statistics into the running statistics, once
//! per layer and step; the other shards leave them alone.
//!
//! The shards take turns: one thread runs at a time, from one BatchNorm layer to the next, in
//! shard order (shard 0 to its first layer, then shard 1 to its first layer, ..., the last one
//! combines, then shard 0 to its second layer, ...). Burn's autodiff graph is shared by the
//! shards (the global statistics are every shard's parent), and building it from several
//! threads at once failed now and then on wgpu (`graph tape has already been consumed`); on
//! the CPU the threads gain nothing from running together (each operation already uses every
//! core), and on a GPU a thread only queues work, which runs on while the next thread queues.
//!
//! Global statistics of shards with `n_j` values per channel, means `m_j` and sums of squared
//! deviations `M_j` (Chan, Golub and LeVeque's pairwise update, as PyTorch's
//! `batch_norm_gather_stats_with_counts`):
//!
//! `n = Σ n_j`, `mean = Σ (n_j / n) m_j`, `var = (Σ M_j + Σ n_j (m_j - mean)²) / n`.

use std::cell::RefCell;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use burn::nn::BatchNorm;
use burn::tensor::{Device, Tensor};

/// The exchange through which the BatchNorm layers of `shards` concurrent forward passes share
/// their statistics. One per step: create it, run each shard's forward inside
/// [`run`](Self::run) on its own thread (shard 0 on the thread that owns the master model's
/// running statistics), and drop it.
#[derive(Debug)]
pub struct BatchNormSync {
    main: Device,
    shards: usize,
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug)]
struct State {
    /// Layers whose statistics have been combined so far.
    round: u64,
    /// The shard whose thread may run now.
    turn: usize,
    /// Each shard's statistics for the layer being combined.
    deposits: Vec<Option<Deposit>>,
    /// The global statistics of the last combined layer.
    result: Option<Global>,
    /// The shards whose forward pass has ended.
    done: Vec<bool>,
    /// Why the exchange stopped (a shard panicked, or the shards' layers did not match).
    failed: Option<String>,
}

/// One shard's statistics for one layer, on the main device.
#[derive(Debug)]
struct Deposit {
    count: usize,
    mean: Tensor<1>,
    m2: Tensor<1>,
}

/// The global statistics of one layer, on the main device.
#[derive(Debug, Clone)]
struct Global {
    count: usize,
    mean: Tensor<1>,
    var: Tensor<1>,
}

thread_local! {
    /// The exchange and shard of the forward pass running on this thread, if any.
    static CURRENT: RefCell<Option<(Arc<BatchNormSync>, usize)>> = const { RefCell::new(None) };
}

/// Resets the thread's shard and reports the shard's end to the others (as a failure when the
/// thread is unwinding, so that no shard waits forever for a layer that will not come).
struct Leave {
    sync: Arc<BatchNormSync>,
    rank: usize,
    previous: Option<(Arc<BatchNormSync>, usize)>,
}

impl Drop for Leave {
    fn drop(&mut self) {
        CURRENT.with(|c| *c.borrow_mut() = self.previous.take());
        let mut state = self.sync.lock();
        state.done[self.rank] = true;
        if state.turn == self.rank {
            // The next shard (in cyclic order) whose forward pass has not ended.
            let k = self.sync.shards;
            if let Some(next) = (1..k).map(|d| (self.rank + d) % k).find(|&r| !state.done[r]) {
                state.turn = next;
            }
        }
        if std::thread::panicking() && state.failed.is_none() {
            state.failed = Some(format!("the forward pass of shard {} panicked", self.rank));
        }
        drop(state);
        self.sync.changed.notify_all();
    }
}

impl BatchNormSync {
    /// An exchange for `shards` forward passes whose statistics are combined on `main`.
    pub fn new(main: &Device, shards: usize) -> Arc<Self> {
        Arc::new(Self {
            main: main.clone(),
            shards,
            state: Mutex::new(State {
                round: 0,
                turn: 0,
                deposits: (0..shards).map(|_| None).collect(),
                result: None,
                done: vec![false; shards],
                failed: None,
            }),
            changed: Condvar::new(),
        })
    }

    /// The number of shards.
    pub fn shards(&self) -> usize {
        self.shards
    }

    /// Runs `forward` on this thread as shard `rank` (`0..shards`): every BatchNorm layer in
    /// training mode that [`crate::batch_norm()`] computes inside it normalizes with the
    /// statistics of all the shards. Every shard must run the same network, so that their
    /// BatchNorm layers come in the same order.
    ///
    /// # Panics
    /// When `rank >= shards`; inside a layer, when another shard's forward pass panicked or
    /// ended without reaching that layer (the shards ran different networks).
    pub fn run<R>(self: &Arc<Self>, rank: usize, forward: impl FnOnce() -> R) -> R {
        assert!(rank < self.shards, "shard {rank} of an exchange of {} shards", self.shards);
        let previous = CURRENT.with(|c| c.borrow_mut().replace((self.clone(), rank)));
        let _leave = Leave { sync: self.clone(), rank, previous };
        {
            let mut state = self.lock();
            while state.turn != rank && state.failed.is_none() {
                state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            if let Some(why) = &state.failed {
                panic!("synchronized BatchNorm stopped: {why}");
            }
        }
        forward()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held is reported through `failed`.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Gives shard `rank`'s statistics of the current layer and waits for the global ones.
    fn share(&self, rank: usize, deposit: Deposit) -> Global {
        let mut state = self.lock();
        let round = state.round;
        if let Some(why) = &state.failed {
            panic!("synchronized BatchNorm stopped: {why}");
        }
        state.deposits[rank] = Some(deposit);
        if state.deposits.iter().all(Option::is_some) {
            let deposits: Vec<Deposit> =
                state.deposits.iter_mut().filter_map(Option::take).collect();
            match combine(deposits) {
                Ok(global) => {
                    // Read by every shard's thread: computed before they go on.
                    settle(&self.main);
                    state.result = Some(global)
                }
                Err(why) => state.failed = Some(why),
            }
            state.round += 1;
            state.turn = 0;
        } else {
            state.turn = rank + 1;
        }
        self.changed.notify_all();
        // Wait for the layer's global statistics and for this shard's turn.
        while (state.round == round || state.turn != rank) && state.failed.is_none() {
            let missing = (0..self.shards)
                .find(|&r| state.done[r] && state.deposits[r].is_none() && state.round == round);
            if let Some(r) = missing {
                state.failed = Some(format!(
                    "shard {r} ended its forward pass with fewer BatchNorm layers than shard \
                     {rank}"
                ));
                self.changed.notify_all();
                break;
            }
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        if let Some(why) = &state.failed {
            panic!("synchronized BatchNorm stopped: {why}");
        }
        state.result.clone().expect("a combined layer has a result")
    }
}

/// Waits until every operation this thread queued on `device` has run. A tensor handed from
/// one thread to another must be settled first: on wgpu each thread has its own stream and the
/// fusion backend queues operations per stream, and without this another thread's read raced
/// with the writes still queued (measured on lavapipe: synced runs off by 0.1-0.7 relative,
/// differently each run).
///
/// # Panics
/// When the device reports an execution error (the forward pass cannot go on).
pub fn settle(device: &Device) {
    if let Err(e) = device.sync() {
        panic!("synchronized BatchNorm: device {device:?} failed: {e:?}");
    }
}

/// The global statistics of the shards' deposits, combined in shard order.
fn combine(deposits: Vec<Deposit>) -> Result<Global, String> {
    let channels: Vec<usize> = deposits.iter().map(|d| d.mean.dims()[0]).collect();
    if channels.windows(2).any(|w| w[0] != w[1]) {
        return Err(format!("the shards' layers have different channel counts: {channels:?}"));
    }
    let count: usize = deposits.iter().map(|d| d.count).sum();
    let mut mean: Option<Tensor<1>> = None;
    for d in &deposits {
        let part = d.mean.clone().mul_scalar(d.count as f64 / count as f64);
        mean = Some(match mean {
            Some(m) => m + part,
            None => part,
        });
    }
    let mean = mean.ok_or("no shard")?;
    let mut m2: Option<Tensor<1>> = None;
    for d in deposits {
        let spread = (d.mean - mean.clone()).powi_scalar(2).mul_scalar(d.count as f64);
        let part = d.m2 + spread;
        m2 = Some(match m2 {
            Some(m) => m + part,
            None => part,
        });
    }
    let var = m2.ok_or("no shard")?.div_scalar(count as f64);
    Ok(Global { count, mean, var })
}

/// The exchange and shard of the forward pass running on this thread, if any.
pub(crate) fn current() -> Option<(Arc<BatchNormSync>, usize)> {
    CURRENT.with(|c| c.borrow().clone())
}

/// `bn(x)` in training mode with the statistics of every shard of `sync` (this thread's shard
/// `rank`): normalizes with the global mean and biased variance; shard 0 updates the running
/// statistics with the global mean and the unbiased global variance `var n / (n - 1)`.
///
/// # Shapes
/// - `x`: `[batch, channels, ...]` (float32) -> the same shape
pub(crate) fn synced_batch_norm<const D: usize>(
    bn: &BatchNorm,
    x: Tensor<D>,
    sync: &BatchNormSync,
    rank: usize,
) -> Tensor<D> {
    let device = x.device();
    let channels = x.dims()[1];
    let count = x.shape().num_elements() / channels; // batch x spatial positions
    let reduce = |t: Tensor<D>| (0..D).filter(|&d| d != 1).fold(t, |t, d| t.sum_dim(d));
    let mean = reduce(x.clone()).div_scalar(count as f64); // [1, C, 1, ...]
    let m2 = reduce((x.clone() - mean.clone()).powi_scalar(2));
    let deposit = Deposit {
        count,
        mean: mean.reshape([channels]).to_device(&sync.main),
        m2: m2.reshape([channels]).to_device(&sync.main),
    };
    // The deposit is read on another thread: this thread's queued work (a fusion backend's
    // stream is per thread) must have run first.
    settle(&device);
    let global = sync.share(rank, deposit);
    let mut shape = [1usize; D];
    shape[1] = channels;
    let to_shard = |t: Tensor<1>| t.to_device(&device).reshape(shape);
    let inv_std = to_shard(global.var.clone()).add_scalar(bn.epsilon).sqrt().recip();
    let out = (x - to_shard(global.mean.clone())) * inv_std * bn.gamma.val().reshape(shape)
        + bn.beta.val().reshape(shape);
    if rank == 0 {
        let n = global.count;
        let correction = if n > 1 { n as f64 / (n - 1) as f64 } else { 1.0 };
        let momentum = bn.momentum;
        let running = |state: &burn::module::RunningState<Tensor<1>>, batch: Tensor<1>, c: f64| {
            let old = state.value_sync().to_device(&device).mul_scalar(1.0 - momentum);
            state.update(
                (old + batch.detach().to_device(&device).mul_scalar(momentum * c)).detach(),
            );
        };
        running(&bn.running_mean, global.mean, 1.0);
        running(&bn.running_var, global.var, correction);
    }
    out
}

#[cfg(test)]
mod tests {
    use burn::module::{Module, Param};
    use burn::nn::BatchNormConfig;
    use burn::tensor::Distribution;

    use super::*;
    use crate::batch_norm;

    fn floats<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_to_vec::<f32>().expect("f32")
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }

    /// Two BatchNorm layers (with a nonlinearity between them) over shards of sizes `sizes` on
    /// their own threads, each with its own forked copy of the layers, one backward pass over
    /// the joined graph: output, input gradient, gamma/beta gradients (summed over the copies)
    /// and running statistics equal the whole batch's on one device.
    fn check(sizes: &[usize]) {
        let device = Device::flex().autodiff();
        let n: usize = sizes.iter().sum();
        let make = || {
            let mut a = BatchNormConfig::new(3).init(&device);
            let b = BatchNormConfig::new(3).init(&device);
            // A non-trivial scale, so that the second layer's input is not standardized.
            a.gamma = Param::from_tensor(Tensor::<1>::from_floats([0.5, 1.5, -2.0], &device));
            (a, b)
        };
        let x = Tensor::<4>::random([n, 3, 4, 5], Distribution::Normal(1.0, 2.0), &device);
        let w = Tensor::<4>::random([n, 3, 4, 5], Distribution::Default, &device);
        let net = |(a, b): &(BatchNorm, BatchNorm), x: Tensor<4>| {
            batch_norm(b, burn::tensor::activation::tanh(batch_norm(a, x)))
        };

        // One device, the whole batch.
        let whole = make();
        let xw = x.clone().require_grad();
        let y = net(&whole, xw.clone());
        let grads = (y.clone() * w.clone()).sum().backward();
        let expect_y = floats(y);
        let expect_dx = floats(xw.grad(&grads).expect("dx"));
        let expect_dg = floats(whole.0.gamma.val().grad(&grads).expect("dgamma"));
        let expect_db = floats(whole.1.beta.val().grad(&grads).expect("dbeta"));

        // The shards, each forward on its own thread.
        let master = make();
        let replicas: Vec<(BatchNorm, BatchNorm)> = (1..sizes.len())
            .map(|_| (master.0.clone().fork(&device), master.1.clone().fork(&device)))
            .collect();
        let xs = x.clone().require_grad();
        let mut parts = Vec::new();
        let mut start = 0;
        for &len in sizes {
            parts.push(xs.clone().narrow(0, start, len));
            start += len;
        }
        let sync = BatchNormSync::new(&device, sizes.len());
        let ys: Vec<Tensor<4>> = std::thread::scope(|s| {
            let mut parts = parts.into_iter();
            let first = parts.next().expect("shard 0");
            let handles: Vec<_> = replicas
                .iter()
                .zip(parts)
                .enumerate()
                .map(|(j, (layers, part))| {
                    let sync = &sync;
                    s.spawn(move || sync.run(j + 1, || net(layers, part)))
                })
                .collect();
            let mut ys = vec![sync.run(0, || net(&master, first))];
            ys.extend(handles.into_iter().map(|h| h.join().expect("shard thread")));
            ys
        });
        let y = Tensor::cat(ys, 0);
        let mut grads = (y.clone() * w).sum().backward();
        assert!(max_diff(&floats(y), &expect_y) < 1e-5);
        assert!(max_diff(&floats(xs.grad(&grads).expect("dx")), &expect_dx) < 1e-5);
        let mut dg = floats(master.0.gamma.val().grad_remove(&mut grads).expect("dgamma"));
        let mut db = floats(master.1.beta.val().grad_remove(&mut grads).expect("dbeta"));
        for (a, b) in &replicas {
            let g = floats(a.gamma.val().grad_remove(&mut grads).expect("replica dgamma"));
            let h = floats(b.beta.val().grad_remove(&mut grads).expect("replica dbeta"));
            dg.iter_mut().zip(g).for_each(|(x, y)| *x += y);
            db.iter_mut().zip(h).for_each(|(x, y)| *x += y);
        }
        assert!(max_diff(&dg, &expect_dg) < 1e-4, "{dg:?} vs {expect_dg:?}");
        assert!(max_diff(&db, &expect_db) < 1e-4, "{db:?} vs {expect_db:?}");
        for (got, want) in [(&master.0, &whole.0), (&master.1, &whole.1)] {
            let pairs = [
                (got.running_mean.value_sync(), want.running_mean.value_sync()),
                (got.running_var.value_sync(), want.running_var.value_sync()),
            ];
            for (g, e) in pairs {
                let (g, e) = (floats(g), floats(e));
                assert!(max_diff(&g, &e) < 1e-6, "running statistics {g:?} vs {e:?}");
            }
        }
    }

    #[test]
    fn shards_on_threads_normalize_and_differentiate_as_the_whole_batch() {
        check(&[3, 3]);
        check(&[3, 2, 2]);
        check(&[1, 1]);
    }

    #[test]
    fn a_panicking_shard_stops_the_others_instead_of_hanging() {
        let device = Device::flex().autodiff();
        let bn = BatchNormConfig::new(2).init(&device);
        let x = Tensor::<4>::random([2, 2, 3, 3], Distribution::Default, &device);
        let sync = BatchNormSync::new(&device, 2);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            std::thread::scope(|s| {
                s.spawn(|| {
                    sync.run(1, || -> Tensor<4> { panic!("shard 1 fails before its layer") })
                });
                sync.run(0, || batch_norm(&bn, x.clone()))
            })
        }));
        assert!(result.is_err());
        // Shards whose networks differ: the one that ends first makes the other stop.
        let sync = BatchNormSync::new(&device, 2);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            std::thread::scope(|s| {
                s.spawn(|| sync.run(1, || x.clone()));
                sync.run(0, || batch_norm(&bn, x.clone()))
            })
        }));
        assert!(result.is_err());
    }
}
