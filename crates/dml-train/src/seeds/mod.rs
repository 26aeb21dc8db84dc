//! The seed systems' command lines, accepted as their READMEs write them and mapped to a
//! [`TrainConfig`] that does what each seed's code does with every flag.
//!
//! Each seed is a dialect with its own flag set and defaults (the defaults of that seed's
//! script): [`ldm`] (LDM's `train.py`), [`paddle`] (PaddlePaddle's `train_elem.py` and
//! `train_pair.py`), [`mindspore`] (MindSpore's `train.py` with its `config.py` dictionaries),
//! [`online_ml`] (the online-metric-learning repository's `main.py`). A flag is spelled with
//! dashes or underscores alike (`--train_batch_size` is `--train-batch-size`), `--flag=value`
//! or `--flag value`, and an unambiguous prefix is accepted where the seed's argparse accepts
//! one (`--epoch` for `--epochs`). Every accepted flag is honoured, or the run stops with an
//! error naming it; the table in docs/training.md lists each flag and what it maps to.
//!
//! Every dialect also takes [`CommonArgs`]: where the data is (the seeds hard-code it), the
//! device, step limits for smoke runs, `--resume`, and `--set key=value` / `--config file` to
//! patch the resolved configuration.

pub mod ldm;
pub mod mindspore;
pub mod online_ml;
pub mod paddle;

use std::path::PathBuf;

use serde_json::Value;

use crate::config::TrainConfig;
use crate::error::{TrainError, TrainResult};

/// Flags every dialect accepts beside the seed's own (dml's extensions).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct CommonArgs {
    /// The dataset's directory (the seeds read a fixed location; this replaces it).
    #[arg(long)]
    pub data_dir: Option<String>,
    /// Where checkpoints, `config.json`, metrics and the plot go (replaces the seed's own
    /// output location).
    #[arg(long)]
    pub output_dir: Option<String>,
    /// The device: `cpu`, or an accelerator of this build (replaces the seed's GPU flags).
    #[arg(long)]
    pub device: Option<String>,
    /// Data-parallel training on these devices, comma-separated (`cuda:0,cuda:1`; `cpu,cpu`
    /// runs two shards on the CPU): each embeds its shard of every batch, the loss sees the
    /// whole batch; the first is the main device.
    #[arg(long, value_delimiter = ',', conflicts_with = "device")]
    pub devices: Option<Vec<String>>,
    /// With `--devices`: every BatchNorm layer in training mode normalizes each shard with the
    /// statistics of the whole batch (PyTorch's `SyncBatchNorm`), instead of its own shard's.
    #[arg(long)]
    pub sync_batch_norm: bool,
    /// Mixed precision: `bf16` or `f16` computes the network in that precision from float32
    /// master weights (BatchNorm and the loss stay float32); `f32` (the default) throughout.
    #[arg(long, value_parser = ["f32", "bf16", "f16"])]
    pub precision: Option<String>,
    /// Resume the run from this checkpoint (`<output dir>/last.ckpt`).
    #[arg(long)]
    pub resume: Option<String>,
    /// Stop after this many optimizer steps in all (smoke runs; the schedule is unchanged).
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Stop each epoch after this many steps (smoke runs).
    #[arg(long)]
    pub max_steps_per_epoch: Option<usize>,
    /// Evaluate on the first N test images only (smoke runs).
    #[arg(long)]
    pub max_eval_images: Option<usize>,
    /// Replace the results of an earlier run in the output directory.
    #[arg(long)]
    pub overwrite: bool,
    /// Resume although the configuration changed in settings that alter the computation.
    #[arg(long)]
    pub allow_config_change: bool,
    /// A `.json` / `.toml` file of settings applied on top of the seed's (keys as in
    /// `config.json`: `data`, `model`, `loss`, `optim`, `schedule`, `run`, ...).
    #[arg(long = "dml-config")]
    pub dml_config: Option<PathBuf>,
    /// One setting, `key.path=value` (the value is JSON, or a bare string): `--set
    /// run.seed=3`, `--set loss.ProxyAnchorLoss.alpha=48`. Repeatable; applied last.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

impl CommonArgs {
    /// Applies these flags to `config`.
    pub fn apply(&self, mut config: TrainConfig) -> TrainResult<TrainConfig> {
        if let Some(d) = &self.data_dir {
            config.data.dir = d.clone();
        }
        if let Some(d) = &self.output_dir {
            config.run.output_dir = d.clone();
        }
        if let Some(d) = &self.device {
            // One device named on the command line: the run trains there alone.
            config.run.device = d.clone();
            config.run.devices.clear();
        }
        if let Some(d) = &self.devices {
            config.run.devices = d.clone();
        }
        config.run.sync_batch_norm |= self.sync_batch_norm;
        if let Some(p) = &self.precision {
            config.run.precision = match p.as_str() {
                "bf16" => crate::config::Precision::Bf16,
                "f16" => crate::config::Precision::F16,
                _ => crate::config::Precision::F32,
            };
        }
        if let Some(r) = &self.resume {
            config.run.resume = Some(r.clone());
        }
        if let Some(n) = self.max_steps {
            config.run.max_steps = Some(n);
        }
        if let Some(n) = self.max_steps_per_epoch {
            config.run.max_steps_per_epoch = Some(n);
        }
        if let Some(n) = self.max_eval_images {
            config.data.max_eval_images = Some(n);
        }
        config.run.overwrite |= self.overwrite;
        config.run.allow_config_change |= self.allow_config_change;
        if let Some(path) = &self.dml_config {
            config = config.patched_with_file(path)?;
        }
        for setting in &self.set {
            config = config.patched(&set_value(setting)?, &format!("--set {setting}"))?;
        }
        Ok(config)
    }
}

/// `key.path=value` as a nested JSON object (`{"key": {"path": value}}`); the value is parsed
/// as JSON when it is valid JSON, otherwise taken as a string.
///
/// # Errors
/// [`TrainError::Config`] when there is no `=` or the key is empty.
pub fn set_value(setting: &str) -> TrainResult<Value> {
    let (key, raw) = setting
        .split_once('=')
        .ok_or_else(|| TrainError::Config(format!("--set {setting}: expected key.path=value")))?;
    if key.trim().is_empty() || key.split('.').any(str::is_empty) {
        return Err(TrainError::Config(format!("--set {setting}: the key is empty")));
    }
    let mut value = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()));
    for part in key.trim().split('.').rev() {
        let mut map = serde_json::Map::new();
        map.insert(part.to_string(), value);
        value = Value::Object(map);
    }
    Ok(value)
}

/// The command line with every long flag's name written with dashes (`--train_batch_size=256`
/// becomes `--train-batch-size=256`); values are unchanged.
pub fn dashed_flags<I, S>(args: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    args.into_iter()
        .map(Into::into)
        .map(|a| match a.strip_prefix("--") {
            Some(rest) if !rest.is_empty() => {
                let (name, value) = match rest.split_once('=') {
                    Some((n, v)) => (n, Some(v)),
                    None => (rest, None),
                };
                let name = name.replace('_', "-");
                match value {
                    Some(v) => format!("--{name}={v}"),
                    None => format!("--{name}"),
                }
            }
            _ => a,
        })
        .collect()
}

/// Python's `str(float)`, which the seeds use in file names (`1e-05`, `0.0001`, `48.0`).
pub fn python_float(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0.0".into() } else { "0.0".into() };
    }
    let exp = v.abs().log10().floor() as i32;
    if (-4..16).contains(&exp) {
        let s = format!("{v}");
        if s.contains('.') || s.contains('e') { s } else { format!("{s}.0") }
    } else {
        // Shortest round-trip digits in exponent form, as Python: 1e-05, 1.5e+16.
        let s = format!("{v:e}");
        let (mantissa, e) = s.split_once('e').unwrap_or((&s, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        let sign = if e < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", e.abs())
    }
}

/// A seed flag's boolean, as Python's `distutils.util.strtobool` (PaddlePaddle),
/// `ast.literal_eval` (MindSpore) or an int flag (LDM's `--bn-freeze 1`) accept it.
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "true" | "t" | "yes" | "y" | "on" => Ok(true),
        "0" | "false" | "f" | "no" | "n" | "off" => Ok(false),
        _ => Err(format!("expected True/False (or 1/0, yes/no), got `{s}`")),
    }
}

/// The error for a flag value the seed's code cannot run or that dml does not reproduce.
pub fn unsupported(flag: &str, value: impl std::fmt::Display, why: &str) -> TrainError {
    TrainError::Config(format!("{flag} {value}: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flags_are_dashed_and_values_kept() {
        let args = dashed_flags(["x", "--train_batch_size=256", "--loss_name", "a_b", "--gpu-id"]);
        assert_eq!(args, ["x", "--train-batch-size=256", "--loss-name", "a_b", "--gpu-id"]);
    }

    #[test]
    fn python_floats_print_as_python_does() {
        for (v, s) in [
            (1e-4, "0.0001"),
            (1e-5, "1e-05"),
            (6e-4, "0.0006"),
            (48.0, "48.0"),
            (0.1, "0.1"),
            (2.5e-5, "2.5e-05"),
            (1e16, "1e+16"),
        ] {
            assert_eq!(python_float(v), s);
        }
    }

    #[test]
    fn set_values_nest_and_parse_json() {
        assert_eq!(set_value("run.seed=3").unwrap(), json!({"run": {"seed": 3}}));
        assert_eq!(set_value("run.device=cpu").unwrap(), json!({"run": {"device": "cpu"}}));
        assert!(set_value("nothing").is_err());
    }
}
