//! Proxy losses (ProxyNCALoss, ProxyAnchorLoss from PML; AMLoss from the LDM repository)
//! against fixtures from tools/fixtures/gen_proxy.py, including the proxies' gradients.

mod common;

use common::*;
use dml::losses::{LossInput, MetricLoss, ProxyAnchorLossConfig};

#[test]
fn proxy_anchor_matches_pml() {
    let fixture = load("proxy_anchor.json");
    for case in &fixture.cases {
        let device = device();
        let emb = matrix(&case.embeddings, &device).require_grad();
        let y = labels(&case.labels, &device);
        let config = config_from(ProxyAnchorLossConfig::new(1, 1), &case.config);
        let proxies = param_matrix(case, "proxies", &device);
        let loss_fn = config.init_with(proxies).expect("valid config");
        let mut input = LossInput::new(emb.clone(), y.clone());
        if let Some(mined) = mine(case, &emb, &y) {
            input = input.with_mined(mined);
        }
        let loss = loss_fn.forward_input(&input).expect("loss computes");
        let grads = loss.backward();
        check_value_and_grad(case, &loss, emb.grad(&grads));
        check_param_grad(case, "proxies", loss_fn.proxies.val().grad(&grads));
    }
}
