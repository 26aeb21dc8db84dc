//! Helpers shared by the classification-head losses (softmax, ArcFace, CosFace, ...).
//!
//! These losses own a class weight matrix and compute a cross-entropy over classes for each
//! embedding; they do not compare embeddings with each other, so they take no reference set and
//! no mined pairs.

use burn::module::Param;
use burn::tensor::{Device, Distribution, Int, Tensor};

use super::LossInput;
use crate::error::{LossError, LossResult, check_count};
use crate::ops::{l2_normalize, logsumexp, one_hot};

/// Checks the two sizes every class-weight or proxy loss is built with: `num_classes` and
/// `embedding_size` must both be at least 1.
pub(crate) fn check_class_counts(
    component: &'static str,
    num_classes: usize,
    embedding_size: usize,
) -> LossResult<()> {
    check_count(component, "num_classes", num_classes)?;
    check_count(component, "embedding_size", embedding_size)
}

/// A matrix drawn from `N(0, std^2)` (PyTorch's `torch.nn.init.normal_(w, 0, std)`): initial
/// class weights `[embedding_size, columns]` or proxies `[num_classes, embedding_size]`.
pub(crate) fn normal_matrix(shape: [usize; 2], std: f64, device: &Device) -> Tensor<2> {
    Tensor::<2>::random(shape, Distribution::Normal(0.0, std), device)
}

/// Checks that given class weights are `[embedding_size, columns]` (one column per class, or per
/// sub-center) and makes them a trainable parameter.
pub(crate) fn class_weight_param(
    component: &'static str,
    weight: Tensor<2>,
    embedding_size: usize,
    columns: usize,
) -> LossResult<Param<Tensor<2>>> {
    check_shape(component, "weight", &weight.dims(), &[embedding_size, columns])?;
    Ok(Param::from_tensor(weight))
}

/// Checks what a classification loss can be given: embeddings of the configured size, labels in
/// `0..num_classes`, no reference set and nothing mined.
pub(crate) fn check_input(
    component: &'static str,
    input: &LossInput,
    embedding_size: usize,
    num_classes: usize,
) -> LossResult<()> {
    check_class_input(component, input, embedding_size, num_classes, false)
}

/// Checks the input of a loss that compares embeddings with per-class vectors (classification
/// weights or proxies): no reference set, embeddings of the configured size, labels in
/// `0..num_classes` (from [`LossInput::host_label_range`] when the labels came from the host,
/// otherwise read back from the device), and mined pairs or triplets only when
/// `accepts_mined` (the proxy losses weight embeddings by them; the classification heads use
/// every embedding).
pub(crate) fn check_class_input(
    component: &'static str,
    input: &LossInput,
    embedding_size: usize,
    num_classes: usize,
    accepts_mined: bool,
) -> LossResult<()> {
    if input.reference.is_some() {
        return Err(LossError::Unsupported {
            component,
            detail: "a reference set (the loss compares embeddings with its class weights or \
                     proxies)"
                .into(),
        });
    }
    if input.mined.is_some() && !accepts_mined {
        return Err(LossError::Unsupported {
            component,
            detail: "mined pairs or triplets (classification losses use every embedding)".into(),
        });
    }
    let d = input.embeddings.dims()[1];
    if d != embedding_size {
        return Err(LossError::ShapeMismatch {
            component,
            detail: format!("embeddings have size {d} but the loss was built for {embedding_size}"),
        });
    }
    match input.host_label_range() {
        Some((lowest, highest)) => {
            for label in [lowest, highest] {
                check_label(component, label, num_classes)?;
            }
            Ok(())
        }
        None => check_labels(component, &input.labels, num_classes),
    }
}

/// Fails with [`LossError::LabelOutOfRange`] unless `label` is in `0..num_classes`.
fn check_label(component: &'static str, label: i64, num_classes: usize) -> LossResult<()> {
    if label < 0 || label as u128 >= num_classes as u128 {
        return Err(LossError::LabelOutOfRange { component, label, num_classes });
    }
    Ok(())
}

/// Fails with [`LossError::LabelOutOfRange`] unless every label is in `0..num_classes` (reads the
/// labels back to the host).
pub(crate) fn check_labels(
    component: &'static str,
    labels: &Tensor<1, Int>,
    num_classes: usize,
) -> LossResult<()> {
    let data = labels.to_data();
    data.iter::<i64>().try_for_each(|label| check_label(component, label, num_classes))
}

/// Fails with [`LossError::ShapeMismatch`] unless `actual == expected`.
pub(crate) fn check_shape(
    component: &'static str,
    what: &str,
    actual: &[usize],
    expected: &[usize],
) -> LossResult<()> {
    if actual == expected {
        Ok(())
    } else {
        Err(LossError::ShapeMismatch {
            component,
            detail: format!("{what} has shape {actual:?}, expected {expected:?}"),
        })
    }
}

/// One-hot float matrix of the labels.
///
/// # Shapes
/// - `labels`: `[n]` -> `[n, num_classes]`
pub(crate) fn target_mask(labels: &Tensor<1, Int>, num_classes: usize) -> Tensor<2> {
    one_hot(labels, num_classes).float()
}

/// Per-row softmax cross-entropy `logsumexp_j(logits_ij) - logits_i,y_i` (PyTorch's
/// `CrossEntropyLoss(reduction="none")`).
///
/// # Shapes
/// - `logits`, `target`: `[n, c]` -> `[n]`
pub(crate) fn cross_entropy(logits: Tensor<2>, target: Tensor<2>) -> Tensor<1> {
    let n = logits.dims()[0];
    let lse = logsumexp(logits.clone());
    let picked = (logits * target).sum_dim(1);
    (lse - picked).reshape([n])
}

/// Cosine of every embedding with every column of `w`: `x^ . w^_j` (PML's
/// `CosineSimilarity()(embeddings, W.t())`).
///
/// # Shapes
/// - `x`: `[n, d]`, `w`: `[d, c]` -> `[n, c]`
pub(crate) fn cosine_with_columns(x: Tensor<2>, w: Tensor<2>) -> Tensor<2> {
    let w_rows = l2_normalize(w.transpose());
    l2_normalize(x).matmul(w_rows.transpose())
}

/// Clamps to `[-1, 1]` with PyTorch's `clamp` gradient: passed through inside the range (bounds
/// included), zero outside.
pub(crate) fn clamp_unit(c: Tensor<2>) -> Tensor<2> {
    let above = c.clone().greater_elem(1.0);
    let below = c.clone().lower_elem(-1.0);
    c.mask_fill(above, 1.0).mask_fill(below, -1.0)
}
