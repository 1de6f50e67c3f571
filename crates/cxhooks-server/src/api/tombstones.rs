//! `GET /data/v1/{entity}/deleted`: the tombstones of deleted records (id and time), kept for
//! `retention.tombstones`, so that a consumer that missed a deletion (a replica whose sync was
//! down longer than the retry schedule) can repair itself.

use crate::error::ApiError;
use crate::identity::auth::Principal;
use crate::service::list::{ListQuery, encode_cursor};
use crate::state::AppState;
use axum::http::StatusCode;
use axum::{Json, extract::Path, extract::Query, extract::State};
use cxhooks_store::{Scope, Tombstone};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The tombstone route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_deleted))
        .route_layer(axum::middleware::from_fn(super::refuse_delivery_loops))
}

/// `?since=&limit=&cursor=`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeletedQuery {
    /// Deletions at or after this time (RFC 3339, e.g. `2026-12-05T10:00:00Z`).
    // Optional here, so that a request without it gets a 400 naming `?since`.
    #[param(required = true, value_type = String, format = DateTime)]
    pub since: Option<String>,
    /// Page size: 1 to 500, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
}

/// A deleted record: which, and when.
#[derive(Debug, Serialize, ToSchema)]
pub struct TombstoneOut {
    /// `Tombstone`.
    #[serde(rename = "_kind")]
    pub kind: &'static str,
    /// The deleted record's id, as text.
    #[serde(rename = "_id")]
    pub id: String,
    /// Its entity.
    pub entity: String,
    /// When it was deleted (RFC 3339, milliseconds, UTC).
    #[serde(rename = "deletedAt")]
    pub deleted_at: String,
}

/// A page of tombstones, oldest deletion first.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct TombstoneList {
    /// `List`.
    #[schema(rename = "_kind", pattern = "^List$")]
    kind: String,
    /// The tombstones of this page.
    items: Vec<TombstoneOut>,
    /// Pass as `?cursor=` for the next page; null on the last page.
    #[schema(rename = "nextCursor", required = true)]
    next_cursor: Option<String>,
}

fn rfc3339(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Records of `entity` deleted since a time, oldest first: their ids and deletion times.
/// Deletions older than `retention.tombstones` are no longer known: asking for them is 410.
#[utoipa::path(get, path = "/data/v1/{entity}/deleted", tag = "records",
    params(("entity" = String, Path), DeletedQuery),
    responses((status = 200, description = "deletions since `since`", body = TombstoneList),
        (status = 400, body = crate::error::ProblemDoc),
        (status = 401, body = crate::error::ProblemDoc), (status = 403, body = crate::error::ProblemDoc),
        (status = 404, body = crate::error::ProblemDoc),
        (status = 410, description = "`since` is before the oldest deletion still kept: reconcile fully", body = crate::error::ProblemDoc),
        (status = 508, description = "the request carries `Cx-Delivery-Hop`: it is a cxhooks delivery", body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/cx5Wrapper:data:manage"])))]
pub async fn list_deleted(
    State(state): State<AppState>,
    principal: Principal,
    Path(entity_name): Path<String>,
    Query(q): Query<DeletedQuery>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Scope::RecordsManage)?;
    let entity = super::records::entity(&entity_name)?;
    let page = ListQuery {
        limit: q.limit,
        cursor: q.cursor,
        fields: None,
    }
    .page()?;
    let since_text = q.since.as_deref().unwrap_or("");
    let since = if since_text.is_empty() {
        return Err(crate::service::list::bad(
            "?since",
            "'since' is required: the time (RFC 3339, e.g. 2026-12-05T10:00:00Z) from which \
             deletions are listed"
                .into(),
        ));
    } else {
        chrono::DateTime::parse_from_rfc3339(since_text)
            .map_err(|e| {
                crate::service::list::bad(
                    "?since",
                    format!(
                        "'since' must be an RFC 3339 time such as 2026-12-05T10:00:00Z, not \
                         '{since_text}' ({e})"
                    ),
                )
            })?
            .timestamp_micros()
    };
    let keep = state.config.retention.tombstones;
    if !keep.is_zero() {
        let horizon = state.clock.now_us() - i64::try_from(keep.as_micros()).unwrap_or(i64::MAX);
        if since < horizon {
            return Err(ApiError::new(
                StatusCode::GONE,
                "tombstones-expired",
                "Deletions no longer known",
                format!(
                    "deletions are kept for {} (retention.tombstones), and {since_text} is \
                     before {}: fetch every record again to find what was deleted",
                    humantime::format_duration(keep),
                    rfc3339(horizon)
                ),
            ));
        }
    }
    let after = match page.after {
        None => None,
        Some((at, id)) => Some(Tombstone {
            deleted_at: at,
            id: id.parse().map_err(|_| {
                crate::service::list::bad(
                    "?cursor",
                    "the cursor is not one this API gave out: pass nextCursor of the previous \
                     page"
                        .into(),
                )
            })?,
        }),
    };
    let mut found = state
        .store
        .tombstones_since(
            &principal.tenant,
            &entity.name,
            since,
            after,
            page.limit + 1,
        )
        .await?;
    let more = found.len() > page.limit as usize;
    found.truncate(page.limit as usize);
    let next = more
        .then(|| {
            found
                .last()
                .map(|t| encode_cursor(t.deleted_at, &t.id.to_string()))
        })
        .flatten();
    let items: Vec<TombstoneOut> = found
        .iter()
        .map(|t| TombstoneOut {
            kind: "Tombstone",
            id: t.id.to_string(),
            entity: entity.name.clone(),
            deleted_at: rfc3339(t.deleted_at),
        })
        .collect();
    Ok(Json(
        json!({"_kind": "List", "items": items, "nextCursor": next}),
    ))
}
