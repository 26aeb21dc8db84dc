//! The fused loss kernels (crates/dml-losses/src/fused/) against PML and against the composed
//! implementations they replace: every fixture of a fused loss is checked on both paths (the
//! large fixtures of tools/fixtures/gen_fused.py, where every kernel runs, and the standard
//! ones), and on random batches of several shapes the two paths agree in value and gradient.
//! On the CPU backend the parity suites (tests/parity_*.rs) run the fused path wherever it
//! applies; these tests also make sure it does.

mod common;

use burn::tensor::{Device, Distribution, Int, Tensor};
use common::*;
use dml::losses::fused::{available, fused_calls, without_fused};
use dml::losses::{
    AMLossConfig, BatchHardMinerConfig, ContrastiveLossConfig, Distance, LossInput, MetricLoss,
    Miner, MultiSimilarityLossConfig, NTXentLossConfig, ProxyAnchorLossConfig, Reducer,
    SupConLossConfig, TripletMarginLossConfig,
};

/// True when the test device runs the fused kernels: the CPU backend, and a wgpu, Vulkan or
/// CUDA device (CubeCL). Every device but libtorch's must have them: a build that routed them
/// nowhere fails here rather than silently testing the composed path twice.
fn kernels_on_device() -> bool {
    let available = available(&Tensor::<2>::zeros([1, 1], &device()));
    let name = std::env::var("DML_TEST_DEVICE").unwrap_or_else(|_| "cpu".into());
    let expected = !name.starts_with("tch");
    assert_eq!(available, expected, "DML_TEST_DEVICE={name}: the fused kernels' availability");
    available
}

/// Runs `check` on the fused path, asserting that a fused kernel ran where the device has it
/// (`expected`), then on the composed path.
fn on_both_paths(what: &str, expected: bool, check: impl Fn()) {
    let before = fused_calls();
    check();
    if expected {
        assert!(fused_calls() > before, "{what}: no fused kernel ran on a device that has it");
    } else {
        assert_eq!(fused_calls(), before, "{what}: a fused kernel ran on a device without it");
    }
    let before = fused_calls();
    without_fused(&check);
    assert_eq!(fused_calls(), before, "{what}: a fused kernel ran inside without_fused");
}

fn proxy_anchor_fixture(file: &str) {
    let fixture = load(file);
    for case in &fixture.cases {
        let device = device();
        let (input, emb, _) = case_input(case, &device);
        let loss_fn = config_from(ProxyAnchorLossConfig::new(1, 1), &case.config)
            .init_with(param_matrix(case, "proxies", &device))
            .expect("valid config");
        let loss = loss_fn.forward_input(&input).expect("loss computes");
        let grads = loss.backward();
        check_value_and_grad(case, &loss, emb.grad(&grads));
        check_param_grad(case, "proxies", loss_fn.proxies.val().grad(&grads));
    }
}

fn am_loss_fixture(file: &str) {
    let fixture = load(file);
    for case in &fixture.cases {
        let device = device();
        let (input, emb, _) = case_input(case, &device);
        let loss_fn = config_from(AMLossConfig::new(1, 1), &case.config)
            .init_with(
                param_matrix(case, "proxies", &device),
                param_vector(case, "margins", &device),
            )
            .expect("valid config");
        let loss = loss_fn.forward_input(&input).expect("loss computes");
        let grads = loss.backward();
        check_value_and_grad(case, &loss, emb.grad(&grads));
        check_param_grad(case, "proxies", loss_fn.proxies.val().grad(&grads));
        check_param_grad(case, "margins", loss_fn.margins.val().grad(&grads));
    }
}

#[test]
fn large_fixtures_match_pml_on_both_paths() {
    let on_device = kernels_on_device();
    on_both_paths("ContrastiveLoss", on_device, || {
        run_loss_fixture("fused_contrastive.json", |case| {
            Box::new(config_from(ContrastiveLossConfig::new(), &case.config).init().unwrap())
        })
    });
    on_both_paths("TripletMarginLoss + BatchHardMiner", on_device, || {
        run_loss_fixture("fused_triplet_batch_hard.json", |case| {
            Box::new(config_from(TripletMarginLossConfig::new(), &case.config).init().unwrap())
        })
    });
    on_both_paths("MultiSimilarityLoss", on_device, || {
        run_loss_fixture("fused_multi_similarity.json", |case| {
            Box::new(config_from(MultiSimilarityLossConfig::new(), &case.config).init().unwrap())
        })
    });
    on_both_paths("NTXentLoss", on_device, || {
        run_loss_fixture("fused_ntxent.json", |case| {
            Box::new(config_from(NTXentLossConfig::new(), &case.config).init().unwrap())
        })
    });
    on_both_paths("SupConLoss", on_device, || {
        run_loss_fixture("fused_supcon.json", |case| {
            Box::new(config_from(SupConLossConfig::new(), &case.config).init().unwrap())
        })
    });
    on_both_paths("ProxyAnchorLoss", on_device, || proxy_anchor_fixture("fused_proxy_anchor.json"));
    on_both_paths("AMLoss", on_device, || am_loss_fixture("fused_am_loss.json"));
}

#[test]
fn standard_fixtures_match_pml_on_the_composed_path() {
    // The parity suites check these fixtures on the fused path (where it applies); here the
    // composed implementations are held to the same fixtures on the CPU backend.
    without_fused(|| {
        run_loss_fixture("multi_similarity.json", |case| {
            Box::new(config_from(MultiSimilarityLossConfig::new(), &case.config).init().unwrap())
        });
        run_loss_fixture("ntxent.json", |case| {
            Box::new(config_from(NTXentLossConfig::new(), &case.config).init().unwrap())
        });
        run_loss_fixture("supcon.json", |case| {
            Box::new(config_from(SupConLossConfig::new(), &case.config).init().unwrap())
        });
        run_loss_fixture("contrastive.json", |case| {
            Box::new(config_from(ContrastiveLossConfig::new(), &case.config).init().unwrap())
        });
        run_loss_fixture("triplet_margin.json", |case| {
            Box::new(config_from(TripletMarginLossConfig::new(), &case.config).init().unwrap())
        });
        proxy_anchor_fixture("proxy_anchor.json");
        am_loss_fixture("am_loss.json");
    });
}

/// A random batch: `n` embeddings of `d` dimensions, labels `i % classes` shuffled by a
/// multiplicative step.
fn batch(n: usize, d: usize, classes: usize, seed: u64) -> (Tensor<2>, Tensor<1, Int>) {
    let device = device();
    device.seed(seed);
    let x = Tensor::<2>::random([n, d], Distribution::Normal(0.0, 1.0), &device);
    let labels: Vec<i64> = (0..n).map(|i| ((i * 7 + seed as usize) % classes) as i64).collect();
    (x, Tensor::<1, Int>::from_ints(labels.as_slice(), &device))
}

/// Value and gradients of `loss` on `input` built by `make` from fresh leaves of `x` (and of
/// `r`, a reference set, if given), on the current path.
fn value_and_grads(
    loss: &dyn MetricLoss,
    x: &Tensor<2>,
    labels: &Tensor<1, Int>,
    reference: Option<(&Tensor<2>, &Tensor<1, Int>)>,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let xl = x.clone().detach().require_grad();
    let mut input = LossInput::new(xl.clone(), labels.clone());
    let rl = reference.map(|(r, l)| {
        let rl = r.clone().detach().require_grad();
        input = input.clone().with_reference(rl.clone(), l.clone());
        rl
    });
    let value = loss.forward_input(&input).expect("loss computes");
    let grads = value.backward();
    let gx = xl.grad(&grads).map(|g| values(&g)).unwrap_or_default();
    let gr = rl.and_then(|r| r.grad(&grads)).map(|g| values(&g)).unwrap_or_default();
    (values(&value), gx, gr)
}

/// The fused and the composed path agree: value and gradients to 1e-4 relative (plus 1e-5 of
/// the largest gradient entry, the suites' tolerance).
fn agree(
    what: &str,
    loss: &dyn MetricLoss,
    x: &Tensor<2>,
    labels: &Tensor<1, Int>,
    reference: Option<(&Tensor<2>, &Tensor<1, Int>)>,
) {
    let before = fused_calls();
    let fused = value_and_grads(loss, x, labels, reference);
    assert!(fused_calls() > before, "{what}: the fused path did not run");
    let composed = without_fused(|| value_and_grads(loss, x, labels, reference));
    assert_close(&format!("{what} value"), &fused.0, &composed.0);
    assert_close(&format!("{what} embedding gradient"), &fused.1, &composed.1);
    assert_close(&format!("{what} reference gradient"), &fused.2, &composed.2);
}

#[test]
fn fused_and_composed_paths_agree_on_random_batches() {
    if !kernels_on_device() {
        return; // libtorch: the composed implementations only
    }
    let reducers = [Reducer::Mean, Reducer::Sum, Reducer::AvgNonZero];
    // (n, d, classes): small, m-per-class at a realistic width, many classes, few classes.
    for (n, d, classes, seed) in
        [(24, 8, 6, 1), (256, 128, 64, 2), (300, 64, 150, 3), (200, 48, 3, 4)]
    {
        let (x, y) = batch(n, d, classes, seed);
        let (r, ry) = batch(n / 2 + 7, d, classes, seed + 100);
        for reducer in &reducers {
            let ms = MultiSimilarityLossConfig::new().with_reducer(reducer.clone()).init().unwrap();
            let nt = NTXentLossConfig::new()
                .with_temperature(0.2)
                .with_reducer(reducer.clone())
                .init()
                .unwrap();
            let sc = SupConLossConfig::new().with_reducer(reducer.clone()).init().unwrap();
            for (name, loss) in
                [("MultiSimilarity", &ms as &dyn MetricLoss), ("NTXent", &nt), ("SupCon", &sc)]
            {
                let what = format!("{name} {reducer:?} n={n} d={d} classes={classes}");
                agree(&what, loss, &x, &y, None);
                agree(&format!("{what} with a reference set"), loss, &x, &y, Some((&r, &ry)));
            }
            if n * n * d > dml::losses::distance::EXACT_DIFFERENCE_LIMIT {
                let co = ContrastiveLossConfig::new().with_reducer(reducer.clone()).init().unwrap();
                agree(&format!("Contrastive {reducer:?} n={n} d={d}"), &co, &x, &y, None);
            }
        }
    }
}

/// ProxyAnchor's kernel and AMLoss's (per-class margins, with and without its proxy term) agree
/// with the composed path in value and in the gradients of the embeddings, the proxies and the
/// margins, on every device with the kernels (the CPU backend and CubeCL's: wgpu, CUDA).
#[test]
fn proxy_kernels_and_composed_paths_agree_on_random_batches() {
    if !kernels_on_device() {
        return; // libtorch: the composed implementations only
    }
    for (n, d, classes, seed) in
        [(24, 8, 6, 1), (256, 128, 64, 2), (300, 64, 150, 3), (200, 48, 3, 4)]
    {
        let (x, y) = batch(n, d, classes, seed);
        let device = x.device();
        for (alpha, margin) in [(32.0, 0.1), (64.0, 0.3)] {
            let pa = ProxyAnchorLossConfig::new(classes + 3, d)
                .with_alpha(alpha)
                .with_margin(margin)
                .init(&device)
                .unwrap();
            let what = format!("ProxyAnchor alpha={alpha} n={n} classes={}", classes + 3);
            let xl = x.clone().detach().require_grad();
            let before = fused_calls();
            let run = || {
                let v = pa.forward(xl.clone(), y.clone()).unwrap();
                let g = v.backward();
                (
                    values(&v),
                    values(&xl.grad(&g).unwrap()),
                    values(&pa.proxies.val().grad(&g).unwrap()),
                )
            };
            let fused = run();
            assert!(fused_calls() > before, "{what}: the fused path did not run");
            let composed = without_fused(run);
            assert_close(&format!("{what} value"), &fused.0, &composed.0);
            assert_close(&format!("{what} embedding gradient"), &fused.1, &composed.1);
            assert_close(&format!("{what} proxy gradient"), &fused.2, &composed.2);
        }
        for proxy_weight in [0.0, 1.0] {
            let am = AMLossConfig::new(classes + 3, d)
                .with_proxy_weight(proxy_weight)
                .init(&device)
                .unwrap();
            let what = format!("AMLoss proxy_weight={proxy_weight} n={n} classes={}", classes + 3);
            let xl = x.clone().detach().require_grad();
            let before = fused_calls();
            let run = || {
                let v = am.forward(xl.clone(), y.clone()).unwrap();
                let g = v.backward();
                (
                    values(&v),
                    values(&xl.grad(&g).unwrap()),
                    values(&am.proxies.val().grad(&g).unwrap()),
                    values(&am.margins.val().grad(&g).unwrap()),
                )
            };
            let fused = run();
            assert!(fused_calls() > before, "{what}: the fused path did not run");
            let composed = without_fused(run);
            assert_close(&format!("{what} value"), &fused.0, &composed.0);
            assert_close(&format!("{what} embedding gradient"), &fused.1, &composed.1);
            assert_close(&format!("{what} proxy gradient"), &fused.2, &composed.2);
            assert_close(&format!("{what} margin gradient"), &fused.3, &composed.3);
        }
    }
}

/// The reducers the kernels do not implement (ClassWeighted, PerAnchor, Multiple) and the
/// Minkowski distances other than L2 take the composed path: no kernel runs, and the value is
/// the reduction of the loss's terms.
#[test]
fn reducers_and_distances_without_a_kernel_take_the_composed_path() {
    if !kernels_on_device() {
        return;
    }
    // n * n * d above the exact-difference limit, so the Contrastive kernel would apply too.
    let (n, d, classes) = (256, 64, 8);
    let (x, y) = batch(n, d, classes, 11);
    let input = LossInput::new(x.clone(), y.clone());
    let reducers = [
        Reducer::ClassWeighted { weights: (0..classes).map(|c| 0.5 + c as f64).collect() },
        Reducer::PerAnchor { reducer: Box::new(Reducer::Mean) },
        Reducer::Multiple {
            reducers: std::collections::BTreeMap::new(),
            default_reducer: Box::new(Reducer::Sum),
        },
    ];
    for reducer in &reducers {
        let r = || reducer.clone();
        let losses: [(&str, Box<dyn MetricLoss>); 4] = [
            (
                "MultiSimilarity",
                Box::new(MultiSimilarityLossConfig::new().with_reducer(r()).init().unwrap()),
            ),
            ("NTXent", Box::new(NTXentLossConfig::new().with_reducer(r()).init().unwrap())),
            ("SupCon", Box::new(SupConLossConfig::new().with_reducer(r()).init().unwrap())),
            (
                "Contrastive",
                Box::new(ContrastiveLossConfig::new().with_reducer(r()).init().unwrap()),
            ),
        ];
        for (name, loss) in &losses {
            let before = fused_calls();
            let value = values(&loss.forward_input(&input).unwrap());
            assert_eq!(fused_calls(), before, "{name} {reducer:?}: a fused kernel ran");
            let terms = loss.terms(&input).unwrap();
            let composed = values(&loss.reducer().reduce(&terms, &input).unwrap());
            assert_close(&format!("{name} {reducer:?}"), &value, &composed);
        }
    }
    for p in [1.0, 3.0] {
        let distance = Distance::Lp { normalize_embeddings: true, power: 1.0, p };
        let contrastive = ContrastiveLossConfig::new().with_distance(distance).init().unwrap();
        let before = fused_calls();
        contrastive.forward_input(&input).unwrap();
        let miner = BatchHardMinerConfig::new().with_distance(distance).init();
        miner.mine(x.clone(), y.clone()).unwrap();
        assert_eq!(fused_calls(), before, "Lp p = {p}: a fused kernel ran");
    }
}

#[test]
fn batch_hard_miner_picks_the_same_triplets_on_both_paths() {
    if !kernels_on_device() {
        return;
    }
    for (distance, n, d) in [
        (Distance::l2(), 256, 64),
        (Distance::squared_l2(), 256, 64),
        (Distance::Cosine, 40, 16),
        (Distance::Cosine, 256, 64),
    ] {
        let (x, y) = batch(n, d, 50, 9);
        let miner = BatchHardMinerConfig::new().with_distance(distance).init();
        let before = fused_calls();
        let fused = miner.mine(x.clone(), y.clone()).unwrap();
        assert!(fused_calls() > before, "{distance:?}: the fused miner did not run");
        let composed = without_fused(|| miner.mine(x.clone(), y.clone()).unwrap());
        let picks = |m: &dml::losses::Mined| match m {
            dml::losses::Mined::Triplets(dml::losses::Triplets::PerAnchor {
                positive,
                negative,
                valid,
            }) => (
                positive.to_data().convert::<i64>().try_to_vec::<i64>().unwrap(),
                negative.to_data().convert::<i64>().try_to_vec::<i64>().unwrap(),
                values(valid),
            ),
            _ => panic!("BatchHardMiner gives one triplet per anchor"),
        };
        assert!(picks(&fused) == picks(&composed), "{distance:?}: different triplets");
    }
}

#[test]
fn nothing_to_mine_gives_zero_with_a_connected_graph_on_the_fused_path() {
    if !kernels_on_device() {
        return;
    }

    let device: Device = device();
    let x = Tensor::<2>::random([64, 16], Distribution::Normal(0.0, 1.0), &device);
    let one_class = Tensor::<1, Int>::zeros([64], &device);
    let all_distinct = Tensor::<1, Int>::arange(0..64, &device);
    for labels in [one_class, all_distinct] {
        for loss in [
            Box::new(MultiSimilarityLossConfig::new().init().unwrap()) as Box<dyn MetricLoss>,
            Box::new(NTXentLossConfig::new().init().unwrap()),
            Box::new(SupConLossConfig::new().init().unwrap()),
        ] {
            let xl = x.clone().require_grad();
            let before = fused_calls();
            let v = loss.forward(xl.clone(), labels.clone()).unwrap();
            assert!(fused_calls() > before);
            let g = xl.grad(&v.backward()).expect("the graph reaches the embeddings");
            let composed = without_fused(|| {
                let xl = x.clone().require_grad();
                let v = loss.forward(xl.clone(), labels.clone()).unwrap();
                (values(&v), values(&xl.grad(&v.backward()).unwrap()))
            });
            assert_close(&format!("{} value", loss.name()), &values(&v), &composed.0);
            assert_close(&format!("{} gradient", loss.name()), &values(&g), &composed.1);
            assert!(values(&g).iter().all(|v| v.is_finite()));
        }
    }
}
