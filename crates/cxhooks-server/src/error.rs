//! The one API error type: every failure an HTTP client sees is an RFC 9457
//! `application/problem+json` body. Internal errors are logged with an id and shown to the
//! client only as that id.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};

/// The `Retry-After` (seconds) of a 503 while the store is unreachable.
pub const RETRY_AFTER_S: u64 = 1;

/// One field-level problem: where (`path`, a JSON Pointer) and what.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldError {
    /// JSON Pointer of the offending field (`/filters/0/condition`).
    pub path: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// The shape of every error answer (RFC 9457 `application/problem+json`), for the OpenAPI
/// document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProblemDoc {
    /// `urn:cxhooks:problem:{kind}`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What went wrong and how to fix it.
    pub detail: String,
    /// Field-level problems, each with its JSON Pointer.
    pub errors: Option<Vec<FieldError>>,
    /// On a refused webhook: what would only have warned (an undocumented `data.*` path, …),
    /// so that one answer says everything.
    pub warnings: Option<Vec<FieldError>>,
}

/// An error answer. Boxed: handlers return `Result<_, ApiError>` on every path, and the
/// happy path should not pay for moving a large error around.
#[derive(Debug)]
pub struct ApiError(Box<Problem>);

#[derive(Debug)]
struct Problem {
    status: StatusCode,
    kind: &'static str,
    title: &'static str,
    detail: String,
    errors: Vec<FieldError>,
    extra: Map<String, Value>,
    headers: HeaderMap,
}

impl ApiError {
    /// A problem of `status` with a short machine `kind` (becomes `type`) and a title.
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self(Box::new(Problem {
            status,
            kind,
            title,
            detail: detail.into(),
            errors: Vec::new(),
            extra: Map::new(),
            headers: HeaderMap::new(),
        }))
    }

    /// 400 with field errors.
    pub fn invalid(detail: impl Into<String>, errors: Vec<FieldError>) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "Invalid request",
            detail,
        );
        e.0.errors = errors;
        e
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    /// 401 with the RFC 6750 challenge. `reason` is `None` when no token was sent at all.
    pub fn unauthorized(reason: Option<&str>) -> Self {
        let (challenge, detail) = match reason {
            None => (
                "Bearer realm=\"cxhooks\"".to_owned(),
                "this endpoint needs a bearer token: get one from /auth/realms/{tenant}/protocol/openid-connect/token \
                 and send it as 'Authorization: Bearer <token>'"
                    .to_owned(),
            ),
            Some(reason) => (
                format!(
                    "Bearer realm=\"cxhooks\", error=\"invalid_token\", error_description=\"{}\"",
                    reason.replace('"', "'")
                ),
                format!("the bearer token is not valid: {reason}"),
            ),
        };
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            detail,
        )
        .with_header(header::WWW_AUTHENTICATE, &challenge)
    }

    /// 403 for a token that lacks every scope of `accepted` (any one of them grants the request;
    /// the first is the narrowest), naming what it has. The body says "either of" when there
    /// are several; `WWW-Authenticate` names only the first, because RFC 6750 §3 makes its
    /// `scope` a space-delimited list of scopes, where "A or B" would read as three.
    pub fn insufficient_scope(accepted: &[&str], has: &[String]) -> Self {
        let shown = if has.is_empty() {
            "no scopes".to_owned()
        } else {
            has.join(" ")
        };
        let named = accepted.first().copied().unwrap_or_default();
        let needs = match accepted {
            [_, .., _] => format!("either of the scopes {}", accepted.join(" or ")),
            _ => format!("the scope {named}"),
        };
        let mut error = Self::new(
            StatusCode::FORBIDDEN,
            "insufficient-scope",
            "Insufficient scope",
            format!(
                "this request needs {needs}; the token has {shown}. Add {named} to the client's \
                 default scopes (or request it in the token's scope parameter) and get a new token"
            ),
        )
        .with_header(
            header::WWW_AUTHENTICATE,
            &format!("Bearer realm=\"cxhooks\", error=\"insufficient_scope\", scope=\"{named}\""),
        )
        .with("requiredScope", Value::from(named))
        .with("tokenScopes", Value::from(has.to_vec()));
        if accepted.len() > 1 {
            error = error.with("acceptedScopes", Value::from(accepted.to_vec()));
        }
        error
    }

    /// 403 for anything else that is forbidden.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    /// 503 with `Retry-After`: the store cannot be reached now (`why` is logged, not shown).
    /// Nothing is known to have been done: the same request may be sent again (a publish with
    /// its `Idempotency-Key`).
    pub fn unavailable(why: &str) -> Self {
        tracing::warn!(error = %why, "answering 503: the store is unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
            format!(
                "the store cannot be reached now; send the same request again after {RETRY_AFTER_S} s \
                 (a publish with the same Idempotency-Key, so that it is stored once)"
            ),
        )
        .with_header(header::RETRY_AFTER, &RETRY_AFTER_S.to_string())
    }

    /// 500: logs `err` with an incident id and tells the client only the id.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        let incident = uuid::Uuid::new_v4();
        tracing::error!(%incident, error = %err, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal server error",
            format!("the server could not complete the request; incident {incident} is in its log"),
        )
    }

    /// Adds a member to the problem body.
    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.0.extra.insert(key.to_owned(), value);
        self
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.0.headers.insert(name, v);
        }
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// What went wrong and how to fix it.
    pub fn detail(&self) -> &str {
        &self.0.detail
    }

    /// The field-level problems, each with its JSON Pointer.
    pub fn field_errors(&self) -> &[FieldError] {
        &self.0.errors
    }

    /// A member added with [`ApiError::with`].
    pub fn member(&self, key: &str) -> Option<&Value> {
        self.0.extra.get(key)
    }
}

impl ApiError {
    /// The problem+json body.
    pub fn body(&self) -> Vec<u8> {
        let p = &self.0;
        let mut body = Map::new();
        body.insert(
            "type".into(),
            Value::from(format!("urn:cxhooks:problem:{}", p.kind)),
        );
        body.insert("title".into(), Value::from(p.title));
        body.insert("status".into(), Value::from(p.status.as_u16()));
        body.insert("detail".into(), Value::from(p.detail.as_str()));
        if !p.errors.is_empty() {
            body.insert(
                "errors".into(),
                serde_json::to_value(&p.errors).expect("serialisable"),
            );
        }
        body.extend(p.extra.clone());
        serde_json::to_vec(&body).expect("serialisable")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body();
        let p = *self.0;
        let mut response = (p.status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response.headers_mut().extend(p.headers);
        response
    }
}

impl From<cxhooks_store::StoreError> for ApiError {
    fn from(e: cxhooks_store::StoreError) -> Self {
        match e {
            cxhooks_store::StoreError::Unavailable(why) => ApiError::unavailable(&why),
            e => ApiError::internal(e),
        }
    }
}
