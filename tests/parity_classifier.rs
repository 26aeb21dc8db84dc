//! Classification-head losses (SoftmaxLoss, ArcMarginLoss, ArcFaceLoss, CosFaceLoss,
//! NormalizedSoftmaxLoss, SubCenterArcFaceLoss) against PyTorch / PML (fixtures from
//! tools/fixtures/gen_classifier.py): loss value, embedding gradient and weight gradients.

mod common;

use burn::module::Param;
use burn::tensor::{Device, Tensor};
use common::*;
use dml::losses::{
    ArcFaceLossConfig, ArcMarginLossConfig, CosFaceLossConfig, LossError, MetricLoss,
    NormalizedSoftmaxLossConfig, SoftmaxLossConfig, SubCenterArcFaceLossConfig,
};

/// Runs every case of a fixture whose loss owns a single `weight` matrix (plus optional extra
/// params, checked by `extra_grads`).
fn run_weighted<L: MetricLoss>(
    file: &str,
    build: impl Fn(&Case, &Device) -> L,
    weight: impl Fn(&L) -> &Param<Tensor<2>>,
    extra_grads: impl Fn(&Case, &L, &burn::tensor::Gradients),
) {
    let fixture = load(file);
    for case in &fixture.cases {
        let device = device();
        let emb = matrix(&case.embeddings, &device).require_grad();
        let y = labels(&case.labels, &device);
        let loss_fn = build(case, &device);
        let loss = loss_fn.forward(emb.clone(), y).expect("loss computes");
        let grads = loss.backward();
        check_value_and_grad(case, &loss, emb.grad(&grads));
        check_param_grad(case, "weight", weight(&loss_fn).val().grad(&grads));
        extra_grads(case, &loss_fn, &grads);
    }
}

#[test]
fn softmax_matches_torch() {
    run_weighted(
        "softmax.json",
        |case, device| {
            let config = config_from(SoftmaxLossConfig::new(0, 0), &case.config);
            let bias = config.bias.then(|| param_vector(case, "bias", device));
            config.init_with(param_matrix(case, "weight", device), bias).unwrap()
        },
        |l| &l.weight,
        |case, l, grads| {
            if let Some(b) = &l.bias {
                check_param_grad(case, "bias", b.val().grad(grads));
            }
        },
    );
}

#[test]
fn arc_margin_matches_paddle_transcription() {
    run_weighted(
        "arc_margin.json",
        |case, device| {
            let config = config_from(ArcMarginLossConfig::new(0, 0), &case.config);
            config.init_with(param_matrix(case, "weight", device)).unwrap()
        },
        |l| &l.weight,
        |_, _, _| {},
    );
}

#[test]
fn arc_face_matches_pml() {
    run_weighted(
        "arc_face.json",
        |case, device| {
            let config = config_from(ArcFaceLossConfig::new(0, 0), &case.config);
            config.init_with(param_matrix(case, "weight", device)).unwrap()
        },
        |l| &l.weight,
        |_, _, _| {},
    );
}

#[test]
fn cos_face_matches_pml() {
    run_weighted(
        "cos_face.json",
        |case, device| {
            let config = config_from(CosFaceLossConfig::new(0, 0), &case.config);
            config.init_with(param_matrix(case, "weight", device)).unwrap()
        },
        |l| &l.weight,
        |_, _, _| {},
    );
}

#[test]
fn normalized_softmax_matches_pml() {
    run_weighted(
        "normalized_softmax.json",
        |case, device| {
            let config = config_from(NormalizedSoftmaxLossConfig::new(0, 0), &case.config);
            config.init_with(param_matrix(case, "weight", device)).unwrap()
        },
        |l| &l.weight,
        |_, _, _| {},
    );
}

#[test]
fn sub_center_arc_face_matches_pml() {
    run_weighted(
        "sub_center_arc_face.json",
        |case, device| {
            let config = config_from(SubCenterArcFaceLossConfig::new(0, 0), &case.config);
            config.init_with(param_matrix(case, "weight", device)).unwrap()
        },
        |l| &l.weight,
        |_, _, _| {},
    );
}

#[test]
fn classifier_losses_reject_labels_out_of_range() {
    let device = device();
    let x = Tensor::<2>::ones([3, 4], &device);
    let y = labels(&[0, 1, 5], &device);
    let is_range = |r: Result<Tensor<1>, LossError>| {
        matches!(r, Err(LossError::LabelOutOfRange { label: 5, num_classes: 5, .. }))
    };
    assert!(is_range(
        SoftmaxLossConfig::new(5, 4).init(&device).unwrap().forward(x.clone(), y.clone())
    ));
    assert!(is_range(
        ArcMarginLossConfig::new(5, 4).init(&device).unwrap().forward(x.clone(), y.clone())
    ));
    assert!(is_range(
        ArcFaceLossConfig::new(5, 4).init(&device).unwrap().forward(x.clone(), y.clone())
    ));
    assert!(is_range(
        CosFaceLossConfig::new(5, 4).init(&device).unwrap().forward(x.clone(), y.clone())
    ));
    assert!(is_range(
        NormalizedSoftmaxLossConfig::new(5, 4).init(&device).unwrap().forward(x.clone(), y.clone())
    ));
    assert!(is_range(SubCenterArcFaceLossConfig::new(5, 4).init(&device).unwrap().forward(x, y)));
}

#[test]
fn classifier_losses_train_from_random_init() {
    // A random head on random data gives a finite loss and finite gradients everywhere.
    let device = device();
    let x = Tensor::<2>::random([6, 8], burn::tensor::Distribution::Normal(0.0, 1.0), &device)
        .require_grad();
    let y = labels(&[0, 1, 2, 0, 1, 2], &device);
    let loss = ArcFaceLossConfig::new(3, 8).init(&device).unwrap();
    let value = loss.forward(x.clone(), y).unwrap();
    let grads = value.backward();
    assert!(values(&value)[0].is_finite());
    assert!(values(&x.grad(&grads).unwrap()).iter().all(|v| v.is_finite()));
    assert!(values(&loss.weight.val().grad(&grads).unwrap()).iter().all(|v| v.is_finite()));
}
