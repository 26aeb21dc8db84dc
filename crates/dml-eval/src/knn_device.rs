//! Exact k-nearest-neighbour search on a Burn tensor's own device (GPU or CPU): blocked
//! `matmul` and `topk_with_indices` run where the tensor lives; only the `[block, k + 1]`
//! results come back to the host.

use burn::tensor::{Int, Tensor};

use crate::distance::KnnDistance;
use crate::error::{EvalError, EvalResult};
use crate::knn::{KnnConfig, KnnResult};

fn read_f32(t: Tensor<2>, field: &'static str) -> EvalResult<Vec<f32>> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| EvalError::Tensor { field, detail: format!("{e:?}") })
}

fn read_i64(t: Tensor<2, Int>, field: &'static str) -> EvalResult<Vec<i64>> {
    t.into_data()
        .convert::<i64>()
        .try_into_vec::<i64>()
        .map_err(|e| EvalError::Tensor { field, detail: format!("{e:?}") })
}

/// Checks shape and finiteness (one `[n]` read-back; the bad row is then read to name the
/// column), returns the squared row norms on the host and the rows as they enter the product.
fn prepare(
    x: Tensor<2>,
    field: &'static str,
    distance: KnnDistance,
) -> EvalResult<(Tensor<2>, Vec<f32>)> {
    let [n, d] = x.dims();
    if d == 0 {
        return Err(EvalError::ZeroDimension { field });
    }
    if n == 0 {
        return Err(EvalError::Empty { field });
    }
    let sq = x.clone().powi_scalar(2).sum_dim(1);
    let sq_host = read_f32(sq.clone(), field)?;
    let row_sums = read_f32(x.clone().sum_dim(1), field)?;
    if let Some(row) =
        sq_host.iter().zip(&row_sums).position(|(a, b)| !(a.is_finite() && b.is_finite()))
    {
        let values = read_f32(x.slice([row..row + 1, 0..d]), field)?;
        let column = values.iter().position(|v| !v.is_finite()).unwrap_or(0);
        return Err(EvalError::NonFinite { field, row, column, value: values[column] });
    }
    match distance {
        KnnDistance::Cosine => {
            let norms = sq.sqrt().clamp_min(1e-12);
            Ok((x.div(norms), vec![1.0; n]))
        }
        KnnDistance::L2 => Ok((x, sq_host)),
    }
}

/// Blocked search shared by the two entry points.
fn search(
    q: Tensor<2>,
    q_sq: &[f32],
    r: Tensor<2>,
    r_sq: &[f32],
    config: &KnnConfig,
    self_retrieval: bool,
) -> EvalResult<KnnResult> {
    let [nq, d] = q.dims();
    let nr = r.dims()[0];
    let (k, distance, bs) = (config.k, config.distance, config.block_size);
    let device = r.device();
    let rt = r.transpose();
    let r_sq_t = Tensor::<1>::from_floats(r_sq, &device).reshape([1, nr]);
    let take = if self_retrieval { k + 1 } else { k };
    let mut indices = Vec::with_capacity(nq * k);
    let mut scores = Vec::with_capacity(nq * k);
    for s in (0..nq).step_by(bs) {
        let e = (s + bs).min(nq);
        let m = e - s;
        let mut keys = q.clone().slice([s..e, 0..d]).matmul(rt.clone());
        if distance == KnnDistance::L2 {
            keys = keys.mul_scalar(2.0).sub(r_sq_t.clone());
        }
        let (vals, idx) = keys.topk_with_indices(take, 1);
        let vals = read_f32(vals, "embeddings")?;
        let idx = read_i64(idx, "embeddings")?;
        for row in 0..m {
            let (vr, ir) = (&vals[row * take..][..take], &idx[row * take..][..take]);
            // PML's `return_results`: drop the query's own index, or the last column when the
            // own index is not among the k + 1 retrieved.
            let own = (s + row) as i64;
            let drop = if self_retrieval {
                ir.iter().position(|&i| i == own).unwrap_or(take - 1)
            } else {
                usize::MAX
            };
            for c in (0..take).filter(|&c| c != drop) {
                indices.push(ir[c] as u32);
                scores.push(match distance {
                    KnnDistance::Cosine => vr[c],
                    KnnDistance::L2 => (q_sq[s + row] - vr[c]).max(0.0).sqrt(),
                });
            }
        }
    }
    Ok(KnnResult { rows: nq, k, indices, scores, distance })
}

/// Self-retrieval on the tensor's device: per block of `block_size` queries, one
/// `[block, n]` product and `topk_with_indices(k + 1)`, then the query's own index is removed
/// as PML does. Peak device memory is one `[block_size, n]` block.
///
/// Ties are ordered as the backend's `topk` orders them (the CPU path [`knn_self`](crate::knn_self)
/// breaks them by the smaller index).
///
/// # Shapes
/// `embeddings`: `[n, d]` → `KnnResult` `[n, k]`, `k <= n - 1`.
pub fn knn_self_device(embeddings: Tensor<2>, config: &KnnConfig) -> EvalResult<KnnResult> {
    let (x, sq) = prepare(embeddings, "embeddings", config.distance)?;
    let n = x.dims()[0];
    check_k(config, n - 1, true)?;
    search(x.clone(), &sq, x, &sq, config, true)
}

/// Query-versus-gallery retrieval on the tensors' device.
///
/// # Shapes
/// `query`: `[nq, d]`, `reference`: `[nr, d]` → `KnnResult` `[nq, k]`, `k <= nr`.
pub fn knn_query_device(
    query: Tensor<2>,
    reference: Tensor<2>,
    config: &KnnConfig,
) -> EvalResult<KnnResult> {
    let (q, q_sq) = prepare(query, "query", config.distance)?;
    let (r, r_sq) = prepare(reference, "reference", config.distance)?;
    if q.dims()[1] != r.dims()[1] {
        return Err(EvalError::LengthMismatch {
            field: "reference",
            detail: format!(
                "has dimension {}, but `query` has dimension {}",
                r.dims()[1],
                q.dims()[1]
            ),
        });
    }
    check_k(config, r.dims()[0], false)?;
    search(q, &q_sq, r, &r_sq, config, false)
}

fn check_k(config: &KnnConfig, available: usize, self_retrieval: bool) -> EvalResult<()> {
    if config.k == 0 {
        return Err(crate::error::invalid("k", "must be at least 1"));
    }
    if config.block_size == 0 {
        return Err(crate::error::invalid("block_size", "must be at least 1"));
    }
    if config.k > available {
        return Err(EvalError::KTooLarge {
            field: "k",
            k: config.k,
            available,
            self_note: if self_retrieval {
                " (the reference set minus the query itself)"
            } else {
                ""
            },
        });
    }
    Ok(())
}
