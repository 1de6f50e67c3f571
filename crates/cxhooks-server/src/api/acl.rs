//! `GET /acl/v1/me`: who the caller is, as Carerix's ACL API answers it.

use crate::error::ApiError;
use crate::identity::admin::ClientView;
use crate::identity::auth::Principal;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use cxhooks_store::Scope;
use serde::Serialize;

use utoipa_axum::{router::OpenApiRouter, routes};

/// The ACL routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(me))
}

/// The caller: its client (as `client create --json` shows it, less the secret) and the
/// scopes its token grants.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    #[serde(flatten)]
    #[schema(inline)]
    client: ClientView,
    /// Scopes granted by the token.
    scopes: Vec<String>,
    /// When the token expires.
    token_expires_at: String,
}

/// The caller's tenant, client, default scopes, permissions, and the scopes its token grants.
#[utoipa::path(get, path = "/acl/v1/me", tag = "acl",
    responses((status = 200, body = Me), (status = 401, body = crate::error::ProblemDoc),
        (status = 403, body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/cx5Acl:data:manage"])))]
pub async fn me(State(state): State<AppState>, principal: Principal) -> Result<Json<Me>, ApiError> {
    principal.require(Scope::AclManage)?;
    let client = state
        .store
        .client(&principal.tenant, &principal.client_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized(Some("its client no longer exists")))?;
    Ok(Json(Me {
        client: ClientView::new(&client, None),
        scopes: principal.scopes.to_strings(),
        token_expires_at: principal
            .expires_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }))
}
