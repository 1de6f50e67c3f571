//! Attachments (seed 004's roadmap: "webhooks when an attachment is added"): `crattachment`
//! records carry their file as `content` (base64) on writes; the record store keeps the bytes
//! beside the record, in the same transaction, and sets `size` and `checksum` from them.
//! `GET /data/v1/crattachment/{id}/content` answers the bytes.

use crate::error::ApiError;
use crate::identity::auth::Principal;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use cxhooks_store::Scope;
use serde_json::{Value, json};
use utoipa_axum::{router::OpenApiRouter, routes};

/// The entity whose records have files.
pub const ENTITY: &str = "crattachment";

/// The content route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_content))
        .route_layer(axum::middleware::from_fn(super::refuse_delivery_loops))
}

/// Takes an attachment's `content` (base64) out of a record body (or a merge patch), and sets
/// its `size` and `checksum` (`sha256:` and the hex digest) from the bytes; values of them the
/// client sent are dropped. `None` when the body has no `content`, or is not an attachment.
pub fn take_content(
    entity: &str,
    body: &mut Value,
    limit: u64,
) -> Result<Option<Vec<u8>>, ApiError> {
    let Some(map) = body.as_object_mut().filter(|_| entity == ENTITY) else {
        return Ok(None);
    };
    // `size` and `checksum` describe the stored file: only the store sets them.
    map.remove("size");
    map.remove("checksum");
    let Some(content) = map.remove("content") else {
        return Ok(None);
    };
    let Some(text) = content.as_str() else {
        return Err(ApiError::invalid(
            "an attachment's content is its file in base64",
            vec![crate::error::FieldError {
                path: "/content".into(),
                message: "'content' must be a string: the file in base64 (RFC 4648)".into(),
            }],
        ));
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| {
            ApiError::invalid(
                "an attachment's content is its file in base64",
                vec![crate::error::FieldError {
                    path: "/content".into(),
                    message: format!("'content' is not base64 (RFC 4648, with padding): {e}"),
                }],
            )
        })?;
    if bytes.len() as u64 > limit {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "attachment-too-large",
            "Attachment too large",
            format!(
                "the file is {} bytes; limits.max_attachment_bytes allows {limit}: send a \
                 smaller file, or ask the operator to raise the limit",
                bytes.len()
            ),
        )
        .with(
            "errors",
            json!([{"path": "/content", "message": format!("{} bytes, more than the {limit} allowed", bytes.len())}]),
        ));
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    map.insert("size".into(), json!(bytes.len()));
    map.insert("checksum".into(), json!(format!("sha256:{hex}")));
    Ok(Some(bytes))
}

/// A record's `contenttype` if it is a media type, else `application/octet-stream`.
fn content_type(record: &Value) -> HeaderValue {
    record["contenttype"]
        .as_str()
        .filter(|t| t.parse::<mime::Mime>().is_ok())
        .and_then(|t| HeaderValue::from_str(t).ok())
        .unwrap_or_else(|| HeaderValue::from_static("application/octet-stream"))
}

/// `attachment; filename="…"` with the record's file name, reduced to safe characters.
fn disposition(record: &Value, id: i64) -> HeaderValue {
    let name: String = record["filename"]
        .as_str()
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' '))
        .take(200)
        .collect();
    let name = if name.trim().is_empty() {
        format!("attachment-{id}")
    } else {
        name
    };
    HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// An attachment's file, with its content type and file name.
#[utoipa::path(get, path = "/data/v1/crattachment/{attachmentId}/content", tag = "records",
    params(("attachmentId" = String, Path, description = "the crattachment record's id")),
    responses((status = 200, description = "the file", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, body = crate::error::ProblemDoc), (status = 403, body = crate::error::ProblemDoc),
        (status = 404, description = "no such attachment, or it has no file", body = crate::error::ProblemDoc),
        (status = 508, description = "the request carries `Cx-Delivery-Hop`: it is a cxhooks delivery", body = crate::error::ProblemDoc)),
    security(("oauth2" = ["urn:cx/cx5Wrapper:data:manage"])))]
pub async fn get_content(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(Scope::RecordsManage)?;
    let missing = || ApiError::not_found(format!("there is no {ENTITY} with id '{id}'"));
    let n = id
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(missing)?;
    let stored = state
        .store
        .record(&principal.tenant, ENTITY, n)
        .await?
        .ok_or_else(missing)?;
    let record = super::records::parse_stored(&stored)?;
    let bytes = state
        .store
        .record_content(&principal.tenant, ENTITY, n)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "{ENTITY} {id} has no file: write one as 'content' (base64)"
            ))
        })?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type(&record));
    headers.insert(header::CONTENT_DISPOSITION, disposition(&record, n));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}
