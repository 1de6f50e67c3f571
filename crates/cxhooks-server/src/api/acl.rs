//! `GET /acl/v1/me`: who the caller is, as Carerix's ACL API answers it.

use crate::error::ApiError;
use crate::identity::admin::ClientView;
use crate::identity::auth::Principal;
use crate::state::AppState;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use cxhooks_store::Scope;
use serde::Serialize;

/// The ACL routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/acl/v1/me", get(me))
}

/// The caller: its client (as `client create --json` shows it, less the secret) and the
/// scopes its token grants.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    #[serde(flatten)]
    client: ClientView,
    /// Scopes granted by the token.
    scopes: Vec<String>,
    /// When the token expires.
    token_expires_at: String,
}

async fn me(State(state): State<AppState>, principal: Principal) -> Result<Json<Me>, ApiError> {
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
