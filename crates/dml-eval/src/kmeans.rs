//! Seeded k-means (k-means++ initialisation, Lloyd iterations) and the clustering metrics NMI
//! and AMI computed from it.

use std::collections::HashSet;

use rayon::prelude::*;

use crate::distance::KnnDistance;
use crate::embeddings::Embeddings;
use crate::error::{EvalError, EvalResult, invalid};
use crate::knn::{KnnConfig, knn_query};
use crate::mutual_info::{adjusted_mutual_info, normalized_mutual_info};

/// Settings of [`kmeans`].
///
/// Defaults follow PML's `FaissKMeans(niter=20)` where they can: 20 Lloyd iterations, one run;
/// the initialisation is k-means++ (one candidate per step) from a SplitMix64 stream seeded
/// with `seed`, so results are reproducible across runs and thread counts.
#[derive(Clone, Debug, PartialEq)]
pub struct KMeansConfig {
    /// Number of clusters.
    pub num_clusters: usize,
    /// Lloyd iterations per run (stops earlier when no assignment changes).
    pub max_iter: usize,
    /// Independent runs (different seeds derived from `seed`); the lowest inertia wins.
    pub n_init: usize,
    /// Seed of the initialisation.
    pub seed: u64,
}

impl KMeansConfig {
    /// `num_clusters` clusters, 20 iterations, 1 run, seed 0.
    pub fn new(num_clusters: usize) -> Self {
        Self { num_clusters, max_iter: 20, n_init: 1, seed: 0 }
    }

    /// Sets the iteration count.
    pub fn with_max_iter(mut self, max_iter: usize) -> Self {
        self.max_iter = max_iter;
        self
    }

    /// Sets the number of runs.
    pub fn with_n_init(mut self, n_init: usize) -> Self {
        self.n_init = n_init;
        self
    }

    /// Sets the seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
}

/// Result of [`kmeans`].
///
/// # Shapes
/// `assignments`: `[n]`, `centroids`: `[num_clusters * dim]` row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct KMeansResult {
    /// Cluster of every embedding.
    pub assignments: Vec<i64>,
    /// Cluster centres.
    pub centroids: Vec<f32>,
    /// Sum of squared distances of the embeddings to their centres.
    pub inertia: f64,
}

/// SplitMix64: a tiny, well-mixed, seedable generator.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn sq_dist(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum()
}

/// k-means++: first centre uniform, each next one drawn with probability proportional to the
/// squared distance to the nearest centre chosen so far.
fn init_plus_plus(x: &Embeddings<'_>, k: usize, rng: &mut SplitMix64) -> Vec<f32> {
    let (n, d) = (x.rows(), x.dim());
    let mut centroids = Vec::with_capacity(k * d);
    let first = (rng.next_u64() % n as u64) as usize;
    centroids.extend_from_slice(x.row(first));
    let mut closest: Vec<f64> =
        (0..n).into_par_iter().map(|i| sq_dist(x.row(i), x.row(first))).collect();
    for _ in 1..k {
        let total: f64 = closest.iter().sum();
        let pick = if total > 0.0 {
            let target = rng.next_f64() * total;
            let mut acc = 0.0;
            let mut chosen = n - 1;
            for (i, &c) in closest.iter().enumerate() {
                acc += c;
                if acc > target {
                    chosen = i;
                    break;
                }
            }
            chosen
        } else {
            (rng.next_u64() % n as u64) as usize
        };
        let centre = x.row(pick).to_vec();
        closest.par_iter_mut().enumerate().for_each(|(i, c)| {
            *c = c.min(sq_dist(x.row(i), &centre));
        });
        centroids.extend_from_slice(&centre);
    }
    centroids
}

/// One k-means run from a given seed.
fn run_once(x: &Embeddings<'_>, config: &KMeansConfig, seed: u64) -> EvalResult<KMeansResult> {
    let (n, d, k) = (x.rows(), x.dim(), config.num_clusters);
    let mut rng = SplitMix64(seed);
    let mut centroids = init_plus_plus(x, k, &mut rng);
    let mut assignments = vec![usize::MAX; n];
    let knn = KnnConfig::new(1).with_distance(KnnDistance::L2).with_block_size(256);
    for _ in 0..config.max_iter.max(1) {
        let cents = Embeddings::from_slice(&centroids, d)?;
        let nearest = knn_query(x, &cents, &knn)?;
        let new: Vec<usize> = nearest.indices.iter().map(|&i| i as usize).collect();
        let changed = new != assignments;
        assignments = new;
        if !changed {
            break;
        }
        let mut sums = vec![0.0f64; k * d];
        let mut counts = vec![0usize; k];
        for (i, &c) in assignments.iter().enumerate() {
            counts[c] += 1;
            for (s, &v) in sums[c * d..(c + 1) * d].iter_mut().zip(x.row(i)) {
                *s += v as f64;
            }
        }
        // An empty cluster takes the point farthest from its own centre.
        let mut taken = HashSet::new();
        for c in 0..k {
            if counts[c] == 0 {
                let far = (0..n)
                    .filter(|i| !taken.contains(i))
                    .max_by(|&i, &j| {
                        let di = sq_dist(x.row(i), &centroids[assignments[i] * d..][..d]);
                        let dj = sq_dist(x.row(j), &centroids[assignments[j] * d..][..d]);
                        di.partial_cmp(&dj).unwrap_or(std::cmp::Ordering::Equal).then(j.cmp(&i))
                    })
                    .unwrap_or(0);
                taken.insert(far);
                centroids[c * d..(c + 1) * d].copy_from_slice(x.row(far));
            } else {
                for (dst, s) in centroids[c * d..(c + 1) * d].iter_mut().zip(&sums[c * d..]) {
                    *dst = (*s / counts[c] as f64) as f32;
                }
            }
        }
    }
    let inertia = assignments
        .iter()
        .enumerate()
        .map(|(i, &c)| sq_dist(x.row(i), &centroids[c * d..][..d]))
        .sum();
    Ok(KMeansResult {
        assignments: assignments.into_iter().map(|c| c as i64).collect(),
        centroids,
        inertia,
    })
}

/// Clusters `embeddings` (as given, not normalised) into `config.num_clusters` groups.
///
/// # Shapes
/// `embeddings`: `[n, d]` → `assignments` `[n]`.
pub fn kmeans(embeddings: &Embeddings<'_>, config: &KMeansConfig) -> EvalResult<KMeansResult> {
    embeddings.validate("embeddings")?;
    if config.num_clusters == 0 {
        return Err(invalid("num_clusters", "must be at least 1"));
    }
    if config.num_clusters > embeddings.rows() {
        return Err(EvalError::KTooLarge {
            field: "num_clusters",
            k: config.num_clusters,
            available: embeddings.rows(),
            self_note: " (one embedding per cluster at least)",
        });
    }
    if config.n_init == 0 {
        return Err(invalid("n_init", "must be at least 1"));
    }
    let mut best: Option<KMeansResult> = None;
    let mut seeds = SplitMix64(config.seed);
    for run in 0..config.n_init {
        let seed = if run == 0 { config.seed } else { seeds.next_u64() };
        let result = run_once(embeddings, config, seed)?;
        if best.as_ref().is_none_or(|b| result.inertia < b.inertia) {
            best = Some(result);
        }
    }
    Ok(best.expect("n_init >= 1"))
}

/// NMI and AMI of a k-means clustering against the labels.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusteringMetrics {
    /// Normalised mutual information (arithmetic normalisation).
    pub nmi: f64,
    /// Adjusted mutual information (arithmetic normalisation).
    pub ami: f64,
    /// The clustering the scores were computed from.
    pub kmeans: KMeansResult,
}

/// PML's clustering metrics: k-means with k = the number of distinct labels (other settings
/// from `config`, whose `num_clusters` is overwritten), then NMI and AMI of the assignment
/// against the labels.
///
/// # Shapes
/// `embeddings`: `[n, d]`, `labels`: `[n]`.
pub fn clustering_metrics(
    embeddings: &Embeddings<'_>,
    labels: &[i64],
    config: &KMeansConfig,
) -> EvalResult<ClusteringMetrics> {
    if labels.len() != embeddings.rows() {
        return Err(EvalError::LengthMismatch {
            field: "labels",
            detail: format!("has {} labels for {} embeddings", labels.len(), embeddings.rows()),
        });
    }
    let num_clusters = labels.iter().collect::<HashSet<_>>().len();
    let config = KMeansConfig { num_clusters, ..config.clone() };
    let km = kmeans(embeddings, &config)?;
    let nmi = normalized_mutual_info(labels, &km.assignments)?;
    let ami = adjusted_mutual_info(labels, &km.assignments)?;
    Ok(ClusteringMetrics { nmi, ami, kmeans: km })
}
