//! Data-loading throughput: JPEG decode + RandomResizedCrop(224) + horizontal flip +
//! ImageNet normalisation, batched into `[32, 3, 224, 224]` Burn tensors by [`ImageLoader`]
//! with 2 worker threads. `tools/bench_data.sh` runs it next to
//! `tools/bench_torchvision_loader.py` (the same work with torchvision's DataLoader).
//!
//! ```text
//! cargo run --release -p dml-data --example bench_loader -- \
//!     --dir /tmp/dml-bench-jpegs [--make 512] [--workers 2] [--batch 32] [--epochs 3]
//! ```
//!
//! `--make N` first writes N synthetic 500x375 photo-like JPEGs (quality 90, 8 class
//! folders) into `--dir` when it holds no image yet. The first epoch warms the page cache and
//! the threads; the reported rate is over the remaining epochs.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use burn::tensor::Device;
use dml_data::{
    ImageFolder, ImageLoader, ImageSource, LoaderConfig, PipelineConfig, RandomSamplerConfig,
};
use image::codecs::jpeg::JpegEncoder;

struct Args {
    dir: PathBuf,
    make: usize,
    workers: usize,
    batch: usize,
    epochs: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        dir: std::env::temp_dir().join("dml-bench-jpegs"),
        make: 512,
        workers: 2,
        batch: 32,
        epochs: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let num = || value.parse::<usize>().map_err(|e| format!("{flag} {value}: {e}"));
        match flag.as_str() {
            "--dir" => a.dir = PathBuf::from(&value),
            "--make" => a.make = num()?,
            "--workers" => a.workers = num()?,
            "--batch" => a.batch = num()?,
            "--epochs" => a.epochs = num()? as u64,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if a.epochs < 2 {
        return Err("--epochs must be at least 2 (the first one is a warm-up)".into());
    }
    Ok(a)
}

/// Writes `n` photo-like 500x375 JPEGs: smooth colour gradients, a few soft blobs and
/// sensor-like noise, so that the entropy-coded size (~60-90 KB) resembles real photographs.
fn make_jpegs(dir: &std::path::Path, n: usize) -> Result<(), String> {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut rand = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f32 / (1u64 << 53) as f32
    };
    for i in 0..n {
        let class_dir = dir.join(format!("class_{:02}", i % 8));
        std::fs::create_dir_all(&class_dir).map_err(|e| e.to_string())?;
        let (w, h) = (500u32, 375u32);
        let base = [rand() * 255.0, rand() * 255.0, rand() * 255.0];
        let blobs: Vec<[f32; 6]> = (0..6)
            .map(|_| [rand() * 500.0, rand() * 375.0, 20.0 + rand() * 80.0, rand(), rand(), rand()])
            .collect();
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            let (fx, fy) = (x as f32, y as f32);
            let mut px = [0u8; 3];
            for (c, out) in px.iter_mut().enumerate() {
                let mut v = base[c] * (0.6 + 0.4 * (fx / 500.0 + fy / 375.0) / 2.0);
                for b in &blobs {
                    let d2 = ((fx - b[0]).powi(2) + (fy - b[1]).powi(2)) / (b[2] * b[2]);
                    v += 120.0 * (b[3 + c] - 0.5) * (-d2).exp();
                }
                v += 18.0 * (rand() - 0.5) + 10.0 * ((fx * 0.21 + fy * 0.13).sin());
                *out = v.clamp(0.0, 255.0) as u8;
            }
            image::Rgb(px)
        });
        let path = class_dir.join(format!("{i:05}.jpg"));
        let file = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut writer = std::io::BufWriter::new(file);
        JpegEncoder::new_with_quality(&mut writer, 90)
            .encode_image(&img)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let has_images = ImageFolder::new(&args.dir).load().is_ok();
    if !has_images && args.make > 0 {
        eprintln!("writing {} JPEGs to {}", args.make, args.dir.display());
        make_jpegs(&args.dir, args.make)?;
    }
    let list = Arc::new(ImageFolder::new(&args.dir).load().map_err(|e| e.to_string())?);
    let n = list.len();
    let sampler = RandomSamplerConfig::new(args.batch)
        .with_seed(1)
        .with_drop_last(true)
        .init(n)
        .map_err(|e| e.to_string())?;
    let pipeline = PipelineConfig::train(224).init().map_err(|e| e.to_string())?;
    let config = LoaderConfig::new().with_num_workers(args.workers).with_seed(7);
    let loader =
        ImageLoader::new(list, Arc::new(sampler), pipeline, config).map_err(|e| e.to_string())?;
    let device = Device::flex();
    let mut images = 0usize;
    let mut seconds = 0.0f64;
    for epoch in 0..args.epochs {
        let start = Instant::now();
        let mut count = 0;
        for batch in loader.epoch(epoch, &device) {
            let batch = batch.map_err(|e| e.to_string())?;
            count += batch.indices.len();
            // Touch the tensor so the work cannot be skipped.
            std::hint::black_box(batch.images.dims());
        }
        let t = start.elapsed().as_secs_f64();
        eprintln!("epoch {epoch}: {count} images in {t:.2} s ({:.1} images/s)", count as f64 / t);
        if epoch > 0 {
            images += count;
            seconds += t;
        }
    }
    println!(
        "dml-data: {:.1} images/s ({} workers, batch {}, {n} JPEGs in {})",
        images as f64 / seconds,
        args.workers,
        args.batch,
        args.dir.display()
    );
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
