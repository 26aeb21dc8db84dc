//! [`FusedLossBackend`] on Burn's `flex` CPU backend: `flex`'s matrix products (`gemm`) and the
//! host kernels on the tensors' memory.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::tensor::{DType, TensorData};

use super::backend::{FusedLossBackend, PairOptions};
use super::host::{self, PairMatrix};
use super::{HardestKind, PairKernel};

/// A contiguous tensor this code owns (the same tensor when it already is one).
fn owned(t: FlexTensor) -> FlexTensor {
    if t.is_contiguous() && t.is_unique() { t } else { t.to_contiguous() }
}

/// The tensor itself when it is contiguous (its values are then `storage::<f32>()`), or a
/// contiguous copy.
fn contiguous(t: &FlexTensor) -> FlexTensor {
    if t.is_contiguous() { t.clone() } else { t.to_contiguous() }
}

/// The labels as 32-bit integers (the API only sends `I32` or `I64` labels).
fn labels(t: &FlexTensor) -> Vec<i32> {
    let t = if t.is_contiguous() { t.clone() } else { t.to_contiguous() };
    match t.dtype() {
        DType::I64 => t.storage::<i64>().iter().map(|&v| v as i32).collect(),
        _ => t.storage::<i32>().to_vec(),
    }
}

/// Squared L2 norm of each row of a `[n, d]` tensor.
fn squared_norms(t: &FlexTensor, d: usize) -> Vec<f32> {
    host::squared_norms(contiguous(t).storage::<f32>(), d)
}

fn dims(t: &FlexTensor) -> (usize, usize) {
    let shape = t.layout().shape();
    (shape[0], shape[1])
}

fn scalar(value: f64) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(vec![value as f32], [1]))
}

fn unused() -> FlexTensor {
    FlexTensor::from_data(TensorData::new(vec![0f32], [1, 1]))
}

/// What the forward pass leaves for the gradients: `G = dL/dS` (unscaled, in the similarity
/// matrix's buffer), its scale, and the reference norms when the kernel normalized `R`.
struct Forward {
    loss: f64,
    margin_grad: Vec<f32>,
    g: FlexTensor,
    scale: f64,
    reference_norms: Option<(Vec<f32>, Vec<bool>)>,
}

fn forward(
    x: &FlexTensor,
    r: &FlexTensor,
    row_labels: &FlexTensor,
    col_labels: &FlexTensor,
    kernel: &PairKernel,
    options: &PairOptions,
) -> Forward {
    let (rows, d) = dims(x);
    let cols = dims(r).0;
    let reference_norms =
        options.normalize_reference.then(|| host::inverse_norms(contiguous(r).storage::<f32>(), d));
    let (row_sq, col_sq) = if kernel.needs_norms() {
        (squared_norms(x, d), squared_norms(r, d))
    } else {
        (Vec::new(), Vec::new())
    };
    let (row_labels, col_labels) = (labels(row_labels), labels(col_labels));
    let mut s = owned(Flex::float_matmul(x.clone(), Flex::float_transpose(r.clone())));
    if let Some((inverse, _)) = &reference_norms {
        host::scale_columns(s.storage_mut::<f32>(), cols, inverse, 1.0);
    }
    let out = host::run(
        kernel,
        &mut PairMatrix {
            values: s.storage_mut::<f32>(),
            rows,
            cols,
            row_labels: &row_labels,
            col_labels: &col_labels,
            same_set: options.same_set,
            row_sq: &row_sq,
            col_sq: &col_sq,
        },
    );
    Forward {
        loss: out.loss,
        margin_grad: out.margin_grad,
        g: s,
        scale: out.scale,
        reference_norms,
    }
}

fn vector(mut values: Vec<f32>) -> FlexTensor {
    if values.is_empty() {
        values.push(0.0);
    }
    let len = values.len();
    FlexTensor::from_data(TensorData::new(values, [len]))
}

impl FusedLossBackend for Flex {
    fn fused_pair_loss(
        x: FloatTensor<Self>,
        r: FloatTensor<Self>,
        labels: IntTensor<Self>,
        ref_labels: IntTensor<Self>,
        kernel: PairKernel,
        options: PairOptions,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let out = forward(&x, &r, &labels, &ref_labels, &kernel, &options);
        (scalar(out.loss), vector(out.margin_grad))
    }

    fn fused_pair_loss_with_grads(
        x: FloatTensor<Self>,
        r: FloatTensor<Self>,
        labels: IntTensor<Self>,
        ref_labels: IntTensor<Self>,
        kernel: PairKernel,
        options: PairOptions,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let Forward { loss, margin_grad, mut g, scale, reference_norms } =
            forward(&x, &r, &labels, &ref_labels, &kernel, &options);
        let (loss, margin_grad) = (scalar(loss), vector(margin_grad));
        let (rows, cols) = dims(&g);
        let scale = scale as f32;
        if options.same_set {
            // dX = (G + G^T) X.
            let dx = if options.grad_x || options.grad_r {
                let h = host::symmetrized(g.storage::<f32>(), rows, scale);
                Flex::float_matmul(FlexTensor::from_data(TensorData::new(h, [rows, rows])), x)
            } else {
                unused()
            };
            return (loss, margin_grad, dx, unused());
        }
        match &reference_norms {
            // With S = X R^T / |R|: dX = (G / |R|) R and dR = the radial-free part of
            // (G / |R|)^T X.
            Some((inverse, _)) => host::scale_columns(g.storage_mut::<f32>(), cols, inverse, scale),
            None => host::scale(g.storage_mut::<f32>(), scale),
        }
        let dx = if options.grad_x { Flex::float_matmul(g.clone(), r.clone()) } else { unused() };
        let dr = if options.grad_r {
            let mut dr = owned(Flex::float_matmul(Flex::float_transpose(g), x));
            if let Some((inverse, clamped)) = &reference_norms {
                let d = dims(&r).1;
                let r = contiguous(&r);
                host::remove_radial(
                    dr.storage_mut::<f32>(),
                    r.storage::<f32>(),
                    inverse,
                    clamped,
                    d,
                );
            }
            dr
        } else {
            unused()
        };
        (loss, margin_grad, dx, dr)
    }

    fn fused_hardest_per_anchor(
        x: FloatTensor<Self>,
        r: FloatTensor<Self>,
        row_labels: IntTensor<Self>,
        col_labels: IntTensor<Self>,
        kind: HardestKind,
        same_set: bool,
    ) -> (IntTensor<Self>, IntTensor<Self>, FloatTensor<Self>) {
        let (rows, d) = dims(&x);
        let cols = dims(&r).0;
        let (row_sq, col_sq) = match kind {
            HardestKind::Similarity => (Vec::new(), Vec::new()),
            _ => (squared_norms(&x, d), squared_norms(&r, d)),
        };
        let int_dtype = row_labels.dtype();
        let (row_labels, col_labels) = (labels(&row_labels), labels(&col_labels));
        let mut s = owned(Flex::float_matmul(x, Flex::float_transpose(r)));
        let (positive, negative, valid) = host::hardest_per_anchor(
            &PairMatrix {
                values: s.storage_mut::<f32>(),
                rows,
                cols,
                row_labels: &row_labels,
                col_labels: &col_labels,
                same_set,
                row_sq: &row_sq,
                col_sq: &col_sq,
            },
            kind,
        );
        let indices = |v: Vec<i64>| match int_dtype {
            DType::I64 => FlexTensor::from_data(TensorData::new(v, [rows])),
            _ => FlexTensor::from_data(TensorData::new(
                v.into_iter().map(|i| i as i32).collect::<Vec<_>>(),
                [rows],
            )),
        };
        let valid = FlexTensor::from_data(TensorData::new(valid, [rows]));
        (indices(positive), indices(negative), valid)
    }
}
