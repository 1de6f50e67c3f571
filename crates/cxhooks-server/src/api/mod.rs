//! The HTTP API, one module per resource, and the OpenAPI document generated from it.
//!
//! - [`body`]: JSON bodies with precise errors, validation that reports every problem, merge patch.
//! - [`list`]: pagination, cursors, `?fields=`.
//! - [`access`]: the caller's client and its permission matrix.
//! - [`applications`], [`webhooks`], [`event_types`], [`acl`]: the management resources.
//! - [`changes`]: the publish API; [`events`]: the request log, redelivery and test pings.
//! - [`openapi`]: the document served at `/openapi.json`.

pub mod access;
pub mod acl;
pub mod applications;
pub mod body;
pub mod changes;
pub mod event_types;
pub mod events;
pub mod list;
pub mod openapi;
pub mod records;
pub mod webhooks;

use crate::error::ApiError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cxhooks_store::Audit;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// The audit fields every object carries.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditOut {
    /// Creation time (RFC 3339, UTC).
    #[serde(rename = "_createdAt")]
    pub created_at: String,
    /// Client id of the creator.
    #[serde(rename = "_createdBy")]
    pub created_by: String,
    /// Last change time (RFC 3339, UTC).
    #[serde(rename = "_updatedAt")]
    pub updated_at: String,
    /// Client id of the last changer.
    #[serde(rename = "_updatedBy")]
    pub updated_by: String,
}

/// RFC 3339 in UTC with a `Z`, as every timestamp of the API.
pub fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl AuditOut {
    /// The audit fields of an object.
    pub fn new(a: &Audit) -> Self {
        Self {
            created_at: rfc3339(a.created_at),
            created_by: a.created_by.clone(),
            updated_at: rfc3339(a.updated_at),
            updated_by: a.updated_by.clone(),
        }
    }
}

/// A list answer (documentation shape).
#[derive(Debug, Serialize, ToSchema)]
pub struct ListDoc {
    /// `List`.
    #[serde(rename = "_kind")]
    pub kind: String,
    /// The objects of this page.
    pub items: Vec<Value>,
    /// Pass as `?cursor=` for the next page; null on the last page.
    #[serde(rename = "nextCursor")]
    pub next_cursor: Option<String>,
}

/// A 201 answer with a `Location`.
#[derive(Debug)]
pub struct Created(String, Value);

impl Created {
    /// The created object at `location`.
    pub fn at(location: String, body: Value) -> Self {
        Self(location, body)
    }
}

impl IntoResponse for Created {
    fn into_response(self) -> Response {
        let mut r = (StatusCode::CREATED, Json(self.1)).into_response();
        if let Ok(v) = HeaderValue::from_str(&self.0) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        r
    }
}

/// An id from a path; anything that is not a UUID names no object.
pub fn parse_id(id: &str) -> Option<uuid::Uuid> {
    uuid::Uuid::parse_str(id).ok()
}

/// 404 for an object of this tenant that does not exist (or belongs to another tenant: the
/// answer is the same, so nobody learns that it exists).
pub fn not_found(what: &str, id: &str) -> ApiError {
    ApiError::not_found(format!("there is no {what} with id '{id}'"))
}
