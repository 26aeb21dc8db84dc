//! PML 2.9's ClassWeightedReducer, PerAnchorReducer and MultipleReducers, its regularizers
//! (as embedding and as weight regularizers), LpDistance for p != 2, and BatchedDistance,
//! against PML (fixtures from tools/fixtures/gen_reducers.py): the value, the embedding
//! gradient and the gradients of every learnable tensor; the BatchedDistance blocks, the kNN
//! and the batch-hard triplets found block by block.

mod common;

use burn::tensor::{Device, Int, Tensor};
use common::*;
use dml::losses::{
    ArcFaceLossConfig, BatchHardMinerConfig, BatchedDistance, ContrastiveLossConfig,
    CosFaceLossConfig, Distance, LargeMarginSoftmaxLossConfig, Loss, LossConfig, LossError,
    LossInput, MetricLoss, Mined, Miner, MultiSimilarityLossConfig, NPairsLossConfig,
    NTXentLossConfig, NormalizedSoftmaxLossConfig, ProxyAnchorLossConfig, ProxyNCALossConfig,
    Reducer, RegularizationConfig, Regularized, SoftTripleLossConfig, SphereFaceLossConfig,
    SubCenterArcFaceLossConfig, TripletMarginLossConfig, Triplets,
};
use serde::Deserialize;

/// The loss a case names (`extra.loss`), configured by the case, with its learnable tensors set
/// to the case's `params`; returned with each learnable tensor under PML's attribute name.
fn build_loss(case: &Case, device: &Device) -> (Loss, Vec<(&'static str, Tensor<2>)>) {
    let name = case.extra.get("loss").and_then(|v| v.as_str()).expect("extra.loss");
    let c = &case.config;
    let w = |n: &str| param_matrix(case, n, device);
    let plain = |l: Loss| (l, Vec::new());
    match name {
        "ContrastiveLoss" => plain(Loss::ContrastiveLoss(
            config_from(ContrastiveLossConfig::new(), c).init().expect("config"),
        )),
        "TripletMarginLoss" => plain(Loss::TripletMarginLoss(
            config_from(TripletMarginLossConfig::new(), c).init().expect("config"),
        )),
        "NTXentLoss" => {
            plain(Loss::NTXentLoss(config_from(NTXentLossConfig::new(), c).init().expect("config")))
        }
        "MultiSimilarityLoss" => plain(Loss::MultiSimilarityLoss(
            config_from(MultiSimilarityLossConfig::new(), c).init().expect("config"),
        )),
        "NPairsLoss" => {
            plain(Loss::NPairsLoss(config_from(NPairsLossConfig::new(), c).init().expect("config")))
        }
        "NormalizedSoftmaxLoss" => {
            let l = config_from(NormalizedSoftmaxLossConfig::new(1, 1), c).init_with(w("W"));
            let l = l.expect("config");
            let t = l.weight.val();
            (Loss::NormalizedSoftmaxLoss(l), vec![("W", t)])
        }
        "LargeMarginSoftmaxLoss" => {
            let l = config_from(LargeMarginSoftmaxLossConfig::new(1, 1), c).init_with(w("W"));
            let l = l.expect("config");
            let t = l.weight.val();
            (Loss::LargeMarginSoftmaxLoss(l), vec![("W", t)])
        }
        "SphereFaceLoss" => {
            let l = config_from(SphereFaceLossConfig::new(1, 1), c).init_with(w("W"));
            let l = l.expect("config");
            let t = l.weight.val();
            (Loss::SphereFaceLoss(l), vec![("W", t)])
        }
        "ArcFaceLoss" => {
            let l = config_from(ArcFaceLossConfig::new(1, 1), c).init_with(w("W"));
            let l = l.expect("config");
            let t = l.weight.val();
            (Loss::ArcFaceLoss(l), vec![("W", t)])
        }
        "CosFaceLoss" => {
            let l = config_from(CosFaceLossConfig::new(1, 1), c).init_with(w("W"));
            let l = l.expect("config");
            let t = l.weight.val();
            (Loss::CosFaceLoss(l), vec![("W", t)])
        }
        "SubCenterArcFaceLoss" => {
            let l = config_from(SubCenterArcFaceLossConfig::new(1, 1), c).init_with(w("W"));
            let l = l.expect("config");
            let t = l.weight.val();
            (Loss::SubCenterArcFaceLoss(l), vec![("W", t)])
        }
        "ProxyAnchorLoss" => {
            let l = config_from(ProxyAnchorLossConfig::new(1, 1), c).init_with(w("proxies"));
            let l = l.expect("config");
            let t = l.proxies.val();
            (Loss::ProxyAnchorLoss(l), vec![("proxies", t)])
        }
        "ProxyNCALoss" => {
            let l = config_from(ProxyNCALossConfig::new(1, 1), c).init_with(w("proxies"));
            let l = l.expect("config");
            let t = l.proxies.val();
            (Loss::ProxyNCALoss(l), vec![("proxies", t)])
        }
        "SoftTripleLoss" => {
            let l = config_from(SoftTripleLossConfig::new(1, 1), c).init_with(w("fc"));
            let l = l.expect("config");
            let t = l.centers.val();
            (Loss::SoftTripleLoss(l), vec![("fc", t)])
        }
        other => panic!("{}: no builder for {other}", case.name),
    }
}

/// Checks every case of `file`: the loss with the case's regularizers, on the case's batch
/// (mined by its miner, if it names one); value, embedding gradient, parameter gradients.
fn run_fixture(file: &str) {
    let fixture = load(file);
    for case in &fixture.cases {
        let device = device();
        let emb = matrix(&case.embeddings, &device).require_grad();
        let y = labels(&case.labels, &device);
        let (loss, params) = build_loss(case, &device);
        let loss = match case.extra.get("regularization") {
            Some(r) => config_from(RegularizationConfig::new(), r)
                .init(loss)
                .unwrap_or_else(|e| panic!("{}: {e}", case.name)),
            None => Regularized::plain(loss),
        };
        let mut input = LossInput::new(emb.clone(), y.clone());
        if let Some(mined) = mine(case, &emb, &y) {
            input = input.with_mined(mined);
        }
        let value = loss.forward_input(&input).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let grads = value.backward();
        check_value_and_grad(case, &value, emb.grad(&grads));
        for (name, t) in params {
            check_param_grad(case, name, t.grad(&grads));
        }
    }
}

#[test]
fn class_weighted_per_anchor_and_multiple_reducers_match_pml() {
    run_fixture("reducers.json");
}

#[test]
fn embedding_and_weight_regularizers_match_pml() {
    run_fixture("regularizers.json");
}

#[test]
fn lp_distances_in_losses_and_miners_match_pml() {
    run_fixture("lp_distance.json");
}

/// One case of batched_distance.json.
#[derive(Deserialize)]
struct BatchedCase {
    name: String,
    distance: Distance,
    batch_size: usize,
    query: Vec<Vec<f64>>,
    reference: Vec<Vec<f64>>,
    labels: Vec<i64>,
    block_bounds: Vec<[usize; 2]>,
    matrix: Vec<Vec<f64>>,
    k: usize,
    knn_indices: Vec<Vec<i64>>,
    knn_values: Vec<Vec<f64>>,
    batch_hard: BatchHard,
}

#[derive(Deserialize)]
struct BatchHard {
    anchors: Vec<i64>,
    positives: Vec<i64>,
    negatives: Vec<i64>,
}

fn batched_cases() -> Vec<BatchedCase> {
    #[derive(Deserialize)]
    struct File {
        cases: Vec<BatchedCase>,
    }
    let text = read_fixture(&["losses", "batched_distance.json"]);
    let file: File = serde_json::from_str(&text).expect("batched_distance.json parses");
    assert!(!file.cases.is_empty());
    file.cases
}

fn ints(t: Tensor<2, Int>) -> Vec<i64> {
    t.into_data().convert::<i64>().try_to_vec::<i64>().expect("ints")
}

/// The blocks PML's BatchedDistance hands its iter_fn are dml's blocks: same bounds, same
/// values; put together they are dml's full matrix; and the k nearest references found block
/// by block (the blocks dropped as soon as they are searched) are PML's.
#[test]
fn batched_distance_blocks_reassemble_and_give_pml_knn() {
    for case in batched_cases() {
        let device = Device::flex();
        let query = matrix(&case.query, &device);
        let reference = matrix(&case.reference, &device);
        let batched = BatchedDistance::new(case.distance, case.batch_size).expect("valid");
        let mut bounds = Vec::new();
        let mut rows = Vec::new();
        let (mut knn_i, mut knn_v) = (Vec::new(), Vec::new());
        batched
            .for_each(query.clone(), Some(reference.clone()), |block, s, e| {
                bounds.push([s, e]);
                rows.push(block.clone());
                let searched = case.distance.closeness(block); // larger is nearer
                let (v, i) = searched.topk_with_indices(case.k, 1);
                knn_i.extend(ints(i));
                knn_v.extend(values(&case.distance.closeness(v)));
                Ok(())
            })
            .expect("blocks");
        // PML passes `e = s + batch_size` even for the last, shorter block; dml passes the
        // block's real end.
        let n = case.query.len();
        let pml_bounds: Vec<[usize; 2]> =
            case.block_bounds.iter().map(|[s, e]| [*s, (*e).min(n)]).collect();
        assert_eq!(bounds, pml_bounds, "{}", case.name);
        let assembled = values(&Tensor::cat(rows, 0));
        let expected: Vec<f64> = case.matrix.iter().flatten().copied().collect();
        assert_close(&format!("{} blocks", case.name), &assembled, &expected);
        let full = values(&case.distance.matrix(query, reference));
        assert_close(&format!("{} full matrix", case.name), &full, &assembled);
        let pml_i: Vec<i64> = case.knn_indices.iter().flatten().copied().collect();
        assert_eq!(knn_i, pml_i, "{}: kNN indices", case.name);
        let pml_v: Vec<f64> = case.knn_values.iter().flatten().copied().collect();
        assert_close(&format!("{} kNN distances", case.name), &knn_v, &pml_v);
    }
}

/// Batch-hard mining over the blocks of the query set against itself (each anchor's farthest
/// positive and nearest negative, found in its block alone) gives PML's BatchHardMiner
/// triplets, and dml's BatchHardMiner on the whole set agrees.
#[test]
fn batch_hard_mining_block_by_block_gives_pml_triplets() {
    for case in batched_cases() {
        let device = Device::flex();
        let query = matrix(&case.query, &device);
        let y = labels(&case.labels, &device);
        let n = case.labels.len();
        let d = case.distance;
        let batched = BatchedDistance::new(d, case.batch_size).expect("valid");
        let (mut anchors, mut positives, mut negatives) = (Vec::new(), Vec::new(), Vec::new());
        batched
            .for_each(query.clone(), None, |block, s, e| {
                let far = d.farness(block).into_data().try_to_vec::<f32>().expect("floats");
                for (r, row) in far.chunks(n).enumerate() {
                    let a = s + r;
                    let same = |j: usize| case.labels[j] == case.labels[a];
                    let pos = (0..n).filter(|&j| j != a && same(j));
                    let neg = (0..n).filter(|&j| !same(j));
                    // first index among equals, as torch's max / min
                    let p = pos.fold(None, |b: Option<usize>, j| match b {
                        Some(b) if row[b] >= row[j] => Some(b),
                        _ => Some(j),
                    });
                    let q = neg.fold(None, |b: Option<usize>, j| match b {
                        Some(b) if row[b] <= row[j] => Some(b),
                        _ => Some(j),
                    });
                    if let (Some(p), Some(q)) = (p, q) {
                        anchors.push(a as i64);
                        positives.push(p as i64);
                        negatives.push(q as i64);
                    }
                }
                assert!(e <= n);
                Ok(())
            })
            .expect("blocks");
        assert_eq!(anchors, case.batch_hard.anchors, "{}: anchors", case.name);
        assert_eq!(positives, case.batch_hard.positives, "{}: positives", case.name);
        assert_eq!(negatives, case.batch_hard.negatives, "{}: negatives", case.name);
        let miner = BatchHardMinerConfig::new().with_distance(d).init();
        let Mined::Triplets(Triplets::PerAnchor { positive, negative, valid }) =
            miner.mine(query, y).expect("mines")
        else {
            panic!("per-anchor triplets")
        };
        let valid = values(&valid);
        let p = ints(positive.reshape([n, 1]));
        let q = ints(negative.reshape([n, 1]));
        let whole: Vec<(i64, i64, i64)> =
            (0..n).filter(|&a| valid[a] > 0.0).map(|a| (a as i64, p[a], q[a])).collect();
        let blocks: Vec<(i64, i64, i64)> = anchors
            .iter()
            .zip(&positives)
            .zip(&negatives)
            .map(|((a, p), q)| (*a, *p, *q))
            .collect();
        assert_eq!(whole, blocks, "{}: BatchHardMiner on the whole set", case.name);
    }
}

/// What PML refuses or cannot do is a clear error here: PerAnchorReducer on triplets, a label
/// without a class weight, a weight regularizer on a loss without class weights.
#[test]
fn unsupported_reducer_and_regularizer_uses_are_errors() {
    let device = Device::flex();
    let e = Tensor::<2>::from_floats([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]], &device);
    let y = Tensor::<1, Int>::from_ints([0, 0, 1, 1], &device);
    let per_anchor = Reducer::PerAnchor { reducer: Box::new(Reducer::Mean) };
    let triplet = TripletMarginLossConfig::new().with_reducer(per_anchor).init().expect("config");
    let err = triplet.forward(e.clone(), y.clone()).expect_err("triplets per anchor");
    assert!(err.to_string().contains("PerAnchorReducer"), "{err}");
    let weighted = Reducer::ClassWeighted { weights: vec![1.0] };
    let contrastive = ContrastiveLossConfig::new().with_reducer(weighted).init().expect("config");
    let err = contrastive.forward(e, y).expect_err("label 1 has no weight");
    assert!(matches!(err, LossError::LabelOutOfRange { label: 1, num_classes: 1, .. }), "{err}");
    let loss = LossConfig::default_for("ContrastiveLoss").expect("loss").init(&device).expect("ok");
    let reg: RegularizationConfig = serde_json::from_str(
        r#"{"embedding_regularizer": null, "embedding_reg_weight": 1.0,
            "weight_regularizer": {"LpRegularizer": {"p": 2.0, "power": 1.0, "reducer": null}},
            "weight_reg_weight": 1.0}"#,
    )
    .expect("json");
    let err = reg.init(loss).expect_err("no class weights");
    assert!(matches!(err, LossError::InvalidConfig { field: "weight_regularizer", .. }), "{err}");
}
