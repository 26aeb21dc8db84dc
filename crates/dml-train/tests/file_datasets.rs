//! The image-file path end to end, on the fixture trees that copy the real layouts
//! (tests/fixtures/data): CUB-200-2011 with BN-Inception (BGR 0-255 input) and In-shop with
//! ResNet50 (query vs gallery), a few training steps at 32x32, evaluation, and the `embed`
//! path reading the checkpoint back.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use dml_backbones::{BackboneConfig, BnInceptionConfig, ResNet50Config, SmallCnnConfig};
use dml_data::Split;
use dml_losses::LossConfig;
use dml_train::config::{SamplerConfig, Span};
use dml_train::data::load_data;
use dml_train::infer::{TrainedModel, embed_split};
use dml_train::presets::preset;
use dml_train::{DatasetKind, TrainConfig, TrainError, Trainer};

fn fixture(rel: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/data")
        .join(rel)
        .to_string_lossy()
        .into_owned()
}

fn tiny(
    dataset: DatasetKind,
    data_dir: String,
    backbone: BackboneConfig,
    out: &Path,
) -> TrainConfig {
    let mut c = preset(dataset);
    c.data.dir = data_dir;
    c.run.output_dir = out.to_string_lossy().into_owned();
    c.model.backbone = backbone;
    c.loss = LossConfig::default_for("ProxyAnchorLoss").expect("loss");
    c.model.embedding_size = Some(8);
    c.data.batch_size = 4;
    c.data.test_batch_size = 4;
    c.data.sampler = SamplerConfig::MPerClass { m: 2, length: None };
    c.data.image_size = 32;
    c.data.resize = 36;
    c.run.length = Span::Epochs(1);
    c.optim.frozen_backbone = Span::Epochs(0);
    c.model.freeze_batch_norm = true;
    c.run.max_steps_per_epoch = Some(2);
    c.data.num_workers = 2;
    c.run.recall_ks = vec![1, 2];
    c
}

/// Burn's random generator is global to the device: runs are serialized.
static RUNS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn train_run(config: TrainConfig) -> Trainer {
    let _guard = RUNS.lock().unwrap_or_else(|e| e.into_inner());
    let (train, eval) = load_data(&config).expect("fixture data");
    let mut t = Trainer::for_data(config, &train, &Device::flex()).expect("trainer");
    t.show_progress = false;
    t.fit(&train, &eval, None).expect("fit");
    t
}

#[test]
fn cub_fixture_trains_bn_inception_on_bgr_0_255_input_and_embeds_the_test_split() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bn_inception = BackboneConfig::BnInception(BnInceptionConfig::new());
    let config = tiny(DatasetKind::Cub200, fixture("cub/CUB_200_2011"), bn_inception, dir.path());

    // BN-Inception's loader output is BGR in 0-255 minus (104, 117, 128): values far outside
    // the ImageNet-standardized range (about -2.1..2.7).
    let (data, _) = load_data(&config).expect("fixture data");
    let batch = data.epoch_from(0, 0, &Device::flex()).next().expect("a batch").expect("decodes");
    let [b, c, h, w] = batch.images.dims();
    assert_eq!((b, c, h, w), (4, 3, 32, 32));
    let v: Vec<f32> = batch.images.into_data().try_to_vec().expect("f32");
    let (lo, hi) = v.iter().fold((f32::MAX, f32::MIN), |(l, u), &x| (l.min(x), u.max(x)));
    assert!(lo >= -128.0 && hi <= 151.0 && hi - lo > 20.0, "BGR 0-255 range: {lo}..{hi}");

    let t = train_run(config);
    assert_eq!(t.step, 2);
    let eval = t.history.last_eval().expect("evaluated");
    assert_eq!(eval.queries, 9, "3 test classes x 3 images, each a query");
    assert!(dir.path().join("best.ckpt").exists());

    let device = Device::flex();
    let model = TrainedModel::load(&dir.path().join("best.ckpt"), &device).expect("loads");
    let file = embed_split(&model, &t.config.data.dir, Split::Test, 4, 2, &device).expect("embed");
    assert_eq!((file.rows(), file.dim), (9, 8));
    assert_eq!(file.labels, Some(vec![0, 0, 0, 1, 1, 1, 2, 2, 2]));
    assert!(file.paths.iter().all(|p| Path::new(p).is_file()), "{:?}", file.paths);
}

#[test]
fn inshop_fixture_trains_resnet50_and_evaluates_query_against_gallery() {
    let dir = tempfile::tempdir().expect("tempdir");
    let resnet = BackboneConfig::ResNet50(ResNet50Config::new());
    let config = tiny(DatasetKind::Inshop, fixture("inshop"), resnet, dir.path());
    let t = train_run(config);
    assert_eq!(t.step, 2);
    let eval = t.history.last_eval().expect("evaluated");
    assert!(eval.queries > 0 && eval.recall_at.iter().all(|(_, r)| (0.0..=1.0).contains(r)));
    assert!(t.history.epochs.iter().all(|r| r.loss.is_finite()));
}

#[test]
fn model_and_dataset_must_fit_each_other() {
    let dir = tempfile::tempdir().expect("tempdir");
    let small = BackboneConfig::SmallCnn(SmallCnnConfig::new());
    let files = tiny(DatasetKind::Cub200, fixture("cub"), small, dir.path());
    let err = files.validate().expect_err("small_cnn on image files");
    assert!(matches!(err, TrainError::Config(_)) && err.to_string().contains("SmallCnn"), "{err}");
    let mut memory = preset(DatasetKind::FashionMnist);
    memory.model.backbone = BackboneConfig::ResNet50(ResNet50Config::new());
    let err = memory.validate().expect_err("resnet50 on 28x28 grey");
    assert!(err.to_string().contains("fashion_mnist"), "{err}");
}
