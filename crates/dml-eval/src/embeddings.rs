//! A borrowed or owned row-major matrix of `f32` embeddings, from slices, `ndarray` arrays or
//! Burn tensors.

use std::borrow::Cow;

#[cfg(feature = "burn")]
use burn::tensor::Tensor;
use ndarray::ArrayView2;

use crate::error::{EvalError, EvalResult};

/// Row-major `[rows, dim]` embeddings for the CPU neighbour search.
///
/// Construction checks the shape only; finiteness is checked by the search (so that the error
/// can name the argument: `query`, `reference`, ...).
///
/// # Shapes
/// `data.len() == rows * dim`, `dim >= 1`.
#[derive(Clone, Debug)]
pub struct Embeddings<'a> {
    data: Cow<'a, [f32]>,
    rows: usize,
    dim: usize,
}

impl<'a> Embeddings<'a> {
    /// Borrows a row-major slice of `rows * dim` values.
    ///
    /// # Shapes
    /// `data`: `[rows * dim]`, read as `[rows, dim]`.
    pub fn from_slice(data: &'a [f32], dim: usize) -> EvalResult<Self> {
        Self::build(Cow::Borrowed(data), dim)
    }

    /// Borrows an `ndarray` view when it is in standard (row-major, contiguous) layout and
    /// copies it otherwise.
    ///
    /// # Shapes
    /// `array`: `[rows, dim]`.
    pub fn from_ndarray(array: ArrayView2<'a, f32>) -> EvalResult<Self> {
        let dim = array.ncols();
        match array.to_slice() {
            Some(slice) => Self::build(Cow::Borrowed(slice), dim),
            None => Self::build(Cow::Owned(array.iter().copied().collect()), dim),
        }
    }

    #[cfg(feature = "burn")]
    /// Reads a Burn tensor back to the host (`into_data`), converting to `f32`.
    ///
    /// # Shapes
    /// `tensor`: `[rows, dim]`.
    pub fn from_tensor(tensor: Tensor<2>) -> EvalResult<Embeddings<'static>> {
        let [_, dim] = tensor.dims();
        let data = tensor.into_data().convert::<f32>();
        let values = data
            .try_into_vec::<f32>()
            .map_err(|e| EvalError::Tensor { field: "embeddings", detail: format!("{e:?}") })?;
        Embeddings::build(Cow::Owned(values), dim)
    }

    /// Takes ownership of a row-major vector of `rows * dim` values.
    ///
    /// # Shapes
    /// `data`: `[rows * dim]`, read as `[rows, dim]`.
    pub fn from_vec(data: Vec<f32>, dim: usize) -> EvalResult<Embeddings<'static>> {
        Embeddings::build(Cow::Owned(data), dim)
    }

    fn build(data: Cow<'a, [f32]>, dim: usize) -> EvalResult<Self> {
        if dim == 0 {
            return Err(EvalError::ZeroDimension { field: "embeddings" });
        }
        if !data.len().is_multiple_of(dim) {
            return Err(EvalError::LengthMismatch {
                field: "embeddings",
                detail: format!("holds {} values, not a multiple of dim = {dim}", data.len()),
            });
        }
        let rows = data.len() / dim;
        Ok(Self { data, rows, dim })
    }

    /// Number of embeddings.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Embedding dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The row-major values.
    ///
    /// # Shapes
    /// `[rows * dim]`.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// One embedding.
    ///
    /// # Shapes
    /// `[dim]`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// Fails if there are no rows or a value is NaN or infinite; `field` names the argument
    /// in the error.
    pub fn validate(&self, field: &'static str) -> EvalResult<()> {
        if self.rows == 0 {
            return Err(EvalError::Empty { field });
        }
        if let Some(pos) = self.data.iter().position(|v| !v.is_finite()) {
            return Err(EvalError::NonFinite {
                field,
                row: pos / self.dim,
                column: pos % self.dim,
                value: self.data[pos],
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use ndarray::Array2;

    use super::Embeddings;

    #[test]
    fn ndarray_views_standard_and_transposed() {
        let a = Array2::from_shape_vec((2, 3), vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        let e = Embeddings::from_ndarray(a.view()).unwrap();
        assert_eq!((e.rows(), e.dim()), (2, 3));
        assert_eq!(e.row(1), &[4.0, 5.0, 6.0]);
        // A transposed view is not contiguous: copied in logical (row-major) order.
        let t = Embeddings::from_ndarray(a.t()).unwrap();
        assert_eq!((t.rows(), t.dim()), (3, 2));
        assert_eq!(t.row(0), &[1.0, 4.0]);
        assert_eq!(t.row(2), &[3.0, 6.0]);
    }
}
