//! Helpers shared by the losses transcribed from the pytorch-online-metric-learning seed
//! (`OnlineContrastiveLoss`, `OnlineTripletLoss`, `OnlineLiftedStructureLoss`).
//!
//! The seed's losses work on the batch alone, with its own label masks: `positive_mask` is
//! `labels[i] == labels[j]` **including the diagonal** `i = j`, and the distances are those of
//! the embeddings as given (no normalization).

use burn::tensor::{Bool, Tensor};

use super::LossInput;
use crate::distance::Distance;
use crate::error::{LossError, LossResult};
use crate::ops::same_label;

/// Fill value that no real squared distance reaches (finite, so masked entries stay finite).
pub(crate) const FAR: f64 = 1e30;

/// The seed's thresholds for "non-zero" (`> 1e-16`, `< -1e-16`).
pub(crate) const SEED_EPS: f64 = 1e-16;

/// Fails unless the input is a batch compared with itself, with nothing mined: the seed's
/// losses mine (or use) their own pairs and index the batch by itself (`triu`, the diagonal).
pub(crate) fn check_batch_only(component: &'static str, input: &LossInput) -> LossResult<()> {
    if !input.same_set() {
        return Err(LossError::Unsupported {
            component,
            detail: "a separate reference set (the seed's loss is defined on the batch alone)"
                .into(),
        });
    }
    if input.mined.is_some() {
        return Err(LossError::Unsupported {
            component,
            detail: "mined pairs or triplets (the loss uses or mines its own pairs)".into(),
        });
    }
    Ok(())
}

/// The seed's `pairwise_distance(x, x, squared=True)`: `|x_i - x_j|^2` of the raw embeddings,
/// never negative.
///
/// # Shapes
/// - `embeddings`: `[n, d]` -> `[n, n]`
pub(crate) fn squared_distances(embeddings: Tensor<2>) -> Tensor<2> {
    let raw = Distance::euclidean(false, 2.0);
    raw.matrix(embeddings.clone(), embeddings)
}

/// The seed's `pairwise_distance(x, x, squared=False)`: `|x_i - x_j|` of the raw embeddings.
///
/// Where the seed clamps the squared distance to `1e-16` before its square root (so coincident
/// embeddings get distance `1e-8` and gradient 0), this gives distance 0 and gradient 0: the
/// values differ by at most `1e-8`, the gradients not at all.
///
/// # Shapes
/// - `embeddings`: `[n, d]` -> `[n, n]`
pub(crate) fn distances(embeddings: Tensor<2>) -> Tensor<2> {
    let raw = Distance::euclidean(false, 1.0);
    raw.matrix(embeddings.clone(), embeddings)
}

/// The seed's `positive_mask`: same label, the diagonal included.
///
/// # Shapes
/// - returns `[n, n]`
pub(crate) fn positive_mask(input: &LossInput) -> Tensor<2, Bool> {
    same_label(&input.labels, &input.labels)
}
