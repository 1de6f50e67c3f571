//! The cxhooks service.
//!
//! # Layout
//! - [`config`]: settings from file, environment and flags.
//! - [`state`]: what handlers share ([`AppState`]) and opening the store with its master key.
//! - [`identity`]: tenants, clients, realm keys, tokens, and the [`identity::auth::Principal`]
//!   extractor that guards every protected route.
//! - [`api`]: one module per API resource.
//! - [`error`]: the problem+json error every route answers with.
//!
//! [`app`] builds the router (the test seam); [`run`] serves it on a bound listener until the
//! shutdown future resolves, so tests bind port 0 and stop the server when they are done.
#![warn(missing_docs)]

pub mod api;
pub mod config;
pub mod error;
pub mod identity;
pub mod net;
pub mod state;

pub use config::{Config, Overrides};
pub use state::{AppState, StartError, open_store};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use std::future::Future;
use tower::Layer as _;
use tower_http::normalize_path::NormalizePathLayer;
use tower_http::trace::TraceLayer;

/// Every documented route, and the OpenAPI document describing them.
pub fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    use utoipa::OpenApi as _;
    utoipa_axum::router::OpenApiRouter::with_openapi(api::openapi::ApiDoc::openapi())
        .merge(identity::routes::router())
        .merge(api::acl::router())
        .merge(api::applications::router())
        .merge(api::webhooks::router())
        .merge(api::event_types::router())
        .split_for_parts()
}

/// The whole HTTP API.
pub fn app(state: AppState) -> Router {
    let body_limit = usize::try_from(state.config.limits.max_body_bytes).unwrap_or(usize::MAX);
    let (api, doc) = routes();
    let doc = std::sync::Arc::new(doc);
    api.route(
        "/openapi.json",
        get(move || async move { axum::Json(doc.as_ref().clone()) }),
    )
    .route("/healthz", get(|| async { "ok" }))
    .fallback(not_found)
    .layer(DefaultBodyLimit::max(body_limit))
    .layer(TraceLayer::new_for_http())
    .with_state(state)
}

async fn not_found(request: Request) -> impl IntoResponse {
    error::ApiError::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "Not found",
        format!(
            "there is no route for {} {}",
            request.method(),
            request.uri().path()
        ),
    )
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn run(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The seed documents write paths both with and without a trailing slash.
    let service = NormalizePathLayer::trim_trailing_slash().layer(app(state));
    axum::serve(
        listener,
        axum::ServiceExt::<Request>::into_make_service(service),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
