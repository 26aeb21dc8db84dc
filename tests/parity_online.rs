//! The pytorch-online-metric-learning seed's losses (OnlineContrastiveLoss, OnlineTripletLoss,
//! OnlineLiftedStructureLoss, StaticProxyNCALoss) against a literal float64 PyTorch
//! transcription of its `losses.py` (fixtures from tools/fixtures/gen_online.py).
//!
//! Every case is checked (value and embedding gradient, finite, at the project's tolerance).
//! The generator leaves out the two (case, loss) pairs where the seed itself gives NaN
//! (`all` mining with no valid triplet; the lifted loss's gradient with one class only); the
//! unit tests of those losses check that ours give 0 there.

mod common;

use common::*;
use dml::losses::{
    MetricLoss, OnlineContrastiveLossConfig, OnlineLiftedStructureLossConfig,
    OnlineTripletLossConfig, StaticProxyNCALossConfig,
};

const FILE: &str = "online.json";

/// The cases of the fixture for one loss (by the case's `extra.loss`).
fn cases_of(loss: &str) -> Vec<Case> {
    load(FILE)
        .cases
        .into_iter()
        .filter(|c| c.extra.get("loss").and_then(|v| v.as_str()) == Some(loss))
        .collect()
}

/// Checks every case of `loss` in the fixture with the loss `build` makes for it.
fn check(loss: &str, build: impl Fn(&Case) -> Box<dyn MetricLoss>) {
    let cases = cases_of(loss);
    assert!(!cases.is_empty(), "no {loss} case in {FILE}");
    for case in &cases {
        let device = device();
        let emb = matrix(&case.embeddings, &device).require_grad();
        let y = labels(&case.labels, &device);
        let value = build(case).forward(emb.clone(), y).expect("loss computes");
        let grads = value.backward();
        check_value_and_grad(case, &value, emb.grad(&grads));
    }
}

#[test]
fn fixture_covers_every_loss() {
    let fixture = load(FILE);
    for loss in [
        "OnlineContrastiveLoss",
        "OnlineTripletLoss",
        "OnlineLiftedStructureLoss",
        "StaticProxyNCALoss",
    ] {
        let n = fixture.cases.iter().filter(|c| c.extra["loss"].as_str() == Some(loss)).count();
        assert!(n >= 16, "{loss}: only {n} cases");
    }
}

#[test]
fn online_contrastive_matches_the_seed() {
    check("OnlineContrastiveLoss", |case| {
        Box::new(config_from(OnlineContrastiveLossConfig::new(), &case.config).init().unwrap())
    });
}

#[test]
fn online_triplet_matches_the_seed() {
    check("OnlineTripletLoss", |case| {
        Box::new(config_from(OnlineTripletLossConfig::new(), &case.config).init().unwrap())
    });
}

#[test]
fn online_lifted_structure_matches_the_seed() {
    check("OnlineLiftedStructureLoss", |case| {
        Box::new(config_from(OnlineLiftedStructureLossConfig::new(), &case.config).init().unwrap())
    });
}

#[test]
fn static_proxy_nca_matches_the_seed() {
    check("StaticProxyNCALoss", |case| {
        let proxies = param_matrix(case, "proxies", &device());
        Box::new(
            config_from(StaticProxyNCALossConfig::new(0, 0), &case.config)
                .init_with(proxies)
                .unwrap(),
        )
    });
}
