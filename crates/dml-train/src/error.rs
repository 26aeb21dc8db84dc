//! Errors raised while configuring, training, checkpointing and evaluating.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong in a training run. Every variant names the file, field or
/// component involved, so that the message alone tells the user what to fix.
#[derive(Debug, Error)]
pub enum TrainError {
    /// A configuration value is invalid, or a configuration file could not be parsed.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A file or directory could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("reading", "writing", ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A checkpoint file does not exist.
    #[error("checkpoint {0} does not exist (nothing to resume from; check --resume)")]
    MissingCheckpoint(PathBuf),
    /// A checkpoint file exists but cannot be used: truncated, corrupted or of another format.
    #[error("checkpoint {path} is unusable: {reason}")]
    CorruptCheckpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A checkpoint was written for a different model, loss or optimizer than the one
    /// configured now.
    #[error("checkpoint {path} does not match the configured run: {reason}")]
    IncompatibleCheckpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What differs.
        reason: String,
    },
    /// The loss rejected its configuration or its input.
    #[error(transparent)]
    Loss(#[from] dml_losses::LossError),
    /// A dataset could not be read or sampled.
    #[error("data: {0}")]
    Data(String),
    /// The backbone could not be built or its weights imported.
    #[error("model: {0}")]
    Model(String),
    /// Evaluation failed.
    #[error("evaluation: {0}")]
    Eval(String),
    /// An embedding file (`.npy` with its sidecars, or `.safetensors`) is malformed or
    /// inconsistent.
    #[error("embedding file {path}: {reason}")]
    EmbeddingFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Another process is training into the run directory.
    #[error(
        "run directory {path} is in use by another run ({holder}); wait for it to finish or \
         choose another --output-dir"
    )]
    RunDirectoryInUse {
        /// The run directory.
        path: PathBuf,
        /// Who holds it (`process 1234, started ...`), as its lock file says.
        holder: String,
    },
    /// The run directory holds the results of another run.
    #[error(
        "run directory {path} holds an earlier run ({found}); pass --resume {path}/last.ckpt to \
         continue it, --overwrite to replace it, or choose another --output-dir"
    )]
    RunDirectoryOccupied {
        /// The run directory.
        path: PathBuf,
        /// What is there.
        found: String,
    },
    /// An embedding index was not computed by the checkpoint it is used with.
    #[error(
        "embedding index {index} was computed by the model with weights {index_hash}, but \
         checkpoint {checkpoint} holds weights {checkpoint_hash}: embed the images again with \
         this checkpoint"
    )]
    ProvenanceMismatch {
        /// The index.
        index: PathBuf,
        /// The weights hash it records (or "none").
        index_hash: String,
        /// The checkpoint.
        checkpoint: PathBuf,
        /// The checkpoint's weights hash.
        checkpoint_hash: String,
    },
    /// The loss became NaN or infinite.
    #[error("the loss is not finite ({value}) at epoch {epoch}, step {step}")]
    NonFiniteLoss {
        /// The value.
        value: f64,
        /// The epoch (1-based).
        epoch: usize,
        /// The global step.
        step: u64,
    },
}

/// Shorthand for results carrying a [`TrainError`].
pub type TrainResult<T> = Result<T, TrainError>;

/// Builds a [`TrainError::Io`] for `path`.
pub(crate) fn io_err(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> TrainError {
    let path = path.into();
    move |source| TrainError::Io { action, path, source }
}
