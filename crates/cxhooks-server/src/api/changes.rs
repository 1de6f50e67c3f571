//! `POST /webhooks/v1/changes`: the source system publishes changes (SPEC §4.1). The answer
//! (202) is sent only after the changes and every delivery they produced are committed.

use crate::delivery::outbox::{self, Accepted, ChangeEvent, IdempotencyKey, Publish, Published};
use crate::error::ApiError;
use crate::identity::auth::Principal;
use crate::service::input::{Problems, parse_json, pointer};
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cxhooks_catalog::{Catalog, EventType};
use cxhooks_store::Scope;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The publish route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(publish_changes))
        .route_layer(axum::middleware::from_fn(super::refuse_delivery_loops))
}

/// Most changes in one request.
pub const MAX_BATCH: usize = 1000;

/// One change, as validation produces it from the request body (whose shape this schema
/// documents).
#[derive(Debug, ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct ChangeIn {
    /// Optional; must be the token's tenant.
    #[schema(required = false)]
    pub tenant: Option<String>,
    /// `{entity}:{action}`.
    #[schema(rename = "type", value_type = String)]
    pub event_type: EventType,
    /// The record's id (string; a number is accepted and kept as its text).
    pub entity_id: String,
    /// When it changed (RFC 3339); acceptance time if absent.
    #[schema(required = false)]
    pub time: String,
    /// The record after the change (before it, for `deleted`).
    #[schema(value_type = Object)]
    pub data: Value,
    /// `{"paths": [...], "groupsAdded": [...], "groupsRemoved": [...]}`: every changed field
    /// path, and the groups the change put the record in and took it out of (ids or labels).
    #[schema(rename = "metadata", value_type = Option<Object>, required = false)]
    pub paths: Vec<String>,
    /// `metadata.groupsAdded`.
    #[schema(ignore)]
    pub groups_added: Vec<String>,
    /// `metadata.groupsRemoved`.
    #[schema(ignore)]
    pub groups_removed: Vec<String>,
}

impl ChangeIn {
    /// The change as the outbox publishes it.
    pub fn event(&self) -> ChangeEvent<'_> {
        ChangeEvent {
            event_type: &self.event_type,
            entity_id: &self.entity_id,
            time: &self.time,
            data: &self.data,
            paths: &self.paths,
            groups_added: &self.groups_added,
            groups_removed: &self.groups_removed,
            erased: false,
        }
    }
}

fn check_change(
    p: &mut Problems,
    value: &Value,
    base: &str,
    token_tenant: &str,
    now: &str,
) -> Result<Option<ChangeIn>, ApiError> {
    let fields = ["tenant", "type", "entityId", "time", "data", "metadata"];
    let Some(map) = p.object(value, base, "change", &fields) else {
        return Ok(None);
    };
    if let Some(Value::String(t)) = map.get("tenant")
        && t != token_tenant
    {
        return Err(ApiError::forbidden(format!(
            "{} is for tenant '{t}', but this token was issued for tenant '{token_tenant}'",
            describe_change(map, base)
        )));
    }
    let event_type = p.string(map, base, "type", true).and_then(|t| {
        Catalog::builtin()
            .parse_event_type(t)
            .map_err(|e| p.add(pointer(base, "type"), e.to_string()))
            .ok()
    });
    let entity_id = match map.get("entityId") {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        None | Some(Value::Null) => {
            p.add(pointer(base, "entityId"), "'entityId' is required");
            None
        }
        Some(_) => {
            p.add(
                pointer(base, "entityId"),
                "'entityId' must be a non-empty string (or a number)",
            );
            None
        }
    };
    let time = match p.string(map, base, "time", false) {
        None => Some(now.to_owned()),
        Some(t) => match chrono::DateTime::parse_from_rfc3339(t) {
            Ok(t) => Some(
                t.with_timezone(&chrono::Utc)
                    .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            ),
            Err(e) => {
                p.add(
                    pointer(base, "time"),
                    format!("'time' must be RFC 3339, like 2024-02-14T14:24:40Z ({e})"),
                );
                None
            }
        },
    };
    let data = match map.get("data") {
        Some(Value::Object(d)) => Some(Value::Object(d.clone())),
        None | Some(Value::Null) => {
            p.add(
                pointer(base, "data"),
                "'data' is required: the record after the change (before it, for deleted)",
            );
            None
        }
        Some(_) => {
            p.add(
                pointer(base, "data"),
                "'data' must be an object: the record",
            );
            None
        }
    };
    let metadata = check_metadata(p, map, base);
    let tenant = map.get("tenant").and_then(Value::as_str).map(str::to_owned);
    Ok(match (event_type, entity_id, time, data, metadata) {
        (Some(event_type), Some(entity_id), Some(time), Some(data), Some(metadata)) => {
            let [paths, groups_added, groups_removed] = metadata;
            Some(ChangeIn {
                tenant,
                event_type,
                entity_id,
                time,
                data,
                paths,
                groups_added,
                groups_removed,
            })
        }
        _ => None,
    })
}

/// "the change (entityId '7')" for a single change, "the change at /3 (entityId '7')" in a
/// batch: the JSON Pointer of a single change is the empty string.
fn describe_change(map: &Map<String, Value>, base: &str) -> String {
    let at = if base.is_empty() {
        String::new()
    } else {
        format!(" at {base}")
    };
    let id = match map.get("entityId") {
        Some(Value::String(s)) => format!(" (entityId '{s}')"),
        Some(Value::Number(n)) => format!(" (entityId {n})"),
        _ => String::new(),
    };
    format!("the change{at}{id}")
}

/// `metadata`: its `paths`, `groupsAdded` and `groupsRemoved` (each empty when absent).
fn check_metadata(
    p: &mut Problems,
    map: &Map<String, Value>,
    base: &str,
) -> Option<[Vec<String>; 3]> {
    let Some(meta) = map.get("metadata").filter(|m| !m.is_null()) else {
        return Some(Default::default());
    };
    let path = pointer(base, "metadata");
    let meta = p.object(
        meta,
        &path,
        "metadata",
        &["paths", "groupsAdded", "groupsRemoved"],
    )?;
    let mut lists: [Vec<String>; 3] = Default::default();
    let members = [
        (
            "paths",
            "each changed path is a string, like 'touser.lastname'",
        ),
        (
            "groupsAdded",
            "each group is its id (a number or a string) or its label",
        ),
        (
            "groupsRemoved",
            "each group is its id (a number or a string) or its label",
        ),
    ];
    for (out, (name, hint)) in lists.iter_mut().zip(members) {
        let Some(list) = p.array(meta, &path, name, false) else {
            continue;
        };
        for (i, item) in list.iter().enumerate() {
            match item {
                Value::String(s) => out.push(s.clone()),
                Value::Number(n) if name != "paths" => out.push(n.to_string()),
                _ => p.add(format!("{path}/{name}/{i}"), hint),
            }
        }
    }
    Some(lists)
}

/// Publish one change or a batch of up to 1,000. All or nothing: one invalid change rejects the
/// batch, with errors pointing at it (`/3/type`). `Idempotency-Key` makes a retried publish
/// return the first answer: keys are the client's own, and a key used before with a different
/// request is a 409.
#[utoipa::path(post, path = "/webhooks/v1/changes", tag = "changes",
    request_body(content = Vec<ChangeIn>, description = "one change, or an array of up to 1,000"),
    params(("Idempotency-Key" = Option<String>, Header, description = "repeat-safe publish")),
    responses((status = 202, description = "stored with every delivery it produced", body = Accepted),
        (status = 400, body = crate::error::ProblemDoc), (status = 401, body = crate::error::ProblemDoc),
        (status = 403, body = crate::error::ProblemDoc),
        (status = 409, description = "the Idempotency-Key was used before with a different request", body = crate::error::ProblemDoc),
        (status = 413, body = crate::error::ProblemDoc),
        (status = 508, description = "the request carries `Cx-Delivery-Hop`: it is a cxhooks delivery", body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/webhooks:events:publish"])))]
pub async fn publish_changes(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    principal.require(Scope::EventsPublish)?;
    let tenant = principal.tenant.clone();
    let value = parse_json(&headers, &body)?;
    let idempotency = idempotency_key(&headers)?.map(|key| (key, outbox::request_hash(&value)));
    let idempotency = idempotency.as_ref().map(|(key, hash)| IdempotencyKey {
        client_id: &principal.client_id,
        key,
        request_hash: hash.clone(),
    });
    if let Some(key) = &idempotency
        && let Some(answer) = outbox::replayed(&state, &tenant, key).await?
    {
        return Ok(replay(&answer));
    }
    let now = state.clock.now();
    let changes = check_changes(&value, tenant.as_str(), now)?;
    let events: Vec<ChangeEvent<'_>> = changes.iter().map(ChangeIn::event).collect();
    let publish = Publish {
        changes: &events,
        idempotency: idempotency.as_ref(),
        record: None,
        at: now.timestamp_micros(),
    };
    Ok(match outbox::publish(&state, &tenant, publish).await? {
        Published::Accepted(accepted) => (StatusCode::ACCEPTED, Json(accepted)).into_response(),
        Published::Replayed(first) => replay(&first),
    })
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get("idempotency-key").map(|v| v.to_str()) {
        None => Ok(None),
        Some(Ok(k)) if !k.is_empty() && k.len() <= 255 => Ok(Some(k.to_owned())),
        Some(_) => Err(ApiError::invalid(
            "Idempotency-Key must be 1 to 255 visible characters",
            Vec::new(),
        )),
    }
}

/// One change or a batch, all valid, or every problem with its JSON Pointer.
fn check_changes(
    value: &Value,
    tenant: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<ChangeIn>, ApiError> {
    let now_text = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut p = Problems::default();
    let mut valid = Vec::new();
    match value {
        Value::Array(items) => {
            if items.is_empty() || items.len() > MAX_BATCH {
                p.add(
                    "",
                    format!(
                        "a batch holds 1 to {MAX_BATCH} changes, this one has {}",
                        items.len()
                    ),
                );
            }
            for (i, item) in items.iter().enumerate().take(MAX_BATCH) {
                valid.push(check_change(
                    &mut p,
                    item,
                    &format!("/{i}"),
                    tenant,
                    &now_text,
                )?);
            }
        }
        single => valid.push(check_change(&mut p, single, "", tenant, &now_text)?),
    }
    p.finish(if value.is_array() { "batch" } else { "change" })?;
    Ok(valid.into_iter().flatten().collect())
}

fn replay(answer: &str) -> Response {
    let value: Value = serde_json::from_str(answer).unwrap_or(Value::Null);
    let mut r = (StatusCode::ACCEPTED, Json(value)).into_response();
    r.headers_mut().insert(
        "idempotent-replayed",
        axum::http::HeaderValue::from_static("true"),
    );
    r
}
