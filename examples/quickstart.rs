//! Quickstart: trains a small CNN with Proxy-Anchor on Fashion-MNIST classes 0-4 and
//! evaluates retrieval on the unseen classes 5-9, on the CPU, before and after training.
//!
//! `bash tools/quickstart.sh` (installs Debian's `dataset-fashion-mnist` if needed), or
//! `cargo run --release --example quickstart -- [--epochs 2] [--data-dir DIR]`.

use std::time::Instant;

use dml::train::DatasetKind;
use dml::train::run::{config_from_env, train};

fn main() {
    let start = Instant::now();
    let mut data_dir = String::new();
    let result = config_from_env(DatasetKind::FashionMnist).and_then(|c| {
        data_dir = c.data.dir.clone();
        println!(
            "quickstart: {} on Fashion-MNIST classes 0-4 ({}), {:?}, batch {}, embedding {}",
            c.loss.name(),
            c.data.dir,
            c.run.length,
            c.data.batch_size,
            c.embedding_size()
        );
        let dir = c.run.output_dir.clone();
        train(c).map(|r| (r, dir))
    });
    match result {
        Ok(((before, after), dir)) => {
            println!("\nRetrieval on the unseen classes 5-9 ({} test images):", after.queries);
            println!("{:>10} {:>10} {:>10}", "", "untrained", "trained");
            let untrained = |k: usize| before.as_ref().and_then(|b| b.recall(k));
            for (k, a) in &after.recall_at {
                let b = untrained(*k).map_or("-".into(), |b| format!("{:.2}%", 100.0 * b));
                println!("{:>10} {:>10} {:>9.2}%", format!("Recall@{k}"), b, 100.0 * a);
            }
            let b = before.as_ref().map_or("-".into(), |b| format!("{:.2}%", 100.0 * b.map_at_r));
            println!("{:>10} {:>10} {:>9.2}%", "MAP@R", b, 100.0 * after.map_at_r);
            println!("\ntotal time {:.1} s; outputs in {dir}", start.elapsed().as_secs_f64());
        }
        Err(e) => {
            eprintln!("error: {e}");
            let dir = std::path::Path::new(&data_dir);
            let installed = ["train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"]
                .iter()
                .any(|f| dir.join(f).exists());
            // Only when the files are missing: other data errors name their own problem.
            if matches!(e, dml::train::TrainError::Data(_)) && !installed {
                eprintln!(
                    "hint: install the data with `sudo apt-get install dataset-fashion-mnist`, or pass --data-dir"
                );
            }
            std::process::exit(1);
        }
    }
}
