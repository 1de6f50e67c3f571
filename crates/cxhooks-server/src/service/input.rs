//! Request bodies validated field by field, so that every problem is reported at once with its
//! JSON Pointer, and JSON Merge Patch (RFC 7396). Reading them is `body`'s.

pub use super::body::{parse_json, parse_patch};
use crate::error::{ApiError, FieldError};
use serde_json::{Map, Value};

/// Applies a JSON Merge Patch (RFC 7396) to `target`.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let map = target.as_object_mut().expect("made an object above");
    for (key, value) in patch {
        if value.is_null() {
            map.remove(key);
        } else {
            merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// Escapes a key for a JSON Pointer (RFC 6901).
pub fn pointer(base: &str, key: &str) -> String {
    format!("{base}/{}", key.replace('~', "~0").replace('/', "~1"))
}

/// "a webhook", "an Application".
fn with_article(noun: &str) -> String {
    let vowel = noun
        .chars()
        .next()
        .is_some_and(|c| "aeiouAEIOU".contains(c));
    format!("{} {noun}", if vowel { "an" } else { "a" })
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Collects every problem of a body, each with its JSON Pointer.
#[derive(Debug, Default)]
pub struct Problems {
    /// What was found so far.
    pub errors: Vec<FieldError>,
    /// Accepted with a warning (reported in the answer's `warnings`).
    pub warnings: Vec<FieldError>,
}

impl Problems {
    /// Records a problem.
    pub fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError {
            path: path.into(),
            message: message.into(),
        });
    }

    /// Records a warning.
    pub fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(FieldError {
            path: path.into(),
            message: message.into(),
        });
    }

    /// The body must be an object with only `allowed` keys.
    pub fn object<'v>(
        &mut self,
        value: &'v Value,
        path: &str,
        kind: &str,
        allowed: &[&str],
    ) -> Option<&'v Map<String, Value>> {
        let Some(map) = value.as_object() else {
            self.add(
                path,
                format!(
                    "expected {} object, found {}",
                    with_article(kind),
                    type_name(value)
                ),
            );
            return None;
        };
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) {
                self.add(
                    pointer(path, key),
                    format!(
                        "unknown field '{key}': {} has {}",
                        with_article(kind),
                        allowed.join(", ")
                    ),
                );
            }
        }
        Some(map)
    }

    /// A string member; `None` when absent (reported if `required`) or of another type.
    pub fn string<'v>(
        &mut self,
        map: &'v Map<String, Value>,
        base: &str,
        key: &str,
        required: bool,
    ) -> Option<&'v str> {
        match map.get(key) {
            None | Some(Value::Null) => {
                if required {
                    self.add(pointer(base, key), format!("'{key}' is required"));
                }
                None
            }
            Some(Value::String(s)) => Some(s),
            Some(other) => {
                self.add(
                    pointer(base, key),
                    format!("'{key}' must be a string, found {}", type_name(other)),
                );
                None
            }
        }
    }

    /// An array member; `None` when absent (reported if `required`) or of another type.
    pub fn array<'v>(
        &mut self,
        map: &'v Map<String, Value>,
        base: &str,
        key: &str,
        required: bool,
    ) -> Option<&'v Vec<Value>> {
        match map.get(key) {
            None | Some(Value::Null) => {
                if required {
                    self.add(pointer(base, key), format!("'{key}' is required"));
                }
                None
            }
            Some(Value::Array(a)) => Some(a),
            Some(other) => {
                self.add(
                    pointer(base, key),
                    format!("'{key}' must be an array, found {}", type_name(other)),
                );
                None
            }
        }
    }

    /// A number member; `None` when absent or null, or of another type (reported, with what
    /// the member is: `expected`).
    pub fn number<'v>(
        &mut self,
        map: &'v Map<String, Value>,
        base: &str,
        key: &str,
        expected: &str,
    ) -> Option<&'v serde_json::Number> {
        match map.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(n),
            Some(other) => {
                self.add(
                    pointer(base, key),
                    format!("'{key}' must be {expected}, found {}", type_name(other)),
                );
                None
            }
        }
    }

    /// A boolean member; `None` when absent or null, or of another type (reported).
    pub fn boolean(&mut self, map: &Map<String, Value>, base: &str, key: &str) -> Option<bool> {
        match map.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(other) => {
                self.add(
                    pointer(base, key),
                    format!(
                        "'{key}' must be true or false (without quotes), found {}",
                        type_name(other)
                    ),
                );
                None
            }
        }
    }

    /// `_kind`, if given, must be `kind`.
    pub fn kind(&mut self, map: &Map<String, Value>, kind: &str) {
        if let Some(given) = map.get("_kind")
            && given.as_str() != Some(kind)
        {
            self.add("/_kind", format!("_kind must be '{kind}', found {given}"));
        }
    }

    /// Read-only fields may be sent back unchanged (PUT/PATCH of what GET returned), not changed.
    pub fn unchanged(
        &mut self,
        map: &Map<String, Value>,
        current: &Map<String, Value>,
        keys: &[&str],
    ) {
        for key in keys {
            if let Some(given) = map.get(*key)
                && current.get(*key) != Some(given)
            {
                self.add(
                    pointer("", key),
                    format!("'{key}' is read-only and cannot be changed"),
                );
            }
        }
    }

    /// A 400 with every problem, or nothing.
    pub fn finish(&mut self, what: &str) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            return Ok(());
        }
        let n = self.errors.len();
        let detail = format!(
            "the {what} has {n} problem{}: see errors",
            if n == 1 { "" } else { "s" }
        );
        let refused = ApiError::invalid(detail, std::mem::take(&mut self.errors));
        if self.warnings.is_empty() {
            return Err(refused);
        }
        // What would only have warned is said too, so that one answer tells everything.
        let warnings = serde_json::to_value(&self.warnings).expect("serialisable");
        Err(refused.with("warnings", warnings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut doc, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(doc, json!({"a": "z", "c": {"d": "e"}}));
        merge_patch(&mut doc, &json!({"list": [1]}));
        merge_patch(&mut doc, &json!({"list": [2, 3]}));
        assert_eq!(doc["list"], json!([2, 3]));
    }
}
