use burn::tensor::{Int, Tensor};

use super::Mined;
use crate::error::{LossError, LossResult};

/// Chooses pairs or triplets from a batch. Miners see detached embeddings: no gradient flows
/// through the choice.
pub trait Miner {
    /// The name used in error messages.
    fn name(&self) -> &'static str;

    /// Mines `embeddings` against `reference` (the batch itself when `same_set`).
    ///
    /// # Shapes
    /// - `embeddings`: `[n, d]`, `labels`: `[n]`, `ref_embeddings`: `[m, d]`, `ref_labels`: `[m]`
    fn mine_against(
        &self,
        embeddings: Tensor<2>,
        labels: &Tensor<1, Int>,
        ref_embeddings: Tensor<2>,
        ref_labels: &Tensor<1, Int>,
        same_set: bool,
    ) -> LossResult<Mined>;

    /// Mines a batch against itself.
    ///
    /// # Shapes
    /// - `embeddings`: `[n, d]`, `labels`: `[n]`
    fn mine(&self, embeddings: Tensor<2>, labels: Tensor<1, Int>) -> LossResult<Mined> {
        check_sizes(self.name(), &embeddings, &labels)?;
        let e = embeddings.detach();
        self.mine_against(e.clone(), &labels, e, &labels, true)
    }

    /// Mines a batch against another reference set (a memory bank).
    ///
    /// # Shapes
    /// - `embeddings`: `[n, d]`, `labels`: `[n]`, `ref_embeddings`: `[m, d]`, `ref_labels`: `[m]`
    fn mine_with_reference(
        &self,
        embeddings: Tensor<2>,
        labels: Tensor<1, Int>,
        ref_embeddings: Tensor<2>,
        ref_labels: Tensor<1, Int>,
    ) -> LossResult<Mined> {
        check_sizes(self.name(), &embeddings, &labels)?;
        check_sizes(self.name(), &ref_embeddings, &ref_labels)?;
        if embeddings.dims()[1] != ref_embeddings.dims()[1] {
            return Err(LossError::ShapeMismatch {
                component: self.name(),
                detail: format!(
                    "embedding size {} but reference size {}",
                    embeddings.dims()[1],
                    ref_embeddings.dims()[1]
                ),
            });
        }
        self.mine_against(embeddings.detach(), &labels, ref_embeddings.detach(), &ref_labels, false)
    }
}

fn check_sizes(component: &'static str, e: &Tensor<2>, l: &Tensor<1, Int>) -> LossResult<()> {
    let n = e.dims()[0];
    if n == 0 {
        return Err(LossError::ShapeMismatch { component, detail: "the batch is empty".into() });
    }
    if l.dims()[0] != n {
        return Err(LossError::ShapeMismatch {
            component,
            detail: format!("{n} embeddings but {} labels", l.dims()[0]),
        });
    }
    Ok(())
}
