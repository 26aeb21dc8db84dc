//! `--device`: the Burn device a run trains, evaluates and embeds on.
//!
//! - `cpu` / `flex`: Burn's pure-Rust CPU backend (always built).
//! - `cuda`, `vulkan`, `wgpu`, `tch`: an accelerator backend, available when the workspace is
//!   built with the Cargo feature of that name (`cargo run --release --features cuda ...`).
//!   The device is Burn's `Device::default()`, which takes the first compiled-in backend in
//!   the order CUDA, Vulkan, wgpu, LibTorch, and honours the `BURN_DEVICE` variable; build
//!   with one accelerator feature to get the one named.

use burn::tensor::Device;

use crate::error::{TrainError, TrainResult};

/// The accelerator names `--device` accepts, with whether this build has their feature.
const ACCELERATORS: [(&str, bool); 4] = [
    ("cuda", cfg!(feature = "cuda")),
    ("vulkan", cfg!(feature = "vulkan")),
    ("wgpu", cfg!(feature = "wgpu")),
    ("tch", cfg!(feature = "tch")),
];

/// The device `name` designates.
///
/// # Errors
/// [`TrainError::Config`] for an unknown name, or an accelerator this build lacks (the message
/// says which Cargo feature to enable).
pub fn resolve_device(name: &str) -> TrainResult<Device> {
    let name = name.to_ascii_lowercase();
    if name == "cpu" || name == "flex" {
        return Ok(Device::flex());
    }
    match ACCELERATORS.iter().find(|(n, _)| *n == name) {
        Some((_, true)) => Ok(Device::default()),
        Some((n, false)) => {
            let built: Vec<&str> = std::iter::once("cpu")
                .chain(ACCELERATORS.iter().filter(|(_, on)| *on).map(|(name, _)| *name))
                .collect();
            Err(TrainError::Config(format!(
                "device `{n}` needs the `{n}` Cargo feature: rebuild with `--features {n}` \
                 (this build has: {})",
                built.join(", ")
            )))
        }
        None => Err(TrainError::Config(format!(
            "unknown device `{name}`: use cpu, cuda, vulkan, wgpu or tch"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_resolves_and_unknown_or_missing_backends_are_explained() {
        assert_eq!(resolve_device("CPU").expect("cpu"), Device::flex());
        assert_eq!(resolve_device("flex").expect("flex"), Device::flex());
        let e = resolve_device("tpu").expect_err("unknown").to_string();
        assert!(e.contains("unknown device `tpu`"), "{e}");
        if !cfg!(feature = "cuda") {
            let e = resolve_device("cuda").expect_err("not built").to_string();
            assert!(e.contains("--features cuda"), "{e}");
        }
    }
}
