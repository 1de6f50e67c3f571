//! Additional fields (seed 004's roadmap: "if additional field 'Shoesize' is changed »
//! notification"): per tenant and entity, the keys of a record's `additionalinfo` with a label
//! and a type. Records hold the values (`additionalinfo.shoesize`); the record store diffs them
//! like any path, so a change names `additionalinfo.shoesize`; conditions address them as
//! `data.additionalinfo.shoesize` and are checked against the tenant's definitions: an
//! undefined key is a warning, a test the type can never pass is an error.

use super::access::{Caller, Verb};
use super::input::{Problems, pointer};
use super::{not_found, rfc3339};
use crate::error::ApiError;
use crate::state::AppState;
use axum::http::StatusCode;
use cxhooks_catalog::{Catalog, Field};
use cxhooks_condition::{CompareOp, Literal, Root, Test};
use cxhooks_store::{AdditionalField, Store, TenantName, from_micros};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// The dictionary of a record that holds its additional fields.
pub const DICTIONARY: &str = "additionalinfo";

/// The value types an additional field may have.
pub const TYPES: [&str; 5] = ["string", "number", "date", "boolean", "lookup"];

/// An additional field as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AdditionalFieldOut)]
pub struct AdditionalFieldOut {
    /// `AdditionalField`.
    #[serde(rename = "_kind")]
    #[schema(pattern = "^AdditionalField$")]
    pub kind: &'static str,
    /// The entity whose records carry it (`cremployee`).
    pub entity: String,
    /// Its key under `additionalinfo` (`shoesize`).
    pub key: String,
    /// Human label (`Shoe size`).
    pub label: String,
    /// `string`, `number`, `date` (ISO 8601), `boolean` (true/false or 1/0) or `lookup` (the id
    /// of a `crdatanode`).
    #[serde(rename = "type")]
    pub field_type: String,
    /// The path conditions and changed paths use (`additionalinfo.shoesize`).
    pub path: String,
    /// When it was created.
    #[serde(rename = "_createdAt")]
    pub created_at: String,
    /// Who created it.
    #[serde(rename = "_createdBy")]
    pub created_by: String,
}

/// What a new additional field is.
#[derive(Debug, ToSchema)]
#[schema(as = AdditionalFieldIn)]
#[allow(dead_code)]
pub struct AdditionalFieldDoc {
    /// An entity of the catalog (`cremployee`).
    entity: String,
    /// 1 to 64 of `a-z`, `0-9`, `_`, starting with a letter (`shoesize`).
    #[schema(pattern = "^[a-z][a-z0-9_]{0,63}$")]
    key: String,
    /// 1 to 200 characters.
    label: String,
    /// `string`, `number`, `date`, `boolean` or `lookup`.
    #[serde(rename = "type")]
    field_type: String,
}

fn view(f: &AdditionalField) -> AdditionalFieldOut {
    AdditionalFieldOut {
        kind: "AdditionalField",
        entity: f.entity.clone(),
        key: f.key.clone(),
        label: f.label.clone(),
        field_type: f.field_type.clone(),
        path: format!("{DICTIONARY}.{}", f.key),
        created_at: rfc3339(from_micros(f.created_at)),
        created_by: f.created_by.clone(),
    }
}

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

/// The tenant's additional fields.
pub async fn of(state: &AppState, tenant: &TenantName) -> Result<Vec<AdditionalField>, ApiError> {
    Ok(state.store.additional_fields(tenant, None).await?)
}

/// What a tenant adds to what conditions may name: its additional fields and its groups.
#[derive(Debug, Clone, Default)]
pub struct Extensions {
    /// Additional fields, by entity and key.
    pub fields: Vec<AdditionalField>,
    /// Groups (`crdatanode` records of type `Group`).
    pub groups: Vec<super::groups::Group>,
}

/// The tenant's [`Extensions`].
pub async fn extensions(state: &AppState, tenant: &TenantName) -> Result<Extensions, ApiError> {
    Ok(Extensions {
        fields: of(state, tenant).await?,
        groups: super::groups::of(&state.store, tenant).await?,
    })
}

/// Why `test` can never hold for an additional field of type `field_type`, if so.
fn mismatch(field_type: &str, test: &Test) -> Option<String> {
    let literal_fits = |l: &Literal| match (field_type, l) {
        (_, Literal::Null) => true,
        ("number", Literal::Number(_)) => true,
        ("string", Literal::String(_)) => true,
        ("date", Literal::String(s)) => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok(),
        ("boolean", Literal::Bool(_)) => true,
        ("boolean", Literal::Number(n)) => matches!(n.as_str(), "0" | "1"),
        ("lookup", Literal::Number(_)) => true,
        ("lookup", Literal::String(s)) => !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()),
        _ => false,
    };
    let expected = match field_type {
        "number" => "a number, like 44",
        "string" => "a quoted text, like 'large'",
        "date" => "an ISO 8601 date in quotes, like '2026-11-22'",
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

/// Whether a condition of a filter of `entity` uses additional field `key`: as a
/// `data.additionalinfo.{key}` path, or as `additionalinfo.{key}` in a list of changed paths.
fn uses(source: &str, key: &str) -> bool {
    let Ok(condition) = cxhooks_condition::parse(source) else {
        return false;
    };
    let changed = format!("{DICTIONARY}.{key}");
    condition.predicates().iter().any(|p| {
        let s = p.path.segments();
        let as_data =
            p.path.root() == Root::Data && s.len() >= 2 && s[0] == DICTIONARY && s[1] == key;
        let as_path = match &p.test {
            Test::Has(_, items) | Test::In(items) => items
                .iter()
                .any(|l| matches!(l, Literal::String(t) if *t == changed)),
            Test::Compare(_, Literal::String(t)) => *t == changed,
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

/// The tenant's additional fields, of `entity` if given.
pub async fn list(
    store: &Store,
    tenant: &TenantName,
    entity: Option<&str>,
) -> Result<Vec<AdditionalFieldOut>, ApiError> {
    let fields = store.additional_fields(tenant, entity).await?;
    Ok(fields.iter().map(view).collect())
}

/// One additional field.
pub async fn get(
    store: &Store,
    tenant: &TenantName,
    entity: &str,
    key: &str,
) -> Result<AdditionalFieldOut, ApiError> {
    find(store, tenant, entity, key).await.map(|f| view(&f))
}

async fn find(
    store: &Store,
    tenant: &TenantName,
    entity: &str,
    key: &str,
) -> Result<AdditionalField, ApiError> {
    store
        .additional_fields(tenant, Some(entity))
        .await?
        .into_iter()
        .find(|f| f.key == key)
        .ok_or_else(|| not_found("additional field", &format!("{entity}/{key}")))
}

/// Checks a new field's body (`{entity, key, label, type}`), reporting every problem.
fn validate(body: &Value) -> Result<[String; 4], ApiError> {
    let mut p = Problems::default();
    let map = p.object(
        body,
        "",
        "additional field",
        &["entity", "key", "label", "type"],
    );
    let text = |p: &mut Problems, key: &str| map.and_then(|m| p.string(m, "", key, true));
    let catalog = Catalog::builtin();
    let entity = text(&mut p, "entity");
    if let Some(e) = entity
        && catalog.entity(e).is_none()
    {
        let names: Vec<_> = catalog.entities().map(|e| e.name.as_str()).collect();
        p.add(
            "/entity",
            format!(
                "there is no entity '{e}'; entities are {}",
                names.join(", ")
            ),
        );
    }
    let key = text(&mut p, "key");
    if let Some(k) = key {
        let good = (1..=64).contains(&k.len())
            && k.starts_with(|c: char| c.is_ascii_lowercase())
            && k.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !good {
            p.add(
                "/key",
                format!(
                    "'{k}' is not a key: 1 to 64 of a-z, 0-9 and _, starting with a letter, like shoesize"
                ),
            );
        }
    }
    let label = text(&mut p, "label");
    if let Some(l) = label
        && (l.trim().is_empty() || l.chars().count() > 200 || l.chars().any(char::is_control))
    {
        p.add(
            "/label",
            "a label is 1 to 200 characters on one line, like 'Shoe size'",
        );
    }
    let field_type = text(&mut p, "type");
    if let Some(t) = field_type
        && !TYPES.contains(&t)
    {
        p.add(
            "/type",
            format!("unknown type '{t}'; types are {}", TYPES.join(", ")),
        );
    }
    p.finish("additional field")?;
    match (entity, key, label, field_type) {
        (Some(e), Some(k), Some(l), Some(t)) => Ok([e.into(), k.into(), l.trim().into(), t.into()]),
        _ => Err(ApiError::internal(
            "a checked additional field lost a member",
        )),
    }
}

/// Creates an additional field from `body` (`{entity, key, label, type}`) for `created_by`.
pub async fn create(
    store: &Store,
    tenant: &TenantName,
    created_by: &str,
    now_us: i64,
    body: &Value,
) -> Result<AdditionalFieldOut, ApiError> {
    let [entity, key, label, field_type] = validate(body)?;
    let field = AdditionalField {
        entity,
        key,
        label,
        field_type,
        created_at: now_us,
        created_by: created_by.to_owned(),
    };
    match store.create_additional_field(tenant, &field).await {
        Ok(()) => Ok(view(&field)),
        Err(cxhooks_store::StoreError::Conflict(what)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "additional-field-exists",
            "Additional field exists",
            format!("{what}: pick another key, or delete that field first"),
        )),
        Err(e) => Err(e.into()),
    }
}

/// The webhooks whose conditions use additional field `key` of `entity`, as `id (url)`.
async fn users(
    store: &Store,
    tenant: &TenantName,
    entity: &str,
    key: &str,
) -> Result<Vec<String>, ApiError> {
    let mut users = Vec::new();
    for hook in store.tenants_webhooks(std::slice::from_ref(tenant)).await? {
        let used = hook.filters.iter().any(|f| {
            f.event_type.split(':').next() == Some(entity)
                && f.condition.as_deref().is_some_and(|c| uses(c, key))
        });
        if used {
            users.push(format!("{} ({})", hook.id, hook.url));
        }
    }
    Ok(users)
}

/// Deletes an additional field, unless a webhook's condition uses it (409 naming them). With
/// a caller, its permission to delete the field's creator's objects is checked first.
pub async fn delete(
    store: &Store,
    tenant: &TenantName,
    caller: Option<&Caller>,
    (entity, key): (&str, &str),
) -> Result<(), ApiError> {
    let field = find(store, tenant, entity, key).await?;
    if let Some(caller) = caller {
        caller.may(Verb::Delete, "additional field", &field.created_by)?;
    }
    let users = users(store, tenant, entity, key).await?;
    if !users.is_empty() {
        let n = users.len();
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "additional-field-in-use",
            "Additional field in use",
            format!(
                "the conditions of {n} webhook{} use {DICTIONARY}.{key}: change or delete {} first: {}",
                if n == 1 { "" } else { "s" },
                if n == 1 { "it" } else { "them" },
                users.join(", ")
            ),
        ));
    }
    store.delete_additional_field(tenant, entity, key).await?;
    Ok(())
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
        assert!(uses("data.additionalinfo.shoesize gt 44", "shoesize"));
        assert!(uses(
            "metadata.paths has any of ['additionalinfo.shoesize']",
            "shoesize"
        ));
        assert!(!uses(
            "metadata.paths has any of ['additionalinfo.shoes']",
            "shoesize"
        ));
        assert!(!uses("data.shoesize gt 44", "shoesize"));
    }
}
