//! `…/webhooks/{webhookId}/feed`: a pull webhook's notifications, read by its consumer: parse,
//! call [`crate::service::feed`], render.

use crate::error::ApiError;
use crate::identity::auth::Principal;
use crate::service::access::Caller;
use crate::service::feed::{self as service, Feed, FeedQuery};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, Query, State};
use cxhooks_store::Scope;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The feed route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(read_feed))
}

/// A pull webhook's notifications after `cursor`, in order, each with the body and headers it
/// would have been sent with (`cx-signature` and the rest, signed as a push would be). Long-polls
/// up to `wait` seconds when there is none yet. A number is handed out only once every lower
/// one has committed, so a cursor never skips one. 410 when the entries after `cursor` are past
/// retention; 409 for a webhook with a url.
#[utoipa::path(get, path = "/webhooks/v1/applications/{appId}/webhooks/{webhookId}/feed", tag = "webhooks",
    params(("appId" = String, Path), ("webhookId" = String, Path), FeedQuery),
    responses((status = 200, body = Feed), (status = 400, body = crate::error::ProblemDoc),
        (status = 401, body = crate::error::ProblemDoc), (status = 403, body = crate::error::ProblemDoc),
        (status = 404, body = crate::error::ProblemDoc), (status = 409, body = crate::error::ProblemDoc),
        (status = 410, body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/webhooks:data/webhooks:manage"])))]
pub async fn read_feed(
    State(state): State<AppState>,
    principal: Principal,
    Path((app_id, id)): Path<(String, String)>,
    Query(query): Query<FeedQuery>,
) -> Result<Json<Feed>, ApiError> {
    principal.require(Scope::WebhooksOnlyManage)?;
    let caller = Caller::load(&state, principal).await?;
    let hook = service::pull_webhook(&state, &caller, (&app_id, &id)).await?;
    Ok(Json(service::read(&state, &hook, &query).await?))
}
