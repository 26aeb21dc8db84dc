//! `--device`: the Burn device a run trains, evaluates and embeds on, named exactly.
//!
//! | name | device | Cargo feature |
//! | --- | --- | --- |
//! | `cpu`, `flex` | Burn's pure-Rust CPU backend | always built |
//! | `cuda`, `cuda:N` | Burn's CUDA backend, GPU `N` (0) | `cuda` |
//! | `tch`, `tch:cpu` | libtorch on the CPU | `tch` |
//! | `tch:cuda`, `tch:cuda:N` | libtorch on GPU `N` | `tch` |
//! | `wgpu`, `wgpu:N`, `wgpu:cpu` | WebGPU: the default adapter, discrete GPU `N`, a CPU adapter (Mesa's lavapipe) | `wgpu` |
//! | `vulkan`, `vulkan:N`, `vulkan:cpu` | the same, pinned to Vulkan | `vulkan` |
//! | `gpu`, `gpu:N` | the first GPU backend the build has (CUDA, then libtorch CUDA, Vulkan, WebGPU): what the seed systems' GPU flags select | any of them |
//!
//! A name the build lacks is an error naming the feature to build with.

use burn::tensor::Device;

use crate::error::{TrainError, TrainResult};

/// The GPU backends of this build, in the order `gpu:N` prefers them.
pub fn gpu_backends() -> Vec<&'static str> {
    [
        ("cuda", cfg!(feature = "cuda")),
        ("tch:cuda", cfg!(feature = "tch")),
        ("vulkan", cfg!(feature = "vulkan")),
        ("wgpu", cfg!(feature = "wgpu")),
    ]
    .into_iter()
    .filter_map(|(n, on)| on.then_some(n))
    .collect()
}

fn missing(name: &str, feature: &str) -> TrainError {
    TrainError::Config(format!(
        "device `{name}` needs the `{feature}` Cargo feature: rebuild with `--features \
         {feature}` (this build has cpu{})",
        gpu_backends().iter().map(|b| format!(", {b}")).collect::<String>()
    ))
}

fn ordinal(name: &str, part: Option<&str>) -> TrainResult<usize> {
    match part {
        None => Ok(0),
        Some(p) => p.parse().map_err(|_| {
            TrainError::Config(format!("device `{name}`: `{p}` is not a device index"))
        }),
    }
}

/// The devices of `config`'s run ([`crate::config::RunConfig::device_names`]), resolved; an
/// error names the `run.devices` entry (`--devices`) it comes from.
///
/// # Errors
/// As [`resolve_device`], with the entry named.
pub fn resolve_run_devices(run: &crate::config::RunConfig) -> TrainResult<Vec<Device>> {
    if run.devices.is_empty() {
        return Ok(vec![resolve_device(&run.device)?]);
    }
    run.devices
        .iter()
        .enumerate()
        .map(|(i, name)| {
            resolve_device(name).map_err(|e| match e {
                TrainError::Config(m) => TrainError::Config(format!(
                    "`run.devices` entry {i} (`--devices` {}): {m}",
                    run.devices.join(",")
                )),
                other => other,
            })
        })
        .collect()
}

/// The device `name` designates (see the module's table).
///
/// # Errors
/// [`TrainError::Config`] for an unknown name, a bad index, or a backend this build lacks (the
/// message says which Cargo feature to enable).
#[allow(unused_variables)] // the index is unused in builds without accelerators
pub fn resolve_device(name: &str) -> TrainResult<Device> {
    let lower = name.to_ascii_lowercase();
    let mut parts = lower.split(':');
    let backend = parts.next().unwrap_or_default();
    let rest: Vec<&str> = parts.collect();
    let unknown = || {
        TrainError::Config(format!(
            "unknown device `{name}`: use cpu, cuda[:N], tch[:cpu], tch:cuda[:N], wgpu[:N|:cpu], \
             vulkan[:N|:cpu] or gpu[:N]"
        ))
    };
    match (backend, rest.as_slice()) {
        ("cpu" | "flex", []) => Ok(Device::flex()),
        ("gpu", r) if r.len() <= 1 => {
            let n = ordinal(name, r.first().copied())?;
            let first = gpu_backends().first().copied();
            match first {
                Some("cuda") => resolve_device(&format!("cuda:{n}")),
                Some("tch:cuda") => resolve_device(&format!("tch:cuda:{n}")),
                Some(b @ ("vulkan" | "wgpu")) => resolve_device(&format!("{b}:{n}")),
                _ => Err(TrainError::Config(format!(
                    "device `{name}` asks for a GPU, and this build has no GPU backend: rebuild \
                     with `--features cuda` (or `tch`, `vulkan`, `wgpu`), or train on the CPU \
                     with `--device cpu`"
                ))),
            }
        }
        ("cuda", r) if r.len() <= 1 => {
            let n = ordinal(name, r.first().copied())?;
            #[cfg(feature = "cuda")]
            return Ok(Device::cuda(n));
            #[cfg(not(feature = "cuda"))]
            Err(missing(name, "cuda"))
        }
        ("tch", [] | ["cpu"]) => {
            #[cfg(feature = "tch")]
            #[allow(deprecated)]
            return Ok(Device::libtorch());
            #[cfg(not(feature = "tch"))]
            Err(missing(name, "tch"))
        }
        ("tch", ["cuda", r @ ..]) if r.len() <= 1 => {
            let n = ordinal(name, r.first().copied())?;
            #[cfg(feature = "tch")]
            {
                let visible = if tch::Cuda::is_available() { tch::Cuda::device_count() } else { 0 };
                if n as i64 >= visible {
                    return Err(TrainError::Config(format!(
                        "device `{name}`: libtorch sees {visible} CUDA device(s) (no NVIDIA \
                         driver, or the libtorch on LD_LIBRARY_PATH is a CPU-only build; \
                         tools/setup_libtorch.sh prints the environment of a CUDA one)"
                    )));
                }
                #[allow(deprecated)]
                return Ok(Device::libtorch_cuda(n));
            }
            #[cfg(not(feature = "tch"))]
            Err(missing(name, "tch"))
        }
        (b @ ("wgpu" | "vulkan"), r) if r.len() <= 1 => {
            let kind = match r.first() {
                None => burn::tensor::DeviceKind::DefaultDevice,
                Some(&"cpu") => burn::tensor::DeviceKind::Cpu,
                Some(n) => burn::tensor::DeviceKind::DiscreteGpu(ordinal(name, Some(n))?),
            };
            match b {
                #[cfg(feature = "wgpu")]
                "wgpu" => Ok(Device::wgpu(kind)),
                #[cfg(feature = "vulkan")]
                "vulkan" => Ok(Device::vulkan(kind)),
                other => {
                    let _ = kind;
                    Err(missing(name, other))
                }
            }
        }
        _ => Err(unknown()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_exactly_or_say_what_is_missing() {
        assert_eq!(resolve_device("CPU").expect("cpu"), Device::flex());
        assert_eq!(resolve_device("flex").expect("flex"), Device::flex());
        let e = resolve_device("tpu").expect_err("unknown").to_string();
        assert!(e.contains("unknown device `tpu`"), "{e}");
        let e = resolve_device("cuda:x").expect_err("index").to_string();
        assert!(e.contains("`x` is not a device index"), "{e}");
        if !cfg!(feature = "cuda") {
            let e = resolve_device("cuda:1").expect_err("not built").to_string();
            assert!(e.contains("--features cuda"), "{e}");
        }
        if gpu_backends().is_empty() {
            let e = resolve_device("gpu:0").expect_err("no gpu").to_string();
            assert!(e.contains("--device cpu"), "{e}");
        }
    }
}
