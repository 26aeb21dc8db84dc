//! Errors raised by losses, miners, distances and reducers.

use thiserror::Error;

/// Everything that can go wrong when building or calling a loss, miner or reducer.
///
/// Configuration problems are reported by `init()`, input problems by `forward()`; neither
/// ever panics or silently produces NaN.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum LossError {
    /// A configuration field holds a value the loss cannot work with.
    #[error("invalid configuration for {component}: field `{field}` {reason}")]
    InvalidConfig {
        /// The loss, miner or reducer being configured.
        component: &'static str,
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Two inputs that must agree in size do not.
    #[error("shape mismatch in {component}: {detail}")]
    ShapeMismatch {
        /// The loss or miner that received the inputs.
        component: &'static str,
        /// Which sizes disagree.
        detail: String,
    },
    /// A label is negative or not below the number of classes the loss was built for.
    #[error("label {label} out of range in {component}: expected 0..{num_classes}")]
    LabelOutOfRange {
        /// The loss that received the label.
        component: &'static str,
        /// The offending label value.
        label: i64,
        /// The number of classes the loss was configured with.
        num_classes: usize,
    },
    /// A combination of inputs the loss does not support (for example mined pairs given to a
    /// loss that only accepts triplets).
    #[error("unsupported input for {component}: {detail}")]
    Unsupported {
        /// The loss or miner.
        component: &'static str,
        /// What was asked.
        detail: String,
    },
}

/// Shorthand for results carrying a [`LossError`].
pub type LossResult<T> = std::result::Result<T, LossError>;

/// Builds an [`LossError::InvalidConfig`].
pub(crate) fn invalid(
    component: &'static str,
    field: &'static str,
    reason: impl Into<String>,
) -> LossError {
    LossError::InvalidConfig { component, field, reason: reason.into() }
}

/// Fails unless `value` is finite and strictly positive.
#[allow(dead_code)]
pub(crate) fn check_positive(
    component: &'static str,
    field: &'static str,
    value: f64,
) -> LossResult<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(invalid(component, field, format!("must be finite and > 0, got {value}")))
    }
}

/// Fails unless `value` is finite.
pub(crate) fn check_finite(
    component: &'static str,
    field: &'static str,
    value: f64,
) -> LossResult<()> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(invalid(component, field, format!("must be finite, got {value}")))
    }
}

/// Fails unless `value` is at least 1.
#[allow(dead_code)]
pub(crate) fn check_count(
    component: &'static str,
    field: &'static str,
    value: usize,
) -> LossResult<()> {
    if value >= 1 { Ok(()) } else { Err(invalid(component, field, "must be at least 1, got 0")) }
}
