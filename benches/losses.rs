//! Forward + backward time of the benchmark losses on the CPU (`flex`) device.
//!
//! Rows: N in {128, 256, 1024} at D = 512, labels with 4 samples per class, for
//! TripletMarginLoss + BatchHardMiner, MultiSimilarityLoss, and ProxyAnchorLoss with 100 and
//! 11,318 classes; ProxyAnchorLoss with 11,318 classes also at N = 4096 (SOP's batch with
//! gradient accumulation); and the plain matrix product of that loss's forward pass
//! (`[N, 512] x [512, 11318]`, N 1024 and 4096), the machine's rate at that shape, against which
//! `tools/bench_losses.sh` reports the loss's GFLOP/s. `tools/bench_pml_losses.py` times the
//! same rows with PML and PyTorch; docs/benchmarks.md has both.
//!
//! `cargo bench --bench losses` (set RAYON_NUM_THREADS to match PML's thread count).

#![allow(missing_docs)] // criterion's macros generate undocumented items

use burn::tensor::{Device, Distribution, Int, Tensor};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use dml::losses::{
    BatchHardMinerConfig, LossInput, MetricLoss, Miner, MultiSimilarityLossConfig,
    ProxyAnchorLossConfig, TripletMarginLossConfig,
};

const D: usize = 512;

fn batch(n: usize, device: &Device) -> (Tensor<2>, Tensor<1, Int>) {
    device.seed(n as u64);
    let emb = Tensor::<2>::random([n, D], Distribution::Normal(0.0, 1.0), device);
    let labels = Tensor::<1, Int>::arange(0..n as i64, device).div_scalar(4);
    (emb, labels)
}

/// Runs backward and reads the embedding gradient back, so the timing covers the whole step.
fn finish(loss: Tensor<1>, emb: &Tensor<2>) {
    let grads = loss.backward();
    let g = emb.grad(&grads).expect("embeddings have a gradient");
    std::hint::black_box(g.into_data());
}

fn losses(c: &mut Criterion) {
    let device = Device::flex().autodiff();
    let mut group = c.benchmark_group("losses");
    group.sample_size(10);
    for n in [128usize, 256, 1024] {
        let (base, labels) = batch(n, &device);

        let miner = BatchHardMinerConfig::new().init();
        let triplet = TripletMarginLossConfig::new().with_margin(0.2).init().unwrap();
        group.bench_with_input(BenchmarkId::new("triplet_batch_hard", n), &n, |b, _| {
            b.iter(|| {
                let emb = base.clone().detach().require_grad();
                let mined = miner.mine(emb.clone(), labels.clone()).unwrap();
                let input = LossInput::new(emb.clone(), labels.clone()).with_mined(mined);
                finish(triplet.forward_input(&input).unwrap(), &emb);
            })
        });

        let ms = MultiSimilarityLossConfig::new().init().unwrap();
        group.bench_with_input(BenchmarkId::new("multi_similarity", n), &n, |b, _| {
            b.iter(|| {
                let emb = base.clone().detach().require_grad();
                finish(ms.forward(emb.clone(), labels.clone()).unwrap(), &emb);
            })
        });

        for classes in [100usize, 11_318] {
            let pa = ProxyAnchorLossConfig::new(classes, D).init(&device).unwrap();
            let pa_labels = labels.clone().remainder_scalar(classes as i64);
            group.bench_with_input(
                BenchmarkId::new(format!("proxy_anchor_c{classes}"), n),
                &n,
                |b, _| {
                    b.iter(|| {
                        let emb = base.clone().detach().require_grad();
                        finish(pa.forward(emb.clone(), pa_labels.clone()).unwrap(), &emb);
                    })
                },
            );
        }
    }
    // SOP's 11,318 classes at N = 4096: about 142 GFLOP of matrix products per step.
    let n = 4096;
    let (base, labels) = batch(n, &device);
    let pa = ProxyAnchorLossConfig::new(11_318, D).init(&device).unwrap();
    let pa_labels = labels.remainder_scalar(11_318);
    group.bench_with_input(BenchmarkId::new("proxy_anchor_c11318", n), &n, |b, _| {
        b.iter(|| {
            let emb = base.clone().detach().require_grad();
            finish(pa.forward(emb.clone(), pa_labels.clone()).unwrap(), &emb);
        })
    });
    // The matrix product alone, at the shape of ProxyAnchor's similarity matrix.
    let plain = Device::flex();
    plain.seed(7);
    let proxies = Tensor::<2>::random([D, 11_318], Distribution::Normal(0.0, 1.0), &plain);
    for n in [1024usize, 4096] {
        let x = Tensor::<2>::random([n, D], Distribution::Normal(0.0, 1.0), &plain);
        group.bench_with_input(BenchmarkId::new("matmul_c11318", n), &n, |b, _| {
            b.iter(|| std::hint::black_box(x.clone().matmul(proxies.clone()).into_data()))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = losses
}
criterion_main!(benches);
