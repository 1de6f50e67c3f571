//! `/data/v1/{entity}`: the record store (SPEC §4.2). Every write computes its changed paths,
//! stamps `modificationdate`, and publishes its change through the delivery pipeline in the
//! same transaction as the write.

use crate::api::Created;
use crate::delivery::outbox::{self, ChangeEvent, Publish, PublishError};
use crate::error::{ApiError, FieldError};
use crate::identity::auth::Principal;
use crate::records::{all_paths, changed_paths, check_dates, stamp_modification, update_paths};
use crate::service::groups;
use crate::service::input::{Problems, merge_patch, parse_json, parse_patch};
use crate::state::AppState;
use axum::http::StatusCode;
use axum::{Json, body::Bytes, extract::Path, extract::State, http::HeaderMap};
use cxhooks_catalog::{Action, Catalog, Entity};
use cxhooks_store::{RecordWrite, STALE_RECORD, Scope, StoreError, StoredRecord, TenantName};
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};

/// The record routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_record, super::record_list::list_records))
        .routes(routes!(
            get_record,
            replace_record,
            update_record,
            super::record_delete::delete_record
        ))
        .route_layer(axum::middleware::from_fn(super::refuse_delivery_loops))
}

/// How often a write is retried when the record changed under it.
pub(super) const WRITE_ATTEMPTS: usize = 25;

/// A short random pause before retrying a write that lost a race, growing with the attempt,
/// so that concurrent writers of one record stop colliding.
pub(super) async fn back_off(attempt: usize) {
    let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) % 8;
    tokio::time::sleep(std::time::Duration::from_millis(
        1 + jitter * (attempt as u64 + 1),
    ))
    .await;
}

pub(super) fn entity(name: &str) -> Result<&'static Entity, ApiError> {
    let catalog = Catalog::builtin();
    catalog.entity(name).ok_or_else(|| {
        let names: Vec<_> = catalog.entities().map(|e| e.name.as_str()).collect();
        ApiError::not_found(format!(
            "there is no entity '{name}'; entities are {}",
            names.join(", ")
        ))
    })
}

pub(super) fn record_id(id: &str) -> Option<i64> {
    id.parse::<i64>().ok().filter(|n| *n > 0)
}

pub(super) fn not_found(entity: &str, id: &str) -> ApiError {
    ApiError::not_found(format!("there is no {entity} with id '{id}'"))
}

pub(super) fn render(entity: &str, id: i64, data: &Value) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("_kind".into(), json!(entity));
    out.insert("_id".into(), json!(id.to_string()));
    if let Value::Object(map) = data {
        out.extend(map.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    Value::Object(out)
}

pub(super) fn parse_stored(r: &StoredRecord) -> Result<Value, ApiError> {
    serde_json::from_str(&r.data).map_err(ApiError::internal)
}

/// Checks a record body: an object; `_kind` and `_id`, if present, must match; ISO dates; the
/// tenant's `additional` fields' values of their types. Returns the data without `_kind`/`_id`.
fn check_body(
    entity: &Entity,
    body: Value,
    id: Option<i64>,
    additional: &[cxhooks_store::AdditionalField],
) -> Result<Value, ApiError> {
    let mut p = Problems::default();
    let Value::Object(mut map) = body else {
        return Err(ApiError::invalid(
            "a record is a JSON object",
            vec![FieldError {
                path: String::new(),
                message: "expected an object".into(),
            }],
        ));
    };
    if let Some(kind) = map.remove("_kind")
        && kind.as_str() != Some(entity.name.as_str())
    {
        p.add(
            "/_kind",
            format!("_kind must be '{}', found {kind}", entity.name),
        );
    }
    if let Some(given) = map.remove("_id") {
        let same = id.is_some_and(|id| {
            given.as_str() == Some(&id.to_string()) || given.as_i64() == Some(id)
        });
        if !same {
            p.add(
                "/_id",
                "'_id' is assigned by the server and cannot be set or changed",
            );
        }
    }
    for (path, message) in check_dates(entity, &map) {
        p.add(path, message);
    }
    crate::service::additional::check_values(&mut p, &entity.name, &map, additional);
    p.finish("record")?;
    Ok(Value::Object(map))
}

fn now_text(state: &AppState) -> (String, i64) {
    let now = state.clock.now();
    (
        now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        now.timestamp_micros(),
    )
}

/// Stores a write and the change it publishes in one transaction. `before` is the record before
/// the write (none for a creation), `after` after it (none for a deletion); the change carries
/// the groups the write added and removed, with their labels.
pub(super) async fn commit(
    state: &AppState,
    tenant: &TenantName,
    action: Action,
    (before, after): (Option<&Value>, Option<&Value>),
    paths: &[String],
    write: RecordWrite,
) -> Result<(), StoreError> {
    let catalog = Catalog::builtin();
    let event_type = catalog
        .event_type(write.entity(), action)
        .expect("catalog entity");
    let entity = catalog.entity(write.entity()).expect("catalog entity");
    let (mut added, mut removed) = groups::diff(entity, before, after);
    if !(added.is_empty() && removed.is_empty()) {
        let known = groups::of(&state.store, tenant).await?;
        added = groups::with_labels(added, &known);
        removed = groups::with_labels(removed, &known);
    }
    let (time, at) = now_text(state);
    let entity_id = write.id().to_string();
    let data = after
        .or(before)
        .expect("a write has a record before or after");
    let event = ChangeEvent {
        event_type: &event_type,
        entity_id: &entity_id,
        time: &time,
        data,
        paths,
        groups_added: &added,
        groups_removed: &removed,
        erased: matches!(write, RecordWrite::Delete { erase: true, .. }),
    };
    let publish = Publish {
        changes: &[event],
        idempotency: None,
        record: Some(&write),
        at,
    };
    match outbox::publish(state, tenant, publish).await {
        Ok(_) => Ok(()),
        Err(PublishError::Store(e)) => Err(e),
        // Only a publish with an Idempotency-Key can lose or reuse one; a record write has none.
        Err(e) => Err(StoreError::Corrupt(e.to_string())),
    }
}

pub(super) fn stale(e: &StoreError) -> bool {
    matches!(e, StoreError::Conflict(what) if what == STALE_RECORD)
}

pub(super) fn busy() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "concurrent-writes",
        "Concurrent writes",
        "the record kept changing while this write was applied: try again",
    )
}

/// Create a record; publishes `{entity}:created`.
#[utoipa::path(post, path = "/data/v1/{entity}", tag = "records",
    params(("entity" = String, Path, description = "cremployee, crvacancy, crmatch, …")),
    request_body(content = Object, description = "the record"),
    responses((status = 201, description = "created, with `_kind` and `_id`; `Location` names it", body = super::shapes::Record),
        (status = 400, body = crate::error::ProblemDoc), (status = 401, body = crate::error::ProblemDoc),
        (status = 403, body = crate::error::ProblemDoc), (status = 404, body = crate::error::ProblemDoc),
        (status = 413, description = "an attachment's file is larger than `limits.max_attachment_bytes`", body = crate::error::ProblemDoc),
        (status = 508, description = "the request carries `Cx-Delivery-Hop`: it is a cxhooks delivery", body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/cx5Wrapper:data:manage"])))]
pub async fn create_record(
    State(state): State<AppState>,
    principal: Principal,
    Path(entity_name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Created, ApiError> {
    principal.require(Scope::RecordsManage)?;
    let entity = entity(&entity_name)?;
    let additional = crate::service::additional::of(&state, &principal.tenant).await?;
    let limit = state.config.limits.max_attachment_bytes;
    let mut given = parse_json(&headers, &body)?;
    let content = super::attachments::take_content(&entity.name, &mut given, limit)?;
    let mut data = check_body(entity, given, None, &additional)?;
    let (now, _) = now_text(&state);
    if let Value::Object(map) = &mut data {
        map.entry("creationdate").or_insert_with(|| json!(now));
    }
    let _ = stamp_modification(None, &mut data, &now);
    let tenant = &principal.tenant;
    let id = state.store.next_record_id(tenant, &entity.name).await?;
    let paths = all_paths(&data);
    let write = RecordWrite::Insert {
        entity: entity.name.clone(),
        id,
        data: data.to_string(),
        content,
    };
    commit(
        &state,
        tenant,
        Action::Created,
        (None, Some(&data)),
        &paths,
        write,
    )
    .await?;
    let location = format!("/data/v1/{}/{id}", entity.name);
    Ok(Created::at(location, render(&entity.name, id, &data)))
}

/// Read a record.
#[utoipa::path(get, path = "/data/v1/{entity}/{id}", tag = "records",
    params(("entity" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = super::shapes::Record), (status = 401, body = crate::error::ProblemDoc),
        (status = 403, body = crate::error::ProblemDoc), (status = 404, body = crate::error::ProblemDoc),
        (status = 508, description = "the request carries `Cx-Delivery-Hop`: it is a cxhooks delivery", body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/cx5Wrapper:data:manage"])))]
pub async fn get_record(
    State(state): State<AppState>,
    principal: Principal,
    Path((entity_name, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Scope::RecordsManage)?;
    let entity = entity(&entity_name)?;
    let n = record_id(&id).ok_or_else(|| not_found(&entity.name, &id))?;
    let stored = state
        .store
        .record(&principal.tenant, &entity.name, n)
        .await?
        .ok_or_else(|| not_found(&entity.name, &id))?;
    Ok(Json(render(&entity.name, n, &parse_stored(&stored)?)))
}

/// Read, change and write back, retrying when the record changed concurrently; publishes
/// `{entity}:updated` with the changed paths. A write that changes nothing publishes nothing.
async fn modify(
    state: &AppState,
    principal: &Principal,
    (entity, id): (&Entity, &str),
    content: Option<Vec<u8>>,
    change: impl Fn(&Value) -> Result<Value, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let n = record_id(id).ok_or_else(|| not_found(&entity.name, id))?;
    for attempt in 0..WRITE_ATTEMPTS {
        let stored = state
            .store
            .record(&principal.tenant, &entity.name, n)
            .await?
            .ok_or_else(|| not_found(&entity.name, id))?;
        let old = parse_stored(&stored)?;
        let mut new = change(&old)?;
        if changed_paths(&old, &new).is_empty() {
            return Ok(Json(render(&entity.name, n, &old)));
        }
        let (now, _) = now_text(state);
        let stamped = stamp_modification(Some(&old), &mut new, &now);
        let paths = update_paths(&old, &new, stamped);
        let write = RecordWrite::Update {
            entity: entity.name.clone(),
            id: n,
            data: new.to_string(),
            version: stored.version,
            content: content.clone(),
        };
        match commit(
            state,
            &principal.tenant,
            Action::Updated,
            (Some(&old), Some(&new)),
            &paths,
            write,
        )
        .await
        {
            Ok(()) => return Ok(Json(render(&entity.name, n, &new))),
            Err(e) if stale(&e) => back_off(attempt).await,
            Err(e) => return Err(e.into()),
        }
    }
    Err(busy())
}

/// Replace a record (its `creationdate` is kept unless given).
#[utoipa::path(put, path = "/data/v1/{entity}/{id}", tag = "records",
    params(("entity" = String, Path), ("id" = String, Path)), request_body(content = Object),
    responses((status = 200, body = super::shapes::Record), (status = 400, body = crate::error::ProblemDoc),
        (status = 401, body = crate::error::ProblemDoc), (status = 403, body = crate::error::ProblemDoc),
        (status = 404, body = crate::error::ProblemDoc), (status = 409, body = crate::error::ProblemDoc),
        (status = 413, description = "an attachment's file is larger than `limits.max_attachment_bytes`", body = crate::error::ProblemDoc),
        (status = 508, description = "the request carries `Cx-Delivery-Hop`: it is a cxhooks delivery", body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/cx5Wrapper:data:manage"])))]
pub async fn replace_record(
    State(state): State<AppState>,
    principal: Principal,
    Path((entity_name, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    principal.require(Scope::RecordsManage)?;
    let entity = entity(&entity_name)?;
    let additional = crate::service::additional::of(&state, &principal.tenant).await?;
    let mut given = parse_json(&headers, &body)?;
    let limit = state.config.limits.max_attachment_bytes;
    let content = super::attachments::take_content(&entity.name, &mut given, limit)?;
    let keeps_file = content.is_none();
    let replacement = check_body(entity, given, record_id(&id), &additional)?;
    modify(&state, &principal, (entity, &id), content, |old| {
        let mut new = replacement.clone();
        // An attachment replaced without a new file keeps its file, and so its size and checksum.
        if keeps_file
            && entity.name == super::attachments::ENTITY
            && let Value::Object(map) = &mut new
        {
            for key in ["size", "checksum"] {
                if let Some(v) = old.get(key) {
                    map.entry(key).or_insert_with(|| v.clone());
                }
            }
        }
        if let (Some(created), Value::Object(map)) = (old.get("creationdate"), &mut new) {
            map.entry("creationdate").or_insert_with(|| created.clone());
        }
        // modificationdate is the server's: carry the old one so it is not seen as a change.
        if let (Some(modified), Value::Object(map)) = (old.get("modificationdate"), &mut new) {
            map.insert("modificationdate".into(), modified.clone());
        }
        Ok(new)
    })
    .await
}

/// Update a record with a JSON Merge Patch.
#[utoipa::path(patch, path = "/data/v1/{entity}/{id}", tag = "records",
    params(("entity" = String, Path), ("id" = String, Path)),
    request_body(content = Object, content_type = "application/merge-patch+json"),
    responses((status = 200, body = super::shapes::Record), (status = 400, body = crate::error::ProblemDoc),
        (status = 401, body = crate::error::ProblemDoc), (status = 403, body = crate::error::ProblemDoc),
        (status = 404, body = crate::error::ProblemDoc), (status = 409, body = crate::error::ProblemDoc),
        (status = 413, description = "an attachment's file is larger than `limits.max_attachment_bytes`", body = crate::error::ProblemDoc),
        (status = 508, description = "the request carries `Cx-Delivery-Hop`: it is a cxhooks delivery", body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/cx5Wrapper:data:manage"])))]
pub async fn update_record(
    State(state): State<AppState>,
    principal: Principal,
    Path((entity_name, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    principal.require(Scope::RecordsManage)?;
    let entity = entity(&entity_name)?;
    let mut patch = parse_patch(&headers, &body)?;
    if !patch.is_object() {
        return Err(ApiError::invalid(
            "a merge patch of a record is a JSON object",
            Vec::new(),
        ));
    }
    let n = record_id(&id);
    let additional = crate::service::additional::of(&state, &principal.tenant).await?;
    let limit = state.config.limits.max_attachment_bytes;
    let content = super::attachments::take_content(&entity.name, &mut patch, limit)?;
    modify(&state, &principal, (entity, &id), content, |old| {
        let mut new = old.clone();
        merge_patch(&mut new, &patch);
        check_body(entity, new, n, &additional)
    })
    .await
}
