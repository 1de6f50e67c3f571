//! `/webhooks/v1/applications/{appId}/webhooks`: parse, call [`crate::service::webhooks`],
//! render.

use super::Created;
use crate::error::ApiError;
use crate::identity::auth::Principal;
use crate::service::access::{Caller, Verb};
use crate::service::applications;
use crate::service::input::{merge_patch, parse_json, parse_patch};
use crate::service::list::{FieldsQuery, ListQuery, list_answer, project};
use crate::service::webhooks::{self as service, WebhookIn, WebhookOut};
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use cxhooks_store::{Scope, WebhookStatus, to_micros};
use serde_json::Value;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The webhook routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_webhook, list_webhooks))
        .routes(routes!(
            get_webhook,
            replace_webhook,
            update_webhook,
            delete_webhook
        ))
        .routes(routes!(enable_webhook))
        .routes(routes!(disable_webhook))
}

async fn caller(state: &AppState, principal: Principal) -> Result<Caller, ApiError> {
    principal.require(Scope::WebhooksOnlyManage)?;
    Caller::load(state, principal).await
}

/// Create a webhook.
#[utoipa::path(post, path = "/webhooks/v1/applications/{appId}/webhooks", tag = "webhooks",
    params(("appId" = String, Path, description = "application id")),
    request_body = WebhookIn,
    responses((status = 201, description = "created, with `warnings` if any", body = WebhookOut),
        (status = 400, body = crate::error::ProblemDoc), (status = 401, body = crate::error::ProblemDoc),
        (status = 403, body = crate::error::ProblemDoc), (status = 404, body = crate::error::ProblemDoc),
        (status = 429, description = "limits.max_webhooks_per_client reached", body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/webhooks:data/webhooks:manage"])))]
pub async fn create_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let caller = caller(&state, principal).await?;
    let app = applications::load(&state, &caller, &app_id).await?;
    caller.may_create("webhooks")?;
    let value = parse_json(&headers, &body)?;
    let additional = crate::service::additional::extensions(&state, &app.tenant).await?;
    let (input, warnings) = WebhookIn::check(&state, &value, None, &additional)?;
    let hook = service::create(&state, &caller, &app, input).await?;
    let location = format!("/webhooks/v1/applications/{}/webhooks/{}", app.id, hook.id);
    Ok(Created::at(
        location,
        WebhookOut::value(&state, &hook, warnings)?,
    ))
}

/// List an application's webhooks.
#[utoipa::path(get, path = "/webhooks/v1/applications/{appId}/webhooks", tag = "webhooks",
    params(("appId" = String, Path, description = "application id"), ListQuery),
    responses((status = 200, body = super::shapes::WebhookList), (status = 400, body = crate::error::ProblemDoc),
        (status = 401, body = crate::error::ProblemDoc), (status = 403, body = crate::error::ProblemDoc),
        (status = 404, body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/webhooks:data/webhooks:manage"])))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    principal: Principal,
    Path(app_id): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, principal).await?;
    let app = applications::load(&state, &caller, &app_id).await?;
    let page = caller.readable(query.page()?)?;
    let paged = state.store.webhooks(&app.tenant, app.id, &page).await?;
    let mut rendered = Vec::with_capacity(paged.items.len());
    for hook in &paged.items {
        rendered.push(WebhookOut::value(&state, hook, Vec::new())?);
    }
    let by_id: std::collections::HashMap<cxhooks_store::WebhookId, Value> =
        paged.items.iter().map(|h| h.id).zip(rendered).collect();
    let answer = list_answer(
        paged,
        &query,
        |h| (to_micros(h.audit.created_at), h.id.to_string()),
        |h| by_id[&h.id].clone(),
    )?;
    Ok(Json(answer))
}

/// Read one webhook.
#[utoipa::path(get, path = "/webhooks/v1/applications/{appId}/webhooks/{webhookId}", tag = "webhooks",
    params(("appId" = String, Path), ("webhookId" = String, Path), FieldsQuery),
    responses((status = 200, body = WebhookOut), (status = 401, body = crate::error::ProblemDoc),
        (status = 403, body = crate::error::ProblemDoc), (status = 404, body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/webhooks:data/webhooks:manage"])))]
pub async fn get_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Path((app_id, id)): Path<(String, String)>,
    Query(query): Query<FieldsQuery>,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, principal).await?;
    let (_, hook) = service::load_for(&state, &caller, (&app_id, &id), Verb::Read).await?;
    let mut out = [WebhookOut::value(&state, &hook, Vec::new())?];
    project(query.fields.as_deref(), &mut out)?;
    let [out] = out;
    Ok(Json(out))
}

/// PUT (`merge` false: the body is the whole webhook) and PATCH (`merge` true: a JSON Merge
/// Patch over what GET returns); read-only fields may be sent back unchanged either way.
async fn write(
    state: AppState,
    principal: Principal,
    (app_id, id): (String, String),
    headers: HeaderMap,
    body: Bytes,
    merge: bool,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, principal).await?;
    let (_, hook) = service::load_for(&state, &caller, (&app_id, &id), Verb::Update).await?;
    let given = if merge {
        parse_patch(&headers, &body)?
    } else {
        parse_json(&headers, &body)?
    };
    let current = WebhookOut::value(&state, &hook, Vec::new())?;
    let value = if merge {
        let mut merged = current.clone();
        // Another kind of `auth` replaces the current one whole: an OAuth2 member merged into
        // a client certificate (or the reverse) would only be refused as unknown.
        if given["auth"]["type"].is_string() && given["auth"]["type"] != current["auth"]["type"] {
            merged["auth"] = Value::Null;
        }
        merge_patch(&mut merged, &given);
        merged
    } else {
        given
    };
    let additional = crate::service::additional::extensions(&state, &hook.tenant).await?;
    let (input, warnings) = WebhookIn::check(&state, &value, Some(&current), &additional)?;
    let hook = service::save(&state, &caller, hook, input).await?;
    Ok(Json(WebhookOut::value(&state, &hook, warnings)?))
}

/// Replace a webhook (read-only fields may be sent back unchanged).
#[utoipa::path(put, path = "/webhooks/v1/applications/{appId}/webhooks/{webhookId}", tag = "webhooks",
    params(("appId" = String, Path), ("webhookId" = String, Path)), request_body = WebhookIn,
    responses((status = 200, body = WebhookOut), (status = 400, body = crate::error::ProblemDoc),
        (status = 401, body = crate::error::ProblemDoc), (status = 403, body = crate::error::ProblemDoc),
        (status = 404, body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/webhooks:data/webhooks:manage"])))]
pub async fn replace_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Path((app_id, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    write(state, principal, (app_id, id), headers, body, false).await
}

/// Update a webhook with a JSON Merge Patch.
#[utoipa::path(patch, path = "/webhooks/v1/applications/{appId}/webhooks/{webhookId}", tag = "webhooks",
    params(("appId" = String, Path), ("webhookId" = String, Path)),
    request_body(content = WebhookIn, content_type = "application/merge-patch+json"),
    responses((status = 200, body = WebhookOut), (status = 400, body = crate::error::ProblemDoc),
        (status = 401, body = crate::error::ProblemDoc), (status = 403, body = crate::error::ProblemDoc),
        (status = 404, body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/webhooks:data/webhooks:manage"])))]
pub async fn update_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Path((app_id, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    write(state, principal, (app_id, id), headers, body, true).await
}

/// Delete a webhook.
#[utoipa::path(delete, path = "/webhooks/v1/applications/{appId}/webhooks/{webhookId}", tag = "webhooks",
    params(("appId" = String, Path), ("webhookId" = String, Path)),
    responses((status = 204, description = "deleted"), (status = 401, body = crate::error::ProblemDoc),
        (status = 403, body = crate::error::ProblemDoc), (status = 404, body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/webhooks:data/webhooks:manage"])))]
pub async fn delete_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Path((app_id, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let caller = caller(&state, principal).await?;
    let (_, hook) = service::load_for(&state, &caller, (&app_id, &id), Verb::Delete).await?;
    service::delete(&state, &caller, &hook).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_status(
    state: AppState,
    principal: Principal,
    app_id: String,
    id: String,
    status: WebhookStatus,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, principal).await?;
    let (_, hook) = service::load_for(&state, &caller, (&app_id, &id), Verb::Update).await?;
    let hook = service::set_status(&state, &caller, hook, status).await?;
    Ok(Json(WebhookOut::value(&state, &hook, Vec::new())?))
}

/// Set the webhook's status to `enabled` (also from `error`).
#[utoipa::path(post, path = "/webhooks/v1/applications/{appId}/webhooks/{webhookId}/enable", tag = "webhooks",
    params(("appId" = String, Path), ("webhookId" = String, Path)),
    responses((status = 200, body = WebhookOut), (status = 401, body = crate::error::ProblemDoc),
        (status = 403, body = crate::error::ProblemDoc), (status = 404, body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/webhooks:data/webhooks:manage"])))]
pub async fn enable_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Path((app_id, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    set_status(state, principal, app_id, id, WebhookStatus::Enabled).await
}

/// Set the webhook's status to `disabled`.
#[utoipa::path(post, path = "/webhooks/v1/applications/{appId}/webhooks/{webhookId}/disable", tag = "webhooks",
    params(("appId" = String, Path), ("webhookId" = String, Path)),
    responses((status = 200, body = WebhookOut), (status = 401, body = crate::error::ProblemDoc),
        (status = 403, body = crate::error::ProblemDoc), (status = 404, body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/webhooks:data/webhooks:manage"])))]
pub async fn disable_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Path((app_id, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    set_status(state, principal, app_id, id, WebhookStatus::Disabled).await
}
