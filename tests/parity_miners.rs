//! Further PML 2.9 miners (BatchEasyHardMiner, HDCMiner; AngularMiner) against PML (fixtures
//! from tools/fixtures/gen_miners.py and gen_miners2.py): each case mines its batch with the
//! miner it names and compares the value and the embedding gradient of the loss it names
//! (`extra.loss`) on the mined tuples. UniformHistogramMiner samples at random, so its cases
//! check PML's histograms (bins, counts, draws per bin) rather than a loss value.

mod common;

use common::*;
use dml::losses::{ContrastiveLossConfig, MetricLoss, TripletMarginLossConfig};

/// The loss a case names in `extra.loss`, with the case's configuration.
fn loss_of(case: &Case) -> Box<dyn MetricLoss> {
    match case.extra.get("loss").and_then(|v| v.as_str()) {
        Some("ContrastiveLoss") => {
            Box::new(config_from(ContrastiveLossConfig::new(), &case.config).init().unwrap())
        }
        Some("TripletMarginLoss") => {
            Box::new(config_from(TripletMarginLossConfig::new(), &case.config).init().unwrap())
        }
        other => panic!("{}: unknown loss {other:?}", case.name),
    }
}

#[test]
fn batch_easy_hard_miner_matches_pml() {
    run_loss_fixture("batch_easy_hard_miner.json", loss_of);
}

#[test]
fn hdc_miner_matches_pml() {
    run_loss_fixture("hdc_miner.json", loss_of);
}

#[test]
fn angular_miner_matches_pml() {
    run_loss_fixture("angular_miner.json", loss_of);
}

/// A case's `extra[key]` flattened to integers.
fn ints(case: &Case, key: &str) -> Vec<i64> {
    let value = case.extra.get(key).unwrap_or_else(|| panic!("{}: no {key}", case.name));
    match value {
        serde_json::Value::Number(n) => vec![n.as_i64().expect("an integer")],
        serde_json::Value::Array(items) if items.iter().all(|v| v.is_number()) => {
            serde_json::from_value(value.clone()).expect("integers")
        }
        _ => {
            let rows: Vec<Vec<i64>> = serde_json::from_value(value.clone()).expect("integer rows");
            rows.into_iter().flatten().collect()
        }
    }
}

/// Checks one kind of pair (`"pos"` or `"neg"`) mined by dml's UniformHistogramMiner against
/// PML's histogram: only pairs of that kind, `per_bin` draws from every non-empty bin and none
/// from an empty one (bins next to a pair within rounding of an edge are not checked), and
/// PML's total when no pair is near an edge.
fn check_histogram(case: &Case, kind: &str, mult: &[f64], per_bin: usize, num_bins: usize) {
    let bins = ints(case, &format!("{kind}_bins"));
    let near = ints(case, &format!("{kind}_near_edge"));
    let counts = ints(case, &format!("{kind}_counts"));
    let pml_total = ints(case, &format!("{kind}_pml_total"))[0] as f64;
    assert_eq!(bins.len(), mult.len(), "{} {kind}: size", case.name);
    let mut got = vec![0.0; num_bins];
    let mut unsure = std::collections::BTreeSet::new();
    for (i, &k) in mult.iter().enumerate() {
        assert_eq!(k, k.round(), "{} {kind}: multiplicity {k} is not a count", case.name);
        if bins[i] < 0 {
            assert_eq!(k, 0.0, "{} {kind}: pair {i} is not of this kind", case.name);
        } else if near[i] == 1 {
            unsure.extend([bins[i] - 1, bins[i], bins[i] + 1]);
        } else {
            got[bins[i] as usize] += k;
        }
    }
    for (b, &count) in counts.iter().enumerate() {
        if unsure.contains(&(b as i64)) {
            continue;
        }
        let expected = if count > 0 { per_bin as f64 } else { 0.0 };
        assert_eq!(got[b], expected, "{} {kind}: bin {b} of {num_bins}", case.name);
    }
    let total: f64 = mult.iter().sum();
    if unsure.is_empty() {
        assert_eq!(total, pml_total, "{} {kind}: pairs mined", case.name);
    } else {
        assert_eq!(total % per_bin as f64, 0.0, "{} {kind}: total {total}", case.name);
    }
}

#[test]
fn uniform_histogram_miner_matches_pml_histograms() {
    use dml::losses::{Mined, Miner, UniformHistogramMinerConfig};
    let fixture = load("uniform_histogram_miner.json");
    let mut seeds_differ = false;
    for case in &fixture.cases {
        let device = device();
        let spec = case.miner.as_ref().expect("a miner");
        let config = config_from(UniformHistogramMinerConfig::new(), &spec.config);
        let e = matrix(&case.embeddings, &device);
        let y = labels(&case.labels, &device);
        let run = |seed: u64| {
            let miner = config.clone().with_seed(seed).init().expect("valid miner");
            let mined = match case.extra.get("ref_embeddings") {
                Some(r) => {
                    let ry: Vec<i64> = serde_json::from_value(case.extra["ref_labels"].clone())
                        .expect("reference labels");
                    miner.mine_with_reference(
                        e.clone(),
                        y.clone(),
                        matrix(&rows(r), &device),
                        labels(&ry, &device),
                    )
                }
                None => miner.mine(e.clone(), y.clone()),
            };
            match mined.expect("mining succeeds") {
                Mined::Pairs { positive, negative } => (values(&positive), values(&negative)),
                Mined::Triplets(_) => panic!("{}: pairs expected", case.name),
            }
        };
        let (pos, neg) = run(0);
        assert!(run(0) == (pos.clone(), neg.clone()), "{}: same seed, other pairs", case.name);
        seeds_differ |= run(1) != (pos.clone(), neg.clone());
        check_histogram(case, "pos", &pos, config.pos_per_bin, config.num_bins);
        check_histogram(case, "neg", &neg, config.neg_per_bin, config.num_bins);
    }
    assert!(seeds_differ, "another seed never draws other pairs");
}

#[test]
fn distance_weighted_miner_matches_pml_weights() {
    use dml::losses::{DistanceWeightedMinerConfig, Mined, Miner, Triplets};
    let fixture = load("distance_weighted_miner.json");
    let mut seeds_differ = false;
    for case in &fixture.cases {
        let device = device();
        let spec = case.miner.as_ref().expect("a miner");
        let config = config_from(DistanceWeightedMinerConfig::new(), &spec.config);
        let e = matrix(&case.embeddings, &device);
        let y = labels(&case.labels, &device);
        let (r, ry, same_set) = match case.extra.get("ref_embeddings") {
            Some(r) => {
                let ry: Vec<i64> = serde_json::from_value(case.extra["ref_labels"].clone())
                    .expect("reference labels");
                (rows(r), ry, false)
            }
            None => (case.embeddings.clone(), case.labels.clone(), true),
        };
        let rt = matrix(&r, &device);
        let ryt = labels(&ry, &device);
        let miner = config.clone().init().expect("valid miner");
        let w = miner.sampling_weights(e.clone(), &y, rt.clone(), &ryt);
        let expected: Vec<f64> = rows(&case.extra["weights"]).into_iter().flatten().collect();
        assert_close(&format!("{} weights", case.name), &values(&w), &expected);
        let run = |seed: u64| {
            let miner = config.clone().with_seed(seed).init().expect("valid miner");
            let mined = if same_set {
                miner.mine(e.clone(), y.clone())
            } else {
                miner.mine_with_reference(e.clone(), y.clone(), rt.clone(), ryt.clone())
            };
            match mined.expect("mining succeeds") {
                Mined::Triplets(Triplets::Dense(t)) => values(&t),
                _ => panic!("{}: dense triplets expected", case.name),
            }
        };
        let t = run(0);
        assert!(run(0) == t, "{}: same seed, other triplets", case.name);
        seeds_differ |= run(1) != t;
        let per_anchor = ints(case, "pml_per_anchor");
        let (n, m) = (case.labels.len(), ry.len());
        for a in 0..n {
            let mut count = 0.0;
            for p in 0..m {
                for q in 0..m {
                    let k = t[(a * m + p) * m + q];
                    if k == 0.0 {
                        continue;
                    }
                    count += k;
                    let what = format!("{}: triplet ({a}, {p}, {q})", case.name);
                    assert_eq!(k, k.round(), "{what}: multiplicity {k}");
                    assert!(ry[p] == case.labels[a] && !(same_set && p == a), "{what}: positive");
                    assert!(expected[a * m + q] > 0.0, "{what}: negative of weight 0");
                }
            }
            assert_eq!(count, per_anchor[a] as f64, "{}: triplets of anchor {a}", case.name);
        }
    }
    assert!(seeds_differ, "another seed never draws other triplets");
}
