//! The web console at `/console`: what an operator of one tenant uses instead of curl.
//!
//! Server-rendered HTML ([maud]) with one small script (`assets/console.js`: copy buttons,
//! condition validation as you type) and no build step. Every action goes through the same
//! code as the API: the signed-in operator becomes a [`crate::identity::auth::Principal`] with
//! every scope and the
//! whole permission matrix of its tenant, and the services of [`crate::service`] do the work,
//! so the console shows exactly the errors the API answers. It never calls an API handler.
//!
//! - [`session`]: sign-in, sessions in cookies, CSRF tokens, the page layout.
//! - [`throttle`]: sign-in back-off per account and per address after repeated failures.
//! - [`clients`]: Identity Management > Clients.
//! - [`applications`], [`webhooks`]: management.
//! - [`deliveries`]: the request log, with its chart, attempts and redeliver.

pub mod additional;
pub mod applications;
pub mod clients;
pub mod deliveries;
pub mod done;
mod health;
pub mod recover;
pub mod session;
pub mod sign_in;
mod webhook_form;
pub mod webhooks;

use crate::error::ApiError;
use crate::state::AppState;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};

/// The console's routes, all under `/console`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::to("/console/requests") }),
        )
        .route("/console/assets/console.css", get(css))
        .route("/console/assets/console.js", get(js))
        .route(
            "/console/login",
            get(sign_in::login_page).post(sign_in::login),
        )
        .route("/console/logout", post(sign_in::logout))
        .route("/console/clients", get(clients::list).post(clients::create))
        .route("/console/clients/new", get(clients::new_form))
        .route("/console/clients/{id}/edit", get(clients::edit_form))
        .route("/console/clients/{id}", post(clients::update))
        .route("/console/clients/{id}/rotate", post(clients::rotate))
        .route("/console/clients/{id}/delete", post(clients::delete))
        .route(
            "/console/applications",
            get(applications::applications).post(applications::create_application),
        )
        .route(
            "/console/applications/{app}/rotate",
            post(applications::rotate_application),
        )
        .route(
            "/console/applications/{app}/public-jwks",
            post(applications::public_jwks),
        )
        .route(
            "/console/additional-fields",
            get(additional::list).post(additional::create),
        )
        .route(
            "/console/additional-fields/{entity}/{key}/delete",
            post(additional::delete),
        )
        .route("/console/webhooks", get(webhooks::webhooks))
        .route(
            "/console/webhooks/new",
            get(webhooks::new_webhook).post(webhooks::create_webhook),
        )
        .route(
            "/console/webhooks/validate",
            post(webhooks::validate_webhook),
        )
        .route(
            "/console/webhooks/{app}/{id}",
            get(webhooks::edit_webhook).post(webhooks::save_webhook),
        )
        .route(
            "/console/webhooks/{app}/{id}/recover",
            get(recover::form).post(recover::start),
        )
        .route(
            "/console/webhooks/{app}/{id}/recoveries/{rid}",
            get(recover::show),
        )
        .route(
            "/console/webhooks/{app}/{id}/{action}",
            post(webhooks::webhook_action),
        )
        .route("/console/requests", get(deliveries::list))
        .route("/console/requests/{app}/{id}", get(deliveries::show))
        .route(
            "/console/requests/{app}/{id}/redeliver",
            post(deliveries::redeliver),
        )
        .layer(axum::middleware::map_response(security_headers))
}

async fn css() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("assets/console.css"),
    )
}

async fn js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/console.js"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// Console pages may only load the console's own script and stylesheet, may not be framed,
/// and are not cached (they show secrets once).
async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// An API error shown on a console page: its detail and each field problem.
pub fn problem(e: &ApiError) -> Markup {
    html! {
        div.problem role="alert" {
            p { (e.detail()) }
            @if !e.field_errors().is_empty() {
                ul {
                    @for f in e.field_errors() {
                        li { @if !f.path.is_empty() { code { (f.path) } ": " } (f.message) }
                    }
                }
            }
        }
    }
}

/// A page answered with an error status but shown in the layout.
pub fn error_page(session: &session::Session, e: &ApiError) -> Response {
    let mut r = session::page(
        Some(session),
        "Error",
        html! { h1 { "Something went wrong" } (problem(e)) },
    );
    *r.status_mut() = e.status();
    r
}
