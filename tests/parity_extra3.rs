//! A third group of PML 2.9 losses (ThresholdConsistentMargin, DynamicSoftMargin, Manifold,
//! VICReg, SmoothAP)
//! against PML (fixtures from tools/fixtures/gen_extra3.py): value, embedding gradient and, for
//! the losses with learnable state or a reference set, the gradients of those tensors.

mod common;

use std::collections::HashMap;

use burn::tensor::{Device, Gradients, Tensor};
use common::*;
use dml::losses::{
    DynamicSoftMarginLoss, DynamicSoftMarginLossConfig, LossInput, ManifoldLossConfig, MetricLoss,
    SmoothAPLossConfig, ThresholdConsistentMarginLossConfig, VICRegLossConfig,
};
use serde_json::Value;

/// The input of a case: its batch, mined by its miner if it names one, compared with its
/// reference set when it has one (`extra.ref_embeddings`, `extra.ref_labels`). Returns the
/// input, the embeddings and the reference embeddings (both tracked).
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
        let ry: Vec<i64> = match case.extra.get("ref_labels") {
            Some(v) => numbers(v).iter().map(|&v| v as i64).collect(),
            None => vec![0; r.dims()[0]],
        };
        input = input.with_reference(r.clone(), labels(&ry, device));
        reference = Some(r);
    }
    (input, emb, reference)
}

/// Compares the value, the embedding gradient and (when the case has a reference set) the
/// reference gradient of `loss` on `case`; returns the gradients for further checks.
fn check_case(case: &Case, loss_fn: &impl MetricLoss, device: &Device) -> Gradients {
    let (input, emb, reference) = input_of(case, device);
    let loss = loss_fn.forward_input(&input).expect("loss computes");
    let grads = loss.backward();
    check_value_and_grad(case, &loss, emb.grad(&grads));
    if let Some(r) = reference {
        let expected: Vec<f64> = rows(&case.extra["grad_ref"]).into_iter().flatten().collect();
        let actual = r.grad(&grads).map_or_else(|| vec![0.0; expected.len()], |g| values(&g));
        assert_close(&format!("{} ref grad", case.name), &actual, &expected);
    }
    grads
}

#[test]
fn threshold_consistent_margin_matches_pml() {
    run_loss_fixture("threshold_consistent_margin.json", |case| {
        let defaults = ThresholdConsistentMarginLossConfig::new();
        Box::new(config_from(defaults, &case.config).init().unwrap())
    });
}

/// Every case checks the value, the gradients and the histogram after the call. A case of a
/// sequence (`extra.sequence`) continues with the loss of the sequence's previous case, so the
/// running histogram is checked against PML's over several calls.
#[test]
fn dynamic_soft_margin_matches_pml() {
    let fixture = load("dynamic_soft_margin.json");
    let device = device();
    let mut sequences: HashMap<String, DynamicSoftMarginLoss> = HashMap::new();
    let mut sequence_cases = 0;
    for case in &fixture.cases {
        let build = || {
            config_from(DynamicSoftMarginLossConfig::new(), &case.config)
                .init(&device)
                .expect("valid config")
        };
        let fresh;
        let loss = match case.extra.get("sequence") {
            Some(Value::String(name)) => {
                sequence_cases += 1;
                &*sequences.entry(name.clone()).or_insert_with(build)
            }
            _ => {
                fresh = build();
                &fresh
            }
        };
        check_case(case, loss, &device);
        assert_close(
            &format!("{} histogram", case.name),
            &values(&loss.histogram()),
            &numbers(&case.extra["histogram"]),
        );
    }
    assert!(sequences.len() >= 3 && sequence_cases >= 30, "the fixture's sequences are checked");
}

#[test]
fn manifold_matches_pml() {
    let fixture = load("manifold.json");
    let device = device();
    for case in &fixture.cases {
        let loss = config_from(ManifoldLossConfig::new(1), &case.config)
            .init_with(param_matrix(case, "proxies", &device))
            .expect("valid config");
        let grads = check_case(case, &loss, &device);
        check_param_grad(case, "proxies", loss.proxies.val().grad(&grads));
    }
}

/// The cases with `extra.ref_embeddings` give the second view explicitly (PML's `ref_emb`, its
/// gradient checked too); the `_labels` cases give none, so the loss pairs the rows by label,
/// as the fixture gave PML.
#[test]
fn vicreg_matches_pml() {
    let fixture = load("vicreg.json");
    let device = device();
    let mut by_labels = 0;
    for case in &fixture.cases {
        let loss = config_from(VICRegLossConfig::new(), &case.config).init().unwrap();
        by_labels += usize::from(!case.extra.contains_key("ref_embeddings"));
        check_case(case, &loss, &device);
    }
    assert!(by_labels >= 20, "the label-paired views are checked");
}

/// `extra.reference` says where a case's numbers come from: PML itself (square batches sorted by
/// class, where PML's blocks are the classes) or the generator's float64 transcription of the
/// label-based formula (checked there against PML on every square case).
#[test]
fn smooth_ap_matches_pml() {
    let fixture = load("smooth_ap.json");
    let device = device();
    let mut from_pml = 0;
    for case in &fixture.cases {
        let loss = config_from(SmoothAPLossConfig::new(), &case.config).init().unwrap();
        from_pml += usize::from(case.extra.get("reference") == Some(&Value::from("pml")));
        check_case(case, &loss, &device);
    }
    assert!(from_pml >= 30, "the cases computed by PML are checked");
}
