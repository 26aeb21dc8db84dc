//! Layered configuration values: a complete default (the typed configuration serialized to
//! JSON) patched by partial values from presets, files and flags.
//!
//! A patch may leave out any key: what it does not say keeps the value below it. Keys it says
//! must exist (an unknown key is an error naming its path and the keys that do exist). An enum
//! is written as its variant's name (`"Cosine"`) or as a one-key table (`{"Lp": {"power": 2}}`);
//! naming another variant than the current one starts from that variant's defaults, which the
//! [`Variants`] registry supplies. Variant names match loosely (case, `_`, `-`, spaces and a
//! trailing `Loss` / `Miner` are ignored), so `am_loss`, `AMLoss` and `amloss` are the same
//! loss.

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{TrainError, TrainResult, io_err};

/// The variants of one enum of the configuration, each with its default value, and the keys
/// under which the enum appears.
#[derive(Debug, Clone)]
pub struct EnumVariants {
    /// The enum's name, for error messages (`"loss"`).
    pub what: &'static str,
    /// The keys whose values are of this enum (`["distance"]`): the innermost key of the value's
    /// path, or, written `^a.b`, the whole path (`^loss` is the top-level `loss` only), where
    /// `**` stands for any run of keys (`^loss.**.loss`: a `loss` anywhere inside the top-level
    /// `loss`, as in a composite loss); for the elements of a list, the list's key. Written
    /// `a.*`, the values of the table under `a`, whose keys are the user's own (`reducers.*`: a
    /// reducer per sub-loss name).
    pub keys: &'static [&'static str],
    /// `(variant name, serialized default)` in declaration order.
    pub variants: Vec<(String, Value)>,
}

impl EnumVariants {
    /// The variants of `defaults` (one value per variant), serialized.
    pub fn of<T: Serialize>(
        what: &'static str,
        keys: &'static [&'static str],
        defaults: &[T],
    ) -> Self {
        let variants = defaults
            .iter()
            .filter_map(|d| {
                let v = serde_json::to_value(d).ok()?;
                Some((variant_name(&v)?.to_string(), v))
            })
            .collect();
        Self { what, keys, variants }
    }

    fn find(&self, name: &str) -> Option<&(String, Value)> {
        self.variants.iter().find(|(v, _)| loosely_equal(v, name))
    }

    fn names(&self) -> Vec<&str> {
        self.variants.iter().map(|(n, _)| n.as_str()).collect()
    }
}

/// Everything [`patch`] needs to know about the configuration's types: the enums (to switch
/// variants) and the defaults of optional tables (to fill a table that was `null`).
#[derive(Debug, Clone, Default)]
pub struct Variants {
    /// The enums.
    pub enums: Vec<EnumVariants>,
    /// `(key, default)`: an optional table under `key` starts from `default` when a patch
    /// gives it; `key[]` is an element of the list under `key` (each table of a list starts
    /// from the default, so the enums inside it are filled in too).
    pub optional_tables: Vec<(&'static str, Value)>,
}

impl Variants {
    /// The enum whose values sit at `path`: by the whole path (`^a.b` keys) or by its innermost
    /// named key.
    fn enum_at(&self, path: &[String]) -> Option<&EnumVariants> {
        let named: Vec<&str> =
            path.iter().map(String::as_str).filter(|k| k.parse::<usize>().is_err()).collect();
        let key = *named.last()?;
        // A value of a user-keyed table (`a.*`) is of that table's enum whatever its key is (a
        // sub-loss named `loss` under `reducers` is a reducer, not a loss).
        if let Some(in_map) = named.len().checked_sub(2).map(|i| format!("{}.*", named[i]))
            && let Some(e) = self.enums.iter().find(|e| e.keys.contains(&in_map.as_str()))
        {
            return Some(e);
        }
        self.enums.iter().find(|e| {
            e.keys.iter().any(|k| match k.strip_prefix('^') {
                Some(pattern) => path_matches(&pattern.split('.').collect::<Vec<_>>(), &named),
                None => *k == key,
            })
        })
    }

    /// Whether the table at `path` has keys of the user's choosing (a registered `a.*` key).
    fn is_open_table(&self, path: &[String]) -> bool {
        let Some(last) = path.iter().rev().find(|k| k.parse::<usize>().is_err()) else {
            return false;
        };
        let open = format!("{last}.*");
        self.enums.iter().any(|e| e.keys.contains(&open.as_str()))
    }

    /// The default of the optional table at `path`: by its key, or, for an element of a list,
    /// by the list's key followed by `[]`.
    fn optional_table(&self, path: &[String]) -> Option<&Value> {
        let last = path.last()?;
        let key = if last.parse::<usize>().is_ok() {
            format!("{}[]", path.iter().rev().nth(1)?)
        } else {
            last.clone()
        };
        self.optional_tables.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

/// Whether the keys `path` match `pattern`, where a `**` in the pattern matches any run of keys
/// (none included).
fn path_matches(pattern: &[&str], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((&"**", rest)) => (0..=path.len()).any(|skip| path_matches(rest, &path[skip..])),
        Some((head, rest)) => path.first() == Some(head) && path_matches(rest, &path[1..]),
    }
}

/// The variant named by an enum-shaped value: a string, or the key of a one-key table.
pub fn variant_name(value: &Value) -> Option<&str> {
    match value {
        Value::String(s) => Some(s),
        Value::Object(m) if m.len() == 1 => m.keys().next().map(String::as_str),
        _ => None,
    }
}

/// `given` names `canonical` when both agree ignoring case, `_`, `-` and spaces, optionally
/// without a trailing `loss` or `miner` on the canonical name.
pub fn loosely_equal(canonical: &str, given: &str) -> bool {
    let squash = |s: &str| -> String {
        s.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect()
    };
    let (c, g) = (squash(canonical), squash(given));
    if c == g {
        return true;
    }
    ["loss", "miner"].iter().any(|suffix| {
        c.strip_suffix(suffix).is_some_and(|stem| !stem.is_empty() && stem == g)
            || g.strip_suffix(suffix).is_some_and(|stem| !stem.is_empty() && stem == c)
    })
}

fn joined(path: &[String]) -> String {
    if path.is_empty() { "(top level)".into() } else { path.join(".") }
}

fn config_error(path: &[String], what: String) -> TrainError {
    TrainError::Config(format!("`{}`: {what}", joined(path)))
}

/// Applies `user` on top of `base` (both JSON values of the same configuration type).
///
/// # Errors
/// [`TrainError::Config`] naming the key path of an unknown key or an unknown variant.
pub fn patch(base: &mut Value, user: &Value, variants: &Variants) -> TrainResult<()> {
    patch_at(base, user, variants, &mut Vec::new())
}

fn patch_at(
    base: &mut Value,
    user: &Value,
    variants: &Variants,
    path: &mut Vec<String>,
) -> TrainResult<()> {
    if user.is_null() {
        *base = Value::Null;
        return Ok(());
    }
    // An enum: the key holds a registered enum.
    if let Some(kind) = variants.enum_at(path) {
        let wanted = variant_name(user).ok_or_else(|| {
            config_error(
                path,
                format!(
                    "expected a {} name or a one-key table naming it (one of {}), got {user}",
                    kind.what,
                    kind.names().join(", ")
                ),
            )
        })?;
        let Some((name, default)) = kind.find(wanted) else {
            return Err(config_error(
                path,
                format!(
                    "unknown {} `{wanted}`; expected one of {}",
                    kind.what,
                    kind.names().join(", ")
                ),
            ));
        };
        if variant_name(base) != Some(name.as_str()) {
            *base = default.clone();
        }
        let inner_user = match user {
            Value::Object(u) => u.values().next(),
            _ => None,
        };
        match (&mut *base, inner_user) {
            (Value::Object(b), Some(inner_user)) => {
                if let Some(inner_base) = b.get_mut(name) {
                    path.push(name.clone());
                    patch_at(inner_base, inner_user, variants, path)?;
                    path.pop();
                }
            }
            (Value::String(_), Some(inner))
                if !inner.is_null() && !inner.as_object().is_some_and(Map::is_empty) =>
            {
                return Err(config_error(path, format!("`{name}` takes no settings, got {inner}")));
            }
            _ => {}
        }
        return Ok(());
    }
    match (&mut *base, user) {
        (Value::Null, _) => {
            if let Some(default) = variants.optional_table(path) {
                *base = default.clone();
                return patch_at(base, user, variants, path);
            }
            *base = fill_array_defaults(user, variants, path)?;
            Ok(())
        }
        (Value::Object(b), Value::Object(u)) => {
            let open = variants.is_open_table(path);
            for (key, value) in u {
                // The user's own keys (sub-loss names) are kept as written.
                let key = if open { key.clone() } else { key.replace('-', "_") };
                path.push(key.clone());
                match b.get_mut(&key) {
                    Some(slot) => patch_at(slot, value, variants, path)?,
                    None if open => {
                        let mut slot = Value::Null;
                        patch_at(&mut slot, value, variants, path)?;
                        b.insert(key, slot);
                    }
                    None => {
                        let known: Vec<&str> = b.keys().map(String::as_str).collect();
                        return Err(config_error(
                            path,
                            format!("unknown setting; the settings here are {}", known.join(", ")),
                        ));
                    }
                }
                path.pop();
            }
            Ok(())
        }
        (_, user) => {
            *base = fill_array_defaults(user, variants, path)?;
            Ok(())
        }
    }
}

/// Arrays of enum values (a list of transforms) get each element's variant defaults.
fn fill_array_defaults(
    user: &Value,
    variants: &Variants,
    path: &mut Vec<String>,
) -> TrainResult<Value> {
    let Value::Array(items) = user else { return Ok(user.clone()) };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let mut slot = Value::Null;
        path.push(i.to_string());
        patch_at(&mut slot, item, variants, path)?;
        path.pop();
        out.push(slot);
    }
    Ok(Value::Array(out))
}

/// Deserializes a patched value, naming the key path of a value of the wrong type.
pub fn from_value<T: DeserializeOwned>(value: Value, source: &str) -> TrainResult<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        TrainError::Config(format!("{source}: `{path}`: {}", e.into_inner()))
    })
}

/// Reads a `.json` or `.toml` file as a JSON value.
///
/// # Errors
/// [`TrainError::Io`] naming the file, or [`TrainError::Config`] with the file and the parser's
/// line and column.
pub fn read_file(path: &Path) -> TrainResult<Value> {
    let text = std::fs::read_to_string(path).map_err(io_err("reading config", path))?;
    let shown = path.display();
    match path.extension().and_then(|e| e.to_str()) {
        Some("toml") => {
            let table: toml::Table =
                toml::from_str(&text).map_err(|e| TrainError::Config(format!("{shown}: {e}")))?;
            serde_json::to_value(table).map_err(|e| TrainError::Config(format!("{shown}: {e}")))
        }
        Some("json") => {
            serde_json::from_str(&text).map_err(|e| TrainError::Config(format!("{shown}: {e}")))
        }
        _ => Err(TrainError::Config(format!(
            "{shown}: configuration files must end in .json or .toml"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn registry() -> Variants {
        Variants {
            enums: vec![EnumVariants {
                what: "distance",
                keys: &["distance"],
                variants: vec![
                    ("Lp".into(), json!({"Lp": {"normalize": true, "power": 1.0}})),
                    ("Cosine".into(), json!("Cosine")),
                ],
            }],
            optional_tables: vec![("memory", json!({"size": 1024}))],
        }
    }

    #[test]
    fn keys_patch_and_unknown_keys_name_their_path() {
        let mut base = json!({"a": {"b": 1, "c": 2}, "memory": null});
        patch(&mut base, &json!({"a": {"c": 5}, "memory": {}}), &registry()).unwrap();
        assert_eq!(base, json!({"a": {"b": 1, "c": 5}, "memory": {"size": 1024}}));
        let err = patch(&mut base, &json!({"a": {"d": 1}}), &registry()).unwrap_err();
        assert!(err.to_string().contains("`a.d`: unknown setting"), "{err}");
        assert!(err.to_string().contains("b, c"), "{err}");
    }

    #[test]
    fn variants_switch_to_their_defaults_and_match_loosely() {
        let mut base = json!({"distance": "Cosine"});
        patch(&mut base, &json!({"distance": {"lp": {"power": 2.0}}}), &registry()).unwrap();
        assert_eq!(base, json!({"distance": {"Lp": {"normalize": true, "power": 2.0}}}));
        patch(&mut base, &json!({"distance": "COSINE"}), &registry()).unwrap();
        assert_eq!(base, json!({"distance": "Cosine"}));
        let err = patch(&mut base, &json!({"distance": "Manhattan"}), &registry()).unwrap_err();
        // a table of the user's own keys, each value an enum
        let mut reg = registry();
        reg.enums[0].keys = &["distance", "per_name.*"];
        let mut base = json!({"per_name": {}});
        patch(&mut base, &json!({"per_name": {"pos_loss": "cosine", "neg-loss": "lp"}}), &reg)
            .unwrap();
        assert_eq!(
            base,
            json!({"per_name": {"pos_loss": "Cosine", "neg-loss": {"Lp": {"normalize": true, "power": 1.0}}}})
        );
        assert!(err.to_string().contains("unknown distance `Manhattan`"), "{err}");
        assert!(loosely_equal("ProxyAnchorLoss", "Proxy_Anchor"));
        assert!(loosely_equal("AMLoss", "am_loss"));
        assert!(loosely_equal("BatchHardMiner", "batch-hard"));
        assert!(!loosely_equal("TripletMarginLoss", "triplet"));
    }

    #[test]
    fn nested_enums_and_list_elements_get_their_defaults() {
        let registry = Variants {
            enums: vec![EnumVariants {
                what: "loss",
                keys: &["^loss", "^loss.**.loss"],
                variants: vec![
                    ("A".into(), json!({"A": {"x": 1}})),
                    ("Multi".into(), json!({"Multi": {"losses": []}})),
                    ("Wrap".into(), json!({"Wrap": {"loss": {"A": {"x": 1}}}})),
                ],
            }],
            optional_tables: vec![("losses[]", json!({"loss": null, "weight": 1.0}))],
        };
        let mut base = json!({"loss": "A", "optim": {"loss": {"lr": 1}}});
        let user = json!({"loss": {"multi": {"losses": [{"loss": "a"}, {"loss": {"wrap": {}},
            "weight": 2.0}]}}});
        patch(&mut base, &user, &registry).unwrap();
        assert_eq!(
            base["loss"],
            json!({"Multi": {"losses": [
                {"loss": {"A": {"x": 1}}, "weight": 1.0},
                {"loss": {"Wrap": {"loss": {"A": {"x": 1}}}}, "weight": 2.0},
            ]}})
        );
        // `optim.loss` is not a loss: `^loss.**.loss` starts at the top-level `loss`.
        patch(&mut base, &json!({"optim": {"loss": {"lr": 2}}}), &registry).unwrap();
        assert_eq!(base["optim"], json!({"loss": {"lr": 2}}));
        let err =
            patch(&mut base, &json!({"loss": {"multi": {"losses": [{"wieght": 1}]}}}), &registry)
                .unwrap_err();
        assert!(err.to_string().contains("`loss.Multi.losses.0.wieght`: unknown setting"), "{err}");
        assert!(path_matches(&["a", "**", "b"], &["a", "b"]));
        assert!(path_matches(&["a", "**", "b"], &["a", "x", "y", "b"]));
        assert!(!path_matches(&["a", "**", "b"], &["a", "x"]));
    }
}
