//! A multi-threaded, prefetching loader: decoding and augmentation on worker threads.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use burn::config::Config;
use burn::tensor::Device;

use crate::batcher::{HostBatch, ImageBatch, ProcessedImage};
use crate::dataset::ImageSource;
use crate::error::{DataError, DataResult, invalid};
use crate::rng::SplitMix64;
use crate::sampler::BatchSampler;
use crate::transform::Pipeline;

/// Configuration of an [`ImageLoader`].
#[derive(Config, Debug)]
pub struct LoaderConfig {
    /// Worker threads decoding and augmenting (0: everything on the calling thread).
    #[config(default = 2)]
    pub num_workers: usize,
    /// Batches each worker may have ready ahead of the consumer.
    #[config(default = 2)]
    pub prefetch: usize,
    /// Seed of the augmentations; image `p` of batch `b` of epoch `e` draws from the stream
    /// `(seed, e, b, p)`, so results do not depend on the number of workers.
    #[config(default = 0)]
    pub seed: u64,
    /// Skip images that fail to decode instead of failing: they are left out of their batch
    /// (which is then smaller) and listed in [`ImageLoader::skipped_images`].
    #[config(default = false)]
    pub skip_undecodable: bool,
}

/// Everything a worker needs, shared between threads.
struct Shared {
    source: Arc<dyn ImageSource>,
    pipeline: Pipeline,
    seed: u64,
    skip_undecodable: bool,
    skipped: Mutex<Vec<String>>,
}

impl Shared {
    /// Decodes, transforms and stacks batch `b` of `epoch`.
    fn make_batch(&self, epoch: u64, b: usize, indices: &[usize]) -> DataResult<HostBatch> {
        let labels = self.source.labels();
        let mut images = Vec::with_capacity(indices.len());
        let mut skipped = Vec::new();
        for (pos, &index) in indices.iter().enumerate() {
            let label = *labels
                .get(index)
                .ok_or(DataError::IndexOutOfRange { index, len: labels.len() })?;
            let img = match self.source.load(index) {
                Ok(img) => img,
                Err(e @ DataError::Decode { .. }) => {
                    if self.skip_undecodable {
                        skipped.push(self.source.describe(index));
                        continue;
                    }
                    return Err(e);
                }
                Err(e) => return Err(e),
            };
            let mut rng = SplitMix64::from_parts(&[self.seed, epoch, b as u64, pos as u64]);
            let (pixels, height, width) = self.pipeline.apply(img, &mut rng);
            images.push(ProcessedImage { pixels, height, width, label, index });
        }
        let mut batch = HostBatch::stack(images)?;
        if !skipped.is_empty() {
            if let Ok(mut all) = self.skipped.lock() {
                all.extend(skipped.iter().cloned());
            }
            batch.skipped = skipped;
        }
        Ok(batch)
    }
}

/// Loads batches of `[B, 3, H, W]` images and `[B]` labels: a [`BatchSampler`] picks the
/// indices, worker threads decode and transform, a bounded channel per worker holds up to
/// `prefetch` ready batches, and the consumer receives them in sampler order.
pub struct ImageLoader {
    shared: Arc<Shared>,
    sampler: Arc<dyn BatchSampler>,
    config: LoaderConfig,
}

impl ImageLoader {
    /// A loader over `source`, batching with `sampler` and transforming with `pipeline`.
    pub fn new(
        source: Arc<dyn ImageSource>,
        sampler: Arc<dyn BatchSampler>,
        pipeline: Pipeline,
        config: LoaderConfig,
    ) -> DataResult<Self> {
        if config.num_workers > 0 && config.prefetch == 0 {
            return Err(invalid("LoaderConfig", "prefetch", "must be positive with workers"));
        }
        Ok(Self {
            shared: Arc::new(Shared {
                source,
                pipeline,
                seed: config.seed,
                skip_undecodable: config.skip_undecodable,
                skipped: Mutex::new(Vec::new()),
            }),
            sampler,
            config,
        })
    }

    /// The batches of `epoch`, in host memory.
    pub fn host_epoch(&self, epoch: u64) -> HostEpoch {
        self.host_epoch_from(epoch, 0)
    }

    /// The batches of `epoch` from batch index `start_batch` on, in host memory, without
    /// decoding the earlier ones (to resume a run mid-epoch). Batch `k` is identical to the
    /// one [`ImageLoader::host_epoch`] yields at position `k`: the sampler's batch list is a
    /// function of the epoch, and augmentation randomness of the absolute batch index. A
    /// `start_batch` at or past the end gives an empty epoch.
    pub fn host_epoch_from(&self, epoch: u64, start_batch: usize) -> HostEpoch {
        let batches = Arc::new(self.sampler.batches(epoch));
        let start = start_batch.min(batches.len());
        let workers = self.config.num_workers;
        let mut receivers = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for w in 0..workers {
            let (tx, rx) = sync_channel(self.config.prefetch);
            let shared = Arc::clone(&self.shared);
            let batches = Arc::clone(&batches);
            handles.push(std::thread::spawn(move || {
                worker(&shared, &batches, epoch, start, w, workers, tx);
            }));
            receivers.push(rx);
        }
        HostEpoch {
            shared: Arc::clone(&self.shared),
            batches,
            epoch,
            start,
            next: start,
            receivers,
            handles,
            failed: false,
        }
    }

    /// The batches of `epoch`, moved to `device` as they are consumed.
    pub fn epoch(&self, epoch: u64, device: &Device) -> DeviceEpoch {
        self.epoch_from(epoch, 0, device)
    }

    /// The batches of `epoch` from batch index `start_batch` on, moved to `device` as they
    /// are consumed; see [`ImageLoader::host_epoch_from`].
    pub fn epoch_from(&self, epoch: u64, start_batch: usize, device: &Device) -> DeviceEpoch {
        DeviceEpoch { inner: self.host_epoch_from(epoch, start_batch), device: device.clone() }
    }

    /// The number of batches per epoch.
    pub fn num_batches(&self) -> usize {
        self.sampler.batches(0).len()
    }

    /// Every image skipped so far because it failed to decode (with
    /// [`LoaderConfig::skip_undecodable`]); its length is the count.
    pub fn skipped_images(&self) -> Vec<String> {
        self.shared.skipped.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// Worker `w` of `n` produces batches `start + w, start + w + n, start + w + 2n, ...`.
fn worker(
    shared: &Shared,
    batches: &[Vec<usize>],
    epoch: u64,
    start: usize,
    w: usize,
    n: usize,
    tx: SyncSender<DataResult<HostBatch>>,
) {
    for b in (start + w..batches.len()).step_by(n) {
        let result = shared.make_batch(epoch, b, &batches[b]);
        let failed = result.is_err();
        if tx.send(result).is_err() || failed {
            return;
        }
    }
}

/// The host batches of one epoch (an iterator); dropping it stops the workers.
pub struct HostEpoch {
    shared: Arc<Shared>,
    batches: Arc<Vec<Vec<usize>>>,
    epoch: u64,
    /// The first batch of this (possibly resumed) epoch; batch `b` comes from receiver
    /// `(b - start) % receivers.len()`.
    start: usize,
    next: usize,
    receivers: Vec<Receiver<DataResult<HostBatch>>>,
    handles: Vec<JoinHandle<()>>,
    failed: bool,
}

impl Iterator for HostEpoch {
    type Item = DataResult<HostBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.next >= self.batches.len() {
            return None;
        }
        let b = self.next;
        self.next += 1;
        let result = if self.receivers.is_empty() {
            self.shared.make_batch(self.epoch, b, &self.batches[b])
        } else {
            self.receivers[(b - self.start) % self.receivers.len()]
                .recv()
                .unwrap_or_else(|_| Err(DataError::Worker(format!("worker for batch {b} stopped"))))
        };
        self.failed = result.is_err();
        Some(result)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.batches.len() - self.next;
        (left, Some(left))
    }
}

impl Drop for HostEpoch {
    fn drop(&mut self) {
        // Closing the channels makes every worker's next send fail, so it returns.
        self.receivers.clear();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

/// The device batches of one epoch (an iterator).
pub struct DeviceEpoch {
    inner: HostEpoch,
    device: Device,
}

impl Iterator for DeviceEpoch {
    type Item = DataResult<ImageBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next().map(|r| r.map(|b| b.to_device(&self.device)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}
