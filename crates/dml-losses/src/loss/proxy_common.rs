//! Helpers shared by the proxy losses (ProxyNCA, ProxyAnchor, AMLoss).

use burn::tensor::{Int, Tensor};

use super::LossInput;
use super::classification::{check_class_input, check_shape};
use crate::error::LossResult;
use crate::miner::{Mined, Triplets};
use crate::ops::{masked_logsumexp_parts, one_hot};

/// Checks that explicitly given proxies are `[num_classes, embedding_size]`.
pub(crate) fn check_given_proxies(
    component: &'static str,
    proxies: &Tensor<2>,
    num_classes: usize,
    embedding_size: usize,
) -> LossResult<()> {
    check_shape(component, "proxies", &proxies.dims(), &[num_classes, embedding_size])
}

/// The per-proxy terms of ProxyAnchor and AMLoss: for each class `c`,
/// `log(1 + sum_{i: y_i = c} exp(pos_ic))` over its positives and
/// `log(1 + sum_{i: y_i != c} exp(neg_ic))` over its negatives (0 for a class with none), and
/// the number of classes that have a positive in the batch. Both masks and both "any" vectors
/// come from one one-hot matrix and one class count, reduced over the batch dimension (no
/// transposed copies).
///
/// # Shapes
/// - `pos_logits`, `neg_logits`: `[n, C]`, `labels`: `[n]` -> `[C]`, `[C]`, `[1]`
pub(crate) fn proxy_pos_neg_terms(
    pos_logits: Tensor<2>,
    neg_logits: Tensor<2>,
    labels: &Tensor<1, Int>,
    classes: usize,
) -> (Tensor<1>, Tensor<1>, Tensor<1>) {
    let n = labels.dims()[0];
    let pos_mask = one_hot(labels, classes); // [n, C]
    let per_class = pos_mask.clone().float().sum_dim(0); // [1, C] images of each class
    let has_pos = per_class.clone().greater_elem(0.0);
    let has_neg = per_class.lower_elem(n as f64);
    let with_pos = has_pos.clone().float().sum(); // [1]
    let pos_term =
        masked_logsumexp_parts(pos_logits, pos_mask.clone().bool_not(), has_pos, true, 0);
    let neg_term = masked_logsumexp_parts(neg_logits, pos_mask, has_neg, true, 0);
    (pos_term.reshape([classes]), neg_term.reshape([classes]), with_pos)
}

/// Checks a proxy loss's input (mined pairs or triplets allowed): see [`check_class_input`].
pub(crate) fn check_proxy_input(
    component: &'static str,
    input: &LossInput,
    num_classes: usize,
    embedding_size: usize,
) -> LossResult<()> {
    check_class_input(component, input, embedding_size, num_classes, true)
}

/// PML's `lmu.convert_to_weights`: each embedding's weight is how often it appears anywhere in
/// the mined index tuple, divided by the largest such count; all ones when nothing is given or
/// nothing was mined. With `anchors_only` (PML's `using_ref=True`, when the embeddings are
/// compared with another set such as the proxies) only anchor occurrences are counted.
///
/// # Shapes
/// - returns `[n, 1]`
pub(crate) fn miner_weights(input: &LossInput, anchors_only: bool) -> Tensor<2> {
    let n = input.batch_size();
    let ones = input.embeddings.zeros_like().sum_dim(1).add_scalar(1.0).detach();
    let Some(mined) = &input.mined else {
        return ones;
    };
    let counts: Tensor<1> = match mined {
        Mined::Pairs { positive, negative } => {
            let rows = positive.clone().sum_dim(1) + negative.clone().sum_dim(1); // [n, 1]
            let cols = positive.clone().sum_dim(0) + negative.clone().sum_dim(0); // [1, n]
            if anchors_only { rows.reshape([n]) } else { rows.reshape([n]) + cols.reshape([n]) }
        }
        Mined::Triplets(Triplets::Dense(t)) => {
            let a = t.clone().sum_dim(2).sum_dim(1).reshape([n]);
            let p = t.clone().sum_dim(2).sum_dim(0).reshape([n]);
            let q = t.clone().sum_dim(1).sum_dim(0).reshape([n]);
            if anchors_only { a } else { a + p + q }
        }
        Mined::Triplets(Triplets::PerAnchor { positive, negative, valid }) => {
            let v = valid.clone().reshape([n, 1]);
            let p = (crate::ops::one_hot(positive, n).float() * v.clone()).sum_dim(0);
            let q = (crate::ops::one_hot(negative, n).float() * v).sum_dim(0);
            if anchors_only {
                valid.clone()
            } else {
                valid.clone() + p.reshape([n]) + q.reshape([n])
            }
        }
    };
    let counts = counts.detach().reshape([n, 1]);
    let max = counts.clone().max_dim(0); // [1, 1]
    let none = max.clone().lower_equal_elem(0.0).expand([n, 1]);
    let weights = counts / max.clamp_min(1e-30);
    weights.mask_where(none, ones)
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Int};

    use super::*;

    fn weights(input: &LossInput, anchors_only: bool) -> Vec<f32> {
        miner_weights(input, anchors_only).to_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn miner_weights_follow_pml_convert_to_weights() {
        let d = Device::flex();
        let x = Tensor::<2>::zeros([3, 2], &d);
        let y = Tensor::<1, Int>::from_ints([0, 0, 1], &d);
        let plain = LossInput::new(x.clone(), y.clone());
        assert_eq!(weights(&plain, false), vec![1.0; 3]);
        // indices (a1, p, a2, n) = ([0], [1], [0], [2]): counts [2, 1, 1]
        let pos = Tensor::<2>::from_floats([[0.0, 1.0, 0.0], [0.0; 3], [0.0; 3]], &d);
        let neg = Tensor::<2>::from_floats([[0.0, 0.0, 1.0], [0.0; 3], [0.0; 3]], &d);
        let mined = plain.clone().with_mined(Mined::Pairs { positive: pos, negative: neg });
        assert_eq!(weights(&mined, false), vec![1.0, 0.5, 0.5]);
        assert_eq!(weights(&mined, true), vec![1.0, 0.0, 0.0]);
        // nothing mined: all ones, as PML
        let empty = Mined::Pairs {
            positive: Tensor::<2>::zeros([3, 3], &d),
            negative: Tensor::<2>::zeros([3, 3], &d),
        };
        let empty = plain.with_mined(empty);
        assert_eq!(weights(&empty, false), vec![1.0; 3]);
    }
}
