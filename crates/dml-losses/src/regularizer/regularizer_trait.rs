use burn::tensor::Tensor;

use crate::error::{LossError, LossResult};
use crate::loss::LossInput;
use crate::reducer::{LossTerm, Reducer};

/// A penalty on a set of row vectors (embeddings `[n, d]`, or class weights `[C, d]`), as PML's
/// `BaseRegularizer`: [`Regularizer::terms`] gives the unreduced values, reduced by the
/// regularizer's own [`Regularizer::reducer`] with each row its own "label" (PML passes
/// `arange(len(x))` as the labels).
pub trait Regularizer: std::fmt::Debug + Send + Sync {
    /// PML's class name (`"LpRegularizer"`).
    fn name(&self) -> &'static str;

    /// The reducer of the regularizer's values (PML's default unless configured).
    fn reducer(&self) -> Reducer;

    /// The unreduced values for the rows of `x`.
    ///
    /// # Shapes
    /// - `x`: `[rows, d]`
    fn terms(&self, x: Tensor<2>) -> LossResult<Vec<LossTerm>>;

    /// The reduced penalty.
    ///
    /// # Shapes
    /// - `x`: `[rows, d]` -> `[1]`
    ///
    /// # Errors
    /// [`LossError::ShapeMismatch`] for an empty `x`, or what the regularizer or its reducer
    /// reject.
    fn forward(&self, x: Tensor<2>) -> LossResult<Tensor<1>> {
        let rows = x.dims()[0];
        if rows == 0 {
            return Err(LossError::ShapeMismatch {
                component: self.name(),
                detail: "no rows to regularize".into(),
            });
        }
        let terms = self.terms(x.clone())?;
        // Each row is its own class, as PML's `BaseRegularizer.forward` passes
        // `torch_arange_from_size(x)` as the labels.
        let labels: Vec<i64> = (0..rows as i64).collect();
        let input = LossInput::from_host_labels(x, &labels);
        let value = self.reducer().reduce(&terms, &input)?;
        if value.dims() != [1] {
            return Err(LossError::Unsupported {
                component: self.name(),
                detail: "a regularizer's reducer must give one value (not DoNothingReducer)".into(),
            });
        }
        Ok(value)
    }
}

/// Checks a regularizer's optional reducer: its own parameters, and that it reduces to one
/// value.
pub(crate) fn check_reducer(component: &'static str, reducer: &Option<Reducer>) -> LossResult<()> {
    match reducer {
        Some(Reducer::None) => Err(crate::error::invalid(
            component,
            "reducer",
            "must reduce to one value (DoNothingReducer cannot be a regularizer's reducer)",
        )),
        Some(r) => r.validate(),
        None => Ok(()),
    }
}
