//! Per-epoch records of a run, written as `metrics.csv` and `metrics.json`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::checkpoint::write_atomic;
use crate::error::{TrainError, TrainResult};

/// Retrieval metrics of one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    /// `(K, Recall@K)` for each configured K, in `[0, 1]`.
    pub recall_at: Vec<(usize, f64)>,
    /// MAP@R, in `[0, 1]`.
    pub map_at_r: f64,
    /// Number of query images.
    pub queries: usize,
    /// Seconds spent embedding and searching.
    pub seconds: f64,
}

impl EvalRecord {
    /// Recall@K for `k`, if it was computed.
    pub fn recall(&self, k: usize) -> Option<f64> {
        self.recall_at.iter().find(|(kk, _)| *kk == k).map(|(_, r)| *r)
    }
}

/// What happened in one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss over the epoch's steps.
    pub loss: f64,
    /// Learning rate of the backbone/head in this epoch.
    pub lr: f64,
    /// Training steps run.
    pub steps: usize,
    /// Training images per second.
    pub images_per_second: f64,
    /// Seconds of training (without evaluation).
    pub seconds: f64,
    /// Whether this was a warm-up epoch (only head and loss parameters trained).
    pub warmup: bool,
    /// The evaluation after this epoch, if one ran.
    pub eval: Option<EvalRecord>,
}

/// Writes `metrics.csv` (one row per epoch; Recall@K columns for the configured K) and
/// `metrics.json` into `dir`.
pub fn write_metrics(dir: &Path, ks: &[usize], history: &[EpochRecord]) -> TrainResult<()> {
    let mut csv = String::from("epoch,loss,lr,steps,images_per_second,seconds,warmup");
    for k in ks {
        csv.push_str(&format!(",recall_at_{k}"));
    }
    csv.push_str(",map_at_r\n");
    for r in history {
        csv.push_str(&format!(
            "{},{:.6},{:e},{},{:.2},{:.3},{}",
            r.epoch, r.loss, r.lr, r.steps, r.images_per_second, r.seconds, r.warmup
        ));
        for k in ks {
            match r.eval.as_ref().and_then(|e| e.recall(*k)) {
                Some(v) => csv.push_str(&format!(",{v:.6}")),
                None => csv.push(','),
            }
        }
        match &r.eval {
            Some(e) => csv.push_str(&format!(",{:.6}\n", e.map_at_r)),
            None => csv.push_str(",\n"),
        }
    }
    write_atomic(&dir.join("metrics.csv"), csv.as_bytes())?;
    let json = serde_json::to_string_pretty(history)
        .map_err(|e| TrainError::Config(format!("cannot serialize metrics: {e}")))?;
    write_atomic(&dir.join("metrics.json"), json.as_bytes())
}
