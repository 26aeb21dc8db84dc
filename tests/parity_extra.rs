//! Further PML 2.9 losses (NCA, TupletMargin, IntraPairVariance, Angular,
//! SignalToNoiseRatioContrastive, Instance) against PML (fixtures from
//! tools/fixtures/gen_extra.py): value, embedding gradient and, for the reference-set cases, the
//! gradient of the reference embeddings.

mod common;

use burn::tensor::Tensor;
use common::*;
use dml::losses::{
    AngularLossConfig, InstanceLossConfig, IntraPairVarianceLossConfig, LossInput, MetricLoss,
    NCALossConfig, SignalToNoiseRatioContrastiveLossConfig, TupletMarginLossConfig,
};

/// Checks every case of `file`: the case's batch (mined by its miner, if it names one), compared
/// with its reference set when it has one (`extra.ref_embeddings`, `extra.ref_labels`).
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
        let mut reference: Option<Tensor<2>> = None;
        if let Some(r) = case.extra.get("ref_embeddings") {
            let r = matrix(&rows(r), &device).require_grad();
            let ry: Vec<i64> =
                numbers(&case.extra["ref_labels"]).iter().map(|&v| v as i64).collect();
            input = input.with_reference(r.clone(), labels(&ry, &device));
            reference = Some(r);
        }
        let loss = build(case).forward_input(&input).expect("loss computes");
        let grads = loss.backward();
        check_value_and_grad(case, &loss, emb.grad(&grads));
        if let (Some(r), Some(expected)) = (reference, case.extra.get("grad_ref")) {
            let expected: Vec<f64> = rows(expected).into_iter().flatten().collect();
            let actual = r.grad(&grads).map_or_else(|| vec![0.0; expected.len()], |g| values(&g));
            assert_close(&format!("{} ref grad", case.name), &actual, &expected);
        }
    }
}

#[test]
fn nca_matches_pml() {
    run_fixture("nca.json", |case| {
        Box::new(config_from(NCALossConfig::new(), &case.config).init().unwrap())
    });
}

#[test]
fn tuplet_margin_matches_pml() {
    run_fixture("tuplet_margin.json", |case| {
        Box::new(config_from(TupletMarginLossConfig::new(), &case.config).init().unwrap())
    });
}

#[test]
fn intra_pair_variance_matches_pml() {
    run_fixture("intra_pair_variance.json", |case| {
        Box::new(config_from(IntraPairVarianceLossConfig::new(), &case.config).init().unwrap())
    });
}

#[test]
fn angular_matches_pml() {
    run_fixture("angular.json", |case| {
        Box::new(config_from(AngularLossConfig::new(), &case.config).init().unwrap())
    });
}

#[test]
fn signal_to_noise_ratio_contrastive_matches_pml() {
    run_fixture("signal_to_noise_ratio_contrastive.json", |case| {
        let defaults = SignalToNoiseRatioContrastiveLossConfig::new();
        Box::new(config_from(defaults, &case.config).init().unwrap())
    });
}

#[test]
fn instance_matches_pml() {
    run_fixture("instance.json", |case| {
        Box::new(config_from(InstanceLossConfig::new(), &case.config).init().unwrap())
    });
}
