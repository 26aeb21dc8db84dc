//! Errors raised by dataset readers, transforms, samplers and the loader.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong when reading a dataset, sampling or loading a batch.
///
/// Every variant that concerns a file names it; parse errors also give the 1-based line
/// number. Nothing in this crate panics on user input.
#[derive(Debug, Error)]
pub enum DataError {
    /// A file the dataset needs (annotation list, MAT file, idx file) does not exist.
    #[error("missing file {path}: {hint}")]
    MissingFile {
        /// The path that was looked for.
        path: PathBuf,
        /// What the file is and where it is expected.
        hint: String,
    },
    /// Reading a file failed for a reason other than its absence.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file being read.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A line of a text annotation file does not have the expected format.
    #[error("{path}:{line}: {message}")]
    Parse {
        /// The annotation file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What is wrong with the line.
        message: String,
    },
    /// A binary file (MAT v5, idx) is malformed or uses a feature this reader does not support.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An image file could not be opened or decoded.
    #[error("cannot decode image {path}: {message}")]
    Decode {
        /// The image file.
        path: PathBuf,
        /// The decoder's message.
        message: String,
    },
    /// A configuration field holds a value the component cannot work with.
    #[error("invalid configuration for {component}: field `{field}` {reason}")]
    InvalidConfig {
        /// The sampler, transform or loader being configured.
        component: &'static str,
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// m-per-class sampling was asked for, but a class has fewer than m images.
    #[error(
        "class {label} has {count} image(s), fewer than m = {m} (use SmallClassPolicy::Replace \
         or ::Drop to allow it)"
    )]
    ClassTooSmall {
        /// The class (a remapped label, 0..C-1).
        label: usize,
        /// Its number of images.
        count: usize,
        /// The requested number of images per class.
        m: usize,
    },
    /// The dataset has no such split (for example `Query` on CUB-200-2011).
    #[error("{dataset} has no split {split}")]
    UnsupportedSplit {
        /// The dataset.
        dataset: &'static str,
        /// The requested split.
        split: String,
    },
    /// An index is out of range for the dataset.
    #[error("index {index} out of range for a dataset of {len} items")]
    IndexOutOfRange {
        /// The requested index.
        index: usize,
        /// The dataset's length.
        len: usize,
    },
    /// A loader worker thread stopped unexpectedly.
    #[error("loader worker failed: {0}")]
    Worker(String),
}

/// Shorthand for results carrying a [`DataError`].
pub type DataResult<T> = std::result::Result<T, DataError>;

/// Builds a [`DataError::InvalidConfig`].
pub(crate) fn invalid(
    component: &'static str,
    field: &'static str,
    reason: impl Into<String>,
) -> DataError {
    DataError::InvalidConfig { component, field, reason: reason.into() }
}

/// Reads a whole file, mapping a missing file to [`DataError::MissingFile`] with `hint`.
pub(crate) fn read_file(path: &std::path::Path, hint: &str) -> DataResult<Vec<u8>> {
    std::fs::read(path).map_err(|source| io_error(path, hint, source))
}

/// Maps an I/O error on `path` to [`DataError::MissingFile`] or [`DataError::Io`].
pub(crate) fn io_error(path: &std::path::Path, hint: &str, source: std::io::Error) -> DataError {
    if source.kind() == std::io::ErrorKind::NotFound {
        DataError::MissingFile { path: path.to_path_buf(), hint: hint.to_string() }
    } else {
        DataError::Io { path: path.to_path_buf(), source }
    }
}
