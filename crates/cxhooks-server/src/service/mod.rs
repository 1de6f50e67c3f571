//! The service layer: what the API and the console both do, written once. Each function takes
//! the caller, checks its permissions, writes through the store (one transaction where the write
//! is), bumps the configuration version and updates this node's registry. Handlers and console
//! pages only parse, call and render.
//!
//! - [`access`]: the caller's client and its permission matrix; the API's per-client rate limit.
//! - [`body`]: reading request bodies: media types, JSON with precise errors, no duplicate keys.
//! - [`input`]: validation reporting every problem with its pointer; JSON Merge Patch.
//! - [`list`]: pagination, cursors, `?fields=`.
//! - [`applications`], [`webhooks`]: management; [`webhook_in`]: a webhook body, checked whole;
//!   [`additional`] and [`additional_rules`]: additional fields, and conditions and records
//!   checked against them;
//!   [`groups`]: the groups a record write added and removed, and group labels in conditions.
//! - [`deliveries`]: the request log, redelivery and test pings; [`recover`]: bulk recovery;
//!   [`backtest`]: a webhook's filters run over the stored changes.
//!
//! The service may use [`crate::delivery`] (the registry, the outbox); it never imports
//! [`crate::api`] or [`crate::console`] (`tests/it/layers.rs`).

pub mod access;
pub mod additional;
pub mod additional_rules;
pub mod applications;
pub mod auth_in;
pub mod backtest;
pub mod body;
pub mod deliveries;
pub mod feed;
pub mod groups;
pub mod input;
pub mod list;
pub mod recover;
pub mod request_in;
pub mod webhook_in;
pub mod webhooks;

use crate::error::ApiError;
use cxhooks_store::Audit;
use serde::Serialize;
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

/// An id from a path; anything that is not a UUID names no object.
pub fn parse_id<T: From<uuid::Uuid>>(id: &str) -> Option<T> {
    uuid::Uuid::parse_str(id).ok().map(T::from)
}

/// 404 for an object of this tenant that does not exist (or belongs to another tenant: the
/// answer is the same, so nobody learns that it exists).
pub fn not_found(what: &str, id: &str) -> ApiError {
    ApiError::not_found(format!("there is no {what} with id '{id}'"))
}

impl From<crate::delivery::outbox::PublishError> for ApiError {
    fn from(e: crate::delivery::outbox::PublishError) -> Self {
        match e {
            crate::delivery::outbox::PublishError::Store(e) => e.into(),
            lost @ crate::delivery::outbox::PublishError::IdempotencyLost => {
                ApiError::internal(lost)
            }
            reused @ crate::delivery::outbox::PublishError::KeyReused(_) => ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "idempotency-key-reused",
                "Idempotency-Key reused",
                reused.to_string(),
            ),
        }
    }
}
