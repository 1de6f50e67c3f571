//! Record-store rules (SPEC §4.2): which paths a write changed, `modificationdate` stamping, and
//! ISO 8601 dates. Pure functions: the API module does the I/O.

use cxhooks_catalog::{Entity, FieldType};
use serde_json::{Map, Value};

/// The dictionary of a record that holds its additional fields (`additionalinfo.shoesize`).
pub const ADDITIONAL_INFO: &str = "additionalinfo";

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

fn collect_all(prefix: &str, v: &Value, out: &mut Vec<String>) {
    if !prefix.is_empty() {
        out.push(prefix.to_owned());
    }
    if let Value::Object(map) = v {
        for (k, child) in map {
            collect_all(&join(prefix, k), child, out);
        }
    }
}

/// Every path of a record, parents and leaves, sorted: the changed paths of a creation.
pub fn all_paths(record: &Value) -> Vec<String> {
    let mut out = Vec::new();
    collect_all("", record, &mut out);
    out.sort();
    out
}

fn diff(prefix: &str, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<String>) -> bool {
    match (old, new) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let mut changed = false;
            let keys: Vec<&String> = a
                .keys()
                .chain(b.keys().filter(|k| !a.contains_key(*k)))
                .collect();
            for k in keys {
                changed |= diff(&join(prefix, k), a.get(k), b.get(k), out);
            }
            if changed && !prefix.is_empty() {
                out.push(prefix.to_owned());
            }
            changed
        }
        (a, b) if a == b => false,
        (a, b) => {
            // A value replaced, added or removed: the path, and everything below it on either side.
            out.push(prefix.to_owned());
            for side in [a, b].into_iter().flatten() {
                if let Value::Object(map) = side {
                    for (k, child) in map {
                        collect_all(&join(prefix, k), child, out);
                    }
                }
            }
            true
        }
    }
}

/// The paths a write changed: each changed leaf and every parent of it, sorted, without
/// duplicates.
pub fn changed_paths(old: &Value, new: &Value) -> Vec<String> {
    let mut out = Vec::new();
    diff("", Some(old), Some(new), &mut out);
    out.sort();
    out.dedup();
    out
}

/// Sets `modificationdate` on the record, and on every embedded object whose content changed
/// (a candidate's `touser` when its last name changes), as Carerix does; not in the
/// `additionalinfo` dictionary, which holds the record's additional fields. Returns the paths it
/// set: they are changed paths even when two writes fall in the same millisecond.
pub fn stamp_modification(old: Option<&Value>, new: &mut Value, now: &str) -> Vec<String> {
    let Some(map) = new.as_object_mut() else {
        return Vec::new();
    };
    let old_map = old.and_then(Value::as_object);
    let mut stamped = vec!["modificationdate".to_owned()];
    for (key, value) in map.iter_mut() {
        // `additionalinfo` is a dictionary of the record's own fields, not an embedded record.
        if key == ADDITIONAL_INFO {
            continue;
        }
        let before = old_map.and_then(|o| o.get(key));
        if let Value::Object(inner) = value
            && before != Some(&Value::Object(inner.clone()))
        {
            inner.insert("modificationdate".into(), Value::from(now));
            stamped.push(key.clone());
            stamped.push(format!("{key}.modificationdate"));
        }
    }
    map.insert("modificationdate".into(), Value::from(now));
    stamped
}

/// The changed paths of an update: the difference, plus what stamping set.
pub fn update_paths(old: &Value, new: &Value, stamped: Vec<String>) -> Vec<String> {
    let mut paths = changed_paths(old, new);
    paths.extend(stamped);
    paths.sort();
    paths.dedup();
    paths
}

fn at_path<'v>(record: &'v Map<String, Value>, path: &str) -> Option<&'v Value> {
    let mut segments = path.split('.');
    let mut v = record.get(segments.next()?)?;
    for s in segments {
        v = v.as_object()?.get(s)?;
    }
    Some(v)
}

fn iso_date(s: &str) -> bool {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

fn iso_datetime(s: &str) -> bool {
    iso_date(s)
        || chrono::DateTime::parse_from_rfc3339(s).is_ok()
        || chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").is_ok()
        || chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").is_ok()
}

/// Checks the catalog's date and datetime fields: dates are ISO 8601 (`2026-11-22`), never
/// `dd-mm-jjjj`. Returns (path, message) for each problem.
pub fn check_dates(entity: &Entity, record: &Map<String, Value>) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    for field in &entity.fields {
        let check: fn(&str) -> bool = match field.field_type {
            FieldType::Date => iso_date,
            FieldType::Datetime => iso_datetime,
            _ => continue,
        };
        for path in std::iter::once(&field.path).chain(field.alt_path.as_ref()) {
            if let Some(Value::String(s)) = at_path(record, path)
                && !check(s)
            {
                let example = if field.field_type == FieldType::Date {
                    "2026-11-22"
                } else {
                    "2026-11-22T10:00:00Z"
                };
                problems.push((
                    format!("/{}", path.replace('.', "/")),
                    format!("'{s}' is not an ISO 8601 date: write {path} like {example} (not dd-mm-jjjj)"),
                ));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn patching_a_last_name_changes_exactly_the_seed_paths() {
        let old = json!({"touser": {"lastname": "Jansen", "firstname": "Eva", "modificationdate": "2026-01-01T00:00:00Z"},
            "hascar": 1, "modificationdate": "2026-01-01T00:00:00Z"});
        let mut new = old.clone();
        new["touser"]["lastname"] = json!("Müller");
        let stamped = stamp_modification(Some(&old), &mut new, "2026-11-23T10:00:00Z");
        let expected = [
            "modificationdate",
            "touser",
            "touser.lastname",
            "touser.modificationdate",
        ];
        assert_eq!(update_paths(&old, &new, stamped), expected);
        // Stamped in the same instant as the old value: still reported.
        let mut same = old.clone();
        same["touser"]["lastname"] = json!("Müller");
        let stamped = stamp_modification(Some(&old), &mut same, "2026-01-01T00:00:00Z");
        assert_eq!(update_paths(&old, &same, stamped), expected);
        assert_eq!(
            changed_paths(&old, &new),
            [
                "modificationdate",
                "touser",
                "touser.lastname",
                "touser.modificationdate"
            ]
        );
        assert_eq!(new["touser"]["modificationdate"], "2026-11-23T10:00:00Z");
        assert_eq!(new["modificationdate"], "2026-11-23T10:00:00Z");
    }

    #[test]
    fn added_removed_and_replaced_values() {
        let old = json!({"a": 1, "b": {"c": 2}, "d": [1]});
        let new = json!({"a": 1, "b": 5, "d": [2], "e": {"f": {"g": 1}}});
        assert_eq!(
            changed_paths(&old, &new),
            ["b", "b.c", "d", "e", "e.f", "e.f.g"]
        );
        assert!(changed_paths(&old, &old).is_empty());
        assert_eq!(
            all_paths(&json!({"x": {"y": 1}, "z": 2})),
            ["x", "x.y", "z"]
        );
    }

    #[test]
    fn dates_are_iso() {
        let catalog = cxhooks_catalog::Catalog::builtin();
        let employee = catalog.entity("cremployee").unwrap();
        let ok = json!({"touser": {"birthdate": "1990-05-17"}, "modificationdate": "2026-11-23T10:00:00Z"});
        assert!(check_dates(employee, ok.as_object().unwrap()).is_empty());
        let bad = json!({"touser": {"birthdate": "17-05-1990"}});
        let problems = check_dates(employee, bad.as_object().unwrap());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].0, "/touser/birthdate");
        assert!(problems[0].1.contains("not dd-mm-jjjj"));
    }
}
