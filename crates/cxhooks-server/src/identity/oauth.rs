//! The token endpoint's errors: RFC 6749 §5.2 answers (`{"error", "error_description"}`), not
//! problem+json, because OAuth clients read them.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An RFC 6749 §5.2 error answer.
#[derive(Debug)]
pub struct OAuthError {
    pub(super) status: StatusCode,
    pub(super) error: &'static str,
    pub(super) description: String,
    /// Seconds for `Retry-After`.
    pub(super) retry_after: Option<u64>,
}

/// An error answer of `status`.
pub(super) fn oauth(
    status: StatusCode,
    error: &'static str,
    description: impl Into<String>,
) -> OAuthError {
    OAuthError {
        status,
        error,
        description: description.into(),
        retry_after: None,
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "error_description": self.description});
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        // A 401 always names a scheme (RFC 7235 §3.1), whichever way the client sent its
        // credentials (HTTP Basic or the form's `client_secret_post`).
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"cxhooks\""),
            );
        }
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, secs.into());
        }
        response
    }
}

impl From<cxhooks_store::StoreError> for OAuthError {
    fn from(e: cxhooks_store::StoreError) -> Self {
        if let cxhooks_store::StoreError::Unavailable(why) = &e {
            tracing::warn!(error = %why, "token endpoint: the store is unavailable");
            return OAuthError {
                retry_after: Some(crate::error::RETRY_AFTER_S),
                ..oauth(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    format!(
                        "the store cannot be reached now; ask again after {} s",
                        crate::error::RETRY_AFTER_S
                    ),
                )
            };
        }
        let incident = uuid::Uuid::new_v4();
        tracing::error!(%incident, error = %e, "token endpoint store error");
        oauth(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            format!("incident {incident}"),
        )
    }
}
