//! Pair-matrix losses (MultiSimilarity, Circle, NTXent, SupCon, LiftedStructure,
//! GeneralizedLiftedStructure, NPairs, Margin) against PML (fixtures from
//! tools/fixtures/gen_pairmat.py).

mod common;

use common::*;
use dml::losses::{
    CircleLossConfig, GeneralizedLiftedStructureLossConfig, LiftedStructureLossConfig,
    MarginLossConfig, MetricLoss, MultiSimilarityLossConfig, NPairsLossConfig, NTXentLossConfig,
    SupConLossConfig,
};

#[test]
fn multi_similarity_matches_pml() {
    run_loss_fixture("multi_similarity.json", |case| {
        Box::new(config_from(MultiSimilarityLossConfig::new(), &case.config).init().unwrap())
    });
}

#[test]
fn circle_matches_pml() {
    run_loss_fixture("circle.json", |case| {
        Box::new(config_from(CircleLossConfig::new(), &case.config).init().unwrap())
    });
}

#[test]
fn ntxent_matches_pml() {
    run_loss_fixture("ntxent.json", |case| {
        Box::new(config_from(NTXentLossConfig::new(), &case.config).init().unwrap())
    });
}

#[test]
fn supcon_matches_pml() {
    run_loss_fixture("supcon.json", |case| {
        Box::new(config_from(SupConLossConfig::new(), &case.config).init().unwrap())
    });
}

#[test]
fn lifted_structure_matches_pml() {
    run_loss_fixture("lifted_structure.json", |case| {
        Box::new(config_from(LiftedStructureLossConfig::new(), &case.config).init().unwrap())
    });
}

#[test]
fn generalized_lifted_structure_matches_pml() {
    run_loss_fixture("generalized_lifted_structure.json", |case| {
        let config = config_from(GeneralizedLiftedStructureLossConfig::new(), &case.config);
        Box::new(config.init().unwrap())
    });
}

#[test]
fn npairs_matches_pml() {
    run_loss_fixture("npairs.json", |case| {
        Box::new(config_from(NPairsLossConfig::new(), &case.config).init().unwrap())
    });
}

#[test]
fn margin_matches_pml() {
    let fixture = load("margin.json");
    for case in &fixture.cases {
        let device = device();
        let (input, emb, reference) = case_input(case, &device);
        let config = config_from(MarginLossConfig::new(), &case.config);
        let loss_fn = match case.params.get("beta") {
            Some(beta) => config.init_with(vector(beta, &device)).unwrap(),
            None => config.init(&device).unwrap(),
        };
        let loss = loss_fn.forward_input(&input).expect("loss computes");
        let grads = loss.backward();
        check_value_and_grad(case, &loss, emb.grad(&grads));
        check_ref_grad(case, reference, &grads);
        if let Some(expected) = case.grad_params.get("beta") {
            let expected = numbers(expected);
            let actual = match loss_fn.beta.val().grad(&grads) {
                Some(g) => values(&g),
                None => vec![0.0; expected.len()],
            };
            assert_close(&format!("{} beta grad", case.name), &actual, &expected);
        } else {
            assert!(
                loss_fn.beta.val().grad(&grads).is_none(),
                "{}: beta is not learnable but got a gradient",
                case.name
            );
        }
    }
}
