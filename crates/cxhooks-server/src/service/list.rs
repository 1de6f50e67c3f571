//! Lists: `?limit=&cursor=&fields=`, opaque cursors, and `{"_kind": "List", "items", "nextCursor"}`.

use crate::error::{ApiError, FieldError};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cxhooks_store::{Page, Paged};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// Query parameters of lists and reads.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size: 1 to 500, default 50.
    // Read as text, so that `?limit=abc` gets the list's own 400 naming `?limit`.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
    /// `nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// Comma-separated fields to return besides `_kind` and `_id`.
    pub fields: Option<String>,
}

/// Query parameters of reads: only `fields`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FieldsQuery {
    /// Comma-separated fields to return besides `_kind` and `_id`.
    pub fields: Option<String>,
}

/// 400 for one bad query parameter (`path` like `?limit`).
pub(crate) fn bad(path: &str, message: String) -> ApiError {
    ApiError::invalid(
        message.clone(),
        vec![FieldError {
            path: path.into(),
            message,
        }],
    )
}

impl ListQuery {
    /// The store page this query asks for.
    pub fn page(&self) -> Result<Page, ApiError> {
        let limit = match self.limit.as_deref() {
            None => 50,
            Some(text) => match text.parse::<u32>() {
                Ok(n @ 1..=500) => n,
                _ => {
                    return Err(bad(
                        "?limit",
                        format!("limit is a whole number from 1 to 500, not '{text}'"),
                    ));
                }
            },
        };
        let after = match self.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => None,
            Some(cursor) => Some(decode_cursor(cursor).ok_or_else(|| {
                bad(
                    "?cursor",
                    "the cursor is not one this API gave out: pass nextCursor of the previous page"
                        .into(),
                )
            })?),
        };
        Ok(Page {
            limit,
            after,
            created_by: None,
        })
    }
}

fn decode_cursor(cursor: &str) -> Option<(i64, String)> {
    let raw = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (at, id) = text.split_once(':')?;
    Some((at.parse().ok()?, id.to_owned()))
}

/// The cursor that continues after an object created at `at` (µs) with `id`.
pub fn encode_cursor(at: i64, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{at}:{id}"))
}

/// Keeps only `_kind`, `_id` and the named fields of each object; unknown names are an error
/// that lists the valid ones.
pub fn project(fields: Option<&str>, objects: &mut [Value]) -> Result<(), ApiError> {
    let Some(fields) = fields.filter(|f| !f.trim().is_empty()) else {
        return Ok(());
    };
    let wanted: Vec<&str> = fields
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .collect();
    if wanted.is_empty() {
        // `?fields=,` asks for nothing in particular, like `?fields=`: the whole object.
        return Ok(());
    }
    if let Some(first) = objects.first().and_then(Value::as_object) {
        let unknown: Vec<_> = wanted.iter().filter(|f| !first.contains_key(**f)).collect();
        if !unknown.is_empty() {
            let valid: Vec<_> = first.keys().map(String::as_str).collect();
            return Err(bad(
                "?fields",
                format!(
                    "unknown field(s) {unknown:?} in fields; valid fields are {}",
                    valid.join(", ")
                ),
            ));
        }
    }
    for object in objects.iter_mut() {
        if let Value::Object(map) = object {
            let kept: Map<String, Value> = std::mem::take(map)
                .into_iter()
                .filter(|(k, _)| k == "_kind" || k == "_id" || wanted.contains(&k.as_str()))
                .collect();
            *map = kept;
        }
    }
    Ok(())
}

/// The list answer.
pub fn list_answer<T>(
    paged: Paged<T>,
    query: &ListQuery,
    position: impl Fn(&T) -> (i64, String),
    render: impl Fn(&T) -> Value,
) -> Result<Value, ApiError> {
    let next = if paged.more {
        paged.items.last().map(|t| {
            let (at, id) = position(t);
            encode_cursor(at, &id)
        })
    } else {
        None
    };
    let mut items: Vec<Value> = paged.items.iter().map(render).collect();
    project(query.fields.as_deref(), &mut items)?;
    Ok(json!({"_kind": "List", "items": items, "nextCursor": next}))
}
