//! Proxy losses (ProxyNCALoss, ProxyAnchorLoss from PML; AMLoss from the LDM repository)
//! against fixtures from tools/fixtures/gen_proxy.py, including the gradients of the learnable
//! proxies (and AMLoss's margins).

mod common;

use burn::tensor::{Device, Gradients};
use common::*;
use dml::losses::{AMLossConfig, LossInput, MetricLoss, ProxyAnchorLossConfig, ProxyNCALossConfig};

/// Runs every case of a proxy-loss fixture: `build` makes the loss for a case, `check_params`
/// compares the learnable parameters' gradients.
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
fn proxy_nca_matches_pml() {
    run_fixture(
        "proxy_nca.json",
        |case, device| {
            config_from(ProxyNCALossConfig::new(1, 1), &case.config)
                .init_with(param_matrix(case, "proxies", device))
                .expect("valid config")
        },
        |case, loss, grads| check_param_grad(case, "proxies", loss.proxies.val().grad(grads)),
    );
}

#[test]
fn proxy_anchor_matches_pml() {
    run_fixture(
        "proxy_anchor.json",
        |case, device| {
            config_from(ProxyAnchorLossConfig::new(1, 1), &case.config)
                .init_with(param_matrix(case, "proxies", device))
                .expect("valid config")
        },
        |case, loss, grads| check_param_grad(case, "proxies", loss.proxies.val().grad(grads)),
    );
}

#[test]
fn am_loss_matches_ldm() {
    run_fixture(
        "am_loss.json",
        |case, device| {
            config_from(AMLossConfig::new(1, 1), &case.config)
                .init_with(
                    param_matrix(case, "proxies", device),
                    param_vector(case, "margins", device),
                )
                .expect("valid config")
        },
        |case, loss, grads| {
            check_param_grad(case, "proxies", loss.proxies.val().grad(grads));
            check_param_grad(case, "margins", loss.margins.val().grad(grads));
        },
    );
}
