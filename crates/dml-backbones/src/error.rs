//! Errors raised while configuring backbones and importing or saving weights.

use std::path::PathBuf;

/// Everything that can go wrong in this crate on user input.
#[derive(Debug, thiserror::Error)]
pub enum BackboneError {
    /// The checkpoint file does not exist or cannot be read.
    #[error("cannot read checkpoint {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file exists but is not a checkpoint in the expected format.
    #[error("{path} is not a {format} checkpoint: {reason}")]
    NotACheckpoint {
        /// The file.
        path: PathBuf,
        /// The format that was expected (`PyTorch .pth`, `safetensors`).
        format: &'static str,
        /// What the reader said.
        reason: String,
    },
    /// Parameters of the model that the checkpoint does not provide (after key remapping).
    #[error("checkpoint {path} lacks {} tensor(s) the model needs: {}", keys.len(), keys.join(", "))]
    MissingKeys {
        /// The file.
        path: PathBuf,
        /// The model's parameter paths that were not found.
        keys: Vec<String>,
    },
    /// A tensor whose shape differs from the model's parameter.
    #[error("checkpoint {path} has tensor(s) of the wrong shape: {}", details.join("; "))]
    WrongShape {
        /// The file.
        path: PathBuf,
        /// One line per tensor: key, expected shape, shape found.
        details: Vec<String>,
    },
    /// Any other failure to apply a tensor (wrong dtype, unreadable data).
    #[error("checkpoint {path} could not be applied: {}", details.join("; "))]
    Incompatible {
        /// The file.
        path: PathBuf,
        /// One line per failure.
        details: Vec<String>,
    },
    /// A key-remapping pattern is not a valid regular expression.
    #[error("invalid key-remapping pattern: {0}")]
    InvalidRemap(String),
    /// Writing a checkpoint failed.
    #[error("cannot save checkpoint {path}: {reason}")]
    Save {
        /// The file.
        path: PathBuf,
        /// What the writer said.
        reason: String,
    },
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The input tensor has the wrong shape for the model.
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

/// `Result` with [`BackboneError`].
pub type BackboneResult<T> = Result<T, BackboneError>;
