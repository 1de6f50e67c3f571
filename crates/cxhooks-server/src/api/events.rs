//! The request log of an application (`/events`), redelivery, and `…/webhooks/{id}/test`:
//! parse, call [`crate::service::deliveries`], render.

use crate::error::ApiError;
use crate::identity::auth::Principal;
use crate::service::access::Caller;
use crate::service::deliveries::{self as service, EventQuery};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
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
