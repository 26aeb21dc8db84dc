//! The dml side of `tools/device_check.sh`: the benchmark work of the GPU check on one device,
//! timed, as JSON. `tools/device_bench_torch.py` does the same work in PyTorch (+ PML) on the
//! same device, and the script prints the two side by side as ratios.
//!
//! Rows:
//! - loss forward + backward at D = 512 (labels with 4 samples per class), N 128 / 256 / 1024:
//!   TripletMarginLoss (margin 0.2) + BatchHardMiner, MultiSimilarityLoss, ProxyAnchorLoss with
//!   100 and 11,318 classes, and ProxyAnchorLoss with 11,318 classes at N 4096;
//! - a ResNet50 training step (forward, backward, SGD with momentum) at 224x224, batch 128 and
//!   256, in images per second, float32 and mixed precision (bfloat16 network, float32 master
//!   weights, BatchNorm and loss);
//! - exact k-nearest-neighbour search of SOP's size, 60,502 x 512 against itself, k 1000.
//!
//! ```text
//! cargo run --release --example device_bench -- --device tch:cuda:0 [--quick] [--json FILE]
//! ```
//! `--quick` shrinks every row (a CPU check of the script: N 32 / 64, 1,000 classes, ResNet50 at
//! batch 2 and 64x64, 2,000 points with k 100); `--medium` keeps the loss rows at N 128 / 256 and
//! 11,318 classes at N 512 (for a slow device: Mesa's software Vulkan).

use std::time::Instant;

use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, SgdConfig};
use burn::tensor::{Device, Distribution, FloatDType, Int, Tensor};
use dml::backbones::ResNet50Config;
use dml::backbones::precision::low_precision;
use dml::eval::{KnnConfig, knn_self_device};
use dml::losses::{
    BatchHardMinerConfig, LossInput, MetricLoss, Miner, MultiSimilarityLossConfig,
    ProxyAnchorLossConfig, TripletMarginLossConfig,
};
use serde_json::{Value, json};

const D: usize = 512;

/// The sizes of every row.
struct Sizes {
    loss_n: Vec<usize>,
    big_classes: usize,
    big_n: usize,
    resnet_batches: Vec<usize>,
    resnet_side: usize,
    knn_n: usize,
    knn_k: usize,
    iters: usize,
}

impl Sizes {
    fn full() -> Self {
        Self {
            loss_n: vec![128, 256, 1024],
            big_classes: 11_318,
            big_n: 4096,
            resnet_batches: vec![128, 256],
            resnet_side: 224,
            knn_n: 60_502,
            knn_k: 1000,
            iters: 10,
        }
    }

    /// The loss rows at the smaller sizes of the full run (N 128 / 256, 11,318 classes at N 512),
    /// the rest as [`Sizes::quick`]: for a slow device such as Mesa's software Vulkan.
    fn medium() -> Self {
        Self { loss_n: vec![128, 256], big_classes: 11_318, big_n: 512, iters: 5, ..Self::quick() }
    }

    fn quick() -> Self {
        Self {
            loss_n: vec![32, 64],
            big_classes: 1000,
            big_n: 128,
            resnet_batches: vec![2],
            resnet_side: 64,
            knn_n: 2000,
            knn_k: 100,
            iters: 3,
        }
    }
}

/// Median milliseconds of `iters` calls after two warm-up calls; `f` must wait for the device
/// (read a value back) before returning.
fn median_ms(iters: usize, mut f: impl FnMut()) -> f64 {
    f();
    f();
    let mut samples: Vec<f64> = (0..iters)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Backward, then read the embedding gradient's sum back (the device has finished the step).
fn finish(loss: Tensor<1>, emb: &Tensor<2>) {
    let grads = loss.backward();
    let g = emb.grad(&grads).expect("embeddings have a gradient");
    std::hint::black_box(g.sum().into_scalar::<f32>());
}

fn batch(n: usize, device: &Device) -> (Tensor<2>, Tensor<1, Int>) {
    device.seed(n as u64);
    let emb = Tensor::<2>::random([n, D], Distribution::Normal(0.0, 1.0), device);
    let labels = Tensor::<1, Int>::arange(0..n as i64, device).div_scalar(4);
    (emb, labels)
}

fn loss_rows(sizes: &Sizes, device: &Device, rows: &mut Vec<Value>) {
    let mut push = |name: String, n: usize, ms: f64| {
        eprintln!("{name}/n{n}: {ms:.3} ms");
        rows.push(json!({"row": format!("{name}/n{n}"), "ms": ms}));
    };
    let mut cases: Vec<(String, usize, usize)> = Vec::new(); // (name, n, classes; 0 = pair loss)
    for &n in &sizes.loss_n {
        cases.push(("triplet_batch_hard".into(), n, 0));
        cases.push(("multi_similarity".into(), n, 0));
        cases.push(("proxy_anchor_c100".into(), n, 100));
        cases.push((format!("proxy_anchor_c{}", sizes.big_classes), n, sizes.big_classes));
    }
    cases.push((format!("proxy_anchor_c{}", sizes.big_classes), sizes.big_n, sizes.big_classes));
    let miner = BatchHardMinerConfig::new().init();
    let triplet = TripletMarginLossConfig::new().with_margin(0.2).init().expect("triplet");
    let ms_loss = MultiSimilarityLossConfig::new().init().expect("multi-similarity");
    for (name, n, classes) in cases {
        let (base, labels) = batch(n, device);
        let ms = if classes > 0 {
            let pa = ProxyAnchorLossConfig::new(classes, D).init(device).expect("proxy anchor");
            let labels = labels.remainder_scalar(classes as i64);
            median_ms(sizes.iters, || {
                let emb = base.clone().detach().require_grad();
                finish(pa.forward(emb.clone(), labels.clone()).expect("loss"), &emb);
            })
        } else if name == "triplet_batch_hard" {
            median_ms(sizes.iters, || {
                let emb = base.clone().detach().require_grad();
                let mined = miner.mine(emb.clone(), labels.clone()).expect("mine");
                let input = LossInput::new(emb.clone(), labels.clone()).with_mined(mined);
                finish(triplet.forward_input(&input).expect("loss"), &emb);
            })
        } else {
            median_ms(sizes.iters, || {
                let emb = base.clone().detach().require_grad();
                finish(ms_loss.forward(emb.clone(), labels.clone()).expect("loss"), &emb);
            })
        };
        push(name, n, ms);
    }
}

fn resnet_rows(sizes: &Sizes, device: &Device, rows: &mut Vec<Value>) {
    let side = sizes.resnet_side;
    for &b in &sizes.resnet_batches {
        for mode in ["f32", "mixed"] {
            // Mixed: the network in bfloat16 from float32 master weights, BatchNorm and the
            // loss in float32 (dml_backbones::precision), as PyTorch's bf16 autocast row.
            let low = (mode == "mixed").then_some(FloatDType::BF16);
            let mut model = ResNet50Config::new().init(device);
            let mut optim = SgdConfig::new()
                .with_momentum(Some(MomentumConfig::new().with_momentum(0.9)))
                .init();
            let x = Tensor::<4>::random([b, 3, side, side], Distribution::Normal(0.0, 1.0), device);
            let iters = sizes.iters.min(5);
            let ms = median_ms(iters, || {
                let out = match low {
                    None => model.forward(x.clone()),
                    Some(d) => low_precision(model.clone(), d)
                        .forward(x.clone().cast(d))
                        .cast(FloatDType::F32),
                };
                let loss = out.powi_scalar(2).mean();
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                model = optim.step(0.01, model.clone(), grads);
                std::hint::black_box(model.conv1.weight.val().sum().into_scalar::<f32>());
            });
            let rate = b as f64 / (ms / 1e3);
            eprintln!("resnet50_train_{mode}/b{b}: {ms:.1} ms, {rate:.1} images/s");
            rows.push(json!({"row": format!("resnet50_train_{mode}/b{b}"), "ms": ms,
                             "images_per_s": rate}));
        }
    }
}

fn knn_row(sizes: &Sizes, device: &Device, rows: &mut Vec<Value>) {
    let (n, k) = (sizes.knn_n, sizes.knn_k);
    device.seed(7);
    let x = Tensor::<2>::random([n, D], Distribution::Normal(0.0, 1.0), device);
    let norm = x.clone().powi_scalar(2).sum_dim(1).sqrt();
    let x = x / norm;
    let config = KnnConfig::new(k);
    let once = || {
        let r = knn_self_device(x.clone(), &config).expect("knn");
        std::hint::black_box(r);
    };
    once();
    let t = Instant::now();
    once();
    let ms = t.elapsed().as_secs_f64() * 1e3;
    eprintln!("knn_self/n{n}_k{k}: {ms:.1} ms");
    rows.push(json!({"row": format!("knn_self/n{n}_k{k}"), "ms": ms}));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1));
    let name = arg("--device").cloned().unwrap_or_else(|| "cpu".into());
    let sizes = if args.iter().any(|a| a == "--quick") {
        Sizes::quick()
    } else if args.iter().any(|a| a == "--medium") {
        Sizes::medium()
    } else {
        Sizes::full()
    };
    let only = arg("--only").cloned();
    let device = match dml::train::device::resolve_device(&name) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: --device {name}: {e}");
            std::process::exit(2);
        }
    };
    let wanted = |part: &str| only.as_deref().is_none_or(|o| o.split(',').any(|p| p == part));
    let mut rows = Vec::new();
    let started = Instant::now();
    if wanted("losses") {
        loss_rows(&sizes, &device.clone().autodiff(), &mut rows);
    }
    if wanted("resnet") {
        resnet_rows(&sizes, &device.clone().autodiff(), &mut rows);
    }
    if wanted("knn") {
        knn_row(&sizes, &device, &mut rows);
    }
    let report = json!({
        "side": "dml",
        "device": name,
        "resolved": format!("{device:?}"),
        "rows": rows,
        "seconds": started.elapsed().as_secs_f64(),
    });
    let text = serde_json::to_string_pretty(&report).expect("json");
    match arg("--json") {
        Some(path) => {
            if let Err(e) = std::fs::write(path, &text) {
                eprintln!("error: writing {path}: {e}");
                std::process::exit(1);
            }
        }
        None => println!("{text}"),
    }
}
