//! The HTTP API, one module per resource, and the OpenAPI document generated from it.
//!
//! Handlers parse, call and render: the work is in [`crate::service`] (management, the request
//! log) and [`crate::delivery::outbox`] (publishing).
//!
//! - [`applications`], [`webhooks`], [`event_types`], [`acl`], [`additional_fields`]: the
//!   management resources.
//! - [`changes`]: the publish API; [`events`]: the request log, redelivery and test pings.
//! - [`records`], [`record_list`], [`tombstones`], [`attachments`]: the record store.
//! - [`openapi`]: the document served at `/openapi.json`; [`shapes`]: the answers it describes
//!   that handlers build as JSON.
//! - [`refuse_delivery_loops`]: the publish and record APIs refuse cxhooks' own deliveries.

pub mod acl;
pub mod additional_fields;
pub mod applications;
pub mod attachments;
pub mod backtest;
pub mod changes;
pub mod event_types;
pub mod events;
pub mod feed;
pub mod openapi;
pub mod record_delete;
pub mod record_list;
pub mod records;
pub mod shapes;
pub mod tombstones;
pub mod webhooks;

pub use crate::service::{AuditOut, not_found, parse_id, rfc3339};

use crate::delivery::sender::DELIVERY_HOP;
use crate::error::ApiError;
use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

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

/// Refuses a request that is a cxhooks delivery (it carries `Cx-Delivery-Hop`) with
/// `508 Loop Detected`: a webhook aimed at the publish or record API would otherwise publish
/// every delivery as a new change, which delivers again, without end. Runs before
/// authentication, so a delivery's custom `Authorization` header changes nothing.
pub async fn refuse_delivery_loops(request: Request, next: Next) -> Response {
    if !request.headers().contains_key(DELIVERY_HOP) {
        return next.run(request).await;
    }
    ApiError::new(
        StatusCode::LOOP_DETECTED,
        "delivery-loop",
        "Loop detected",
        "this request carries Cx-Delivery-Hop: it is a delivery of cxhooks, sent by a webhook \
         whose url points at this API. Publishing it would deliver it again, without end. Point \
         the webhook at a receiver that is not cxhooks' publish or record API",
    )
    .into_response()
}
