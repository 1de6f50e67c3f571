//! `POST /webhooks/v1/changes`: the source system publishes changes (SPEC §4.1). The answer
//! (202) is sent only after the changes and every delivery they produced are committed.

use super::body::{Problems, parse_json, pointer};
use crate::delivery::payload::{Notification, NotificationData};
use crate::delivery::worker::Handoff;
use crate::error::ApiError;
use crate::identity::auth::Principal;
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cxhooks_catalog::{Catalog, EventType};
use cxhooks_store::{Accept, NewChange, NewDelivery, Scope, StoreError};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The publish route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(publish_changes))
}

/// Most changes in one request.
pub const MAX_BATCH: usize = 1000;

/// One change (documentation shape).
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangeIn {
    /// Optional; must be the token's tenant.
    pub tenant: Option<String>,
    /// `{entity}:{action}`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The record's id (string; a number is accepted and kept as its text).
    pub entity_id: String,
    /// When it changed (RFC 3339); acceptance time if absent.
    pub time: Option<String>,
    /// The record after the change (before it, for `deleted`).
    #[schema(value_type = Object)]
    pub data: Value,
    /// `{"paths": [...]}`: every changed field path.
    #[schema(value_type = Object)]
    pub metadata: Option<Value>,
}

/// The answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// How many changes were accepted.
    pub accepted: usize,
    /// Their ids, in input order.
    pub ids: Vec<uuid::Uuid>,
}

struct Valid {
    event_type: EventType,
    entity_id: String,
    time: String,
    data: Value,
    paths: Vec<String>,
}

fn check_change(
    p: &mut Problems,
    value: &Value,
    base: &str,
    token_tenant: &str,
    now: &str,
) -> Result<Option<Valid>, ApiError> {
    let fields = ["tenant", "type", "entityId", "time", "data", "metadata"];
    let Some(map) = p.object(value, base, "change", &fields) else {
        return Ok(None);
    };
    if let Some(Value::String(t)) = map.get("tenant")
        && t != token_tenant
    {
        return Err(ApiError::forbidden(format!(
            "change {base} is for tenant '{t}', but this token was issued for tenant '{token_tenant}'"
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
    let paths = check_metadata(p, map, base);
    Ok(match (event_type, entity_id, time, data, paths) {
        (Some(event_type), Some(entity_id), Some(time), Some(data), Some(paths)) => Some(Valid {
            event_type,
            entity_id,
            time,
            data,
            paths,
        }),
        _ => None,
    })
}

fn check_metadata(p: &mut Problems, map: &Map<String, Value>, base: &str) -> Option<Vec<String>> {
    let Some(meta) = map.get("metadata").filter(|m| !m.is_null()) else {
        return Some(Vec::new());
    };
    let path = pointer(base, "metadata");
    let meta = p.object(meta, &path, "metadata", &["paths"])?;
    let Some(list) = p.array(meta, &path, "paths", false) else {
        return Some(Vec::new());
    };
    let mut paths = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        match item.as_str() {
            Some(s) => paths.push(s.to_owned()),
            None => p.add(
                format!("{path}/paths/{i}"),
                "each changed path is a string, like 'touser.lastname'",
            ),
        }
    }
    Some(paths)
}

/// Publish one change or a batch of up to 1,000. All or nothing: one invalid change rejects the
/// batch, with errors pointing at it (`/3/type`). `Idempotency-Key` makes a retried publish
/// return the first answer.
#[utoipa::path(post, path = "/webhooks/v1/changes", tag = "changes",
    request_body(content = Vec<ChangeIn>, description = "one change, or an array of up to 1,000"),
    params(("Idempotency-Key" = Option<String>, Header, description = "repeat-safe publish")),
    responses((status = 202, description = "stored with every delivery it produced", body = Accepted),
        (status = 400, body = crate::error::ProblemDoc), (status = 401, body = crate::error::ProblemDoc),
        (status = 403, body = crate::error::ProblemDoc), (status = 413, body = crate::error::ProblemDoc)),
    security(("bearer" = ["urn:cx/webhooks:events:publish"])))]
pub async fn publish_changes(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    principal.require(Scope::EventsPublish)?;
    let tenant = principal.tenant.clone();
    let idempotency_key = match headers.get("idempotency-key").map(|v| v.to_str()) {
        None => None,
        Some(Ok(k)) if !k.is_empty() && k.len() <= 255 => Some(k.to_owned()),
        Some(_) => {
            return Err(ApiError::invalid(
                "Idempotency-Key must be 1 to 255 visible characters",
                Vec::new(),
            ));
        }
    };
    if let Some(key) = &idempotency_key
        && let Some(answer) = state.store.idempotent_answer(&tenant, key).await?
    {
        return Ok(replay(&answer));
    }
    let value = parse_json(&headers, &body)?;
    let now = chrono::Utc::now();
    let now_text = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut p = Problems::default();
    let mut valid = Vec::new();
    match &value {
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
                    tenant.as_str(),
                    &now_text,
                )?);
            }
        }
        single => valid.push(check_change(
            &mut p,
            single,
            "",
            tenant.as_str(),
            &now_text,
        )?),
    }
    p.finish(if value.is_array() { "batch" } else { "change" })?;
    let valid: Vec<Valid> = valid.into_iter().flatten().collect();

    // Match and serialise every notification once, now.
    let at = now.timestamp_micros();
    let mut changes = Vec::with_capacity(valid.len());
    let mut deliveries = Vec::new();
    for v in &valid {
        let change = ChangeEvent {
            event_type: &v.event_type,
            entity_id: &v.entity_id,
            time: &v.time,
            data: &v.data,
            paths: &v.paths,
        };
        let (stored, produced) = change.deliveries(&state, &tenant, at);
        changes.push(stored);
        deliveries.extend(produced);
    }
    let accepted = Accepted {
        accepted: changes.len(),
        ids: changes.iter().map(|c| c.id).collect(),
    };
    let answer = serde_json::to_string(&accepted).expect("serialisable");
    let quota = state.config.limits.monthly_notifications_per_client;
    let idem = idempotency_key.as_deref().map(|k| (k, answer.as_str()));
    let handoff = Handoff::reserve(&state, &deliveries);
    let statuses = match state
        .store
        .accept_changes(
            &tenant,
            &Accept {
                changes: &changes,
                deliveries: &deliveries,
                quota,
                idempotency: idem,
                record: None,
                lease: handoff.as_ref().map(Handoff::lease),
            },
            at,
        )
        .await
    {
        Ok(statuses) => {
            state.metrics.changes_accepted.inc_by(changes.len() as u64);
            statuses
        }
        // A concurrent publish with the same key won: answer as it did.
        Err(StoreError::Conflict(_)) if idempotency_key.is_some() => {
            let key = idempotency_key.as_deref().expect("checked");
            if let Some(first) = state.store.idempotent_answer(&tenant, key).await? {
                return Ok(replay(&first));
            }
            return Err(ApiError::internal(
                "idempotency conflict without a stored answer",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    if !deliveries.is_empty() && !handoff.as_ref().is_some_and(Handoff::took_all) {
        state.delivery.wake.notify_one();
    }
    if let Some(handoff) = handoff {
        handoff
            .start(&state, tenant.as_str(), deliveries, &statuses)
            .await;
    }
    Ok((StatusCode::ACCEPTED, Json(accepted)).into_response())
}

/// A change as it is matched and published, by the publish API and by record-store writes.
#[derive(Debug)]
pub struct ChangeEvent<'a> {
    /// `{entity}:{action}`.
    pub event_type: &'a EventType,
    /// The record's id.
    pub entity_id: &'a str,
    /// RFC 3339.
    pub time: &'a str,
    /// The record (after the change; before it, for deletions).
    pub data: &'a Value,
    /// The changed paths.
    pub paths: &'a [String],
}

impl ChangeEvent<'_> {
    /// The change to store and one delivery per matching webhook, each notification serialised
    /// once, now.
    pub fn deliveries(
        &self,
        state: &AppState,
        tenant: &cxhooks_store::TenantName,
        at: i64,
    ) -> (NewChange, Vec<NewDelivery>) {
        // Version 7 (time-ordered) ids: the store's indexes on them grow at their end, packed,
        // rather than splitting pages all over (docs/performance.md, store bytes).
        let id = uuid::Uuid::now_v7();
        let change =
            cxhooks_condition::Change::new(self.event_type, self.entity_id, self.data, self.paths);
        let deliveries = state
            .delivery
            .registry
            .matching(tenant, &change)
            .into_iter()
            .map(|hook| {
                let delivery_id = uuid::Uuid::now_v7();
                let payload = Notification {
                    id: delivery_id,
                    time: self.time,
                    event_type: self.event_type.as_str(),
                    application_id: hook.application_id,
                    webhook_id: hook.id,
                    tenant: tenant.as_str(),
                    data: NotificationData {
                        entity_id: self.entity_id,
                        changed_fields: self.paths,
                    },
                };
                NewDelivery {
                    id: delivery_id,
                    application_id: hook.application_id,
                    webhook_id: hook.id,
                    owner: hook.owner.clone(),
                    change_id: Some(id),
                    event_type: self.event_type.as_str().to_owned(),
                    payload: payload.to_bytes(),
                    created_at: at,
                }
            })
            .collect();
        let stored = NewChange {
            id,
            event_type: self.event_type.as_str().to_owned(),
            entity_id: self.entity_id.to_owned(),
            accepted_at: at,
        };
        (stored, deliveries)
    }
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
