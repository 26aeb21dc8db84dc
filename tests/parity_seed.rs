//! Seed-system losses (QuadrupletLoss, EmlLoss), the remaining miners and CrossBatchMemory
//! against their references (fixtures from tools/fixtures/gen_seed.py).

mod common;

use common::*;
use dml::losses::{
    ContrastiveLossConfig, EmlLossConfig, LossInput, MetricLoss, QuadrupletLossConfig,
    TripletMarginLossConfig,
};

fn run_fixture(file: &str, build: impl Fn(&Case) -> Box<dyn MetricLoss>) {
    let fixture = load(file);
    for case in &fixture.cases {
        let device = device();
        let emb = matrix(&case.embeddings, &device).require_grad();
        let y = labels(&case.labels, &device);
        let mut input = LossInput::new(emb.clone(), y.clone());
        if let Some(mined) = mine(case, &emb, &y) {
            input = input.with_mined(mined);
        }
        let loss = build(case).forward_input(&input).expect("loss computes");
        let grads = loss.backward();
        check_value_and_grad(case, &loss, emb.grad(&grads));
    }
}

#[test]
fn quadruplet_matches_pml() {
    run_fixture("quadruplet.json", |case| {
        Box::new(config_from(QuadrupletLossConfig::new(), &case.config).init().unwrap())
    });
}

#[test]
fn eml_matches_pml() {
    run_fixture("eml.json", |case| {
        Box::new(config_from(EmlLossConfig::new(), &case.config).init().unwrap())
    });
}

/// The crate's ContrastiveLoss or TripletMarginLoss, as the case's `extra.loss` names it.
fn pair_or_triplet_loss(case: &Case) -> Box<dyn MetricLoss> {
    match case.extra.get("loss").and_then(|v| v.as_str()) {
        Some("Contrastive") => {
            Box::new(config_from(ContrastiveLossConfig::new(), &case.config).init().unwrap())
        }
        Some("TripletMargin") => {
            Box::new(config_from(TripletMarginLossConfig::new(), &case.config).init().unwrap())
        }
        other => panic!("{}: unknown loss {other:?}", case.name),
    }
}

#[test]
fn multi_similarity_miner_matches_pml() {
    run_fixture("multi_similarity_miner.json", pair_or_triplet_loss);
}

#[test]
fn pair_margin_miner_matches_pml() {
    run_fixture("pair_margin_miner.json", pair_or_triplet_loss);
}

#[test]
fn hardest_negative_miner_matches_pml() {
    run_fixture("hardest_negative_miner.json", pair_or_triplet_loss);
}

#[test]
fn semihard_negative_miner_matches_pml() {
    run_fixture("semihard_negative_miner.json", pair_or_triplet_loss);
}
