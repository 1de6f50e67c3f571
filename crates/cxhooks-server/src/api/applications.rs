//! `/webhooks/v1/applications`: parse, call [`crate::service::applications`], render.

use super::Created;
use crate::error::ApiError;
use crate::identity::auth::Principal;
use crate::service::access::{Caller, Verb};
use crate::service::applications::{self as service, ApplicationIn, ApplicationOut, READ_SCOPES};
use crate::service::input::{merge_patch, parse_json, parse_patch};
use crate::service::list::{FieldsQuery, ListQuery, list_answer, project};
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use cxhooks_store::{Scope, to_micros};
use serde_json::Value;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The application routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_application, list_applications))
        .routes(routes!(
            get_application,
            update_application,
            delete_application
        ))
        .routes(routes!(rotate_secret))
        .routes(routes!(application_jwks))
        .routes(routes!(public_application_jwks))
        .routes(routes!(rotate_standard_secret))
}

/// Create an application with a new RSA key pair; with `"signatureScheme": "cx+standard"` the
/// answer also carries its Standard Webhooks `standardSecret`, shown this once.
#[utoipa::path(post, path = "/webhooks/v1/applications", tag = "applications",
    request_body = ApplicationIn,
    responses((status = 201, description = "created", body = ApplicationOut),
        (status = 400, description = "invalid body", body = crate::error::ProblemDoc),
        (status = 401, body = crate::error::ProblemDoc), (status = 403, body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/webhooks:data/applications:manage"])))]
pub async fn create_application(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    principal.require(Scope::ApplicationsManage)?;
    let caller = Caller::load(&state, principal).await?;
    caller.may_create("applications")?;
    let value = parse_json(&headers, &body)?;
    let (app, made) = service::create(&state, &caller, ApplicationIn::check(&value, None)?).await?;
    Ok(Created::at(
        format!("/webhooks/v1/applications/{}", app.id),
        ApplicationOut::shown_once(&app, &state.public_url, made.as_ref()),
    ))
}

/// List applications.
#[utoipa::path(get, path = "/webhooks/v1/applications", tag = "applications", params(ListQuery),
    responses((status = 200, description = "a page of applications", body = super::shapes::ApplicationList),
        (status = 400, body = crate::error::ProblemDoc), (status = 401, body = crate::error::ProblemDoc),
        (status = 403, body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/webhooks:data/applications:manage", "urn:cx/webhooks:data/webhooks:manage"])))]
pub async fn list_applications(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    principal.require_any(&READ_SCOPES)?;
    let caller = Caller::load(&state, principal).await?;
    let page = caller.readable(query.page()?)?;
    let paged = state
        .store
        .applications(&caller.principal.tenant, &page)
        .await?;
    let answer = list_answer(
        paged,
        &query,
        |a| (to_micros(a.audit.created_at), a.id.to_string()),
        |a| ApplicationOut::value(a, &state.public_url),
    )?;
    Ok(Json(answer))
}

/// Read one application.
#[utoipa::path(get, path = "/webhooks/v1/applications/{appId}", tag = "applications",
    params(("appId" = String, Path, description = "application id"), FieldsQuery),
    responses((status = 200, body = ApplicationOut), (status = 401, body = crate::error::ProblemDoc),
        (status = 403, body = crate::error::ProblemDoc), (status = 404, body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/webhooks:data/applications:manage", "urn:cx/webhooks:data/webhooks:manage"])))]
pub async fn get_application(
    State(state): State<AppState>,
    principal: Principal,
    Path(app_id): Path<String>,
    Query(query): Query<FieldsQuery>,
) -> Result<Json<Value>, ApiError> {
    principal.require_any(&READ_SCOPES)?;
    let caller = Caller::load(&state, principal).await?;
    let app = service::load_for(&state, &caller, &app_id, Verb::Read).await?;
    let mut out = [ApplicationOut::value(&app, &state.public_url)];
    project(query.fields.as_deref(), &mut out)?;
    let [out] = out;
    Ok(Json(out))
}

/// Rename an application or change its `signatureScheme` (JSON Merge Patch; read-only fields may
/// be sent back unchanged). Switching to `cx+standard` answers the new `standardSecret` once.
#[utoipa::path(patch, path = "/webhooks/v1/applications/{appId}", tag = "applications",
    params(("appId" = String, Path, description = "application id")),
    request_body(content = ApplicationIn, content_type = "application/merge-patch+json"),
    responses((status = 200, body = ApplicationOut), (status = 400, body = crate::error::ProblemDoc),
        (status = 401, body = crate::error::ProblemDoc), (status = 403, body = crate::error::ProblemDoc),
        (status = 404, body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/webhooks:data/applications:manage"])))]
pub async fn update_application(
    State(state): State<AppState>,
    principal: Principal,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    principal.require(Scope::ApplicationsManage)?;
    let caller = Caller::load(&state, principal).await?;
    let app = service::load_for(&state, &caller, &app_id, Verb::Update).await?;
    let patch = parse_patch(&headers, &body)?;
    let current = ApplicationOut::value(&app, &state.public_url);
    let mut merged = current.clone();
    merge_patch(&mut merged, &patch);
    let input = ApplicationIn::check(&merged, Some(&current))?;
    let (app, made) = service::update(&state, &caller, app, input).await?;
    Ok(Json(ApplicationOut::shown_once(
        &app,
        &state.public_url,
        made.as_ref(),
    )))
}

/// Delete an application and its webhooks.
#[utoipa::path(delete, path = "/webhooks/v1/applications/{appId}", tag = "applications",
    params(("appId" = String, Path, description = "application id")),
    responses((status = 204, description = "deleted"), (status = 401, body = crate::error::ProblemDoc),
        (status = 403, body = crate::error::ProblemDoc), (status = 404, body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/webhooks:data/applications:manage"])))]
pub async fn delete_application(
    State(state): State<AppState>,
    principal: Principal,
    Path(app_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Scope::ApplicationsManage)?;
    let caller = Caller::load(&state, principal).await?;
    let app = service::load_for(&state, &caller, &app_id, Verb::Delete).await?;
    service::delete(&state, &caller, &app).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The application's public keys as a JWKS: the current one (`secret`) first, then the keys it
/// replaced within `keys.rotation_grace`. Each `kid` is the key's RFC 7638 thumbprint, the
/// `Cx-Signature-Key-Id` of the deliveries it signed.
#[utoipa::path(get, path = "/webhooks/v1/applications/{appId}/jwks", tag = "applications",
    params(("appId" = String, Path, description = "application id")),
    responses((status = 200, description = "a JWKS (RFC 7517)", body = Object),
        (status = 401, body = crate::error::ProblemDoc), (status = 403, body = crate::error::ProblemDoc),
        (status = 404, body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/webhooks:data/applications:manage", "urn:cx/webhooks:data/webhooks:manage"])))]
pub async fn application_jwks(
    State(state): State<AppState>,
    principal: Principal,
    Path(app_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    principal.require_any(&READ_SCOPES)?;
    let caller = Caller::load(&state, principal).await?;
    let app = service::load_for(&state, &caller, &app_id, Verb::Read).await?;
    Ok(Json(service::jwks(&state, &app).await?))
}

/// The application's JWKS for anyone, without a token, when the application opted in
/// (`publicJwks`): receivers fetch it and pick the key by `Cx-Signature-Key-Id`. Public keys
/// only. An application that did not opt in, or does not exist, is the same 404.
#[utoipa::path(get, path = "/webhooks/v1/public/{tenant}/applications/{appId}/jwks", tag = "applications",
    params(("tenant" = String, Path, description = "the application's tenant"),
        ("appId" = String, Path, description = "application id")),
    responses((status = 200, description = "a JWKS (RFC 7517)", body = Object),
        (status = 404, body = crate::error::ProblemDoc)),
    security(()))]
pub async fn public_application_jwks(
    State(state): State<AppState>,
    Path((tenant, app_id)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let jwks = service::public_jwks(&state, &tenant, &app_id).await?;
    Ok((
        [(axum::http::header::CACHE_CONTROL, "public, max-age=60")],
        Json(jwks),
    ))
}

/// Replace the application's key pair; deliveries signed from now on, retries included, use
/// the new key, and the old one stays in the application's JWKS for `keys.rotation_grace`.
#[utoipa::path(post, path = "/webhooks/v1/applications/{appId}/rotate-secret", tag = "applications",
    params(("appId" = String, Path, description = "application id")),
    responses((status = 200, description = "the application with its new secret", body = ApplicationOut),
        (status = 401, body = crate::error::ProblemDoc), (status = 403, body = crate::error::ProblemDoc),
        (status = 404, body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/webhooks:data/applications:manage"])))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    principal: Principal,
    Path(app_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Scope::ApplicationsManage)?;
    let caller = Caller::load(&state, principal).await?;
    let app = service::load_for(&state, &caller, &app_id, Verb::Update).await?;
    let app = service::rotate(&state, &caller, app).await?;
    Ok(Json(ApplicationOut::value(&app, &state.public_url)))
}

/// Replace the application's Standard Webhooks secret (409 unless its `signatureScheme` is
/// `cx+standard`); the answer carries the new `standardSecret`, shown this once. Deliveries sent
/// from now on, retries included, are signed with it.
#[utoipa::path(post, path = "/webhooks/v1/applications/{appId}/rotate-standard-secret", tag = "applications",
    params(("appId" = String, Path, description = "application id")),
    responses((status = 200, description = "the application with its new `standardSecret`", body = ApplicationOut),
        (status = 401, body = crate::error::ProblemDoc), (status = 403, body = crate::error::ProblemDoc),
        (status = 404, body = crate::error::ProblemDoc),
        (status = 409, description = "the application's scheme is `cx`", body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/webhooks:data/applications:manage"])))]
pub async fn rotate_standard_secret(
    State(state): State<AppState>,
    principal: Principal,
    Path(app_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Scope::ApplicationsManage)?;
    let caller = Caller::load(&state, principal).await?;
    let app = service::load_for(&state, &caller, &app_id, Verb::Update).await?;
    let (app, key) = service::rotate_standard(&state, &caller, app).await?;
    Ok(Json(ApplicationOut::shown_once(
        &app,
        &state.public_url,
        Some(&key),
    )))
}
