//! Helpers shared by the losses computed on the pair matrix (PML's `GenericPairLoss` family).

use burn::tensor::{Bool, Tensor};

use crate::ops::{MASKED_LOGIT, masked_logsumexp};

/// `0.0` where PML's `GenericPairLoss.compute_loss` returns zero losses because every index
/// list has at most one entry (at most one positive and at most one negative pair), else `1.0`.
///
/// # Shapes
/// - `pos`, `neg`: `[n, m]` -> `[1, 1]`
pub(crate) fn pair_gate(pos: &Tensor<2>, neg: &Tensor<2>) -> Tensor<2> {
    let few_pos = pos.clone().sum().lower_equal_elem(1.0);
    let few_neg = neg.clone().sum().lower_equal_elem(1.0);
    few_pos.bool_and(few_neg).bool_not().float().reshape([1, 1])
}

/// `1.0` when `mask` has at least one positive entry, else `0.0`.
///
/// # Shapes
/// - `mask`: `[n, m]` -> `[1, 1]`
pub(crate) fn any_gate(mask: &Tensor<2>) -> Tensor<2> {
    mask.clone().sum().greater_elem(0.0).float().reshape([1, 1])
}

/// `1.0` for the rows of `mask` with at least one positive entry.
///
/// # Shapes
/// - `mask`: `[n, m]` -> `[n, 1]`
pub(crate) fn row_any(mask: &Tensor<2>) -> Tensor<2, Bool> {
    mask.clone().sum_dim(1).greater_elem(0.0)
}

/// `log(sum_j w_ij exp(x_ij))` over the entries with `w_ij > 0` (each counted `w_ij` times, as
/// an index list naming a pair twice does in PML); rows with no such entry give 0.
///
/// # Shapes
/// - `x`, `w`: `[n, m]` -> `[n, 1]`
pub(crate) fn weighted_logsumexp(x: Tensor<2>, w: Tensor<2>) -> Tensor<2> {
    let keep = w.clone().greater_elem(0.0);
    let log_w = w.mask_fill(keep.clone().bool_not(), 1.0).log();
    masked_logsumexp(x + log_w, keep, false)
}

/// `x` where `keep`, else [`MASKED_LOGIT`] (finite, so that `exp` of it is exactly 0).
pub(crate) fn or_masked(x: Tensor<2>, keep: Tensor<2, Bool>) -> Tensor<2> {
    x.mask_fill(keep.bool_not(), MASKED_LOGIT)
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Int, Tensor};

    use crate::loss::{LossInput, MetricLoss, MultiSimilarityLossConfig, NTXentLossConfig};
    use crate::miner::Mined;

    /// PML's GenericPairLoss returns zero losses when at most one positive and at most one
    /// negative pair are given.
    #[test]
    fn a_single_pair_of_each_kind_gives_zero() {
        let device = Device::flex();
        let e = Tensor::<2>::from_floats([[1.0, 0.2], [0.8, 0.5], [0.1, 1.0]], &device);
        let y = Tensor::<1, Int>::from_ints([0, 0, 1], &device);
        let positive =
            Tensor::<2>::from_floats([[0., 1., 0.], [0., 0., 0.], [0., 0., 0.]], &device);
        let negative =
            Tensor::<2>::from_floats([[0., 0., 1.], [0., 0., 0.], [0., 0., 0.]], &device);
        let one = LossInput::new(e.clone(), y.clone())
            .with_mined(Mined::Pairs { positive: positive.clone(), negative: negative.clone() });
        let two = LossInput::new(e, y)
            .with_mined(Mined::Pairs { positive: positive.mul_scalar(2.0), negative });
        let losses: [Box<dyn MetricLoss>; 2] = [
            Box::new(MultiSimilarityLossConfig::new().init().unwrap()),
            Box::new(NTXentLossConfig::new().init().unwrap()),
        ];
        for loss in losses {
            let zero = loss.forward_input(&one).unwrap().into_scalar::<f32>();
            assert_eq!(zero, 0.0, "{}", loss.name());
            let nonzero = loss.forward_input(&two).unwrap().into_scalar::<f32>();
            assert!(nonzero > 0.0, "{}", loss.name());
        }
    }
}
