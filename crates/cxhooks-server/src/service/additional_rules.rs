//! What additional fields mean for the rest: the catalog conditions are checked against, the
//! tests a field's type can never pass (errors), whether a condition uses a field, and the
//! values records may hold. See [`super::additional`].

use super::additional::DICTIONARY;
use super::input::{Problems, pointer};
use cxhooks_catalog::{Catalog, Field};
use cxhooks_condition::{CompareOp, Literal, Root, Test};
use cxhooks_store::AdditionalField;
use serde_json::{Map, Value};

/// The catalog type a definition's values are checked as.
fn catalog_type(field_type: &str) -> cxhooks_catalog::FieldType {
    use cxhooks_catalog::FieldType as T;
    match field_type {
        "number" => T::Number,
        "date" => T::Date,
        "boolean" => T::Boolean,
        "lookup" => T::Relation,
        _ => T::String,
    }
}

/// The built-in catalog with the tenant's additional fields as fields of their entities.
pub fn catalog_with(fields: &[AdditionalField]) -> Catalog {
    let mut catalog = Catalog::builtin().clone();
    for f in fields {
        let field = Field {
            path: format!("{DICTIONARY}.{}", f.key),
            carerix_name: format!("additionalInfo.{}", f.key),
            label: f.label.clone(),
            field_type: catalog_type(&f.field_type),
            target: (f.field_type == "lookup").then(|| "crdatanode".to_owned()),
            seed: false,
            graphql_only: false,
            alt_path: None,
        };
        // A definition whose entity left the catalog names nothing to check.
        let _ = catalog.add_field(&f.entity, field);
    }
    catalog
}

/// An ISO 8601 date (`2026-11-22`) or its start (`2026`, `2026-11`).
fn iso_date_or_prefix(s: &str) -> bool {
    let full = match s.len() {
        4 => format!("{s}-01-01"),
        7 => format!("{s}-01"),
        _ => s.to_owned(),
    };
    chrono::NaiveDate::parse_from_str(&full, "%Y-%m-%d").is_ok()
}

/// Why `test` can never hold for an additional field of type `field_type`, if so.
fn mismatch(field_type: &str, test: &Test) -> Option<String> {
    // The evaluator compares a string and a number by their text (`eq '44'` matches 44), and
    // strings in order (`ge '2026'` matches 2026 dates): only what can never match is refused.
    let literal_fits = |l: &Literal| match (field_type, l) {
        (_, Literal::Null) => true,
        ("number", Literal::Number(_)) => true,
        ("number", Literal::String(s)) => s.parse::<f64>().is_ok(),
        ("string", Literal::String(_) | Literal::Number(_)) => true,
        ("date", Literal::String(s)) => iso_date_or_prefix(s),
        ("boolean", Literal::Bool(_)) => true,
        ("boolean", Literal::Number(n)) => matches!(n.as_str(), "0" | "1"),
        ("lookup", Literal::Number(_)) => true,
        ("lookup", Literal::String(s)) => !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()),
        _ => false,
    };
    let expected = match field_type {
        "number" => "a number, like 44",
        "string" => "a quoted text, like 'large'",
        "date" => "an ISO 8601 date in quotes, like '2026-11-22' (or its start, '2026-11')",
        "boolean" => "true, false, 1 or 0",
        _ => "the id of a crdatanode, like 1234",
    };
    match test {
        Test::Exists | Test::Missing => None,
        Test::Text(..) if matches!(field_type, "string" | "date") => None,
        Test::Text(..) => Some(format!(
            "contains, startswith and endswith test text; this {field_type} holds none"
        )),
        Test::Has(..) => Some(format!(
            "has … of tests a list; this {field_type} holds one value (use in [...])"
        )),
        Test::Compare(op, _)
            if matches!(field_type, "boolean" | "lookup")
                && !matches!(op, CompareOp::Eq | CompareOp::Ne) =>
        {
            Some(format!(
                "a {field_type} is only equal or not: use eq or ne, not an ordering"
            ))
        }
        Test::Compare(_, l) if !literal_fits(l) => Some(format!("compare it with {expected}")),
        Test::In(items) if !items.iter().all(literal_fits) => {
            Some(format!("list values like {expected}"))
        }
        _ => None,
    }
}

/// Type errors of `source`, a condition for changes of `entity`, against the tenant's
/// additional fields: one message per test a defined field's type can never pass.
pub fn type_errors(source: &str, entity: &str, fields: &[AdditionalField]) -> Vec<String> {
    let Ok(condition) = cxhooks_condition::parse(source) else {
        return Vec::new(); // its syntax is reported by the compiler
    };
    let mut errors = Vec::new();
    for predicate in condition.predicates() {
        let path = &predicate.path;
        let segments = path.segments();
        if path.root() != Root::Data || segments.len() != 2 || segments[0] != DICTIONARY {
            continue;
        }
        let Some(field) = fields
            .iter()
            .find(|f| f.entity == entity && f.key == segments[1])
        else {
            continue;
        };
        if let Some(why) = mismatch(&field.field_type, &predicate.test) {
            errors.push(format!(
                "{path} at column {} is the additional field '{}' of type {}: {why}",
                path.column(),
                field.label,
                field.field_type
            ));
        }
    }
    errors
}

/// How a condition uses an additional field `key`: `own` when it is a filter of the field's
/// entity (`data.additionalinfo.{key}`, or `additionalinfo.{key}` as a changed path), else
/// only through a relation (`data.toemployee.additionalinfo.{key}` in a placement's filter).
pub(crate) fn uses(source: &str, key: &str, own: bool) -> bool {
    let Ok(condition) = cxhooks_condition::parse(source) else {
        return false;
    };
    let changed = format!("{DICTIONARY}.{key}");
    condition.predicates().iter().any(|p| {
        let s = p.path.segments();
        let at = s.windows(2).position(|w| w[0] == DICTIONARY && w[1] == key);
        let as_data = p.path.root() == Root::Data
            && match at {
                Some(0) => own,
                Some(_) => true,
                None => false,
            };
        let as_path = own
            && match &p.test {
                Test::Has(_, items) | Test::In(items) => items
                    .iter()
                    .any(|l| matches!(l, Literal::String(t) if *t == changed)),
                Test::Compare(_, Literal::String(t)) | Test::Text(_, t) => *t == changed,
                _ => false,
            };
        as_data || as_path
    })
}

/// Checks a record's `additionalinfo` values against the tenant's definitions for `entity`.
pub fn check_values(
    p: &mut Problems,
    entity: &str,
    record: &Map<String, Value>,
    fields: &[AdditionalField],
) {
    let Some(info) = record.get(DICTIONARY) else {
        return;
    };
    let Some(info) = info.as_object() else {
        p.add(
            format!("/{DICTIONARY}"),
            "additionalinfo holds the additional fields as an object, like {\"shoesize\": 44}",
        );
        return;
    };
    for f in fields.iter().filter(|f| f.entity == entity) {
        let Some(value) = info.get(&f.key) else {
            continue;
        };
        let ok = match (f.field_type.as_str(), value) {
            (_, Value::Null) => true,
            ("number", Value::Number(_)) => true,
            ("string", Value::String(_)) => true,
            ("date", Value::String(s)) => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok(),
            ("boolean", Value::Bool(_)) => true,
            ("boolean", Value::Number(n)) => n.as_u64().is_some_and(|n| n <= 1),
            ("lookup", Value::Number(n)) => n.as_u64().is_some(),
            ("lookup", Value::String(s)) => !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()),
            _ => false,
        };
        if !ok {
            let expected = match f.field_type.as_str() {
                "number" => "a number (44, 44.5)",
                "string" => "a text",
                "date" => "an ISO 8601 date (\"2026-11-22\")",
                "boolean" => "true, false, 1 or 0",
                _ => "the id of a crdatanode (1234)",
            };
            p.add(
                pointer(&format!("/{DICTIONARY}"), &f.key),
                format!("'{}' ({}) is {expected}, found {value}", f.key, f.label),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shoesize(t: &str) -> Vec<AdditionalField> {
        vec![AdditionalField {
            entity: "cremployee".into(),
            key: "shoesize".into(),
            label: "Shoe size".into(),
            field_type: t.into(),
            created_at: 0,
            created_by: "c".into(),
        }]
    }

    #[test]
    fn tests_a_type_can_never_pass_are_errors() {
        let number = shoesize("number");
        assert!(
            type_errors("data.additionalinfo.shoesize gt 44", "cremployee", &number).is_empty()
        );
        assert!(
            type_errors(
                "data.additionalinfo.shoesize in [43, 44]",
                "cremployee",
                &number
            )
            .is_empty()
        );
        // Compared by text, '44' can match 44; a string field can equal a number's text.
        assert!(
            type_errors(
                "data.additionalinfo.shoesize eq '44'",
                "cremployee",
                &number
            )
            .is_empty()
        );
        assert!(
            type_errors(
                "data.additionalinfo.shoesize eq 44",
                "cremployee",
                &shoesize("string")
            )
            .is_empty()
        );
        assert!(
            type_errors(
                "data.additionalinfo.shoesize ge '2026'",
                "cremployee",
                &shoesize("date")
            )
            .is_empty()
        );
        let e = type_errors(
            "data.additionalinfo.shoesize gt 'large'",
            "cremployee",
            &number,
        );
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].contains("column 1") && e[0].contains("compare it with a number"),
            "{e:?}"
        );
        assert_eq!(
            type_errors(
                "data.additionalinfo.shoesize contains '4'",
                "cremployee",
                &number
            )
            .len(),
            1
        );
        // Another entity's filter, or an undefined key, is not checked here.
        assert!(
            type_errors("data.additionalinfo.shoesize gt 'x'", "crvacancy", &number).is_empty()
        );
        assert!(type_errors("data.additionalinfo.other gt 'x'", "cremployee", &number).is_empty());
        let flag = shoesize("boolean");
        assert!(type_errors("data.additionalinfo.shoesize eq 1", "cremployee", &flag).is_empty());
        assert_eq!(
            type_errors("data.additionalinfo.shoesize gt 0", "cremployee", &flag).len(),
            1
        );
        let date = shoesize("date");
        assert_eq!(
            type_errors(
                "data.additionalinfo.shoesize ge '22-11-2026'",
                "cremployee",
                &date
            )
            .len(),
            1
        );
    }

    #[test]
    fn a_condition_uses_a_field_by_path_or_as_a_changed_path() {
        let own = |c: &str| uses(c, "shoesize", true);
        assert!(own("data.additionalinfo.shoesize gt 44"));
        assert!(own("metadata.paths has any of ['additionalinfo.shoesize']"));
        assert!(own("metadata.paths contains 'additionalinfo.shoesize'"));
        assert!(!own("metadata.paths has any of ['additionalinfo.shoes']"));
        assert!(!own("data.shoesize gt 44"));
        // A placement's filter reaches the candidate's field through a relation.
        let other = |c: &str| uses(c, "shoesize", false);
        assert!(other("data.toemployee.additionalinfo.shoesize gt 44"));
        assert!(!other("data.additionalinfo.shoesize gt 44"));
        assert!(!other(
            "metadata.paths has any of ['additionalinfo.shoesize']"
        ));
    }
}
