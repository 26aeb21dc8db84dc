//! Retrieval metrics from a neighbour list and labels: Recall@K, precision@1, R-precision,
//! MAP@R, mean reciprocal rank, for self-retrieval and for query-versus-gallery.

use std::collections::{BTreeMap, HashMap};

use crate::error::{EvalError, EvalResult, invalid};
use crate::knn::KnnResult;
use crate::map_at_r::{average_precision_at_r, r_precision};
use crate::recall::{first_match, recall_at_k, reciprocal_rank};

/// Metric averages over one set of queries (all of them, or one class).
#[derive(Clone, Debug, PartialEq)]
pub struct MetricValues {
    /// `(K, Recall@K)` for every requested K, in the requested order.
    pub recall_at: Vec<(usize, f64)>,
    /// Fraction of queries whose nearest neighbour has their label.
    pub precision_at_1: f64,
    /// Mean R-precision.
    pub r_precision: f64,
    /// Mean average precision at R (MAP@R).
    pub map_at_r: f64,
    /// Mean reciprocal rank of the first same-label neighbour within the `k` retrieved.
    pub mean_reciprocal_rank: f64,
    /// Number of queries averaged over.
    pub num_queries: usize,
}

/// Retrieval metrics of a query set.
#[derive(Clone, Debug, PartialEq)]
pub struct RetrievalMetrics {
    /// Averages over the evaluated queries (lone queries left out).
    pub overall: MetricValues,
    /// Queries left out because no reference shares their label (self-retrieval: their class
    /// has no other member). PML leaves them out of every metric.
    pub num_lone_queries: usize,
    /// Evaluated queries whose `R` exceeds the `k` neighbours retrieved; their R-precision and
    /// MAP@R are computed over the first `k` (as PML does) and are lower than the true values.
    pub num_truncated_r: usize,
    /// Per class (query label) averages, when asked for (PML's `return_per_class`).
    pub per_class: Option<BTreeMap<i64, MetricValues>>,
}

/// Accumulates per-query values.
#[derive(Clone, Default)]
struct Sums {
    recall: Vec<f64>,
    p1: f64,
    rp: f64,
    map: f64,
    mrr: f64,
    count: usize,
}

impl Sums {
    fn new(n_recall: usize) -> Self {
        Self { recall: vec![0.0; n_recall], ..Self::default() }
    }

    fn mean(&self, recall_at: &[usize]) -> MetricValues {
        let n = self.count as f64;
        let avg = |v: f64| if self.count == 0 { f64::NAN } else { v / n };
        MetricValues {
            recall_at: recall_at.iter().zip(&self.recall).map(|(&k, &v)| (k, avg(v))).collect(),
            precision_at_1: avg(self.p1),
            r_precision: avg(self.rp),
            map_at_r: avg(self.map),
            mean_reciprocal_rank: avg(self.mrr),
            num_queries: self.count,
        }
    }
}

/// Metrics for self-retrieval (`knn` from [`knn_self`](crate::knn_self)): the query set is the
/// reference set and each query's own index was excluded, so `R` is the size of its class
/// minus one, and queries from singleton classes are left out.
///
/// # Shapes
/// `knn`: `[n, k]`, `labels`: `[n]`.
pub fn retrieval_metrics_self(
    knn: &KnnResult,
    labels: &[i64],
    recall_at: &[usize],
    per_class: bool,
) -> EvalResult<RetrievalMetrics> {
    compute(knn, labels, labels, "labels", true, recall_at, per_class)
}

/// Metrics for query-versus-gallery retrieval (`knn` from [`knn_query`](crate::knn_query)):
/// `R` is the number of references with the query's label; queries whose label is absent from
/// the reference set are left out.
///
/// # Shapes
/// `knn`: `[nq, k]`, `query_labels`: `[nq]`, `reference_labels`: `[nr]`.
pub fn retrieval_metrics_query(
    knn: &KnnResult,
    query_labels: &[i64],
    reference_labels: &[i64],
    recall_at: &[usize],
    per_class: bool,
) -> EvalResult<RetrievalMetrics> {
    compute(knn, query_labels, reference_labels, "query_labels", false, recall_at, per_class)
}

fn compute(
    knn: &KnnResult,
    query_labels: &[i64],
    reference_labels: &[i64],
    query_field: &'static str,
    self_retrieval: bool,
    recall_at: &[usize],
    per_class: bool,
) -> EvalResult<RetrievalMetrics> {
    if query_labels.is_empty() {
        return Err(EvalError::Empty { field: query_field });
    }
    if query_labels.len() != knn.rows {
        return Err(EvalError::LengthMismatch {
            field: query_field,
            detail: format!("has {} labels for {} queries", query_labels.len(), knn.rows),
        });
    }
    if let Some(&bad) = knn.indices.iter().find(|&&i| i as usize >= reference_labels.len()) {
        return Err(EvalError::LengthMismatch {
            field: if self_retrieval { "labels" } else { "reference_labels" },
            detail: format!("has {} labels but a neighbour index is {bad}", reference_labels.len()),
        });
    }
    for &k in recall_at {
        if k == 0 {
            return Err(invalid("recall_at", "K must be at least 1"));
        }
        if k > knn.k {
            return Err(EvalError::KTooLarge {
                field: "recall_at",
                k,
                available: knn.k,
                self_note: " (the neighbours retrieved per query)",
            });
        }
    }
    let mut counts: HashMap<i64, usize> = HashMap::new();
    for &l in reference_labels {
        *counts.entry(l).or_default() += 1;
    }
    let mut overall = Sums::new(recall_at.len());
    let mut classes: BTreeMap<i64, Sums> = BTreeMap::new();
    let (mut lone, mut truncated) = (0usize, 0usize);
    let mut matches = vec![false; knn.k];
    for (q, &label) in query_labels.iter().enumerate() {
        let r = counts.get(&label).copied().unwrap_or(0) - usize::from(self_retrieval);
        if r == 0 {
            lone += 1;
            continue;
        }
        if r > knn.k {
            truncated += 1;
        }
        for (m, &idx) in matches.iter_mut().zip(knn.row_indices(q)) {
            *m = reference_labels[idx as usize] == label;
        }
        let first = first_match(&matches);
        let add = |s: &mut Sums| {
            for (acc, &k) in s.recall.iter_mut().zip(recall_at) {
                *acc += recall_at_k(first, k);
            }
            s.p1 += recall_at_k(first, 1);
            s.rp += r_precision(&matches, r);
            s.map += average_precision_at_r(&matches, r);
            s.mrr += reciprocal_rank(first);
            s.count += 1;
        };
        add(&mut overall);
        if per_class {
            add(classes.entry(label).or_insert_with(|| Sums::new(recall_at.len())));
        }
    }
    Ok(RetrievalMetrics {
        overall: overall.mean(recall_at),
        num_lone_queries: lone,
        num_truncated_r: truncated,
        per_class: per_class
            .then(|| classes.into_iter().map(|(l, s)| (l, s.mean(recall_at))).collect()),
    })
}

/// The `k` to retrieve so that Recall@K for every K in `recall_at` and exact R-precision/MAP@R
/// can be computed: `max(max(recall_at), largest R)`, capped at the references available
/// (`n - 1` for self-retrieval).
pub fn required_k(
    query_labels: &[i64],
    reference_labels: &[i64],
    self_retrieval: bool,
    recall_at: &[usize],
) -> usize {
    let mut counts: HashMap<i64, usize> = HashMap::new();
    for &l in reference_labels {
        *counts.entry(l).or_default() += 1;
    }
    let max_r = query_labels
        .iter()
        .map(|l| counts.get(l).copied().unwrap_or(0).saturating_sub(usize::from(self_retrieval)))
        .max()
        .unwrap_or(0);
    let available = reference_labels.len().saturating_sub(usize::from(self_retrieval));
    max_r.max(recall_at.iter().copied().max().unwrap_or(1)).min(available).max(1)
}
