//! PML 2.9's composite losses against PML (fixtures from tools/fixtures/gen_compose.py):
//! SelfSupervisedLoss (value and the gradients of both views) and MultipleLosses (value,
//! embedding gradient and the gradients of every sub-loss's learnable tensors).

mod common;

use burn::tensor::{Device, Gradients, Tensor};
use common::*;
use dml::losses::{
    LossConfig, LossInput, MetricLoss, MinerConfig, MultipleLossesConfig, SelfSupervisedLossConfig,
    SubLossConfig,
};
use serde_json::Value;

/// `{"Name": {settings}}` laid over the named variant's catalogue defaults (the fixtures give
/// only the settings that differ).
fn variant_from<C: serde::Serialize + serde::de::DeserializeOwned>(
    value: &Value,
    default_for: impl Fn(&str) -> Option<C>,
) -> C {
    let (name, settings) = value.as_object().and_then(|m| m.iter().next()).expect("{name: ..}");
    let defaults = default_for(name).unwrap_or_else(|| panic!("unknown variant {name}"));
    let mut full = serde_json::to_value(defaults).expect("serializes");
    if let (Some(Value::Object(inner)), Value::Object(over)) = (full.get_mut(name), settings) {
        for (k, v) in over {
            assert!(inner.contains_key(k), "{name}: unknown setting {k}");
            inner.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(full).expect("deserializes")
}

fn loss_config(value: &Value) -> LossConfig {
    variant_from(value, LossConfig::default_for)
}

fn miner_config(value: &Value) -> MinerConfig {
    variant_from(value, MinerConfig::default_for)
}

#[test]
fn self_supervised_matches_pml() {
    let fixture = load("self_supervised.json");
    for case in &fixture.cases {
        let device = device();
        let config = SelfSupervisedLossConfig::new(Box::new(loss_config(&case.config["loss"])))
            .with_symmetric(case.config["symmetric"].as_bool().expect("symmetric"));
        let loss_fn = config.init(&device).expect("valid config");
        let x = matrix(&case.embeddings, &device).require_grad();
        let y = matrix(&rows(&case.extra["ref_embeddings"]), &device).require_grad();
        // The batch's own labels go in and are ignored: the views are labelled by sample.
        let l = labels(&case.labels, &device);
        let input = LossInput::new(x.clone(), l.clone()).with_reference(y.clone(), l);
        let loss = loss_fn.forward_input(&input).expect("loss computes");
        let grads = loss.backward();
        check_value_and_grad(case, &loss, x.grad(&grads));
        let expected: Vec<f64> = rows(&case.extra["grad_ref"]).into_iter().flatten().collect();
        let actual = y.grad(&grads).map_or(vec![0.0; expected.len()], |g| values(&g));
        assert_close(&format!("{} ref grad", case.name), &actual, &expected);
    }
}

/// Entry `i` of a case's MultipleLosses, built with the case's learnable tensors (`"<i>.<name>"`
/// in `params`).
fn sub_loss(case: &Case, i: usize, entry: &SubLossConfig, device: &Device) -> dml::losses::Loss {
    let key = |name: &str| format!("{i}.{name}");
    let m = |name: &str| param_matrix(case, &key(name), device);
    let v = |name: &str| param_vector(case, &key(name), device);
    use dml::losses::Loss;
    let built = match &entry.loss {
        LossConfig::SoftmaxLoss(c) => {
            c.init_with(m("weight"), Some(v("bias"))).map(Loss::SoftmaxLoss)
        }
        LossConfig::ArcFaceLoss(c) => c.init_with(m("weight")).map(Loss::ArcFaceLoss),
        LossConfig::NormalizedSoftmaxLoss(c) => {
            c.init_with(m("weight")).map(Loss::NormalizedSoftmaxLoss)
        }
        LossConfig::ProxyAnchorLoss(c) => c.init_with(m("proxies")).map(Loss::ProxyAnchorLoss),
        LossConfig::MarginLoss(c) => c.init_with(v("beta")).map(Loss::MarginLoss),
        other => other.init(device),
    };
    built.expect("valid sub-loss")
}

/// Compares the gradient of every learnable tensor of entry `i` with the case.
fn check_sub_loss_grads(case: &Case, i: usize, loss: &dml::losses::Loss, grads: &Gradients) {
    use dml::losses::Loss;
    let key = |name: &str| format!("{i}.{name}");
    let matrix_grad = |name: &str, t: Tensor<2>| check_param_grad(case, &key(name), t.grad(grads));
    match loss {
        Loss::SoftmaxLoss(l) => {
            matrix_grad("weight", l.weight.val());
            let bias = l.bias.as_ref().expect("a bias");
            check_param_grad(case, &key("bias"), bias.val().grad(grads));
        }
        Loss::ArcFaceLoss(l) => matrix_grad("weight", l.weight.val()),
        Loss::NormalizedSoftmaxLoss(l) => matrix_grad("weight", l.weight.val()),
        Loss::ProxyAnchorLoss(l) => matrix_grad("proxies", l.proxies.val()),
        Loss::MarginLoss(l) => check_param_grad(case, &key("beta"), l.beta.val().grad(grads)),
        _ => {}
    }
}

#[test]
fn multiple_losses_match_pml() {
    let fixture = load("multiple_losses.json");
    let mut with_params = 0;
    for case in &fixture.cases {
        let device = device();
        let entries: Vec<SubLossConfig> = case.config["losses"]
            .as_array()
            .expect("a list of losses")
            .iter()
            .map(|e| {
                let mut entry = SubLossConfig::new(loss_config(&e["loss"]));
                if let Some(miner) = e.get("miner") {
                    entry = entry.with_miner(Some(miner_config(miner)));
                }
                if let Some(w) = e.get("weight") {
                    entry = entry.with_weight(w.as_f64().expect("a weight"));
                }
                if let Some(name) = e.get("name") {
                    entry = entry.with_name(Some(name.as_str().expect("a name").into()));
                }
                entry
            })
            .collect();
        let config = MultipleLossesConfig::new(entries);
        let losses =
            config.losses.iter().enumerate().map(|(i, e)| sub_loss(case, i, e, &device)).collect();
        let loss_fn = config.init_with(losses).expect("valid config");
        let emb = matrix(&case.embeddings, &device).require_grad();
        let y = labels(&case.labels, &device);
        let mut input = LossInput::new(emb.clone(), y.clone());
        if let Some(mined) = mine(case, &emb, &y) {
            input = input.with_mined(mined);
        }
        let loss = loss_fn.forward_input(&input).expect("loss computes");
        let grads = loss.backward();
        check_value_and_grad(case, &loss, emb.grad(&grads));
        for (i, l) in loss_fn.losses.iter().enumerate() {
            check_sub_loss_grads(case, i, l, &grads);
        }
        with_params += usize::from(!case.grad_params.is_empty());
        // Every learnable tensor of the fixture was compared (none silently skipped).
        let checked: usize = loss_fn.losses.iter().map(learnable_count).sum();
        assert_eq!(checked, case.grad_params.len(), "{}: learnable tensors", case.name);
    }
    assert!(with_params > 0, "no case with learnable state");
}

/// How many learnable tensors of `loss` [`check_sub_loss_grads`] compares.
fn learnable_count(loss: &dml::losses::Loss) -> usize {
    use dml::losses::Loss;
    match loss {
        Loss::SoftmaxLoss(_) => 2,
        Loss::ArcFaceLoss(_)
        | Loss::NormalizedSoftmaxLoss(_)
        | Loss::ProxyAnchorLoss(_)
        | Loss::MarginLoss(_) => 1,
        _ => 0,
    }
}

#[test]
fn the_fixture_configs_build_through_loss_config() {
    // The same JSON a training configuration holds builds the losses (random class weights).
    let fixture = load("multiple_losses.json");
    let case = fixture.cases.iter().find(|c| c.name.ends_with("_joint")).expect("a joint case");
    let full = serde_json::json!({"MultipleLosses": {"losses": case.config["losses"].as_array()
        .expect("losses").iter().map(|e| serde_json::json!({
            "loss": serde_json::to_value(loss_config(&e["loss"])).expect("loss"),
            "miner": e.get("miner").map(|m| serde_json::to_value(miner_config(m)).expect("miner")),
            "weight": e.get("weight").cloned().unwrap_or(1.0.into()),
            "name": e.get("name").cloned(),
        })).collect::<Vec<_>>()}});
    let config: LossConfig = serde_json::from_value(full).expect("a LossConfig");
    let loss = config.init(&Device::flex()).expect("builds");
    assert_eq!(loss.name(), "MultipleLosses");
}
