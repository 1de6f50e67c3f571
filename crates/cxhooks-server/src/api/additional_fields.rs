//! `/webhooks/v1/additional-fields`: the tenant's additional fields (parse, call
//! [`crate::service::additional`], render).

use super::Created;
use crate::error::ApiError;
use crate::identity::auth::Principal;
use crate::service::access::Caller;
use crate::service::additional::{self as service, AdditionalFieldOut};
use crate::service::body::parse_json;
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use cxhooks_store::Scope;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};

/// The additional-field routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_fields, create_field))
        .routes(routes!(get_field, delete_field))
}

async fn caller(state: &AppState, principal: Principal) -> Result<Caller, ApiError> {
    principal.require(Scope::WebhooksOnlyManage)?;
    Caller::load(state, principal).await
}

/// `?entity=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EntityQuery {
    /// Only this entity's fields (`cremployee`).
    entity: Option<String>,
}

/// The tenant's additional fields, by entity and key.
#[utoipa::path(get, path = "/webhooks/v1/additional-fields", tag = "additional fields",
    params(EntityQuery),
    responses((status = 200, body = super::shapes::AdditionalFieldList),
        (status = 401, body = crate::error::ProblemDoc), (status = 403, body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/webhooks:data/webhooks:manage"])))]
pub async fn list_fields(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<EntityQuery>,
) -> Result<Json<Value>, ApiError> {
    let caller = caller(&state, principal).await?;
    let items = service::list(&state.store, &caller.principal.tenant, q.entity.as_deref()).await?;
    Ok(Json(
        json!({"_kind": "List", "items": items, "nextCursor": null}),
    ))
}

/// Define an additional field: records of `entity` carry it as `additionalinfo.{key}`, and
/// conditions test it as `data.additionalinfo.{key}`.
#[utoipa::path(post, path = "/webhooks/v1/additional-fields", tag = "additional fields",
    request_body = service::AdditionalFieldDoc,
    responses((status = 201, description = "created", body = AdditionalFieldOut),
        (status = 400, body = crate::error::ProblemDoc), (status = 401, body = crate::error::ProblemDoc),
        (status = 403, body = crate::error::ProblemDoc),
        (status = 409, description = "the entity already has a field with this key", body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/webhooks:data/webhooks:manage"])))]
pub async fn create_field(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Created, ApiError> {
    let caller = caller(&state, principal).await?;
    let value = parse_json(&headers, &body)?;
    caller.may_create("additional fields")?;
    let out = service::create(
        &state.store,
        &caller.principal.tenant,
        &caller.client.client_id,
        state.clock.now_us(),
        &value,
    )
    .await?;
    let location = format!("/webhooks/v1/additional-fields/{}/{}", out.entity, out.key);
    Ok(Created::at(
        location,
        serde_json::to_value(out).expect("serialisable"),
    ))
}

/// One additional field.
#[utoipa::path(get, path = "/webhooks/v1/additional-fields/{entity}/{key}", tag = "additional fields",
    params(("entity" = String, Path), ("key" = String, Path)),
    responses((status = 200, body = AdditionalFieldOut),
        (status = 401, body = crate::error::ProblemDoc), (status = 403, body = crate::error::ProblemDoc),
        (status = 404, body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/webhooks:data/webhooks:manage"])))]
pub async fn get_field(
    State(state): State<AppState>,
    principal: Principal,
    Path((entity, key)): Path<(String, String)>,
) -> Result<Json<AdditionalFieldOut>, ApiError> {
    let caller = caller(&state, principal).await?;
    Ok(Json(
        service::get(&state.store, &caller.principal.tenant, &entity, &key).await?,
    ))
}

/// Delete an additional field; refused while a webhook's condition uses it.
#[utoipa::path(delete, path = "/webhooks/v1/additional-fields/{entity}/{key}", tag = "additional fields",
    params(("entity" = String, Path), ("key" = String, Path)),
    responses((status = 204, description = "deleted"),
        (status = 401, body = crate::error::ProblemDoc), (status = 403, body = crate::error::ProblemDoc),
        (status = 404, body = crate::error::ProblemDoc),
        (status = 409, description = "webhooks use it: they are named", body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/webhooks:data/webhooks:manage"])))]
pub async fn delete_field(
    State(state): State<AppState>,
    principal: Principal,
    Path((entity, key)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let caller = caller(&state, principal).await?;
    let tenant = caller.principal.tenant.clone();
    service::delete(&state.store, &tenant, Some(&caller), (&entity, &key)).await?;
    Ok(StatusCode::NO_CONTENT)
}
