//! Parity of dml-eval with PML's AccuracyCalculator and scikit-learn (fixtures written by
//! `tools/fixtures/gen_eval.py`), brute-force Recall@K, k-means on separated blobs, and the
//! input errors.

use std::path::PathBuf;

use burn::tensor::{Device, Tensor};
use dml::eval::{
    Embeddings, EvalError, KMeansConfig, KnnConfig, KnnDistance, KnnResult, adjusted_mutual_info,
    clustering_metrics, knn_query, knn_query_device, knn_self, knn_self_device,
    normalized_mutual_info, retrieval_metrics_query, retrieval_metrics_self,
};
use serde_json::Value;

fn load(file: &str) -> Value {
    let path: PathBuf =
        [env!("CARGO_MANIFEST_DIR"), "tests", "fixtures", "eval", file].iter().collect();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()));
    serde_json::from_str(&text).expect("fixture parses")
}

fn flat(rows: &Value) -> (Vec<f32>, usize) {
    let rows = rows.as_array().expect("rows");
    let dim = rows[0].as_array().expect("row").len();
    let data = rows
        .iter()
        .flat_map(|r| r.as_array().expect("row").iter().map(|v| v.as_f64().expect("f") as f32))
        .collect();
    (data, dim)
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array().expect("ints").iter().map(|x| x.as_i64().expect("int")).collect()
}

fn close(got: f64, want: f64, tol: f64, what: &str) {
    assert!((got - want).abs() <= tol, "{what}: got {got}, want {want}");
}

fn distance(case: &Value) -> KnnDistance {
    match case["distance"].as_str().expect("distance") {
        "cosine" => KnnDistance::Cosine,
        _ => KnnDistance::L2,
    }
}

/// Naive reference: all scores in f64, full sort (score, then smaller index), own index
/// excluded in self-retrieval.
fn brute_force(
    q: &[f32],
    r: &[f32],
    dim: usize,
    dist: KnnDistance,
    self_retrieval: bool,
) -> Vec<Vec<usize>> {
    let rows = |x: &[f32]| -> Vec<Vec<f64>> {
        x.chunks(dim)
            .map(|row| {
                let v: Vec<f64> = row.iter().map(|&a| a as f64).collect();
                if dist == KnnDistance::Cosine {
                    let n = v.iter().map(|a| a * a).sum::<f64>().sqrt().max(1e-12);
                    v.iter().map(|a| a / n).collect()
                } else {
                    v
                }
            })
            .collect()
    };
    let (q, r) = (rows(q), rows(r));
    q.iter()
        .enumerate()
        .map(|(i, qi)| {
            let mut all: Vec<(f64, usize)> = r
                .iter()
                .enumerate()
                .filter(|(j, _)| !(self_retrieval && *j == i))
                .map(|(j, rj)| {
                    let s = match dist {
                        KnnDistance::Cosine => qi.iter().zip(rj).map(|(a, b)| a * b).sum(),
                        KnnDistance::L2 => {
                            -qi.iter().zip(rj).map(|(a, b)| (a - b) * (a - b)).sum::<f64>()
                        }
                    };
                    (s, j)
                })
                .collect();
            all.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap().then(a.1.cmp(&b.1)));
            all.into_iter().map(|(_, j)| j).collect()
        })
        .collect()
}

fn check_case(case: &Value) {
    let name = case["name"].as_str().expect("name");
    let self_retrieval = case["self_retrieval"].as_bool().expect("self");
    let k = case["k"].as_u64().expect("k") as usize;
    let dist = distance(case);
    let (q, dim) = flat(&case["query"]);
    let q_labels = ints(&case["query_labels"]);
    let (r, r_labels) = if self_retrieval {
        (q.clone(), q_labels.clone())
    } else {
        (flat(&case["reference"]).0, ints(&case["reference_labels"]))
    };
    let qe = Embeddings::from_slice(&q, dim).unwrap();
    let re = Embeddings::from_slice(&r, dim).unwrap();
    let search = |block: usize| -> KnnResult {
        let cfg = KnnConfig::new(k).with_distance(dist).with_block_size(block);
        if self_retrieval {
            knn_self(&qe, &cfg).unwrap()
        } else {
            knn_query(&qe, &re, &cfg).unwrap()
        }
    };
    // Blocks of 7 exercise partial blocks and (self-retrieval) the transposed feed.
    let knn = search(7);
    let big = search(512);
    assert!(knn.indices == big.indices, "{name}: block size changes the neighbours");
    // L2 scores come from |q|^2 + |r|^2 - 2 q.r: compare squared distances, whose rounding
    // error is a few ulps of the squared norms.
    let sq = |v: f32| if dist == KnnDistance::L2 { v * v } else { v };
    for (a, b) in knn.scores.iter().zip(&big.scores) {
        assert!((sq(*a) - sq(*b)).abs() < 1e-4, "{name}: block size changes a score: {a} vs {b}");
    }
    let want_idx: Vec<u32> = case["knn_indices"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| ints(row).into_iter().map(|v| v as u32))
        .collect();
    assert!(knn.indices == want_idx, "{name}: neighbours differ from PML's (stable top-k)");

    // Every metric, against AccuracyCalculator.
    let recall_at: Vec<usize> = [1, 2, 4, 8].into_iter().filter(|&x| x <= k).collect();
    let metrics = if self_retrieval {
        retrieval_metrics_self(&knn, &q_labels, &recall_at, true).unwrap()
    } else {
        retrieval_metrics_query(&knn, &q_labels, &r_labels, &recall_at, true).unwrap()
    };
    let want = &case["metrics"];
    let o = &metrics.overall;
    close(o.precision_at_1, want["precision_at_1"].as_f64().unwrap(), 1e-12, name);
    close(o.r_precision, want["r_precision"].as_f64().unwrap(), 1e-12, name);
    close(o.map_at_r, want["mean_average_precision_at_r"].as_f64().unwrap(), 1e-12, name);
    // PML accumulates the reciprocal ranks in float32.
    close(o.mean_reciprocal_rank, want["mean_reciprocal_rank"].as_f64().unwrap(), 1e-6, name);
    assert_eq!(
        metrics.num_lone_queries,
        case["num_lone_queries"].as_u64().unwrap() as usize,
        "{name}: lone queries"
    );
    assert_eq!(o.num_queries + metrics.num_lone_queries, q_labels.len());
    assert_eq!(o.recall_at[0].1, o.precision_at_1, "{name}: Recall@1 == P@1");

    // Per class (PML's return_per_class).
    let per_class = metrics.per_class.as_ref().unwrap();
    for (key, field) in [
        ("precision_at_1", 0),
        ("r_precision", 1),
        ("mean_average_precision_at_r", 2),
        ("mean_reciprocal_rank", 3),
    ] {
        let want = case["per_class"][key].as_object().unwrap();
        assert_eq!(want.len(), per_class.len(), "{name}: classes");
        for (label, v) in want {
            let got = &per_class[&label.parse::<i64>().unwrap()];
            let got = [got.precision_at_1, got.r_precision, got.map_at_r, got.mean_reciprocal_rank]
                [field];
            close(got, v.as_f64().unwrap(), 1e-6, &format!("{name} class {label} {key}"));
        }
    }

    // Recall@K for K > 1 against a naive full sort.
    let order = brute_force(&q, &r, dim, dist, self_retrieval);
    let mut counts = std::collections::HashMap::new();
    for l in &r_labels {
        *counts.entry(*l).or_insert(0usize) += 1;
    }
    for &(kk, got) in &o.recall_at {
        let (mut hits, mut n) = (0usize, 0usize);
        for (i, l) in q_labels.iter().enumerate() {
            if counts.get(l).copied().unwrap_or(0) <= usize::from(self_retrieval) {
                continue;
            }
            n += 1;
            hits += usize::from(order[i][..kk].iter().any(|&j| r_labels[j] == *l));
        }
        close(got, hits as f64 / n as f64, 1e-12, &format!("{name} Recall@{kk} brute force"));
    }

    // The Burn device path (CPU `flex` device here) gives the same metrics; exact ties may be
    // ordered differently by the backend's topk, so the duplicates cases compare scores.
    let device = Device::flex();
    let tensor = |x: &[f32]| Tensor::<1>::from_floats(x, &device).reshape([x.len() / dim, dim]);
    let cfg = KnnConfig::new(k).with_distance(dist).with_block_size(16);
    let dev = if self_retrieval {
        knn_self_device(tensor(&q), &cfg).unwrap()
    } else {
        knn_query_device(tensor(&q), tensor(&r), &cfg).unwrap()
    };
    for (a, b) in dev.scores.iter().zip(&knn.scores) {
        assert!((sq(*a) - sq(*b)).abs() < 1e-4, "{name}: device scores {a} vs {b}");
    }
    if !name.starts_with("duplicates") {
        assert!(dev.indices == knn.indices, "{name}: device neighbours");
    }
    for (i, row) in (0..dev.rows).map(|i| (i, dev.row_indices(i))) {
        assert!(!(self_retrieval && row.contains(&(i as u32))), "{name}: self not excluded");
    }
}

#[test]
fn retrieval_metrics_match_pml_accuracy_calculator() {
    let fixture = load("retrieval.json");
    let cases = fixture["cases"].as_array().unwrap();
    assert!(cases.len() >= 9);
    for case in cases {
        check_case(case);
    }
}

#[test]
fn nmi_and_ami_match_sklearn_on_fixed_label_pairs() {
    let fixture = load("mutual_info.json");
    for case in fixture["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let (t, p) = (ints(&case["labels_true"]), ints(&case["labels_pred"]));
        close(normalized_mutual_info(&t, &p).unwrap(), case["nmi"].as_f64().unwrap(), 1e-10, name);
        close(adjusted_mutual_info(&t, &p).unwrap(), case["ami"].as_f64().unwrap(), 1e-10, name);
    }
}

#[test]
fn kmeans_recovers_well_separated_blobs() {
    // 6 blobs of 20 points, centres 10 apart, unit-ish noise from a fixed LCG.
    let mut state = 12345u64;
    let mut noise = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
    };
    let (dim, per) = (4, 20);
    let mut data = Vec::new();
    let mut labels = Vec::new();
    for c in 0..6 {
        for _ in 0..per {
            for j in 0..dim {
                let centre = if j == c % dim { 10.0 * (1 + c / dim) as f32 } else { 0.0 };
                data.push(centre + noise());
            }
            labels.push(c as i64 * 7 - 3);
        }
    }
    let emb = Embeddings::from_slice(&data, dim).unwrap();
    let config = KMeansConfig::new(0).with_n_init(3).with_seed(42);
    let m = clustering_metrics(&emb, &labels, &config).unwrap();
    close(m.nmi, 1.0, 1e-12, "nmi");
    close(m.ami, 1.0, 1e-12, "ami");
    // Same seed, same answer.
    assert_eq!(clustering_metrics(&emb, &labels, &config).unwrap(), m);
}

#[test]
fn bad_inputs_give_clear_errors() {
    let data = [1.0f32, 0.0, 0.0, 1.0, 1.0, 1.0];
    let emb = Embeddings::from_slice(&data, 2).unwrap();
    // K larger than the reference set minus the query itself.
    let err = knn_self(&emb, &KnnConfig::new(3)).unwrap_err();
    assert!(matches!(err, EvalError::KTooLarge { k: 3, available: 2, .. }), "{err}");
    assert!(err.to_string().contains("`k`"), "{err}");
    let err = knn_query(&emb, &emb, &KnnConfig::new(4)).unwrap_err();
    assert!(matches!(err, EvalError::KTooLarge { k: 4, available: 3, .. }), "{err}");
    // NaN, with its row.
    let nan = [1.0f32, 0.0, 0.0, f32::NAN, 1.0, 1.0];
    let err = knn_self(&Embeddings::from_slice(&nan, 2).unwrap(), &KnnConfig::new(1)).unwrap_err();
    assert!(matches!(err, EvalError::NonFinite { field: "embeddings", row: 1, column: 1, .. }));
    assert!(err.to_string().contains("row 1"), "{err}");
    let err =
        knn_query(&emb, &Embeddings::from_slice(&nan, 2).unwrap(), &KnnConfig::new(1)).unwrap_err();
    assert!(matches!(err, EvalError::NonFinite { field: "reference", row: 1, .. }), "{err}");
    let inf = Tensor::<2>::from_floats([[1.0, 0.0], [f32::INFINITY, 0.0]], &Device::flex());
    let err = knn_self_device(inf, &KnnConfig::new(1)).unwrap_err();
    assert!(matches!(err, EvalError::NonFinite { row: 1, column: 0, .. }), "{err}");
    // Empty input and zero-dimensional embeddings.
    let err = knn_self(&Embeddings::from_slice(&[], 2).unwrap(), &KnnConfig::new(1)).unwrap_err();
    assert_eq!(err, EvalError::Empty { field: "embeddings" });
    assert!(matches!(Embeddings::from_slice(&data, 0), Err(EvalError::ZeroDimension { .. })));
    assert!(matches!(Embeddings::from_slice(&data, 4), Err(EvalError::LengthMismatch { .. })));
    // Mismatched lengths: labels vs neighbours, and query vs reference dimension.
    let knn = knn_self(&emb, &KnnConfig::new(2)).unwrap();
    let err = retrieval_metrics_self(&knn, &[0, 0], &[1], false).unwrap_err();
    assert!(matches!(err, EvalError::LengthMismatch { field: "labels", .. }), "{err}");
    let err = retrieval_metrics_query(&knn, &[0, 0, 1], &[0], &[1], false).unwrap_err();
    assert!(matches!(err, EvalError::LengthMismatch { field: "reference_labels", .. }), "{err}");
    let err = retrieval_metrics_self(&knn, &[0, 0, 1], &[3], false).unwrap_err();
    assert!(matches!(err, EvalError::KTooLarge { field: "recall_at", .. }), "{err}");
    let three = Embeddings::from_slice(&[1.0f32, 2.0, 3.0], 3).unwrap();
    let err = knn_query(&three, &emb, &KnnConfig::new(1)).unwrap_err();
    assert!(matches!(err, EvalError::LengthMismatch { field: "reference", .. }), "{err}");
    let err = normalized_mutual_info(&[0, 1], &[0]).unwrap_err();
    assert!(matches!(err, EvalError::LengthMismatch { field: "labels_pred", .. }), "{err}");
    assert!(matches!(adjusted_mutual_info(&[], &[]), Err(EvalError::Empty { .. })));
}

#[test]
fn duplicates_of_the_query_stay_candidates_self_index_does_not() {
    // Rows 0, 1, 2 identical: query 0 must return 1 and 2 (ties by smaller index), never 0.
    let data = [1.0f32, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0];
    let emb = Embeddings::from_slice(&data, 2).unwrap();
    let knn = knn_self(&emb, &KnnConfig::new(3).with_block_size(1)).unwrap();
    assert_eq!(knn.row_indices(0), &[1, 2, 3]);
    assert_eq!(knn.row_indices(1), &[0, 2, 3]);
    assert_eq!(knn.row_indices(2), &[0, 1, 3]);
    assert_eq!(knn.row_indices(3), &[0, 1, 2]);
}
