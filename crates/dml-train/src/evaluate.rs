//! Embedding a set of images and measuring retrieval: Recall@K and MAP@R (exact cosine k-NN
//! from `dml-eval`, self-retrieval or query-vs-gallery).

use std::time::Instant;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use dml_backbones::EmbeddingModel;
use dml_eval::{
    Embeddings, KMeansConfig, KnnConfig, KnnDistance, clustering_metrics, knn_query, knn_self,
    required_k, retrieval_metrics_query, retrieval_metrics_self,
};

use crate::config::TrainConfig;
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

/// What an evaluation computes and how.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalSettings {
    /// The K of Recall@K.
    pub recall_ks: Vec<usize>,
    /// Images per forward pass.
    pub batch_size: usize,
    /// Cosine for L2-normalized embeddings, Euclidean on the raw ones otherwise.
    pub distance: KnnDistance,
    /// Also NMI and AMI (k-means with k = the number of test classes, seeded).
    pub clustering: bool,
    /// Seed of the k-means.
    pub seed: u64,
}

impl EvalSettings {
    /// The evaluation of a run configured by `config`.
    pub fn of(config: &TrainConfig) -> Self {
        let normalized = config.model.normalize || config.model.normalize_training;
        Self {
            recall_ks: config.run.recall_ks.clone(),
            batch_size: config.data.test_batch_size,
            distance: if normalized { KnnDistance::Cosine } else { KnnDistance::L2 },
            clustering: config.run.clustering_metrics,
            seed: config.run.seed,
        }
    }
}

/// Recall@K, precision@1, R-precision, MAP@R (and NMI/AMI with `settings.clustering`) of
/// `model` on `data`: self-retrieval, or query-vs-gallery. The record's `step` and `epoch` are
/// 0 (the caller sets them).
pub fn evaluate(
    model: &EmbeddingModel,
    data: &EvalData,
    settings: &EvalSettings,
    device: &Device,
) -> TrainResult<EvalRecord> {
    let start = Instant::now();
    let ks = settings.recall_ks.as_slice();
    let (q, dim, g) = embed(model, data, settings.batch_size, device)?;
    let to_i64 = |l: &[usize]| l.iter().map(|&x| x as i64).collect::<Vec<_>>();
    let knn_config = |k| KnnConfig::new(k).with_distance(settings.distance);
    let (metrics, labels) = match (data, g) {
        (EvalData::Files(_, ql, Some((_, gl))), Some(g)) => {
            let (ql, gl) = (to_i64(ql), to_i64(gl));
            let qe = Embeddings::from_vec(q.clone(), dim).map_err(eval_err)?;
            let ge = Embeddings::from_vec(g, dim).map_err(eval_err)?;
            let k = required_k(&ql, &gl, false, ks);
            let knn = knn_query(&qe, &ge, &knn_config(k)).map_err(eval_err)?;
            (retrieval_metrics_query(&knn, &ql, &gl, ks, false).map_err(eval_err)?, ql)
        }
        (data, _) => {
            let labels = match data {
                EvalData::Memory(m) => to_i64(&m.labels),
                EvalData::Files(_, ql, _) => to_i64(ql),
            };
            let e = Embeddings::from_vec(q.clone(), dim).map_err(eval_err)?;
            let k = required_k(&labels, &labels, true, ks);
            let knn = knn_self(&e, &knn_config(k)).map_err(eval_err)?;
            (retrieval_metrics_self(&knn, &labels, ks, false).map_err(eval_err)?, labels)
        }
    };
    let (nmi, ami) = if settings.clustering {
        let e = Embeddings::from_vec(q, dim).map_err(eval_err)?;
        let c = clustering_metrics(&e, &labels, &KMeansConfig::new(1).with_seed(settings.seed))
            .map_err(eval_err)?;
        (Some(c.nmi), Some(c.ami))
    } else {
        (None, None)
    };
    let o = &metrics.overall;
    Ok(EvalRecord {
        step: 0,
        epoch: 0.0,
        recall_at: o.recall_at.clone(),
        precision_at_1: o.precision_at_1,
        r_precision: o.r_precision,
        map_at_r: o.map_at_r,
        nmi,
        ami,
        queries: o.num_queries,
        seconds: start.elapsed().as_secs_f64(),
    })
}
