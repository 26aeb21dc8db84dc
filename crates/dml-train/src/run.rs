//! What the example binaries run: flags over a preset, data, training, a final report.

use clap::Parser;

use crate::cli::Args;
use crate::config::{DatasetKind, TrainConfig};
use crate::data::load_data;
use crate::error::TrainResult;
use crate::metrics::EvalRecord;
use crate::presets::preset;
use crate::trainer::Trainer;

/// Parses the process's flags over `dataset`'s preset.
pub fn config_from_env(dataset: DatasetKind) -> TrainResult<TrainConfig> {
    Args::parse().resolve(preset(dataset))
}

/// Formats `Recall@K` values as percentages.
pub fn recall_line(e: &EvalRecord) -> String {
    let mut s: Vec<String> =
        e.recall_at.iter().map(|(k, r)| format!("R@{k} {:6.2}", 100.0 * r)).collect();
    s.push(format!("MAP@R {:6.2}", 100.0 * e.map_at_r));
    s.join("  ")
}

/// Trains `config` to the end (resuming if asked) and returns the evaluations of the
/// untrained (or resumed) and of the final network.
pub fn train(config: TrainConfig) -> TrainResult<(EvalRecord, EvalRecord)> {
    let (train, eval) = load_data(&config)?;
    let device = crate::device::resolve_device(&config.device)?;
    let mut trainer = Trainer::new(config, train.num_classes(), &device)?;
    let before = trainer.evaluate(&eval)?;
    trainer.fit(&train, &eval, None)?;
    let after = match trainer.history.last().and_then(|r| r.eval.clone()) {
        Some(e) => e,
        None => trainer.evaluate(&eval)?,
    };
    Ok((before, after))
}

/// `main` of the per-dataset examples: resolve the flags, train, print the result; errors
/// are printed in full and exit with status 1.
pub fn main_for(dataset: DatasetKind) {
    let result = config_from_env(dataset).and_then(|c| {
        eprintln!("config: {}", serde_json::to_string(&c).unwrap_or_default());
        let dir = c.output_dir.clone();
        train(c).map(|r| (r, dir))
    });
    match result {
        Ok(((before, after), dir)) => {
            println!("before training: {}", recall_line(&before));
            println!("after training:  {}", recall_line(&after));
            println!("checkpoints, config.json, metrics.csv/json and plot.svg in {dir}");
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
