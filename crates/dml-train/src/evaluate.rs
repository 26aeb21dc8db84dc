//! Embedding a set of images and measuring retrieval: Recall@K and MAP@R (exact cosine k-NN
//! from `dml-eval`, self-retrieval or query-vs-gallery).

use std::time::Instant;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use dml_backbones::EmbeddingModel;
use dml_eval::{
    Embeddings, KnnConfig, knn_query, knn_self, required_k, retrieval_metrics_query,
    retrieval_metrics_self,
};

use crate::data::EvalData;
use crate::error::{TrainError, TrainResult};
use crate::metrics::EvalRecord;

fn eval_err(e: impl std::fmt::Display) -> TrainError {
    TrainError::Eval(e.to_string())
}

/// Appends the inference embeddings of `images` to `out`.
///
/// # Shapes
/// - `images`: `[batch, c, h, w]`
fn push_embeddings(
    model: &EmbeddingModel,
    images: Tensor<4>,
    out: &mut Vec<f32>,
) -> TrainResult<usize> {
    let emb = model.infer(images);
    let [_, d] = emb.dims();
    let data = emb.into_data().try_to_vec::<f32>().map_err(|e| eval_err(format!("{e:?}")))?;
    out.extend(data);
    Ok(d)
}

/// Inference embeddings of every image of `data`'s query set (and of its gallery), row-major.
pub fn embed(
    model: &EmbeddingModel,
    data: &EvalData,
    batch_size: usize,
    device: &Device,
) -> TrainResult<(Vec<f32>, usize, Option<Vec<f32>>)> {
    let model = model.valid();
    let mut dim = 0;
    match data {
        EvalData::Memory(m) => {
            let mut out = Vec::with_capacity(m.len() * 512);
            let idx: Vec<usize> = (0..m.len()).collect();
            for chunk in idx.chunks(batch_size.max(1)) {
                dim = push_embeddings(&model, m.batch(chunk, device).images, &mut out)?;
            }
            Ok((out, dim, None))
        }
        EvalData::Files(q, _, g) => {
            let run = |loader: &dml_data::ImageLoader, dim: &mut usize| -> TrainResult<Vec<f32>> {
                let mut out = Vec::new();
                for b in loader.epoch(0, device) {
                    let b = b.map_err(|e| TrainError::Data(e.to_string()))?;
                    *dim = push_embeddings(&model, b.images, &mut out)?;
                }
                Ok(out)
            };
            let qe = run(q, &mut dim)?;
            let ge = match g {
                Some((g, _)) => Some(run(g, &mut dim)?),
                None => None,
            };
            Ok((qe, dim, ge))
        }
    }
}

/// Recall@K (for each K of `ks`) and MAP@R of `model` on `data`, by cosine similarity.
pub fn evaluate(
    model: &EmbeddingModel,
    data: &EvalData,
    ks: &[usize],
    batch_size: usize,
    device: &Device,
) -> TrainResult<EvalRecord> {
    let start = Instant::now();
    let (q, dim, g) = embed(model, data, batch_size, device)?;
    let to_i64 = |l: &[usize]| l.iter().map(|&x| x as i64).collect::<Vec<_>>();
    let metrics = match (data, g) {
        (EvalData::Memory(m), _) => {
            let labels = to_i64(&m.labels);
            let e = Embeddings::from_vec(q, dim).map_err(eval_err)?;
            let k = required_k(&labels, &labels, true, ks);
            let knn = knn_self(&e, &KnnConfig::new(k)).map_err(eval_err)?;
            retrieval_metrics_self(&knn, &labels, ks, false).map_err(eval_err)?
        }
        (EvalData::Files(_, ql, Some((_, gl))), Some(g)) => {
            let (ql, gl) = (to_i64(ql), to_i64(gl));
            let qe = Embeddings::from_vec(q, dim).map_err(eval_err)?;
            let ge = Embeddings::from_vec(g, dim).map_err(eval_err)?;
            let k = required_k(&ql, &gl, false, ks);
            let knn = knn_query(&qe, &ge, &KnnConfig::new(k)).map_err(eval_err)?;
            retrieval_metrics_query(&knn, &ql, &gl, ks, false).map_err(eval_err)?
        }
        (EvalData::Files(_, ql, _), _) => {
            let labels = to_i64(ql);
            let e = Embeddings::from_vec(q, dim).map_err(eval_err)?;
            let k = required_k(&labels, &labels, true, ks);
            let knn = knn_self(&e, &KnnConfig::new(k)).map_err(eval_err)?;
            retrieval_metrics_self(&knn, &labels, ks, false).map_err(eval_err)?
        }
    };
    Ok(EvalRecord {
        recall_at: metrics.overall.recall_at.clone(),
        map_at_r: metrics.overall.map_at_r,
        queries: metrics.overall.num_queries,
        seconds: start.elapsed().as_secs_f64(),
    })
}
