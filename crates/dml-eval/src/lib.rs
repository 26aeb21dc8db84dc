//! Retrieval and clustering metrics for deep metric learning, at Stanford-Online-Products
//! scale.
//!
//! - Exact k-nearest-neighbour search in blocks of queries ([`knn_self`], [`knn_query`] on the
//!   CPU: blocked `gemm` products, self-exclusion by index, partial top-k, rayon; and
//!   [`knn_self_device`], [`knn_query_device`] on a Burn tensor's own device, with the default
//!   `burn` feature). Never an
//!   `N x N` matrix in memory.
//! - Recall@K, precision@1, R-precision, MAP@R and mean reciprocal rank with
//!   pytorch-metric-learning's `AccuracyCalculator` definitions ([`retrieval_metrics_self`],
//!   [`retrieval_metrics_query`]).
//! - NMI and AMI from seeded k-means with k = number of classes ([`clustering_metrics`]),
//!   normalised as scikit-learn's defaults.
//!
//! See `docs/evaluation.md` for the definitions, sources, tie and self-exclusion rules.
//!
//! ```
//! use dml_eval::{Embeddings, KnnConfig, knn_self, retrieval_metrics_self};
//!
//! // Two classes of two embeddings each, 2-d.
//! let data = [1.0, 0.0, 0.9, 0.1, 0.0, 1.0, 0.1, 0.9];
//! let labels = [0, 0, 1, 1];
//! let embeddings = Embeddings::from_slice(&data, 2)?;
//! let knn = knn_self(&embeddings, &KnnConfig::new(3))?;
//! assert_eq!(knn.row_indices(0), &[1, 3, 2]);
//! let metrics = retrieval_metrics_self(&knn, &labels, &[1, 2], false)?;
//! assert_eq!(metrics.overall.recall_at, vec![(1, 1.0), (2, 1.0)]);
//! assert_eq!(metrics.overall.map_at_r, 1.0);
//! # Ok::<(), dml_eval::EvalError>(())
//! ```

pub mod distance;
pub mod embeddings;
pub mod error;
pub mod gemm;
pub mod kmeans;
pub mod knn;
#[cfg(feature = "burn")]
pub mod knn_device;
pub mod map_at_r;
pub mod mutual_info;
pub mod recall;
pub mod retrieval;
mod topk;

/// The `ndarray` version [`Embeddings::from_ndarray`] and [`KnnResult::indices_array`] use.
pub use ndarray;

pub use distance::KnnDistance;
pub use embeddings::Embeddings;
pub use error::{EvalError, EvalResult};
pub use kmeans::{ClusteringMetrics, KMeansConfig, KMeansResult, clustering_metrics, kmeans};
pub use knn::{KnnConfig, KnnResult, knn_query, knn_self};
#[cfg(feature = "burn")]
pub use knn_device::{knn_query_device, knn_self_device};
pub use mutual_info::{adjusted_mutual_info, normalized_mutual_info};
pub use retrieval::{
    MetricValues, RetrievalMetrics, required_k, retrieval_metrics_query, retrieval_metrics_self,
};
