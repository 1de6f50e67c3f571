//! Additional fields (seed 004's roadmap: "if additional field 'Shoesize' is changed »
//! notification"): per tenant and entity, the keys of a record's `additionalinfo` with a label
//! and a type. Records hold the values (`additionalinfo.shoesize`); the record store diffs them
//! like any path, so a change names `additionalinfo.shoesize`; conditions address them as
//! `data.additionalinfo.shoesize` and are checked against the tenant's definitions: an
//! undefined key is a warning, a test the type can never pass is an error.

use super::access::{Caller, Verb};
use super::additional_rules::uses;
pub use super::additional_rules::{catalog_with, check_values, type_errors};
use super::input::Problems;
use super::{not_found, rfc3339};
use crate::error::ApiError;
use crate::state::AppState;
use axum::http::StatusCode;
use cxhooks_catalog::Catalog;
use cxhooks_store::{AdditionalField, Store, TenantName, from_micros};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// The dictionary of a record that holds its additional fields.
pub const DICTIONARY: &str = crate::records::ADDITIONAL_INFO;

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
            let own = f.event_type.split(':').next() == Some(entity);
            f.condition.as_deref().is_some_and(|c| uses(c, key, own))
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
