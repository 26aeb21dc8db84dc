//! Pair-matrix losses (MultiSimilarity, Circle, NTXent, SupCon, LiftedStructure,
//! GeneralizedLiftedStructure, NPairs, Margin) against PML (fixtures from
//! tools/fixtures/gen_pairmat.py).

mod common;

use common::*;
use dml::losses::{
    CircleLossConfig, GeneralizedLiftedStructureLossConfig, LiftedStructureLossConfig, LossInput,
    MetricLoss, MultiSimilarityLossConfig, NPairsLossConfig, NTXentLossConfig, SupConLossConfig,
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
fn multi_similarity_matches_pml() {
    run_fixture("multi_similarity.json", |case| {
        Box::new(config_from(MultiSimilarityLossConfig::new(), &case.config).init().unwrap())
    });
}

#[test]
fn circle_matches_pml() {
    run_fixture("circle.json", |case| {
        Box::new(config_from(CircleLossConfig::new(), &case.config).init().unwrap())
    });
}

#[test]
fn ntxent_matches_pml() {
    run_fixture("ntxent.json", |case| {
        Box::new(config_from(NTXentLossConfig::new(), &case.config).init().unwrap())
    });
}

#[test]
fn supcon_matches_pml() {
    run_fixture("supcon.json", |case| {
        Box::new(config_from(SupConLossConfig::new(), &case.config).init().unwrap())
    });
}

#[test]
fn lifted_structure_matches_pml() {
    run_fixture("lifted_structure.json", |case| {
        Box::new(config_from(LiftedStructureLossConfig::new(), &case.config).init().unwrap())
    });
}

#[test]
fn generalized_lifted_structure_matches_pml() {
    run_fixture("generalized_lifted_structure.json", |case| {
        let config = config_from(GeneralizedLiftedStructureLossConfig::new(), &case.config);
        Box::new(config.init().unwrap())
    });
}

#[test]
fn npairs_matches_pml() {
    run_fixture("npairs.json", |case| {
        Box::new(config_from(NPairsLossConfig::new(), &case.config).init().unwrap())
    });
}
