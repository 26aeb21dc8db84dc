//! Equivalence with PyTorch: checkpoints and outputs written by
//! `tools/gen_backbone_checkpoints.py` (torchvision resnet50, the BN-Inception reference, the
//! small CNN; seeded random weights). Eval mode uses running statistics, train mode batch
//! statistics (on an autodiff device), and the first BatchNorm's updated running statistics
//! are compared too.
//!
//! The checkpoints (~150 MB) are generated, not committed: `.ci/run` runs the generator. A
//! missing fixture FAILS these tests; set `DML_SKIP_GENERATED_FIXTURES=1` to skip them locally.
//!
//! The tests run on Burn's CPU backend, or on the device that `DML_TEST_DEVICE` names (as the
//! loss parity suites do): `tests/device_parity.rs` compiles this file into the binary that
//! `tools/device_check.sh` runs on libtorch CUDA and wgpu, with `DML_BACKBONE_FIXTURES` naming
//! the checkpoints that the GPU machine generates with its own PyTorch.

use std::path::PathBuf;

use burn::tensor::{Device, FloatDType, Tensor};
use dml_backbones::{
    BackboneError, BnInceptionConfig, ResNet50Config, SmallCnnConfig, global_avg_pool,
    global_max_pool,
};
use serde_json::Value;

/// Max abs error allowed on the pre-logit feature (global average pool), against PyTorch in
/// float64 ...
const TOL_FEATURE: f32 = 1e-4;
/// ... and on the global max pool and the logits, whose values are larger (the max of a 7x7
/// map; a 1000-way linear layer on top of the feature) ...
const TOL_OTHER: f32 = 1e-3;
/// ... and on the updated running statistics, relative to their largest value (measured
/// 6e-8 relative; a biased variance update would be `momentum / (n - 1)`: 3e-5 on the small
/// CNN) ...
const TOL_RUNNING_STATS: f32 = 1e-5;
/// ... unless PyTorch's own float32 result is already that far from float64: then Burn may be
/// off by at most this multiple of PyTorch's float32 error (measured factors 1.0-1.4 with the
/// multi-threaded flex backend, up to 3.5 single-threaded in train mode, where batch statistics
/// amplify rounding; see docs/backbones.md). The float64 test below is the exactness check.
const F32_FACTOR: f32 = 5.0;

/// The device the tests run on: Burn's CPU backend, or the one `DML_TEST_DEVICE` names (e.g.
/// `tch:cuda:0`, `wgpu`) in a build with that backend's feature. Train-mode tests take its
/// autodiff form.
///
/// libtorch's cuDNN convolutions use TF32 on an Ampere or newer GPU unless told otherwise
/// (PyTorch's default for convolutions; matrix products default to full float32), and the `tch`
/// crate has no setter for it, so on `tch:cuda` the test requires `NVIDIA_TF32_OVERRIDE=0`,
/// which turns TF32 off inside cuBLAS and cuDNN for the whole process.
fn test_device() -> Device {
    let Ok(name) = std::env::var("DML_TEST_DEVICE") else { return Device::flex() };
    if name.to_ascii_lowercase().starts_with("tch:cuda") {
        assert_eq!(
            std::env::var("NVIDIA_TF32_OVERRIDE").as_deref(),
            Ok("0"),
            "DML_TEST_DEVICE={name}: set NVIDIA_TF32_OVERRIDE=0, or libtorch's cuDNN \
             convolutions run in TF32 (10-bit mantissa), not float32"
        );
    }
    dml_train::device::resolve_device(&name)
        .unwrap_or_else(|e| panic!("DML_TEST_DEVICE={name}: {e}"))
}

/// Where the generated checkpoints are: `DML_BACKBONE_FIXTURES`, else
/// `tests/fixtures/generated/backbones` of the workspace (this file is compiled both as a test of
/// dml-backbones and into the root package's `tests/device_parity.rs`).
fn fixture_dir() -> Option<PathBuf> {
    let sub = ["tests", "fixtures", "generated", "backbones"];
    let dir = std::env::var_os("DML_BACKBONE_FIXTURES").map(PathBuf::from).unwrap_or_else(|| {
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let candidates = [manifest.join("../.."), manifest];
        let under = |root: &PathBuf| sub.iter().fold(root.clone(), |p, s| p.join(s));
        candidates
            .iter()
            .map(under)
            .find(|d| d.join("resnet50.pth").is_file())
            .unwrap_or_else(|| under(&candidates[0]))
    });
    if dir.join("resnet50.pth").is_file() {
        return Some(dir);
    }
    if std::env::var_os("DML_SKIP_GENERATED_FIXTURES").is_some() {
        eprintln!("skipping: no generated fixtures in {}", dir.display());
        return None;
    }
    panic!(
        "generated backbone fixtures missing in {}: run `/usr/bin/python3 \
         tools/gen_backbone_checkpoints.py` (needs python3-torch and python3-torchvision), or \
         set DML_SKIP_GENERATED_FIXTURES=1 to skip locally",
        dir.display()
    );
}

struct Io(Value);

impl Io {
    fn read(dir: &std::path::Path, name: &str) -> Self {
        let path = dir.join(format!("{name}_io.json"));
        let text = std::fs::read_to_string(&path).expect("fixture json readable");
        Self(serde_json::from_str(&text).expect("fixture json valid"))
    }

    fn f64s(&self, key: &str) -> Vec<f64> {
        self.0[key]
            .as_array()
            .unwrap_or_else(|| panic!("fixture key {key}"))
            .iter()
            .map(|v| v.as_f64().expect("number"))
            .collect()
    }

    fn floats(&self, key: &str) -> Vec<f32> {
        self.f64s(key).into_iter().map(|v| v as f32).collect()
    }

    fn shape4(&self, key: &str) -> [usize; 4] {
        let v: Vec<usize> = self.0[key]
            .as_array()
            .expect("shape")
            .iter()
            .map(|v| v.as_u64().expect("dim") as usize)
            .collect();
        [v[0], v[1], v[2], v[3]]
    }

    fn input(&self, mode: &str, device: &Device) -> Tensor<4> {
        let shape = self.shape4(&format!("{mode}_input_shape"));
        Tensor::<1>::from_floats(self.floats(&format!("{mode}_input")).as_slice(), device)
            .reshape(shape)
    }
}

fn max_abs_err_vec(actual: &[f32], expected: &[f32]) -> f32 {
    assert_eq!(actual.len(), expected.len(), "output size");
    actual.iter().zip(expected).map(|(a, e)| (a - e).abs()).fold(0.0, f32::max)
}

/// Compares `actual` with PyTorch float64 (`key`), asserts `tol`, and prints that error next
/// to the error against PyTorch float32 (`key_f32`) and PyTorch float32's own error.
fn check(label: &str, actual: Tensor<2>, io: &Io, key: &str, tol: f32) -> f32 {
    let actual: Vec<f32> = actual.into_data().try_to_vec().expect("f32 data");
    let f64_ref = io.floats(key);
    let f32_ref = io.floats(&format!("{key}_f32"));
    let err = max_abs_err_vec(&actual, &f64_ref);
    let torch_err = max_abs_err_vec(&f32_ref, &f64_ref);
    let tol = tol.max(F32_FACTOR * torch_err);
    println!(
        "{label} {key}: max abs err vs torch f64 {err:.2e} (vs torch f32 {:.2e}; torch f32 vs \
         f64 {torch_err:.2e}; max |value| {:.2}; tolerance {tol:.1e})",
        max_abs_err_vec(&actual, &f32_ref),
        f64_ref.iter().fold(0.0f32, |m, v| m.max(v.abs())),
    );
    assert!(err <= tol, "{label} {key}: {err} > {tol}");
    err
}

/// Compares GAP (the pre-logit feature) and GMP of a feature map.
fn check_pooled(name: &str, mode: &str, fmap: Tensor<4>, io: &Io) {
    check(name, global_avg_pool(fmap.clone()), io, &format!("{mode}_gap"), TOL_FEATURE);
    check(name, global_max_pool(fmap), io, &format!("{mode}_gmp"), TOL_OTHER);
}

/// Running statistics are compared relative to their scale (the BN-Inception stem sees 0-255
/// inputs: variances in the thousands). Both sides fold the unbiased batch variance into
/// `running_var` ([`dml_backbones::batch_norm`]); the float64 test checks them to rounding.
fn check_running_stats(name: &str, mean: Tensor<1>, var: Tensor<1>, io: &Io) {
    for (value, key) in [(mean, "train_first_bn_running_mean"), (var, "train_first_bn_running_var")]
    {
        let scale = io.floats(key).iter().fold(1.0f32, |m, v| m.max(v.abs()));
        check(name, value.unsqueeze::<2>(), io, key, TOL_RUNNING_STATS * scale);
    }
}

#[test]
fn resnet50_eval_matches_torchvision() {
    let Some(dir) = fixture_dir() else { return };
    let io = Io::read(&dir, "resnet50");
    let device = test_device();
    let mut model = ResNet50Config::new().with_num_classes(Some(1000)).init(&device);
    let report = model.load_torchvision(dir.join("resnet50.pth")).expect("import");
    // 53 convolutions + 53 BatchNorms x 4 + fc weight and bias; only num_batches_tracked unused.
    assert_eq!(report.applied.len(), 267, "applied");
    assert!(report.unused.iter().all(|k| k.ends_with("num_batches_tracked")), "{report:?}");
    let x = io.input("eval", &device);
    let fmap = model.forward_features(x.clone());
    assert_eq!(fmap.dims(), io.shape4("eval_feature_map_shape"));
    check_pooled("resnet50", "eval", fmap, &io);
    check("resnet50", model.forward(x), &io, "eval_logits", TOL_OTHER);
}

#[test]
fn resnet50_train_mode_matches_torchvision() {
    let Some(dir) = fixture_dir() else { return };
    let io = Io::read(&dir, "resnet50");
    let device = test_device().autodiff();
    let mut model = ResNet50Config::new().init(&device);
    model.load_torchvision(dir.join("resnet50.pth")).expect("import");
    let fmap = model.forward_features(io.input("train", &device));
    check_pooled("resnet50", "train", fmap, &io);
    check_running_stats(
        "resnet50",
        model.bn1.running_mean.value_sync(),
        model.bn1.running_var.value_sync(),
        &io,
    );
}

#[test]
fn bn_inception_eval_matches_reference() {
    let Some(dir) = fixture_dir() else { return };
    let io = Io::read(&dir, "bn_inception");
    let device = test_device();
    let mut model = BnInceptionConfig::new().with_num_classes(Some(1000)).init(&device);
    let report = model.load_pretrained(dir.join("bn_inception.pth")).expect("import");
    assert!(report.unused.is_empty(), "{report:?}");
    let x = io.input("eval", &device);
    let fmap = model.forward_features(x.clone());
    assert_eq!(fmap.dims(), io.shape4("eval_feature_map_shape"));
    check_pooled("bn_inception", "eval", fmap, &io);
    check("bn_inception", model.forward(x), &io, "eval_logits", TOL_OTHER);
}

#[test]
fn bn_inception_train_mode_matches_reference() {
    let Some(dir) = fixture_dir() else { return };
    let io = Io::read(&dir, "bn_inception");
    let device = test_device().autodiff();
    let mut model = BnInceptionConfig::new().init(&device);
    let report = model.load_pretrained(dir.join("bn_inception.pth")).expect("import");
    assert!(report.unused.iter().all(|k| k.starts_with("last_linear")), "{report:?}");
    let fmap = model.forward_features(io.input("train", &device));
    assert_eq!(fmap.dims(), io.shape4("train_feature_map_shape"));
    check_pooled("bn_inception", "train", fmap, &io);
    let bn = &model.conv1_7x7_s2.bn;
    check_running_stats(
        "bn_inception",
        bn.running_mean.value_sync(),
        bn.running_var.value_sync(),
        &io,
    );
}

#[test]
fn small_cnn_matches_pytorch_from_pth_and_safetensors() {
    let Some(dir) = fixture_dir() else { return };
    let io = Io::read(&dir, "small_cnn");
    for file in ["small_cnn.pth", "small_cnn.safetensors"] {
        let device = test_device();
        let mut model = SmallCnnConfig::new().init(&device);
        model.load_pytorch(dir.join(file)).expect("import");
        check_pooled(file, "eval", model.forward_features(io.input("eval", &device)), &io);

        let device = test_device().autodiff();
        let mut model = SmallCnnConfig::new().init(&device);
        model.load_pytorch(dir.join(file)).expect("import");
        check_pooled(file, "train", model.forward_features(io.input("train", &device)), &io);
        let bn = &model.block1.bn;
        check_running_stats(file, bn.running_mean.value_sync(), bn.running_var.value_sync(), &io);
    }
}

#[test]
fn import_errors_are_clear() {
    let Some(dir) = fixture_dir() else { return };
    let device = test_device();

    let err = SmallCnnConfig::new().init(&device).load_pytorch(dir.join("absent.pth"));
    assert!(matches!(err, Err(BackboneError::Io { .. })), "{err:?}");

    let err = SmallCnnConfig::new().init(&device).load_pytorch(dir.join("not_a_checkpoint.pth"));
    assert!(matches!(err, Err(BackboneError::NotACheckpoint { .. })), "{err:?}");
    println!("{}", err.unwrap_err());

    // Wrong shape: the checkpoint has 32/64/128 channels.
    let mut narrow = SmallCnnConfig::new().with_channels([16, 64, 128]).init(&device);
    let err = narrow.load_pytorch(dir.join("small_cnn.pth"));
    match err {
        Err(BackboneError::WrongShape { ref details, .. }) => {
            assert!(details.iter().any(|d| d.contains("block1.conv.weight")), "{details:?}");
        }
        other => panic!("expected WrongShape, got {other:?}"),
    }

    // Missing keys: the SmallCnn checkpoint imported without its key remapping.
    let mut model = SmallCnnConfig::new().init(&device);
    let err = dml_backbones::load_pytorch(&mut model, dir.join("small_cnn.pth"), &[]);
    match err {
        Err(BackboneError::MissingKeys { ref keys, .. }) => {
            assert!(keys.iter().any(|k| k == "block1.conv.weight"), "{keys:?}");
            println!("{}", err.unwrap_err());
        }
        other => panic!("expected MissingKeys, got {other:?}"),
    }
}

/// Casts every float parameter and buffer of a module to float64.
struct ToF64;

impl burn::module::ModuleMapper for ToF64 {
    fn map_float<const D: usize>(
        &mut self,
        param: burn::module::Param<Tensor<D>>,
    ) -> burn::module::Param<Tensor<D>> {
        param.map(|t| {
            let grad = t.is_require_grad();
            t.cast(FloatDType::F64).detach().set_require_grad(grad)
        })
    }
}

/// Max abs error allowed when Burn runs in float64 against PyTorch in float64: what is left
/// is summation order (measured: 2e-13 on the average pool, 2e-12 on the max pool).
const TOL_F64: f64 = 1e-9;

/// Compares the pooled float64 feature map with PyTorch float64 and returns the errors.
fn check_pooled_f64(name: &str, mode: &str, fmap: Tensor<4>, io: &Io) {
    assert_eq!(fmap.dtype(), burn::tensor::DType::F64, "{name} ran in float64");
    for (key, pooled) in [("gap", global_avg_pool(fmap.clone())), ("gmp", global_max_pool(fmap))] {
        let key = format!("{mode}_{key}");
        let actual: Vec<f64> = pooled.into_data().try_to_vec::<f64>().expect("f64 data");
        let expected = io.f64s(&key);
        assert_eq!(actual.len(), expected.len(), "{name} {key} size");
        let err = actual.iter().zip(&expected).map(|(a, e)| (a - e).abs()).fold(0.0, f64::max);
        println!("{name} float64 {key}: max abs err vs torch f64 {err:.2e}");
        assert!(err <= TOL_F64, "{name} float64 {key}: {err} > {TOL_F64}");
    }
}

/// Compares the first BatchNorm's running statistics after one train-mode forward in float64
/// with PyTorch's (relative to their scale: the BN-Inception stem's variances are in the
/// thousands). PyTorch folds the unbiased batch variance into `running_var`; a biased update
/// would be off by `momentum / (n - 1)` relative (8e-6 on ResNet50's stem), far above this.
fn check_running_stats_f64(name: &str, bn: &burn::nn::BatchNorm, io: &Io) {
    for (value, key) in [
        (bn.running_mean.value_sync(), "train_first_bn_running_mean"),
        (bn.running_var.value_sync(), "train_first_bn_running_var"),
    ] {
        let actual: Vec<f64> = value.into_data().try_to_vec::<f64>().expect("f64 data");
        let expected = io.f64s(key);
        assert_eq!(actual.len(), expected.len(), "{name} {key} size");
        let scale = expected.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        let err = actual.iter().zip(&expected).map(|(a, e)| (a - e).abs()).fold(0.0, f64::max);
        println!(
            "{name} float64 {key}: max abs err vs torch f64 {err:.2e} (max |value| {scale:.2})"
        );
        assert!(err <= TOL_F64 * scale, "{name} float64 {key}: {err} > {TOL_F64} x {scale}");
    }
}

/// Run in float64 (weights and input are exact in float32, so PyTorch's float64 reference is
/// the same computation), ResNet50 and BN-Inception agree with PyTorch to rounding: the float32
/// differences above are float32 arithmetic, not a difference in what is computed.
#[test]
fn resnet50_and_bn_inception_in_float64_match_torch_float64() {
    use burn::module::Module;
    let Some(dir) = fixture_dir() else { return };
    for mode in ["eval", "train"] {
        let device = if mode == "eval" { test_device() } else { test_device().autodiff() };
        let io = Io::read(&dir, "resnet50");
        let mut model = ResNet50Config::new().init(&device);
        model.load_torchvision(dir.join("resnet50.pth")).expect("import");
        let model = model.map(&mut ToF64);
        let fmap = model.forward_features(io.input(mode, &device).cast(FloatDType::F64));
        check_pooled_f64("resnet50", mode, fmap, &io);
        if mode == "train" {
            check_running_stats_f64("resnet50", &model.bn1, &io);
        }

        let io = Io::read(&dir, "bn_inception");
        let mut model = BnInceptionConfig::new().init(&device);
        model.load_pretrained(dir.join("bn_inception.pth")).expect("import");
        let model = model.map(&mut ToF64);
        let fmap = model.forward_features(io.input(mode, &device).cast(FloatDType::F64));
        check_pooled_f64("bn_inception", mode, fmap, &io);
        if mode == "train" {
            check_running_stats_f64("bn_inception", &model.conv1_7x7_s2.bn, &io);
        }
    }
}
