//! What the example binaries run: a configuration (dml's flags over a preset, or a seed
//! system's command line), data, training, a final report.

use clap::Parser;

use crate::cli::Args;
use crate::config::{DatasetKind, TrainConfig};
use crate::data::{TrainData, load_data};
use crate::error::{TrainError, TrainResult};
use crate::metrics::EvalRecord;
use crate::presets::preset;
use crate::seeds::dashed_flags;
use crate::seeds::ldm::LdmArgs;
use crate::seeds::mindspore::MindSporeArgs;
use crate::seeds::online_ml::OnlineMlArgs;
use crate::seeds::paddle::{PaddleArgs, PaddleScript};
use crate::trainer::Trainer;

/// Parses the process's flags over `dataset`'s preset.
pub fn config_from_env(dataset: DatasetKind) -> TrainResult<TrainConfig> {
    Args::parse().resolve(preset(dataset))
}

/// The seed systems whose command lines `train <seed> ...` accepts.
pub const SEEDS: [&str; 5] =
    ["ldm", "paddle-train-elem", "paddle-train-pair", "mindspore", "online-ml"];

/// The configuration of a command line: `train <seed> <the seed's flags>` (see
/// [`crate::seeds`]), or `train <dml's flags>` over the preset of `data.dataset` (Fashion-MNIST
/// unless `--config` says otherwise). `argv[0]` is the program name.
///
/// # Errors
/// A clap error (unknown flag, bad value) as [`TrainError::Config`] with clap's message, or the
/// dialect's mapping error.
pub fn resolve_command_line(argv: &[String]) -> TrainResult<TrainConfig> {
    let argv = dashed_flags(argv.iter().cloned());
    let program = argv.first().cloned().unwrap_or_else(|| "train".into());
    let cli = |e: clap::Error| TrainError::Config(e.to_string());
    let config = match argv.get(1).map(String::as_str) {
        Some(seed) if SEEDS.contains(&seed) => {
            let rest =
                std::iter::once(format!("{program} {seed}")).chain(argv[2..].iter().cloned());
            match seed {
                "ldm" => LdmArgs::try_parse_from(rest).map_err(cli)?.to_config()?,
                "paddle-train-elem" => PaddleArgs::try_parse_from(rest)
                    .map_err(cli)?
                    .to_config(PaddleScript::TrainElem)?,
                "paddle-train-pair" => PaddleArgs::try_parse_from(rest)
                    .map_err(cli)?
                    .to_config(PaddleScript::TrainPair)?,
                "mindspore" => MindSporeArgs::try_parse_from(rest).map_err(cli)?.to_config()?,
                _ => OnlineMlArgs::try_parse_from(rest).map_err(cli)?.to_config()?,
            }
        }
        _ => {
            let args = Args::try_parse_from(&argv).map_err(cli)?;
            return args.resolve(preset(DatasetKind::FashionMnist));
        }
    };
    config.validate()?;
    Ok(config)
}

/// Formats `Recall@K` values as percentages.
pub fn recall_line(e: &EvalRecord) -> String {
    let mut s: Vec<String> =
        e.recall_at.iter().map(|(k, r)| format!("R@{k} {:6.2}", 100.0 * r)).collect();
    s.push(format!("MAP@R {:6.2}", 100.0 * e.map_at_r));
    s.join("  ")
}

/// Optimizer steps per epoch of `train` under `config` (its batches, capped by
/// `run.max_steps_per_epoch`).
pub fn steps_per_epoch(config: &TrainConfig, train: &TrainData) -> usize {
    let n = train.num_batches();
    config.run.max_steps_per_epoch.map_or(n, |m| m.min(n))
}

/// Trains `config` to the end (resuming if asked) and returns the first evaluation of this
/// call (the untrained network with `run.eval_before`) and the last one.
///
/// # Errors
/// Any configuration, data, training or checkpoint error.
pub fn train(config: TrainConfig) -> TrainResult<(Option<EvalRecord>, EvalRecord)> {
    let (train, eval) = load_data(&config)?;
    let device = crate::device::resolve_run_devices(&config.run)?.swap_remove(0);
    let mut trainer = Trainer::for_data(config, &train, &device)?;
    let (started_at, known) = (trainer.step, trainer.history.evaluations.len());
    trainer.fit(&train, &eval, None)?;
    let before =
        trainer.history.evaluations[known..].iter().find(|e| e.step == started_at).cloned();
    let last = match trainer.history.evaluations.last() {
        Some(e) if e.step == trainer.step => e.clone(),
        _ => trainer.evaluate(&eval)?,
    };
    Ok((before, last))
}

/// `main` of the training examples: resolve, train, print the result; errors are printed in
/// full and exit with status 1.
pub fn main_with(config: TrainResult<TrainConfig>) {
    let result = config.and_then(|c| {
        eprintln!("config: {}", serde_json::to_string(&c).unwrap_or_default());
        let dir = c.run.output_dir.clone();
        train(c).map(|r| (r, dir))
    });
    match result {
        Ok(((before, after), dir)) => {
            if let Some(before) = before {
                println!("before training: {}", recall_line(&before));
            }
            println!("after training:  {}", recall_line(&after));
            println!(
                "checkpoints, config.json, metrics.csv, evaluations.csv, metrics.json and plot.svg \
                 in {dir}"
            );
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}

/// `main` of the per-dataset examples: dml's flags over `dataset`'s preset.
pub fn main_for(dataset: DatasetKind) {
    main_with(config_from_env(dataset));
}
