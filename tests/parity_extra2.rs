//! A second group of PML 2.9 losses (SoftTriple, FastAP, P2SGrad, Histogram, PNP, RankedList,
//! LargeMarginSoftmax, SphereFace)
//! against PML (fixtures from tools/fixtures/gen_extra2.py): value, embedding gradient and, for
//! the losses with learnable state, the gradients of the parameters.

mod common;

use burn::tensor::{Device, Gradients};
use common::*;
use dml::losses::{
    FastAPLossConfig, HistogramLossConfig, LargeMarginSoftmaxLossConfig, LossInput, MetricLoss,
    P2SGradLossConfig, PNPLossConfig, RankedListLossConfig, SoftTripleLossConfig,
    SphereFaceLossConfig,
};

/// Checks every case of `file`: `build` makes the loss for a case (from its parameters, if it
/// has any), the case's batch is mined by its miner if it names one, and `check_params`
/// compares the parameter gradients.
fn run_fixture<L: MetricLoss>(
    file: &str,
    build: impl Fn(&Case, &Device) -> L,
    check_params: impl Fn(&Case, &L, &Gradients),
) {
    let fixture = load(file);
    for case in &fixture.cases {
        let device = device();
        let emb = matrix(&case.embeddings, &device).require_grad();
        let y = labels(&case.labels, &device);
        let loss_fn = build(case, &device);
        let mut input = LossInput::new(emb.clone(), y.clone());
        if let Some(mined) = mine(case, &emb, &y) {
            input = input.with_mined(mined);
        }
        let loss = loss_fn.forward_input(&input).expect("loss computes");
        let grads = loss.backward();
        check_value_and_grad(case, &loss, emb.grad(&grads));
        check_params(case, &loss_fn, &grads);
    }
}

#[test]
fn soft_triple_matches_pml() {
    run_fixture(
        "soft_triple.json",
        |case, device| {
            config_from(SoftTripleLossConfig::new(1, 1), &case.config)
                .init_with(param_matrix(case, "fc", device))
                .expect("valid config")
        },
        |case, loss, grads| check_param_grad(case, "fc", loss.centers.val().grad(grads)),
    );
}

#[test]
fn fast_ap_matches_pml() {
    run_loss_fixture("fast_ap.json", |case| {
        Box::new(config_from(FastAPLossConfig::new(), &case.config).init().unwrap())
    });
}

#[test]
fn p2s_grad_matches_pml() {
    run_fixture(
        "p2s_grad.json",
        |case, device| {
            config_from(P2SGradLossConfig::new(1, 1), &case.config)
                .init_with(param_matrix(case, "weight", device))
                .expect("valid config")
        },
        |case, loss, grads| check_param_grad(case, "weight", loss.weight.val().grad(grads)),
    );
}

#[test]
fn histogram_matches_pml() {
    run_loss_fixture("histogram.json", |case| {
        Box::new(config_from(HistogramLossConfig::new(), &case.config).init().unwrap())
    });
}

#[test]
fn pnp_matches_pml() {
    run_loss_fixture("pnp.json", |case| {
        Box::new(config_from(PNPLossConfig::new(), &case.config).init().unwrap())
    });
}

#[test]
fn ranked_list_matches_pml() {
    run_loss_fixture("ranked_list.json", |case| {
        let defaults = RankedListLossConfig::new(0.4, 10.0);
        Box::new(config_from(defaults, &case.config).init().unwrap())
    });
}

#[test]
fn large_margin_softmax_matches_pml() {
    run_fixture(
        "large_margin_softmax.json",
        |case, device| {
            config_from(LargeMarginSoftmaxLossConfig::new(1, 1), &case.config)
                .init_with(param_matrix(case, "W", device))
                .expect("valid config")
        },
        |case, loss, grads| check_param_grad(case, "W", loss.weight.val().grad(grads)),
    );
}

#[test]
fn sphere_face_matches_pml() {
    run_fixture(
        "sphere_face.json",
        |case, device| {
            config_from(SphereFaceLossConfig::new(1, 1), &case.config)
                .init_with(param_matrix(case, "W", device))
                .expect("valid config")
        },
        |case, loss, grads| check_param_grad(case, "W", loss.weight.val().grad(grads)),
    );
}
