//! [`FusedLossBackend`] on Burn's `flex` CPU backend: the host kernels on the tensors' memory.

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::tensor::{DType, TensorData};

use super::backend::FusedLossBackend;
use super::host::{self, PairMatrix};
use super::{HardestKind, PairKernel};

/// The values of a float32 tensor, contiguous.
fn floats(t: &FlexTensor) -> Vec<f32> {
    let t = if t.is_contiguous() { t.clone() } else { t.to_contiguous() };
    t.storage::<f32>().to_vec()
}

/// The labels as 32-bit integers (every label the kernels compare fits; checked by the caller).
fn labels(t: &FlexTensor) -> Vec<i32> {
    let t = if t.is_contiguous() { t.clone() } else { t.to_contiguous() };
    match t.dtype() {
        DType::I64 => t.storage::<i64>().iter().map(|&v| v as i32).collect(),
        DType::I32 => t.storage::<i32>().to_vec(),
        DType::I16 => t.storage::<i16>().iter().map(|&v| v as i32).collect(),
        DType::I8 => t.storage::<i8>().iter().map(|&v| v as i32).collect(),
        other => panic!("fused kernels: labels of dtype {other:?}"),
    }
}

/// Squared L2 norm of each row of a `[n, d]` tensor, summed in order.
fn squared_norms(t: &FlexTensor, d: usize) -> Vec<f32> {
    floats(t).chunks_exact(d.max(1)).map(|row| row.iter().map(|v| v * v).sum()).collect()
}

/// `S = X R^T`, as a contiguous tensor this function owns.
fn similarities(x: FlexTensor, r: FlexTensor) -> FlexTensor {
    let s = Flex::float_matmul(x, Flex::float_transpose(r));
    if s.is_contiguous() && s.is_unique() { s } else { s.to_contiguous() }
}

fn scalar(value: f64) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(vec![value as f32], [1]))
}

impl FusedLossBackend for Flex {
    fn fused_pair_loss(
        x: FloatTensor<Self>,
        r: FloatTensor<Self>,
        labels: IntTensor<Self>,
        ref_labels: IntTensor<Self>,
        kernel: PairKernel,
        same_set: bool,
    ) -> FloatTensor<Self> {
        Self::fused_pair_loss_parts(x, r, labels, ref_labels, kernel, same_set).0
    }

    fn fused_pair_loss_parts(
        x: FloatTensor<Self>,
        r: FloatTensor<Self>,
        row_labels: IntTensor<Self>,
        col_labels: IntTensor<Self>,
        kernel: PairKernel,
        same_set: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let [rows, d] = [x.layout().shape()[0], x.layout().shape()[1]];
        let cols = r.layout().shape()[0];
        let (row_sq, col_sq) = if kernel.needs_norms() {
            (squared_norms(&x, d), squared_norms(&r, d))
        } else {
            (Vec::new(), Vec::new())
        };
        let (row_labels, col_labels) = (labels(&row_labels), labels(&col_labels));
        let mut s = similarities(x, r);
        let out = host::run(
            &kernel,
            &mut PairMatrix {
                values: s.storage_mut::<f32>(),
                rows,
                cols,
                row_labels: &row_labels,
                col_labels: &col_labels,
                same_set,
                row_sq: &row_sq,
                col_sq: &col_sq,
            },
        );
        (scalar(out.loss), s, scalar(out.scale))
    }

    fn fused_hardest_per_anchor(
        x: FloatTensor<Self>,
        r: FloatTensor<Self>,
        row_labels: IntTensor<Self>,
        col_labels: IntTensor<Self>,
        kind: HardestKind,
        same_set: bool,
    ) -> (IntTensor<Self>, IntTensor<Self>, FloatTensor<Self>) {
        let [rows, d] = [x.layout().shape()[0], x.layout().shape()[1]];
        let cols = r.layout().shape()[0];
        let (row_sq, col_sq) = match kind {
            HardestKind::Similarity => (Vec::new(), Vec::new()),
            _ => (squared_norms(&x, d), squared_norms(&r, d)),
        };
        let int_dtype = row_labels.dtype();
        let (row_labels, col_labels) = (labels(&row_labels), labels(&col_labels));
        let mut s = similarities(x, r);
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
        (
            indices(positive),
            indices(negative),
            FlexTensor::from_data(TensorData::new(valid, [rows])),
        )
    }
}
