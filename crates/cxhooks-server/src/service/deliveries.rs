//! The request log of an application: its deliveries, newest first, each with its attempts;
//! redelivery, and the test ping. Shown by the API (`/events`) and the console alike.

use super::access::{Caller, Verb};
use super::list::{ListQuery, bad, encode_cursor};
use super::{not_found, parse_id, rfc3339, webhooks};
use crate::delivery::outbox;
use crate::error::ApiError;
use crate::state::AppState;
use axum::http::StatusCode;
use cxhooks_store::{
    Application, AttemptRecord, DeliveryId, DeliveryRecord, DeliveryStatus, LogFilter,
    WebhookStatus, from_micros,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// Filters of the request log.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct EventQuery {
    /// Only deliveries to this webhook.
    pub webhook_id: Option<String>,
    /// Only this event type (`cremployee:updated`, `cxhooks:ping`).
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    /// `pending`, `delivered`, `retrying`, `failed`, `cancelled` or `quota_exceeded`.
    pub status: Option<String>,
    /// Created at or after (RFC 3339).
    pub since: Option<String>,
    /// Created before (RFC 3339).
    pub until: Option<String>,
    /// Page size: 1 to 500, default 50.
    pub limit: Option<String>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

fn time_param(path: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    value
        .map(|t| {
            chrono::DateTime::parse_from_rfc3339(t)
                .map(|t| t.timestamp_micros())
                .map_err(|_| {
                    bad(
                        path,
                        format!("'{t}' is not an RFC 3339 time like 2026-11-23T10:00:00Z"),
                    )
                })
        })
        .transpose()
}

fn view(r: &DeliveryRecord) -> Value {
    let mut v = json!({
        "_kind": "WebhookEvent",
        "_id": r.id,
        "applicationId": r.application_id,
        "webhookId": r.webhook_id,
        "changeId": r.change_id,
        "type": r.event_type,
        "status": r.status,
        "attemptCount": r.attempts,
        "_createdAt": rfc3339(from_micros(r.created_at)),
        "_updatedAt": rfc3339(from_micros(r.updated_at)),
    });
    if r.status.is_open() {
        v["nextAttemptAt"] = json!(rfc3339(from_micros(r.next_attempt_at)));
    }
    v
}

fn attempt_view(a: &AttemptRecord) -> Value {
    json!({
        "attempt": a.n,
        "at": rfc3339(from_micros(a.at)),
        "durationMs": (a.duration_us as f64 / 1000.0 * 10.0).round() / 10.0,
        "statusCode": a.status_code,
        "error": a.error,
        "responseBody": a.response_body,
    })
}

/// 409: nothing can be sent to a webhook that is not enabled.
fn not_enabled(detail: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "webhook-not-enabled",
        "Webhook not enabled",
        detail,
    )
}

/// The application whose request log the caller reads.
async fn readable(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
) -> Result<Application, ApiError> {
    let app = webhooks::application(state, caller, app_id).await?;
    caller.may(Verb::Read, "application", &app.audit.created_by)?;
    Ok(app)
}

/// A page of the request log of application `app_id`, as `{_kind: List, items, nextCursor}`.
pub async fn list(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    q: &EventQuery,
) -> Result<Value, ApiError> {
    let app = readable(state, caller, app_id).await?;
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(DeliveryStatus::parse(s).ok_or_else(|| {
            let valid: Vec<_> = DeliveryStatus::ALL.iter().map(|s| s.as_str()).collect();
            bad(
                "?status",
                format!("unknown status '{s}'; valid: {}", valid.join(", ")),
            )
        })?),
    };
    let filter = LogFilter {
        webhook_id: q.webhook_id.clone(),
        event_type: q.event_type.clone(),
        status,
        since: time_param("?since", q.since.as_deref())?,
        until: time_param("?until", q.until.as_deref())?,
    };
    let page = ListQuery {
        limit: q.limit.clone(),
        cursor: q.cursor.clone(),
        fields: None,
    }
    .page()?;
    // The log's cursors end in a delivery id: one that does not was not handed out here.
    if page
        .after
        .as_ref()
        .is_some_and(|(_, id)| uuid::Uuid::parse_str(id).is_err())
    {
        return Err(bad(
            "?cursor",
            "the cursor is not one this API gave out: pass nextCursor of the previous page".into(),
        ));
    }
    let paged = state
        .store
        .deliveries(&app.tenant, app.id, &filter, &page)
        .await?;
    let next = if paged.more {
        paged
            .items
            .last()
            .map(|r| encode_cursor(r.created_at, &r.id.to_string()))
    } else {
        None
    };
    let items: Vec<Value> = paged.items.iter().map(view).collect();
    Ok(json!({"_kind": "List", "items": items, "nextCursor": next}))
}

/// One delivery with its payload, the headers sent (custom header values masked) and every
/// attempt.
pub async fn get(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    event_id: &str,
) -> Result<Value, ApiError> {
    let app = readable(state, caller, app_id).await?;
    let id = parse_id(event_id).ok_or_else(|| not_found("event", event_id))?;
    let record = stored(state, &app, id).await?;
    let attempts = state.store.attempts(record.id).await?;
    let mut v = view(&record);
    v["payload"] = serde_json::from_slice(&record.payload).unwrap_or(Value::Null);
    let mut headers = Map::new();
    headers.insert("Content-Type".into(), json!("application/json"));
    headers.insert(
        "Cx-Signature".into(),
        json!("(RSA-SHA256 of the payload, base64)"),
    );
    headers.insert("Cx-Payload-Schema-Version".into(), json!("1"));
    headers.insert("Cx-Delivery-Hop".into(), json!("1"));
    headers.insert(
        "User-Agent".into(),
        json!(concat!("cxhooks/", env!("CARGO_PKG_VERSION"))),
    );
    if let Some(hook) = state.delivery.registry.hook(record.webhook_id) {
        for h in hook.headers.iter().flatten() {
            headers.insert(h.name.clone(), json!("***"));
        }
    }
    v["headers"] = Value::Object(headers);
    v["attempts"] = attempts.iter().map(attempt_view).collect();
    Ok(v)
}

/// Delivery `id` of `app`, as stored now.
async fn stored(
    state: &AppState,
    app: &Application,
    id: DeliveryId,
) -> Result<DeliveryRecord, ApiError> {
    state
        .store
        .delivery(&app.tenant, app.id, id)
        .await?
        .ok_or_else(|| not_found("event", &id.to_string()))
}

/// Delivers again now: a new attempt series with the same id, signed with the current key. The
/// caller needs the right to read the application and to update the event's webhook.
pub async fn redeliver(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    event_id: &str,
) -> Result<Value, ApiError> {
    let app = readable(state, caller, app_id).await?;
    let id = parse_id(event_id).ok_or_else(|| not_found("event", event_id))?;
    let record = stored(state, &app, id).await?;
    let hook = state.delivery.registry.hook(record.webhook_id);
    let created_by = hook
        .as_ref()
        .map_or(app.audit.created_by.as_str(), |h| h.client_id.as_str());
    caller.may(Verb::Update, "webhook", created_by)?;
    if hook
        .as_ref()
        .is_none_or(|h| h.status != WebhookStatus::Enabled)
    {
        return Err(not_enabled(
            "the webhook of this event is deleted, disabled or in error: enable it (or create it again) first",
        ));
    }
    let now = state.clock.now_us();
    state.store.redeliver(&app.tenant, app.id, id, now).await?;
    state.delivery.wake.notify_one();
    Ok(view(&stored(state, &app, id).await?))
}

/// Delivers a `cxhooks:ping` to webhook `webhook_id` now, through the normal pipeline, and
/// answers with its first attempt (or none, if it takes longer than the delivery timeout).
pub async fn test(
    state: &AppState,
    caller: &Caller,
    app_id: &str,
    webhook_id: &str,
) -> Result<Value, ApiError> {
    let app = readable(state, caller, app_id).await?;
    let hook_id = parse_id(webhook_id).ok_or_else(|| not_found("webhook", webhook_id))?;
    let hook = state
        .store
        .webhook(&app.tenant, app.id, hook_id)
        .await?
        .ok_or_else(|| not_found("webhook", webhook_id))?;
    caller.may(Verb::Update, "webhook", &hook.audit.created_by)?;
    if hook.status != WebhookStatus::Enabled {
        return Err(not_enabled(&format!(
            "the webhook is {}: enable it first",
            hook.status.as_str()
        )));
    }
    let (id, outcome) = outbox::ping(state, &hook, state.clock.now()).await?;
    let wait = state.config.delivery.timeout + std::time::Duration::from_secs(5);
    let attempt = tokio::time::timeout(wait, outcome)
        .await
        .ok()
        .and_then(Result::ok);
    let record = stored(state, &app, id).await?;
    let mut v = view(&record);
    v["attempt"] = attempt.as_ref().map_or(Value::Null, attempt_view);
    Ok(v)
}
