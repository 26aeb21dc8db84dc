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
    let result = config_from_env(DatasetKind::FashionMnist).and_then(|c| {
        println!(
            "quickstart: {:?} on Fashion-MNIST classes 0-4 ({}), {} epochs, batch {}, embedding {}",
            c.loss, c.data_dir, c.epochs, c.batch_size, c.embedding_size
        );
        let dir = c.output_dir.clone();
        train(c).map(|r| (r, dir))
    });
    match result {
        Ok(((before, after), dir)) => {
            println!("\nRetrieval on the unseen classes 5-9 ({} test images):", after.queries);
            println!("{:>10} {:>10} {:>10}", "", "untrained", "trained");
            for ((k, b), (_, a)) in before.recall_at.iter().zip(&after.recall_at) {
                println!("{:>10} {:>9.2}% {:>9.2}%", format!("Recall@{k}"), 100.0 * b, 100.0 * a);
            }
            println!(
                "{:>10} {:>9.2}% {:>9.2}%",
                "MAP@R",
                100.0 * before.map_at_r,
                100.0 * after.map_at_r
            );
            println!("\ntotal time {:.1} s; outputs in {dir}", start.elapsed().as_secs_f64());
        }
        Err(e) => {
            eprintln!("error: {e}");
            if matches!(e, dml::train::TrainError::Data(_)) {
                eprintln!(
                    "hint: install the data with `sudo apt-get install dataset-fashion-mnist`, or pass --data-dir"
                );
            }
            std::process::exit(1);
        }
    }
}
