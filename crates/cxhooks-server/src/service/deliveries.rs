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
    SignatureScheme, WebhookStatus, from_micros,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use utoipa::ToSchema;

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
    /// `pending`, `delivered`, `retrying`, `failed`, `cancelled`, `quota_exceeded` or `held`.
    pub status: Option<String>,
    /// Created at or after (RFC 3339).
    pub since: Option<String>,
    /// Created before (RFC 3339).
    pub until: Option<String>,
    /// Only the deliveries of this change (its id, as `changeId` of a delivery).
    pub change_id: Option<String>,
    /// Only the deliveries of changes to the record with this id (`data.entityId`), of any
    /// entity; found while the change is kept (`retention.changes`).
    pub entity_id: Option<String>,
    /// Page size: 1 to 500, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

pub(crate) fn time_param(path: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
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

/// One delivery of the request log, as `/events` lists it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = WebhookEvent)]
pub struct EventOut {
    /// `WebhookEvent`.
    #[serde(rename = "_kind")]
    #[schema(pattern = "^WebhookEvent$")]
    pub kind: &'static str,
    /// The delivery's id: the notification's `id`, the same on every attempt.
    #[serde(rename = "_id")]
    pub id: uuid::Uuid,
    /// Its application.
    pub application_id: uuid::Uuid,
    /// Its webhook.
    pub webhook_id: uuid::Uuid,
    /// The published change it delivers; null for a test ping.
    #[schema(required = true)]
    pub change_id: Option<uuid::Uuid>,
    /// Event type (`cremployee:updated`, `cxhooks:ping`).
    #[serde(rename = "type")]
    pub event_type: String,
    /// The record the change is about (`data.entityId`); null for a test ping.
    #[schema(required = true)]
    pub entity_id: Option<String>,
    /// Where it stands.
    #[schema(value_type = EventStatus)]
    pub status: DeliveryStatus,
    /// Attempts so far.
    pub attempt_count: u32,
    /// When it was queued.
    #[serde(rename = "_createdAt")]
    pub created_at: String,
    /// Its last change.
    #[serde(rename = "_updatedAt")]
    pub updated_at: String,
    /// When the next attempt is due; only while `pending` or `retrying`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
}

/// Where a delivery stands.
#[derive(Debug, ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum EventStatus {
    /// Not attempted yet (or redelivery requested).
    Pending,
    /// A 2xx answer was received.
    Delivered,
    /// Attempted, failed, more attempts scheduled.
    Retrying,
    /// Every scheduled attempt failed (or the receiver answered 410 Gone).
    Failed,
    /// Its webhook or application was deleted or disabled before it was delivered.
    Cancelled,
    /// Past the client's monthly notification quota: recorded, not sent.
    QuotaExceeded,
    /// A pull webhook's: kept for its consumer to read from the feed, never sent.
    Held,
}

/// One attempt to send a delivery.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Attempt)]
pub struct AttemptOut {
    /// 1-based over the delivery's whole life.
    pub attempt: u32,
    /// When it started.
    pub at: String,
    /// How long it took, in milliseconds (one decimal).
    pub duration_ms: f64,
    /// The receiver's HTTP status; null when no answer came.
    #[schema(required = true)]
    pub status_code: Option<u16>,
    /// Why it failed, when it did.
    #[schema(required = true)]
    pub error: Option<String>,
    /// The first 4 KiB of the answer.
    pub response_body: String,
}

/// One delivery with its payload, the headers sent and every attempt.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebhookEventDetail)]
pub struct EventDetailOut {
    /// The delivery.
    #[serde(flatten)]
    pub event: EventOut,
    /// The notification's body as sent.
    #[schema(value_type = Object)]
    pub payload: Value,
    /// The headers sent; custom header values masked as `***`.
    pub headers: std::collections::BTreeMap<String, String>,
    /// Every attempt, oldest first.
    pub attempts: Vec<AttemptOut>,
}

/// A test ping with its first attempt.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TestPing)]
pub struct TestOut {
    /// The ping's delivery.
    #[serde(flatten)]
    pub event: EventOut,
    /// Its first attempt; null if it took longer than the delivery timeout.
    #[schema(required = true)]
    pub attempt: Option<AttemptOut>,
}

/// `data.entityId` of a stored notification, if it names one.
fn entity_of(payload: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Body {
        data: Data,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Data {
        entity_id: String,
    }
    serde_json::from_slice::<Body>(payload)
        .ok()
        .map(|b| b.data.entity_id)
        .filter(|id| !id.is_empty())
}

fn view(r: &DeliveryRecord) -> EventOut {
    EventOut {
        kind: "WebhookEvent",
        id: r.id.uuid(),
        application_id: r.application_id.uuid(),
        webhook_id: r.webhook_id.uuid(),
        change_id: r.change_id.map(|c| c.uuid()),
        event_type: r.event_type.clone(),
        entity_id: entity_of(&r.payload),
        status: r.status,
        attempt_count: u32::try_from(r.attempts).unwrap_or(u32::MAX),
        created_at: rfc3339(from_micros(r.created_at)),
        updated_at: rfc3339(from_micros(r.updated_at)),
        next_attempt_at: r
            .status
            .is_open()
            .then(|| rfc3339(from_micros(r.next_attempt_at))),
    }
}

fn attempt_view(a: &AttemptRecord) -> AttemptOut {
    AttemptOut {
        attempt: u32::try_from(a.n).unwrap_or(u32::MAX),
        at: rfc3339(from_micros(a.at)),
        duration_ms: (a.duration_us as f64 / 1000.0 * 10.0).round() / 10.0,
        status_code: a.status_code.and_then(|c| u16::try_from(c).ok()),
        error: a.error.clone(),
        response_body: a.response_body.clone(),
    }
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
    if let Some(c) = q
        .change_id
        .as_deref()
        .filter(|c| uuid::Uuid::parse_str(c).is_err())
    {
        return Err(bad(
            "?changeId",
            format!("'{c}' is not a change id: pass the changeId of a delivery (a UUID)"),
        ));
    }
    if q.entity_id
        .as_deref()
        .is_some_and(|e| e.trim().is_empty() || e.len() > 200)
    {
        return Err(bad(
            "?entityId",
            "pass the id of a record (data.entityId of a delivery), 1 to 200 characters".into(),
        ));
    }
    let filter = LogFilter {
        webhook_id: q.webhook_id.clone(),
        event_type: q.event_type.clone(),
        status,
        since: time_param("?since", q.since.as_deref())?,
        until: time_param("?until", q.until.as_deref())?,
        change_id: q.change_id.clone(),
        entity_id: q.entity_id.clone(),
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
    let items: Vec<EventOut> = paged.items.iter().map(view).collect();
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
    let mut headers = BTreeMap::new();
    let mut header = |name: &str, value: &str| headers.insert(name.to_owned(), value.to_owned());
    header("Content-Type", "application/json");
    header("Cx-Signature", "(RSA-SHA256 of the payload, base64)");
    header("Cx-Payload-Schema-Version", "1");
    header("Cx-Delivery-Hop", "1");
    header("User-Agent", concat!("cxhooks/", env!("CARGO_PKG_VERSION")));
    if app.signature_scheme == SignatureScheme::CxStandard {
        header("webhook-id", &record.id.to_string());
        header(
            "webhook-timestamp",
            "(the attempt's time, seconds since the epoch)",
        );
        header(
            "webhook-signature",
            "(v1, HMAC-SHA256 of id.timestamp.payload, base64)",
        );
    }
    if let Some(hook) = state.delivery.registry.hook(record.webhook_id) {
        for h in hook.headers.iter().flatten() {
            header(&h.name, "***");
        }
    }
    let detail = EventDetailOut {
        event: view(&record),
        payload: serde_json::from_slice(&record.payload).unwrap_or(Value::Null),
        headers,
        attempts: attempts.iter().map(attempt_view).collect(),
    };
    Ok(serde_json::to_value(detail).expect("a delivery serialises"))
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
    if serde_json::from_slice::<Value>(&record.payload)
        .is_ok_and(|p| p.get("erased") == Some(&Value::Bool(true)))
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "delivery-erased",
            "Delivery erased",
            "the record this delivery was about was erased: only its tombstone is kept, and there \
             is nothing to deliver again",
        ));
    }
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
    if record.status == DeliveryStatus::Held || hook.as_ref().is_some_and(|h| h.pull) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "pull-delivery",
            "Delivery in a feed",
            "this delivery is in its pull webhook's feed, where its consumer reads it: to have it \
             again, read the feed from a cursor before it",
        ));
    }
    let now = state.clock.now_us();
    state.store.redeliver(&app.tenant, app.id, id, now).await?;
    state.delivery.wake.notify_one();
    Ok(serde_json::to_value(view(&stored(state, &app, id).await?)).expect("a delivery serialises"))
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
    // A pull webhook's ping waits in its feed: no attempt to wait for.
    let wait = state.config.delivery.timeout + std::time::Duration::from_secs(5);
    let attempt = match hook.is_pull() {
        true => None,
        false => tokio::time::timeout(wait, outcome)
            .await
            .ok()
            .and_then(Result::ok),
    };
    let record = stored(state, &app, id).await?;
    let answer = TestOut {
        event: view(&record),
        attempt: attempt.as_ref().map(attempt_view),
    };
    Ok(serde_json::to_value(answer).expect("a ping serialises"))
}
