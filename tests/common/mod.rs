//! Shared harness for the parity tests: reads a fixture written by `tools/fixtures/gen_*.py`,
//! builds the inputs on the CPU autodiff device, and compares values and gradients.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use burn::tensor::{Device, Gradients, Int, Tensor};
use dml::losses::{
    BatchHardMinerConfig, HardestNegativeMinerConfig, LossInput, MetricLoss, Mined, Miner,
    MultiSimilarityMinerConfig, PairMarginMinerConfig, SemihardNegativeMinerConfig,
    TripletMarginMinerConfig,
};
use serde::Deserialize;
use serde_json::Value;

/// Relative tolerance on every compared number.
pub const RTOL: f64 = 1e-4;
/// Absolute slack, as a fraction of the largest magnitude in the same tensor (absorbs float32
/// cancellation in entries that are tiny compared with their neighbours).
pub const SCALE_ATOL: f64 = 1e-5;

/// One fixture file.
#[derive(Deserialize)]
pub struct Fixture {
    pub loss: String,
    pub source: String,
    pub cases: Vec<Case>,
}

/// One case of a fixture.
#[derive(Deserialize, Clone)]
pub struct Case {
    pub name: String,
    pub config: Value,
    pub embeddings: Vec<Vec<f64>>,
    pub labels: Vec<i64>,
    pub loss: f64,
    pub grad_embeddings: Vec<Vec<f64>>,
    #[serde(default)]
    pub miner: Option<MinerSpec>,
    /// Learnable state (proxies, class weights), by name.
    #[serde(default)]
    pub params: BTreeMap<String, Value>,
    /// Reference gradients of the learnable state, by name.
    #[serde(default)]
    pub grad_params: BTreeMap<String, Value>,
    /// Anything else a particular loss needs.
    #[serde(default)]
    pub extra: BTreeMap<String, Value>,
}

/// A miner named in a fixture.
#[derive(Deserialize, Clone)]
pub struct MinerSpec {
    pub kind: String,
    pub config: Value,
}

/// The autodiff device the parity tests run on: Burn's CPU backend, or the device named by
/// `DML_TEST_DEVICE` (e.g. `wgpu`, with the workspace built with that feature), so the same
/// fixtures check an accelerator backend.
pub fn device() -> Device {
    match std::env::var("DML_TEST_DEVICE") {
        Ok(name) => dml::train::device::resolve_device(&name)
            .unwrap_or_else(|e| panic!("DML_TEST_DEVICE={name}: {e}"))
            .autodiff(),
        Err(_) => Device::flex().autodiff(),
    }
}

/// `tests/fixtures/<parts>` of this repository: under the directory the test binary was built
/// in, or, when that is gone (a test binary carried to another machine, as
/// tools/device_check.sh does), under the current directory.
pub fn fixture_path(parts: &[&str]) -> PathBuf {
    let under = |root: &str| -> PathBuf {
        let mut p: PathBuf = [root, "tests", "fixtures"].iter().collect();
        p.extend(parts);
        p
    };
    let built = under(env!("CARGO_MANIFEST_DIR"));
    if built.exists() { built } else { under(".") }
}

/// The text of the fixture `tests/fixtures/<parts>`, stored gzip-compressed as `<name>.gz`
/// (the loss fixtures: tools/fixtures/common.py writes them so) or as plain text.
pub fn read_fixture(parts: &[&str]) -> String {
    use std::io::Read;
    let path = fixture_path(parts);
    let mut gz = path.clone().into_os_string();
    gz.push(".gz");
    let gz = PathBuf::from(gz);
    if gz.exists() {
        let file = std::fs::File::open(&gz)
            .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", gz.display()));
        let mut text = String::new();
        flate2::read::GzDecoder::new(file)
            .read_to_string(&mut text)
            .unwrap_or_else(|e| panic!("cannot decompress fixture {}: {e}", gz.display()));
        return text;
    }
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("cannot read fixture {} (or {}): {e}", path.display(), gz.display())
    })
}

pub fn load(file: &str) -> Fixture {
    CURRENT_FIXTURE.with(|f| *f.borrow_mut() = file.to_string());
    let text = read_fixture(&["losses", file]);
    let fixture: Fixture =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("cannot parse fixture {file}: {e}"));
    assert!(!fixture.cases.is_empty(), "fixture {file} has no cases");
    fixture
}

/// A `[n, d]` tensor from nested rows.
pub fn matrix(rows: &[Vec<f64>], device: &Device) -> Tensor<2> {
    let n = rows.len();
    let d = rows.first().map_or(0, |r| r.len());
    let flat: Vec<f32> = rows.iter().flat_map(|r| r.iter().map(|&v| v as f32)).collect();
    Tensor::<1>::from_floats(flat.as_slice(), device).reshape([n, d])
}

/// A nested-rows JSON value as rows.
pub fn rows(value: &Value) -> Vec<Vec<f64>> {
    serde_json::from_value(value.clone()).expect("a matrix of numbers")
}

pub fn labels(values: &[i64], device: &Device) -> Tensor<1, Int> {
    Tensor::<1, Int>::from_ints(values, device)
}

pub fn values<const D: usize>(t: &Tensor<D>) -> Vec<f64> {
    t.to_data().try_to_vec::<f32>().expect("float32 data").into_iter().map(f64::from).collect()
}

/// How much wider than the tolerance a float32-limited case may be off on another backend
/// ([`float32_limited`]).
pub const FLOAT32_LIMIT_FACTOR: f64 = 100.0;

/// Whether `case` (of the fixture file this thread loaded) is one of the cases that sit at
/// float32's limit (near-identical embeddings through cosine similarity, logits scaled by 1024),
/// listed with the reason in `tests/fixtures/losses/float32_limits.json`, *and* the matrix
/// products run on other kernels than the reference's: a backend other than the CPU
/// (`DML_TEST_DEVICE` names one), or the CPU backend on a processor with AVX-512, where `gemm`
/// picks its AVX-512 micro-kernel (the fixtures were validated on its AVX2/FMA kernel). With the
/// reference kernels every case is held to the tolerance.
/// Elsewhere such a case's rounding follows those kernels: it is reported, and held to
/// [`FLOAT32_LIMIT_FACTOR`] times the tolerance.
pub fn float32_limited(case: &str) -> bool {
    let other_backend = std::env::var("DML_TEST_DEVICE")
        .is_ok_and(|name| !matches!(name.to_ascii_lowercase().as_str(), "cpu" | "flex"));
    if !(other_backend || cpu_gemm_is_avx512()) {
        return false;
    }
    static LIST: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    let list = LIST.get_or_init(|| {
        let path = fixture_path(&["losses", "float32_limits.json"]);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    });
    let key = CURRENT_FIXTURE.with(|f| format!("{}:{case}", f.borrow()));
    list["cases"].get(&key).is_some()
}

/// True when the CPU backend's matrix products run `gemm`'s AVX-512 micro-kernel (Burn's
/// `x86-v4` feature, chosen at run time on a processor with AVX-512F).
pub fn cpu_gemm_is_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

thread_local! {
    /// The fixture file the test on this thread loaded last ([`load`]): each test runs on its own
    /// thread and loads its fixture first.
    static CURRENT_FIXTURE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Asserts `actual` matches `expected` element-wise within the tolerance, and is finite.
/// `what` starts with the case's name (see [`float32_limited`]).
pub fn assert_close(what: &str, actual: &[f64], expected: &[f64]) {
    assert_eq!(actual.len(), expected.len(), "{what}: length differs");
    let scale = expected.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let case = what.split(' ').next().unwrap_or_default();
    let limited = float32_limited(case);
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(a.is_finite(), "{what}[{i}] is not finite: {a}");
        let tol = RTOL * e.abs() + SCALE_ATOL * scale + 1e-7;
        if limited && (a - e).abs() > tol {
            eprintln!(
                "float32 limit (tests/fixtures/losses/float32_limits.json): {what}[{i}]: got {a}, \
                 expected {e}, off by {:.1}x the tolerance {tol:.3e}",
                (a - e).abs() / tol
            );
            let wide = FLOAT32_LIMIT_FACTOR * tol;
            assert!(
                (a - e).abs() <= wide,
                "{what}[{i}]: got {a}, expected {e} (float32-limited case, tolerance {wide:.3e})"
            );
            continue;
        }
        assert!((a - e).abs() <= tol, "{what}[{i}]: got {a}, expected {e} (tolerance {tol:.3e})");
    }
}

/// Compares a loss value and an embedding gradient with a case.
pub fn check_value_and_grad(case: &Case, loss: &Tensor<1>, grad: Option<Tensor<2>>) {
    let value = values(loss);
    assert_eq!(value.len(), 1, "{}: loss is not a scalar", case.name);
    assert_close(&format!("{} loss", case.name), &value, &[case.loss]);
    let expected: Vec<f64> = case.grad_embeddings.iter().flatten().copied().collect();
    let actual = match grad {
        Some(g) => values(&g),
        // No gradient recorded means the loss did not depend on the embeddings: zero.
        None => vec![0.0; expected.len()],
    };
    assert_close(&format!("{} grad", case.name), &actual, &expected);
}

/// The input of a case: its batch, mined by the miner the case names (if any), compared with the
/// reference set stored in `extra` (`ref_embeddings`, `ref_labels`) when there is one. Returns the
/// input, the embeddings and the reference embeddings (both tracking gradients).
pub fn case_input(case: &Case, device: &Device) -> (LossInput, Tensor<2>, Option<Tensor<2>>) {
    let emb = matrix(&case.embeddings, device).require_grad();
    let y = labels(&case.labels, device);
    let mut input = LossInput::new(emb.clone(), y.clone());
    if let Some(mined) = mine(case, &emb, &y) {
        input = input.with_mined(mined);
    }
    let mut reference = None;
    if let Some(r) = case.extra.get("ref_embeddings") {
        let r = matrix(&rows(r), device).require_grad();
        let ry: Vec<i64> = numbers(&case.extra["ref_labels"]).iter().map(|&v| v as i64).collect();
        input = input.with_reference(r.clone(), labels(&ry, device));
        reference = Some(r);
    }
    (input, emb, reference)
}

/// Compares the gradient of the reference embeddings when the case has one (`extra.grad_ref`).
pub fn check_ref_grad(case: &Case, reference: Option<Tensor<2>>, grads: &Gradients) {
    if let (Some(r), Some(expected)) = (reference, case.extra.get("grad_ref")) {
        let expected: Vec<f64> = rows(expected).into_iter().flatten().collect();
        let actual = r.grad(grads).map_or_else(|| vec![0.0; expected.len()], |g| values(&g));
        assert_close(&format!("{} ref grad", case.name), &actual, &expected);
    }
}

/// Checks every case of a fixture for a loss without learnable state: builds the loss the case
/// configures, feeds it the case's input ([`case_input`]: mined, against a reference set when
/// the case has one), and compares the value and the gradients of the embeddings and of the
/// reference embeddings.
pub fn run_loss_fixture(file: &str, build: impl Fn(&Case) -> Box<dyn MetricLoss>) {
    let fixture = load(file);
    for case in &fixture.cases {
        let device = device();
        let (input, emb, reference) = case_input(case, &device);
        let loss = build(case).forward_input(&input).expect("loss computes");
        let grads = loss.backward();
        check_value_and_grad(case, &loss, emb.grad(&grads));
        check_ref_grad(case, reference, &grads);
    }
}

/// Runs the miner a case names, on detached embeddings.
pub fn mine(case: &Case, embeddings: &Tensor<2>, labels: &Tensor<1, Int>) -> Option<Mined> {
    let spec = case.miner.as_ref()?;
    let e = embeddings.clone();
    let l = labels.clone();
    let mined = match spec.kind.as_str() {
        "BatchEasyHard" => config_from(dml::losses::BatchEasyHardMinerConfig::new(), &spec.config)
            .init()
            .expect("valid miner")
            .mine(e, l),
        "Angular" => config_from(dml::losses::AngularMinerConfig::new(), &spec.config)
            .init()
            .expect("valid miner")
            .mine(e, l),
        "HDC" => config_from(dml::losses::HDCMinerConfig::new(), &spec.config)
            .init()
            .expect("valid miner")
            .mine(e, l),
        "BatchHard" => config_from(BatchHardMinerConfig::new(), &spec.config).init().mine(e, l),
        "TripletMargin" => config_from(TripletMarginMinerConfig::new(), &spec.config)
            .init()
            .expect("valid miner")
            .mine(e, l),
        "MultiSimilarity" => config_from(MultiSimilarityMinerConfig::new(), &spec.config)
            .init()
            .expect("valid miner")
            .mine(e, l),
        "PairMargin" => config_from(PairMarginMinerConfig::new(), &spec.config)
            .init()
            .expect("valid miner")
            .mine(e, l),
        "HardestNegative" => config_from(HardestNegativeMinerConfig::new(), &spec.config)
            .init()
            .expect("valid miner")
            .mine(e, l),
        "SemihardNegative" => config_from(SemihardNegativeMinerConfig::new(), &spec.config)
            .init()
            .expect("valid miner")
            .mine(e, l),
        other => panic!("{}: unknown miner {other}", case.name),
    };
    Some(mined.expect("mining succeeds"))
}

/// A config from its defaults with the fixture's fields laid over them (Burn's `Config`
/// deserialisation needs every field).
pub fn config_from<C>(defaults: C, overrides: &Value) -> C
where
    C: serde::Serialize + serde::de::DeserializeOwned,
{
    let mut base = serde_json::to_value(defaults).expect("config serialises");
    if let (Value::Object(base), Value::Object(over)) = (&mut base, overrides) {
        for (k, v) in over {
            assert!(base.contains_key(k), "unknown config field {k}");
            base.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(base).expect("config deserialises")
}

/// A `[rows, cols]` parameter tensor from a case's `params[name]`.
pub fn param_matrix(case: &Case, name: &str, device: &Device) -> Tensor<2> {
    let value = case.params.get(name).unwrap_or_else(|| panic!("{}: no param {name}", case.name));
    matrix(&rows(value), device)
}

/// A `[k]` parameter tensor from a case's `params[name]`.
pub fn param_vector(case: &Case, name: &str, device: &Device) -> Tensor<1> {
    let value = case.params.get(name).unwrap_or_else(|| panic!("{}: no param {name}", case.name));
    let v: Vec<f64> = serde_json::from_value(value.clone()).expect("a vector of numbers");
    let flat: Vec<f32> = v.iter().map(|&x| x as f32).collect();
    Tensor::<1>::from_floats(flat.as_slice(), device)
}

/// Compares the gradient of a parameter with the case's `grad_params[name]` (any shape).
pub fn check_param_grad<const D: usize>(case: &Case, name: &str, grad: Option<Tensor<D>>) {
    let value =
        case.grad_params.get(name).unwrap_or_else(|| panic!("{}: no grad for {name}", case.name));
    let expected: Vec<f64> = match value {
        Value::Array(items) if items.iter().all(Value::is_number) => {
            serde_json::from_value(value.clone()).expect("numbers")
        }
        _ => rows(value).into_iter().flatten().collect(),
    };
    let actual = match grad {
        Some(g) => values(&g),
        None => vec![0.0; expected.len()],
    };
    assert_close(&format!("{} grad {name}", case.name), &actual, &expected);
}

/// A `[k]` tensor from a JSON list of numbers (a learnable vector stored in `case.params`).
pub fn vector(value: &Value, device: &Device) -> Tensor<1> {
    let flat: Vec<f32> = numbers(value).iter().map(|&x| x as f32).collect();
    Tensor::<1>::from_floats(flat.as_slice(), device)
}

/// A JSON list of numbers as floats.
pub fn numbers(value: &Value) -> Vec<f64> {
    serde_json::from_value(value.clone()).expect("a list of numbers")
}
