//! The default build turns on `gemm`'s runtime-dispatched AVX-512 kernels (Burn's `x86-v4`
//! feature). This checks that the same test binary still runs, with the same results, on a
//! processor without AVX-512: it runs itself under QEMU's user-mode emulator as a Haswell CPU
//! (AVX2 and FMA, no AVX-512), where `gemm` (through `pulp`) dispatches to its AVX2 kernels, and
//! compares a matrix product and a fused ProxyAnchor step (value and gradients) with the native
//! run. `gemm` and `pulp` have no environment switch to force the AVX2 path, hence the emulator
//! (Debian's `qemu-user`, which tools/test.sh installs).

use std::process::Command;

use burn::tensor::{Device, Distribution, Int, Tensor};
use dml::losses::{MetricLoss, ProxyAnchorLossConfig};

/// What the probe computes: a plain product and a fused ProxyAnchor step, summarised as a few
/// numbers that both runs print.
fn probe_values() -> Vec<f64> {
    let device = Device::flex().autodiff();
    device.seed(7);
    let a = Tensor::<2>::random([96, 256], Distribution::Normal(0.0, 1.0), &device);
    let b = Tensor::<2>::random([256, 200], Distribution::Normal(0.0, 1.0), &device);
    let product: Vec<f32> = a.matmul(b).into_data().try_to_vec::<f32>().unwrap();
    let x = Tensor::<2>::random([64, 128], Distribution::Normal(0.0, 1.0), &device).require_grad();
    let labels = Tensor::<1, Int>::arange(0..64, &device).remainder_scalar(300);
    let loss = ProxyAnchorLossConfig::new(300, 128).init(&device).unwrap();
    let value = loss.forward(x.clone(), labels).unwrap();
    let grads = value.backward();
    let gx: Vec<f32> = x.grad(&grads).unwrap().into_data().try_to_vec::<f32>().unwrap();
    let gp: Vec<f32> =
        loss.proxies.val().grad(&grads).unwrap().into_data().try_to_vec::<f32>().unwrap();
    let mut out = vec![value.into_scalar::<f32>() as f64];
    out.extend(product[..8].iter().map(|&v| v as f64));
    out.extend(gx[..8].iter().map(|&v| v as f64));
    out.extend(gp[..8].iter().map(|&v| v as f64));
    out.push(gx.iter().map(|&v| v.abs() as f64).sum());
    out.push(gp.iter().map(|&v| v.abs() as f64).sum());
    out
}

/// Run by `same_results_on_an_avx2_only_cpu` inside the emulator; prints what it computed.
#[test]
#[ignore = "entry point for the emulated run of same_results_on_an_avx2_only_cpu"]
fn probe() {
    println!("AVX512F={}", std::arch::is_x86_feature_detected!("avx512f"));
    println!("AVX2={}", std::arch::is_x86_feature_detected!("avx2"));
    let values: Vec<String> = probe_values().iter().map(|v| format!("{v:e}")).collect();
    println!("VALUES={}", values.join(","));
}

#[test]
#[cfg(target_arch = "x86_64")]
fn same_results_on_an_avx2_only_cpu() {
    let exe = std::env::current_exe().expect("the test binary's path");
    let output = Command::new("qemu-x86_64")
        .args(["-cpu", "Haswell"])
        .arg(&exe)
        .args(["--ignored", "--exact", "probe", "--nocapture", "--test-threads", "1"])
        .output()
        .expect("qemu-x86_64 runs (Debian's qemu-user; tools/test.sh installs it)");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the emulated run failed:\n{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.split_once(key).map(|(_, rest)| rest))
            .unwrap_or_else(|| panic!("no {key} in the emulated run's output:\n{text}"))
            .to_string()
    };
    assert_eq!(field("AVX512F="), "false", "the emulated CPU must lack AVX-512");
    assert_eq!(field("AVX2="), "true", "the emulated CPU must have AVX2");
    let emulated: Vec<f64> = field("VALUES=").split(',').map(|v| v.parse().unwrap()).collect();
    let native = probe_values();
    assert_eq!(emulated.len(), native.len());
    let scale = native.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (i, (e, n)) in emulated.iter().zip(&native).enumerate() {
        // Other kernels, other rounding: float32 agreement, not bit equality.
        assert!((e - n).abs() <= 1e-4 * n.abs() + 1e-6 * scale, "value {i}: AVX2 {e}, native {n}");
    }
}
