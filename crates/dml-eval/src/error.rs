//! Errors raised by the k-nearest-neighbour search and the metrics.

use thiserror::Error;

/// Everything that can go wrong when searching neighbours or computing a metric.
///
/// Every variant names the offending input (`field`): `"embeddings"`, `"query"`,
/// `"reference"`, `"labels"`, `"query_labels"`, `"reference_labels"`, `"k"`, ...
#[derive(Debug, Error, Clone, PartialEq)]
pub enum EvalError {
    /// An input holds no rows.
    #[error("`{field}` is empty")]
    Empty {
        /// The empty input.
        field: &'static str,
    },
    /// Embeddings with zero columns.
    #[error("`{field}` has zero-dimensional embeddings")]
    ZeroDimension {
        /// The input.
        field: &'static str,
    },
    /// Two inputs that must agree in size do not.
    #[error("length mismatch: `{field}` {detail}")]
    LengthMismatch {
        /// The input whose length is wrong.
        field: &'static str,
        /// Which sizes disagree.
        detail: String,
    },
    /// An embedding holds NaN or an infinity.
    #[error("`{field}` row {row} holds a non-finite value ({value}) at column {column}")]
    NonFinite {
        /// The input.
        field: &'static str,
        /// Row of the first non-finite value.
        row: usize,
        /// Column of the first non-finite value.
        column: usize,
        /// The value itself.
        value: f32,
    },
    /// More neighbours were asked for than the reference set can provide.
    #[error("`{field}` = {k} is larger than the {available} reference items available{self_note}")]
    KTooLarge {
        /// The parameter (`"k"`, `"recall_at"`).
        field: &'static str,
        /// The requested number of neighbours.
        k: usize,
        /// How many references can be returned.
        available: usize,
        /// Explains the "minus one" of self-retrieval, or is empty.
        self_note: &'static str,
    },
    /// A configuration field holds a value that cannot be used.
    #[error("invalid `{field}`: {reason}")]
    InvalidConfig {
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading a Burn tensor back failed.
    #[error("cannot read tensor `{field}`: {detail}")]
    Tensor {
        /// The input tensor.
        field: &'static str,
        /// Burn's message.
        detail: String,
    },
}

/// Shorthand for results carrying an [`EvalError`].
pub type EvalResult<T> = std::result::Result<T, EvalError>;

/// Builds an [`EvalError::InvalidConfig`].
pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> EvalError {
    EvalError::InvalidConfig { field, reason: reason.into() }
}
