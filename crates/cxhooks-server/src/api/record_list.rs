//! `GET /data/v1/{entity}`: records in id order, selected by a condition over `data.*`,
//! page by page; with `?count=true`, also how many there are in all.

use super::records::{entity, parse_stored, render};
use crate::error::{ApiError, FieldError};
use crate::identity::auth::Principal;
use crate::service::list::encode_cursor;
use crate::state::AppState;
use axum::{Json, extract::Path, extract::Query, extract::State};
use base64::Engine as _;
use cxhooks_catalog::Catalog;
use cxhooks_store::Scope;
use serde::Deserialize;
use serde_json::{Value, json};

/// `?filter=&limit=&cursor=&count=`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecordQuery {
    /// A condition over `data.*` (`data.touser.tosinglestatusnode in [1001, 1002]`).
    pub filter: Option<String>,
    /// Page size: 1 to 500, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// `true`: the answer also carries `total`, how many records the filter selects in all
    /// (counted by reading them all: ask once, not on every page).
    // Read as text, so that `?count=yes` gets a 400 naming `?count`.
    #[param(value_type = Option<bool>)]
    pub count: Option<String>,
}

/// List records, optionally filtered by a condition over `data.*`, in id order.
#[utoipa::path(get, path = "/data/v1/{entity}", tag = "records",
    params(("entity" = String, Path), RecordQuery),
    responses((status = 200, body = super::shapes::RecordList), (status = 400, body = crate::error::ProblemDoc),
        (status = 401, body = crate::error::ProblemDoc), (status = 403, body = crate::error::ProblemDoc),
        (status = 404, body = crate::error::ProblemDoc),
        (status = 508, description = "the request carries `Cx-Delivery-Hop`: it is a cxhooks delivery", body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/cx5Wrapper:data:manage"])))]
pub async fn list_records(
    State(state): State<AppState>,
    principal: Principal,
    Path(entity_name): Path<String>,
    Query(q): Query<RecordQuery>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Scope::RecordsManage)?;
    let entity = entity(&entity_name)?;
    let page = crate::service::list::ListQuery {
        limit: q.limit.clone(),
        cursor: None,
        fields: None,
    }
    .page()?;
    let bad_cursor = || {
        let message =
            "the cursor is not one this API gave out: pass nextCursor of the previous page"
                .to_owned();
        ApiError::invalid(
            message.clone(),
            vec![FieldError {
                path: "?cursor".into(),
                message,
            }],
        )
    };
    let mut after = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => 0,
        Some(c) => base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(c)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|t| t.strip_prefix("0:").and_then(|id| id.parse::<i64>().ok()))
            .ok_or_else(bad_cursor)?,
    };
    let filter = match q.filter.as_deref().filter(|f| !f.trim().is_empty()) {
        None => None,
        Some(text) => Some(
            cxhooks_condition::compile_record_filter(text, Catalog::builtin(), &entity.name)
                .map(|(c, _)| c)
                .map_err(|errors| {
                    let errors: Vec<FieldError> = errors
                        .iter()
                        .map(|e| FieldError {
                            path: "?filter".into(),
                            message: e.to_string(),
                        })
                        .collect();
                    ApiError::invalid(
                        format!("the filter does not parse: {}", errors[0].message),
                        errors,
                    )
                })?,
        ),
    };
    // Scan in id order, keeping what the filter selects, until the page is full.
    let mut items = Vec::new();
    let mut more = false;
    'scan: loop {
        let chunk = state
            .store
            .records_after(&principal.tenant, &entity.name, after, 500)
            .await?;
        let exhausted = chunk.len() < 500;
        for r in &chunk {
            let data = parse_stored(r)?;
            if filter.as_ref().is_none_or(|f| f.matches_record(&data)) {
                if items.len() == page.limit as usize {
                    more = true;
                    break 'scan;
                }
                items.push((r.id, data));
            }
            after = r.id;
        }
        if exhausted {
            break;
        }
    }
    let next = if more {
        items
            .last()
            .map(|(id, _)| encode_cursor(0, &id.to_string()))
    } else {
        None
    };
    let items: Vec<Value> = items
        .iter()
        .map(|(id, data)| render(&entity.name, *id, data))
        .collect();
    let mut answer = json!({"_kind": "List", "items": items, "nextCursor": next});
    let count_all = match q.count.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(crate::service::list::bad(
                "?count",
                format!("'count' is true or false, not '{other}'"),
            ));
        }
    };
    if count_all {
        answer["total"] = json!(count(&state, &principal, &entity.name, filter.as_ref()).await?);
    }
    Ok(Json(answer))
}

/// How many records of `entity` the filter selects, reading them all.
async fn count(
    state: &AppState,
    principal: &Principal,
    entity: &str,
    filter: Option<&cxhooks_condition::CompiledCondition>,
) -> Result<u64, ApiError> {
    let (mut after, mut total) = (0, 0u64);
    loop {
        let chunk = state
            .store
            .records_after(&principal.tenant, entity, after, 500)
            .await?;
        for r in &chunk {
            if filter.is_none_or(|f| parse_stored(r).is_ok_and(|data| f.matches_record(&data))) {
                total += 1;
            }
            after = r.id;
        }
        if chunk.len() < 500 {
            return Ok(total);
        }
    }
}
