//! Forward + backward time of the benchmark losses on the CPU (`flex`) device.
//!
//! Rows: N in {128, 256, 1024} at D = 512, labels with 4 samples per class, for
//! TripletMarginLoss + BatchHardMiner, MultiSimilarityLoss, and ProxyAnchorLoss with 100 and
//! 11,318 classes. `tools/bench_pml_losses.py` times the same rows with PML;
//! docs/benchmarks.md has both.
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
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = losses
}
criterion_main!(benches);
