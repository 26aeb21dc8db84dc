use burn::tensor::Tensor;

use super::Distance;
use crate::error::{LossError, LossResult, invalid};

/// The query-by-reference matrix of a [`Distance`] computed in blocks of query rows, each block
/// handed to a callback (PML's `BatchedDistance(distance, iter_fn, batch_size=32)`), for
/// reference sets whose full matrix does not fit in memory: a kNN search or a miner keeps what
/// it needs of each block and drops the rest.
///
/// Block `[s, e)` is `distance.matrix(query[s..e], reference)`, so the blocks put together are
/// the full matrix (`tests/parity_reducers.rs` checks this, and consumes the blocks with a kNN
/// search and with batch-hard mining).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchedDistance {
    /// The distance of each block.
    pub distance: Distance,
    /// Query rows per block.
    pub batch_size: usize,
}

impl BatchedDistance {
    /// `distance` in blocks of `batch_size` query rows (PML's default is 32).
    ///
    /// # Errors
    /// [`LossError::InvalidConfig`] for a zero `batch_size` or a bad distance setting.
    pub fn new(distance: Distance, batch_size: usize) -> LossResult<Self> {
        distance.validate("BatchedDistance")?;
        if batch_size == 0 {
            return Err(invalid("BatchedDistance", "batch_size", "must be at least 1, got 0"));
        }
        Ok(Self { distance, batch_size })
    }

    /// Calls `f(block, start, end)` for each block of query rows `start..end` in order, with
    /// `block = distance.matrix(query[start..end], reference)`; the reference is the query set
    /// itself when `None` (as PML's `ref_emb=None`). Stops at the first error `f` returns.
    ///
    /// # Shapes
    /// - `query`: `[n, d]`, `reference`: `[m, d]`; `block`: `[end - start, m]`
    ///
    /// # Errors
    /// [`LossError::ShapeMismatch`] when the embedding sizes differ, or what `f` returns.
    pub fn for_each(
        &self,
        query: Tensor<2>,
        reference: Option<Tensor<2>>,
        mut f: impl FnMut(Tensor<2>, usize, usize) -> LossResult<()>,
    ) -> LossResult<()> {
        let reference = reference.unwrap_or_else(|| query.clone());
        let [n, d] = query.dims();
        let rd = reference.dims()[1];
        if rd != d {
            return Err(LossError::ShapeMismatch {
                component: "BatchedDistance",
                detail: format!("query embedding size {d} but reference size {rd}"),
            });
        }
        for start in (0..n).step_by(self.batch_size) {
            let end = (start + self.batch_size).min(n);
            let block = self.distance.matrix(query.clone().slice(start..end), reference.clone());
            f(block, start, end)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Distribution};

    #[test]
    fn a_zero_batch_size_is_refused() {
        let err = BatchedDistance::new(Distance::l2(), 0).unwrap_err();
        assert!(matches!(err, LossError::InvalidConfig { field: "batch_size", .. }), "{err}");
    }

    #[test]
    fn blocks_cover_the_rows_in_order_and_errors_stop_the_walk() {
        let device = Device::flex();
        let q = Tensor::<2>::random([10, 3], Distribution::Default, &device);
        let batched = BatchedDistance::new(Distance::Cosine, 4).unwrap();
        let mut seen = Vec::new();
        batched
            .for_each(q.clone(), None, |b, s, e| {
                assert_eq!(b.dims(), [e - s, 10]);
                seen.push((s, e));
                Ok(())
            })
            .unwrap();
        assert_eq!(seen, vec![(0, 4), (4, 8), (8, 10)]);
        let mut calls = 0;
        let err = batched.for_each(q, None, |_, _, _| {
            calls += 1;
            Err(LossError::Unsupported { component: "test", detail: "stop".into() })
        });
        assert!(err.is_err());
        assert_eq!(calls, 1);
    }
}
