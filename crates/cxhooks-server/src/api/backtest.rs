//! `…/webhooks/backtest` and `…/webhooks/{webhookId}/backtest`: parse, call
//! [`crate::service::backtest`], render.

use crate::error::ApiError;
use crate::identity::auth::Principal;
use crate::service::access::{Caller, Verb};
use crate::service::backtest::{self as service, Backtest, BacktestQuery};
use crate::service::input::parse_json;
use crate::service::{additional, applications, webhooks};
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use cxhooks_store::Scope;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The backtest routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(backtest_body))
        .routes(routes!(backtest_webhook))
}

async fn caller(state: &AppState, principal: Principal) -> Result<Caller, ApiError> {
    principal.require(Scope::WebhooksOnlyManage)?;
    Caller::load(state, principal).await
}

/// Backtest a webhook body: which of the tenant's stored changes its filters would have
/// matched, per filter, with a sample. Only `filters` is read (checked as on create); the rest
/// of a webhook body is accepted. Nothing is stored or sent.
#[utoipa::path(post, path = "/webhooks/v1/applications/{appId}/webhooks/backtest", tag = "webhooks",
    params(("appId" = String, Path, description = "application id"), BacktestQuery),
    request_body = crate::service::webhooks::WebhookIn,
    responses((status = 200, body = Backtest), (status = 400, body = crate::error::ProblemDoc),
        (status = 401, body = crate::error::ProblemDoc), (status = 403, body = crate::error::ProblemDoc),
        (status = 404, body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/webhooks:data/webhooks:manage"])))]
pub async fn backtest_body(
    State(state): State<AppState>,
    principal: Principal,
    Path(app_id): Path<String>,
    Query(query): Query<BacktestQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Backtest>, ApiError> {
    let caller = caller(&state, principal).await?;
    let app = applications::load(&state, &caller, &app_id).await?;
    caller.may(Verb::Read, "application", &app.audit.created_by)?;
    let window = query.window()?;
    let value = parse_json(&headers, &body)?;
    let ext = additional::extensions(&state, &app.tenant).await?;
    let (filters, _) = service::filters_of(&state, &value, &ext)?;
    Ok(Json(
        service::run(&state, &app.tenant, &filters, window).await?,
    ))
}

/// Backtest a webhook as it is stored: which of the tenant's stored changes its filters would
/// have matched, per filter, with a sample.
#[utoipa::path(post, path = "/webhooks/v1/applications/{appId}/webhooks/{webhookId}/backtest", tag = "webhooks",
    params(("appId" = String, Path), ("webhookId" = String, Path), BacktestQuery),
    responses((status = 200, body = Backtest), (status = 400, body = crate::error::ProblemDoc),
        (status = 401, body = crate::error::ProblemDoc), (status = 403, body = crate::error::ProblemDoc),
        (status = 404, body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/webhooks:data/webhooks:manage"])))]
pub async fn backtest_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Path((app_id, id)): Path<(String, String)>,
    Query(query): Query<BacktestQuery>,
) -> Result<Json<Backtest>, ApiError> {
    let caller = caller(&state, principal).await?;
    let window = query.window()?;
    let (_, hook) = webhooks::load_for(&state, &caller, (&app_id, &id), Verb::Read).await?;
    Ok(Json(
        service::run(&state, &hook.tenant, &hook.filters, window).await?,
    ))
}
