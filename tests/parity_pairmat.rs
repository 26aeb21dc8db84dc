//! Pair-matrix losses (MultiSimilarity, Circle, NTXent, SupCon, LiftedStructure,
//! GeneralizedLiftedStructure, NPairs, Margin) against PML (fixtures from
//! tools/fixtures/gen_pairmat.py).

mod common;

use burn::tensor::{Device, Gradients, Tensor};
use common::*;
use dml::losses::{
    CircleLossConfig, GeneralizedLiftedStructureLossConfig, LiftedStructureLossConfig, LossInput,
    MarginLossConfig, MetricLoss, MultiSimilarityLossConfig, NPairsLossConfig, NTXentLossConfig,
    SupConLossConfig,
};

/// The input of a case: its batch, the miner it names, and the reference set stored in
/// `extra` (`ref_embeddings`, `ref_labels`) when there is one. Returns the input, the
/// embeddings and the reference embeddings (both tracking gradients).
fn input_of(case: &Case, device: &Device) -> (LossInput, Tensor<2>, Option<Tensor<2>>) {
    let emb = matrix(&case.embeddings, device).require_grad();
    let y = labels(&case.labels, device);
    let mut input = LossInput::new(emb.clone(), y.clone());
    if let Some(mined) = mine(case, &emb, &y) {
        input = input.with_mined(mined);
    }
    let mut reference = None;
    if let Some(r) = case.extra.get("ref_embeddings") {
        let r = matrix(&rows(r), device).require_grad();
        let ry: Vec<i64> = numbers(&case.extra["ref_labels"]).iter().map(|&v| v as i64).collect();
        input = input.with_reference(r.clone(), labels(&ry, device));
        reference = Some(r);
    }
    (input, emb, reference)
}

/// Compares the gradient of the reference embeddings when the case has one.
fn check_ref_grad(case: &Case, reference: Option<Tensor<2>>, grads: &Gradients) {
    if let (Some(r), Some(expected)) = (reference, case.extra.get("grad_ref")) {
        let expected: Vec<f64> = rows(expected).into_iter().flatten().collect();
        let actual = r.grad(grads).map_or_else(|| vec![0.0; expected.len()], |g| values(&g));
        assert_close(&format!("{} ref grad", case.name), &actual, &expected);
    }
}

fn run_fixture(file: &str, build: impl Fn(&Case) -> Box<dyn MetricLoss>) {
    let fixture = load(file);
    for case in &fixture.cases {
        let device = device();
        let (input, emb, reference) = input_of(case, &device);
        let loss = build(case).forward_input(&input).expect("loss computes");
        let grads = loss.backward();
        check_value_and_grad(case, &loss, emb.grad(&grads));
        check_ref_grad(case, reference, &grads);
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

#[test]
fn margin_matches_pml() {
    let fixture = load("margin.json");
    for case in &fixture.cases {
        let device = device();
        let (input, emb, reference) = input_of(case, &device);
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
