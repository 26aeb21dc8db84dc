//! [`FusedLossBackend`] under Burn's autodiff decorator: the forward pass runs the inner
//! backend's kernel, which leaves `dL/dS` behind; the backward pass turns it into the gradients
//! of both inputs with two matrix products.

use burn::backend::Backend;
use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::{FloatTensor, IntTensor};

use super::backend::FusedLossBackend;
use super::{HardestKind, PairKernel};

/// Backward pass of a fused pair loss: with `G = dL/dS` (times `scale`) kept from the forward
/// pass and `g` the gradient arriving at the loss, `dX = g scale G R` and `dR = g scale G^T X`.
/// In the same set `X` and `R` are one tensor, whose two contributions Burn adds.
#[derive(Debug)]
struct PairLossBackward;

impl<B: Backend> Backward<B, 2> for PairLossBackward {
    /// `(G, scale, X, R)`.
    type State = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (g, scale, x, r) = ops.state;
        let upstream = grads.consume::<B>(&ops.node);
        let factor = B::float_reshape(B::float_mul(upstream, scale), [1, 1].into());
        let [node_x, node_r] = ops.parents;
        if let Some(node) = node_r {
            let dr = B::float_matmul(B::float_transpose(g.clone()), x);
            grads.register::<B>(node.id, B::float_mul(dr, factor.clone()));
        }
        if let Some(node) = node_x {
            let dx = B::float_matmul(g, r);
            grads.register::<B>(node.id, B::float_mul(dx, factor));
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
        same_set: bool,
    ) -> FloatTensor<Self> {
        let nodes = [x.node(), r.node()];
        let (x, r) = (x.into_primitive(), r.into_primitive());
        match PairLossBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (loss, g, scale) = B::fused_pair_loss_parts(
                    x.clone(),
                    r.clone(),
                    labels,
                    ref_labels,
                    kernel,
                    same_set,
                );
                prep.finish((g, scale, x, r), loss)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::fused_pair_loss(x, r, labels, ref_labels, kernel, same_set))
            }
        }
    }

    fn fused_pair_loss_parts(
        x: FloatTensor<Self>,
        r: FloatTensor<Self>,
        labels: IntTensor<Self>,
        ref_labels: IntTensor<Self>,
        kernel: PairKernel,
        same_set: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        // The parts are constants of the graph (the gradient matrix is not differentiated).
        let (loss, g, scale) = B::fused_pair_loss_parts(
            x.into_primitive(),
            r.into_primitive(),
            labels,
            ref_labels,
            kernel,
            same_set,
        );
        (constant::<B, C>(loss), constant::<B, C>(g), constant::<B, C>(scale))
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
