//! The request log of an application (`/events`), redelivery, and `…/webhooks/{id}/test`:
//! parse, call [`crate::service::deliveries`], render.

use crate::error::ApiError;
use crate::identity::auth::Principal;
use crate::service::access::Caller;
use crate::service::deliveries::{self as service, EventQuery};
use crate::service::recover::{self, RecoveryOut};
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cxhooks_store::Scope;
use serde_json::Value;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The request-log routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_events))
        .routes(routes!(get_event))
        .routes(routes!(redeliver_event))
        .routes(routes!(test_webhook))
        .routes(routes!(recover_webhook))
        .routes(routes!(list_recoveries))
        .routes(routes!(get_recovery))
}

async fn caller(state: &AppState, principal: Principal) -> Result<Caller, ApiError> {
    principal.require(Scope::WebhooksOnlyManage)?;
    Caller::load(state, principal).await
}

/// The request log: deliveries of this application, newest first.
#[utoipa::path(get, path = "/webhooks/v1/applications/{appId}/events", tag = "events",
    params(("appId" = String, Path), EventQuery),
    responses((status = 200, body = super::shapes::WebhookEventList), (status = 400, body = crate::error::ProblemDoc),
        (status = 401, body = crate::error::ProblemDoc), (status = 403, body = crate::error::ProblemDoc),
        (status = 404, body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/webhooks:data/webhooks:manage"])))]
pub async fn list_events(
    State(state): State<AppState>,
    principal: Principal,
    Path(app_id): Path<String>,
    Query(q): Query<EventQuery>,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, principal).await?;
    Ok(Json(service::list(&state, &caller, &app_id, &q).await?))
}

/// One delivery: its payload, the headers sent (custom header values masked) and every attempt.
#[utoipa::path(get, path = "/webhooks/v1/applications/{appId}/events/{eventId}", tag = "events",
    params(("appId" = String, Path), ("eventId" = String, Path)),
    responses((status = 200, description = "the delivery with payload, headers and attempts", body = service::EventDetailOut),
        (status = 401, body = crate::error::ProblemDoc), (status = 403, body = crate::error::ProblemDoc),
        (status = 404, body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/webhooks:data/webhooks:manage"])))]
pub async fn get_event(
    State(state): State<AppState>,
    principal: Principal,
    Path((app_id, event_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, principal).await?;
    Ok(Json(
        service::get(&state, &caller, &app_id, &event_id).await?,
    ))
}

/// Deliver again now: a new attempt series with the same `id`, signed with the current key.
#[utoipa::path(post, path = "/webhooks/v1/applications/{appId}/events/{eventId}/redeliver", tag = "events",
    params(("appId" = String, Path), ("eventId" = String, Path)),
    responses((status = 202, description = "scheduled now", body = service::EventOut),
        (status = 401, body = crate::error::ProblemDoc), (status = 403, body = crate::error::ProblemDoc),
        (status = 404, body = crate::error::ProblemDoc), (status = 409, body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/webhooks:data/webhooks:manage"])))]
pub async fn redeliver_event(
    State(state): State<AppState>,
    principal: Principal,
    Path((app_id, event_id)): Path<(String, String)>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let caller = caller(&state, principal).await?;
    let v = service::redeliver(&state, &caller, &app_id, &event_id).await?;
    Ok((StatusCode::ACCEPTED, Json(v)))
}

/// Deliver a `cxhooks:ping` now, through the normal pipeline, and answer with the attempt.
#[utoipa::path(post, path = "/webhooks/v1/applications/{appId}/webhooks/{webhookId}/test", tag = "events",
    params(("appId" = String, Path), ("webhookId" = String, Path)),
    responses((status = 200, description = "the attempt's outcome", body = service::TestOut),
        (status = 401, body = crate::error::ProblemDoc), (status = 403, body = crate::error::ProblemDoc),
        (status = 404, body = crate::error::ProblemDoc), (status = 409, body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/webhooks:data/webhooks:manage"])))]
pub async fn test_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Path((app_id, webhook_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, principal).await?;
    Ok(Json(
        service::test(&state, &caller, &app_id, &webhook_id).await?,
    ))
}

/// Deliver again every failed delivery of this webhook created since `since` (and before
/// `until`), oldest first, at `delivery.recover_per_s`; at most 100,000 per recovery. Answers at
/// once; follow the recovery at its `Location`. One recovery per webhook runs at a time.
#[utoipa::path(post, path = "/webhooks/v1/applications/{appId}/webhooks/{webhookId}/recover", tag = "events",
    params(("appId" = String, Path), ("webhookId" = String, Path)),
    request_body = recover::RecoverDoc,
    responses((status = 202, description = "started (or `done` at once when nothing failed)", body = RecoveryOut),
        (status = 400, body = crate::error::ProblemDoc), (status = 401, body = crate::error::ProblemDoc),
        (status = 403, body = crate::error::ProblemDoc), (status = 404, body = crate::error::ProblemDoc),
        (status = 409, description = "the webhook is not enabled, or a recovery of it is running", body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/webhooks:data/webhooks:manage"])))]
pub async fn recover_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Path((app_id, webhook_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let caller = caller(&state, principal).await?;
    let value = crate::service::body::parse_json(&headers, &body)?;
    let out = recover::start(&state, &caller, &app_id, &webhook_id, &value).await?;
    let location = format!(
        "/webhooks/v1/applications/{}/webhooks/{}/recoveries/{}",
        out.application_id, out.webhook_id, out.id
    );
    let mut response = (StatusCode::ACCEPTED, Json(out)).into_response();
    if let Ok(v) = location.parse() {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// The recoveries of a webhook, newest first (the last 20).
#[utoipa::path(get, path = "/webhooks/v1/applications/{appId}/webhooks/{webhookId}/recoveries", tag = "events",
    params(("appId" = String, Path), ("webhookId" = String, Path)),
    responses((status = 200, body = super::shapes::RecoveryList),
        (status = 401, body = crate::error::ProblemDoc), (status = 403, body = crate::error::ProblemDoc),
        (status = 404, body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/webhooks:data/webhooks:manage"])))]
pub async fn list_recoveries(
    State(state): State<AppState>,
    principal: Principal,
    Path((app_id, webhook_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, principal).await?;
    let items = recover::list(&state, &caller, &app_id, &webhook_id).await?;
    Ok(Json(
        serde_json::json!({"_kind": "List", "items": items, "nextCursor": null}),
    ))
}

/// One recovery with its progress.
#[utoipa::path(get, path = "/webhooks/v1/applications/{appId}/webhooks/{webhookId}/recoveries/{recoveryId}", tag = "events",
    params(("appId" = String, Path), ("webhookId" = String, Path), ("recoveryId" = String, Path)),
    responses((status = 200, body = RecoveryOut),
        (status = 401, body = crate::error::ProblemDoc), (status = 403, body = crate::error::ProblemDoc),
        (status = 404, body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/webhooks:data/webhooks:manage"])))]
pub async fn get_recovery(
    State(state): State<AppState>,
    principal: Principal,
    Path((app_id, webhook_id, recovery_id)): Path<(String, String, String)>,
) -> Result<Json<RecoveryOut>, ApiError> {
    let caller = caller(&state, principal).await?;
    Ok(Json(
        recover::get(&state, &caller, &app_id, &webhook_id, &recovery_id).await?,
    ))
}
