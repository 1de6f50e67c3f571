//! The cxhooks service.
//!
//! # Layout
//! - [`config`]: settings from file, environment and flags.
//! - [`state`]: what handlers share ([`AppState`]) and opening the store with its master key.
//! - [`identity`]: tenants, clients, realm keys, tokens, and the [`identity::auth::Principal`]
//!   extractor that guards every protected route.
//! - [`api`]: one module per API resource.
//! - [`console`]: the web console at `/console` (server-rendered HTML).
//! - [`delivery`]: the webhook registry, the dispatcher and the HTTP sender.
//! - [`metrics`]: `/metrics`, `/readyz`; [`telemetry`]: OpenTelemetry spans over OTLP (opt-in).
//! - [`error`]: the problem+json error every route answers with.
//! - [`transport`]: the listener, which gives hyper's own answers to unreadable request heads
//!   (`414`, `431`) the same problem+json shape.
//!
//! [`app`] builds the router (the test seam); [`run`] serves it on a bound listener until the
//! shutdown future resolves, so tests bind port 0 and stop the server when they are done.
#![warn(missing_docs)]

pub mod api;
pub mod clock;
pub mod config;
pub mod console;
pub mod delivery;
pub mod error;
pub mod identity;
pub mod maintenance;
pub mod metrics;
pub mod net;
pub mod records;
pub mod seal;
pub mod service;
pub mod state;
pub mod telemetry;
pub mod transport;

pub use config::{Config, Overrides};
pub use state::{AppState, Dispatcher, StartError, open_existing_store, open_store};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use std::future::Future;
use tower::Layer as _;
use tower_http::normalize_path::NormalizePathLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// Every documented route, and the OpenAPI document describing them.
pub fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    use utoipa::OpenApi as _;
    let (router, doc) =
        utoipa_axum::router::OpenApiRouter::with_openapi(api::openapi::ApiDoc::openapi())
            .merge(identity::routes::router())
            .merge(api::acl::router())
            .merge(api::applications::router())
            .merge(api::webhooks::router())
            .merge(api::backtest::router())
            .merge(api::feed::router())
            .merge(api::event_types::router())
            .merge(api::additional_fields::router())
            .merge(api::changes::router())
            .merge(api::events::router())
            .merge(api::records::router())
            .merge(api::tombstones::router())
            .merge(api::attachments::router())
            .split_for_parts();
    (router, api::openapi::finish(doc))
}

/// The whole HTTP API.
pub fn app(state: AppState) -> Router {
    let body_limit = usize::try_from(state.config.limits.max_body_bytes).unwrap_or(usize::MAX);
    let (api, doc) = routes();
    let doc = std::sync::Arc::new(doc);
    let api = api.route(
        "/openapi.json",
        get(move || async move { axum::Json(doc.as_ref().clone()) }),
    );
    // CORS (`server.cors_origins`) for the API and the realms' endpoints only: not the console,
    // whose session cookie must not be usable from other origins.
    let api = match state.config.cors() {
        Some(cors) => api.layer(cors),
        None => api,
    };
    api.route("/healthz", get(|| async { "ok" }))
    .route("/readyz", get(metrics::readyz))
    .route("/metrics", get(metrics::metrics))
    .merge(console::router())
    .fallback(not_found)
    .layer(axum::middleware::map_response(problems_for_plain_errors))
    .layer(DefaultBodyLimit::max(body_limit))
    // Every request gets an id (or keeps the caller's `x-request-id`): it is in the request's
    // log lines and in the answer.
    .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
        let id = request
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
    }))
    .layer(PropagateRequestIdLayer::x_request_id())
    .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
    .with_state(state)
}

/// axum's own rejections (body too large, wrong method, …) answer plain text: give them the
/// problem+json shape every other error has.
async fn problems_for_plain_errors(response: axum::response::Response) -> axum::response::Response {
    let status = response.status();
    let plain = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| ct.starts_with("text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !plain {
        return response;
    }
    let (kind, title, detail): (&'static str, &'static str, String) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (
            "payload-too-large",
            "Payload too large",
            "the request body is larger than limits.max_body_bytes allows: send less (a batch holds at most 1,000 changes)"
                .into(),
        ),
        StatusCode::METHOD_NOT_ALLOWED => ("method-not-allowed", "Method not allowed", "this path does not take this method".into()),
        _ => {
            let body = axum::body::to_bytes(response.into_body(), 4096).await.unwrap_or_default();
            ("error", "Error", String::from_utf8_lossy(&body).into_owned())
        }
    };
    error::ApiError::new(status, kind, title, detail).into_response()
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
    // Before any delivery finishes: where the log of finished deliveries puts them.
    maintenance::prepare_log(&state).await;
    let workers = delivery::worker::spawn(state.clone()).await;
    let maintenance = maintenance::spawn(&state);
    // The seed documents write paths both with and without a trailing slash.
    let service = NormalizePathLayer::trim_trailing_slash().layer(app(state));
    let served = axum::serve(
        transport::ProblemListener(listener),
        axum::ServiceExt::<Request>::into_make_service_with_connect_info::<transport::Peer>(
            service,
        ),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    // ClaimedDelivery work that is not finished is claimed again after a restart: nothing to flush.
    drop(workers);
    drop(maintenance);
    served
}
