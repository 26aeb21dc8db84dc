//! The record of a run: one row per epoch (`metrics.csv`), one per evaluation
//! (`evaluations.csv`), both in `metrics.json`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::checkpoint::write_atomic;
use crate::error::{TrainError, TrainResult};

/// Retrieval (and optionally clustering) metrics of one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    /// Optimizer steps taken when it ran (0: before training).
    pub step: usize,
    /// Epochs completed when it ran (fractional mid-epoch).
    pub epoch: f64,
    /// `(K, Recall@K)` for each configured K, in `[0, 1]`.
    pub recall_at: Vec<(usize, f64)>,
    /// Precision@1.
    pub precision_at_1: f64,
    /// R-precision.
    pub r_precision: f64,
    /// MAP@R, in `[0, 1]`.
    pub map_at_r: f64,
    /// NMI of k-means on the embeddings (k = number of classes), when computed.
    pub nmi: Option<f64>,
    /// AMI of the same clustering, when computed.
    pub ami: Option<f64>,
    /// Number of query images evaluated.
    pub queries: usize,
    /// Seconds spent embedding and searching.
    pub seconds: f64,
}

impl EvalRecord {
    /// Recall@K for `k`, if it was computed.
    pub fn recall(&self, k: usize) -> Option<f64> {
        self.recall_at.iter().find(|(kk, _)| *kk == k).map(|(_, r)| *r)
    }

    /// The value `best.ckpt` follows: Recall@K for the first configured K.
    pub fn headline(&self) -> f64 {
        self.recall_at.first().map_or(0.0, |x| x.1)
    }
}

/// What happened in one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss over the epoch's steps.
    pub loss: f64,
    /// Learning rate of the backbone at the epoch's last step.
    pub lr: f64,
    /// Training steps run.
    pub steps: usize,
    /// Training images per second.
    pub images_per_second: f64,
    /// Seconds of training (without evaluation).
    pub seconds: f64,
    /// Whether the backbone was frozen (only the head and the loss's parameters trained).
    pub frozen_backbone: bool,
}

/// Every epoch and every evaluation of a run so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// The completed epochs.
    pub epochs: Vec<EpochRecord>,
    /// The evaluations, in order.
    pub evaluations: Vec<EvalRecord>,
}

impl History {
    /// The last evaluation, if any.
    pub fn last_eval(&self) -> Option<&EvalRecord> {
        self.evaluations.last()
    }
}

fn optional(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.6}")).unwrap_or_default()
}

/// Writes `metrics.csv` (one row per epoch), `evaluations.csv` (one row per evaluation, a
/// Recall@K column per configured K) and `metrics.json` into `dir`.
pub fn write_metrics(dir: &Path, ks: &[usize], history: &History) -> TrainResult<()> {
    let mut csv = String::from("epoch,loss,lr,steps,images_per_second,seconds,frozen_backbone\n");
    for r in &history.epochs {
        csv.push_str(&format!(
            "{},{:.6},{:e},{},{:.2},{:.3},{}\n",
            r.epoch, r.loss, r.lr, r.steps, r.images_per_second, r.seconds, r.frozen_backbone
        ));
    }
    write_atomic(&dir.join("metrics.csv"), csv.as_bytes())?;
    let mut csv = String::from("step,epoch");
    for k in ks {
        csv.push_str(&format!(",recall_at_{k}"));
    }
    csv.push_str(",precision_at_1,r_precision,map_at_r,nmi,ami,queries,seconds\n");
    for e in &history.evaluations {
        csv.push_str(&format!("{},{:.4}", e.step, e.epoch));
        for k in ks {
            csv.push_str(&format!(",{}", optional(e.recall(*k))));
        }
        csv.push_str(&format!(
            ",{:.6},{:.6},{:.6},{},{},{},{:.3}\n",
            e.precision_at_1,
            e.r_precision,
            e.map_at_r,
            optional(e.nmi),
            optional(e.ami),
            e.queries,
            e.seconds
        ));
    }
    write_atomic(&dir.join("evaluations.csv"), csv.as_bytes())?;
    let json = serde_json::to_string_pretty(history)
        .map_err(|e| TrainError::Config(format!("cannot serialize metrics: {e}")))?;
    write_atomic(&dir.join("metrics.json"), json.as_bytes())
}
