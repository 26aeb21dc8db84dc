//! [`FusedLossBackend`] under Burn's autodiff decorator: the forward pass asks the inner backend
//! for the loss and its gradients at once; the backward pass scales them by the gradient that
//! arrives at the loss.

use burn::backend::Backend;
use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::{FloatTensor, IntTensor};

use super::backend::{FusedLossBackend, PairOptions};
use super::{HardestKind, PairKernel};

/// Backward pass of a fused pair loss: `dX = g dL/dX`, `dR = g dL/dR` with `g` the gradient at
/// the loss (a `[1]` tensor). In the same set `X` and `R` are one node and `dL/dX` already holds
/// both roles, so only the first parent receives it.
#[derive(Debug)]
struct PairLossBackward;

impl<B: Backend> Backward<B, 2> for PairLossBackward {
    /// `(dL/dX, dL/dR, same set)`.
    type State = (FloatTensor<B>, FloatTensor<B>, bool);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (dx, dr, same_set) = ops.state;
        let upstream = grads.consume::<B>(&ops.node);
        let g = B::float_reshape(upstream, [1, 1].into());
        let [node_x, node_r] = ops.parents;
        if same_set {
            if let Some(node) = node_x.or(node_r) {
                grads.register::<B>(node.id, B::float_mul(dx, g));
            }
            return;
        }
        if let Some(node) = node_r {
            grads.register::<B>(node.id, B::float_mul(dr, g.clone()));
        }
        if let Some(node) = node_x {
            grads.register::<B>(node.id, B::float_mul(dx, g));
        }
    }
}

impl<B: Backend + FusedLossBackend, C: CheckpointStrategy> FusedLossBackend for Autodiff<B, C> {
    fn fused_pair_loss(
        x: FloatTensor<Self>,
        r: FloatTensor<Self>,
        labels: IntTensor<Self>,
        ref_labels: IntTensor<Self>,
        kernel: PairKernel,
        options: PairOptions,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let options = PairOptions { grad_x: x.is_tracked(), grad_r: r.is_tracked(), ..options };
        let nodes = [x.node(), r.node()];
        let (x, r) = (x.into_primitive(), r.into_primitive());
        match PairLossBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (loss, margin_grad, dx, dr) =
                    B::fused_pair_loss_with_grads(x, r, labels, ref_labels, kernel, options);
                (prep.finish((dx, dr, options.same_set), loss), constant::<B, C>(margin_grad))
            }
            OpsKind::UnTracked(prep) => {
                let (loss, margin_grad) =
                    B::fused_pair_loss(x, r, labels, ref_labels, kernel, options);
                (prep.finish(loss), constant::<B, C>(margin_grad))
            }
        }
    }

    fn fused_pair_loss_with_grads(
        x: FloatTensor<Self>,
        r: FloatTensor<Self>,
        labels: IntTensor<Self>,
        ref_labels: IntTensor<Self>,
        kernel: PairKernel,
        options: PairOptions,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        // The parts are constants of the graph (gradients are not differentiated again).
        let (loss, margin_grad, dx, dr) = B::fused_pair_loss_with_grads(
            x.into_primitive(),
            r.into_primitive(),
            labels,
            ref_labels,
            kernel,
            options,
        );
        (
            constant::<B, C>(loss),
            constant::<B, C>(margin_grad),
            constant::<B, C>(dx),
            constant::<B, C>(dr),
        )
    }

    fn fused_hardest_per_anchor(
        x: FloatTensor<Self>,
        r: FloatTensor<Self>,
        labels: IntTensor<Self>,
        ref_labels: IntTensor<Self>,
        kind: HardestKind,
        same_set: bool,
    ) -> (IntTensor<Self>, IntTensor<Self>, FloatTensor<Self>) {
        // A miner's choice carries no gradient.
        let (positive, negative, valid) = B::fused_hardest_per_anchor(
            x.into_primitive(),
            r.into_primitive(),
            labels,
            ref_labels,
            kind,
            same_set,
        );
        (positive, negative, constant::<B, C>(valid))
    }
}

/// An operation without inputs: what turns a plain tensor into an untracked autodiff one.
#[derive(Debug)]
struct Constant;

impl<B: Backend> Backward<B, 0> for Constant {
    type State = ();

    fn backward(self, _: Ops<(), 0>, _: &mut Gradients, _: &mut Checkpointer) {}
}

/// An untracked autodiff tensor holding `t` (a graph constant).
fn constant<B: Backend, C: CheckpointStrategy>(t: FloatTensor<B>) -> FloatTensor<Autodiff<B, C>> {
    match Constant.prepare::<C>([]).compute_bound().stateful() {
        OpsKind::Tracked(prep) => prep.finish((), t),
        OpsKind::UnTracked(prep) => prep.finish(t),
    }
}
