//! Fault injection for the crash tests (`tests/run_safety.rs`): with the environment variable
//! `DML_FAULT` set to `<point>@<step>` and `DML_FAULT_MARKER` to a file path, a run that reaches
//! `point` at optimizer step `step` writes the marker file and sleeps, so that the test can kill
//! it there with SIGKILL. Without `DML_FAULT` (every normal run) [`pause`] does nothing but
//! compare a cached value.
//!
//! Points: `mid-step` (after the forward and backward passes, before the optimizers update),
//! `mid-checkpoint-write` (half of `last.ckpt`'s bytes written to its temporary file),
//! `between-writes` (`last.ckpt` renamed into place, the metrics not yet written).

use std::sync::OnceLock;

fn armed() -> Option<&'static (String, usize, String)> {
    static FAULT: OnceLock<Option<(String, usize, String)>> = OnceLock::new();
    FAULT
        .get_or_init(|| {
            let spec = std::env::var("DML_FAULT").ok()?;
            let (point, step) = spec.split_once('@')?;
            let marker = std::env::var("DML_FAULT_MARKER").ok()?;
            Some((point.to_string(), step.parse().ok()?, marker))
        })
        .as_ref()
}

/// Pauses for good (until killed) when the armed fault is `point` at `step`.
pub fn pause(point: &str, step: usize) {
    if let Some((p, s, marker)) = armed()
        && p == point
        && *s == step
    {
        let _ = std::fs::write(marker, format!("{point}@{step}"));
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}
