//! ResNet50 forward and forward+backward at 224x224 on Burn's `flex` CPU device (or the device
//! `BURN_DEVICE` selects), printing ms/iter; `tools/bench_torch_resnet50.py` is the PyTorch
//! counterpart. Results: docs/benchmarks-backbones.md.
//!
//! ```text
//! cargo run --release -p dml-backbones --example bench_resnet50 -- [BATCH ...] [--iters N]
//! ```
//! Defaults: batches 8 and 32, 3 timed iterations after 1 warm-up.

use std::time::Instant;

use burn::tensor::{Device, Distribution, Tensor};
use dml_backbones::ResNet50Config;

fn sync(t: Tensor<2>) -> f32 {
    // Reading a value back waits for the device.
    t.sum().into_scalar()
}

fn time<F: FnMut() -> f32>(iters: usize, mut f: F) -> f64 {
    f(); // warm-up
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed().as_secs_f64() * 1000.0 / iters as f64
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut iters = 3;
    let mut batches = Vec::new();
    let mut i = 0;
    while i < args.len() {
        if args[i] == "--iters" {
            iters = args.get(i + 1).and_then(|v| v.parse().ok()).unwrap_or(3);
            i += 2;
            continue;
        }
        if let Ok(b) = args[i].parse::<usize>() {
            batches.push(b);
        }
        i += 1;
    }
    if batches.is_empty() {
        batches = vec![8, 32];
    }
    let base =
        if std::env::var_os("BURN_DEVICE").is_some() { Device::default() } else { Device::flex() };
    println!("device {base:?}, {iters} timed iterations, 224x224, ResNet50 (no fc)");
    println!("| batch | forward ms/iter | forward+backward ms/iter |");
    println!("| --- | --- | --- |");
    for &batch in &batches {
        // Inference: plain device, running statistics.
        let model = ResNet50Config::new().init(&base);
        let x = Tensor::<4>::random([batch, 3, 224, 224], Distribution::Normal(0.0, 1.0), &base);
        let fwd = time(iters, || sync(model.forward(x.clone())));
        drop(model);

        // Training: autodiff device, batch statistics, gradients for every parameter.
        let device = base.clone().autodiff();
        let model = ResNet50Config::new().init(&device);
        let x = Tensor::<4>::random([batch, 3, 224, 224], Distribution::Normal(0.0, 1.0), &device);
        let fwd_bwd = time(iters, || {
            let loss = model.forward(x.clone()).powi_scalar(2).mean();
            let grads = loss.backward();
            let g = model.conv1.weight.grad(&grads).map(|g| g.sum().into_scalar());
            g.unwrap_or(0.0)
        });
        println!("| {batch} | {fwd:.0} | {fwd_bwd:.0} |");
    }
}
