//! Content hashes that tie results to what produced them: the SHA-256 of a model's weights
//! (its checkpoint section) and of a run's configuration, and the differences between two
//! configurations by key path.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::TrainConfig;

/// The hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The hex SHA-256 of a module's weights: every float parameter and running statistic, in
/// visiting order, as its shape and its little-endian `f32` values. Parameter ids (random per
/// process) do not enter, so the same weights hash the same in every run and after a reload.
pub fn weights_hash<M: Module>(module: &M) -> String {
    struct Hash(Sha256);
    impl ModuleVisitor for Hash {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let t = param.val();
            for d in t.dims() {
                self.0.update((d as u64).to_le_bytes());
            }
            let data = t.into_data().convert::<f32>();
            self.0.update(data.as_bytes());
        }
    }
    let mut h = Hash(Sha256::new());
    module.valid().visit(&mut h);
    h.0.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The settings that do not change what a run computes, left out of its configuration hash
/// and of the resume comparison: where it resumes from and writes to, step limits of smoke
/// runs, logging, loader threads, and the one-off `overwrite` / `allow_config_change` switches.
pub const NEUTRAL_SETTINGS: [&str; 8] = [
    "/run/resume",
    "/run/output_dir",
    "/run/max_steps",
    "/run/log_every",
    "/run/overwrite",
    "/run/allow_config_change",
    "/data/num_workers",
    "/data/dir",
];

/// `config` as JSON without the [`NEUTRAL_SETTINGS`].
pub fn computing_settings(config: &TrainConfig) -> Value {
    let mut v = serde_json::to_value(config).unwrap_or(Value::Null);
    for pointer in NEUTRAL_SETTINGS {
        if let Some(slot) = v.pointer_mut(pointer) {
            *slot = Value::Null;
        }
    }
    v
}

/// The hex SHA-256 of [`computing_settings`] (keys in a fixed order).
pub fn config_hash(config: &TrainConfig) -> String {
    sha256_hex(serde_json::to_string(&computing_settings(config)).unwrap_or_default().as_bytes())
}

/// Every key path where `a` and `b` differ, as `path: a -> b`.
pub fn differences(a: &Value, b: &Value) -> Vec<String> {
    fn walk(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                    walk(
                        &p,
                        x.get(k).unwrap_or(&Value::Null),
                        y.get(k).unwrap_or(&Value::Null),
                        out,
                    );
                }
            }
            _ if a != b => out.push(format!("{path}: {a} -> {b}")),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk("", a, b, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hashes_are_sha256_and_differences_name_paths() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let d = differences(&json!({"a": {"b": 1, "c": 2}}), &json!({"a": {"b": 1, "c": 3}}));
        assert_eq!(d, vec!["a.c: 2 -> 3"]);
    }
}
