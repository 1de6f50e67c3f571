//! The sign-in and sign-out pages: the form (with its double-submit CSRF cookie), the password
//! check through [`crate::identity::throttle`], and the session cookie set or cleared.

use super::session::*;
use crate::error::ApiError;
use crate::identity::operators;
use crate::identity::throttle::{Limit, Throttled};
use crate::state::AppState;
use crate::transport::Peer;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Extension, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use cxhooks_store::ConsoleSession;
use maud::html;
use serde::Deserialize;

/// `?next=`: where to go after signing in.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

fn login_form(
    state: &AppState,
    next: &str,
    problem: Option<&str>,
    tenant: &str,
    email: &str,
) -> Response {
    let token = cxhooks_signing::random_secret();
    let mut r = page(
        None,
        "Sign in",
        html! {
            section.narrow {
                h1 { "Sign in" }
                p.muted { "Operators are created with " code { "cxhooks operator create" } "." }
                @if let Some(p) = problem { div.problem role="alert" { p { (p) } } }
                form method="post" action="/console/login" {
                    input type="hidden" name="login_csrf" value=(token);
                    input type="hidden" name="next" value=(next);
                    label { "Tenant" input name="tenant" value=(tenant) required autocomplete="organization" autocapitalize="none"; }
                    label { "E-mail" input name="email" type="email" value=(email) required autocomplete="username"; }
                    label { "Password" input name="password" type="password" required autocomplete="current-password"; }
                    button type="submit" { "Sign in" }
                }
            }
        },
    );
    let (name, value) = set_cookie(state, LOGIN_COOKIE, &token, 3600);
    r.headers_mut()
        .append(name, value.parse().expect("a valid header"));
    if problem.is_some() {
        *r.status_mut() = StatusCode::UNAUTHORIZED;
    }
    r
}

/// `GET /console/login`.
pub async fn login_page(State(state): State<AppState>, Query(q): Query<LoginQuery>) -> Response {
    login_form(&state, safe_next(q.next.as_deref()), None, "", "")
}

/// A sign-in refused by the throttle, without its password checked: 429 and `Retry-After`.
fn throttled_form(
    state: &AppState,
    next: &str,
    throttled: Throttled,
    tenant: &str,
    email: &str,
) -> Response {
    let secs = throttled.retry_after_s;
    let whose = match throttled.limit {
        Limit::Account => "for this account",
        Limit::Address => "from this address",
    };
    let mut r = login_form(
        state,
        next,
        Some(&format!(
            "Too many failed sign-ins {whose}: try again in {secs} s."
        )),
        tenant,
        email,
    );
    *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    r
}

/// `POST /console/login`: checks the password and starts a session.
pub async fn login(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<Peer>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Form::parse(&body);
    let next = safe_next(form.get("next")).to_owned();
    let (tenant, email) = (form.text("tenant"), form.text("email"));
    let double_submit = cookie(&headers, LOGIN_COOKIE)
        .zip(form.get("login_csrf"))
        .is_some_and(|(c, f)| constant_time_eq(c.as_bytes(), f.as_bytes()));
    if !double_submit {
        return login_form(
            &state,
            &next,
            Some("The sign-in form expired (or cookies are off): please try again."),
            tenant,
            email,
        );
    }
    let address = peer.map(|Extension(ConnectInfo(Peer(addr)))| addr.ip());
    let attempt = match state
        .sign_ins
        .begin(tenant, email, address, state.clock.now_us())
    {
        Ok(attempt) => attempt,
        Err(throttled) => {
            tracing::info!(tenant, limit = ?throttled.limit, "console sign-in throttled");
            return throttled_form(&state, &next, throttled, tenant, email);
        }
    };
    let found = match operators::authenticate(
        &state.store,
        tenant,
        email,
        form.get("password").unwrap_or(""),
    )
    .await
    {
        Ok(found) => found,
        Err(e) => {
            state.sign_ins.unchecked(attempt);
            return ApiError::internal(e).into_response();
        }
    };
    let Some(operator) = found else {
        // The attempt stays counted as a failure.
        tracing::info!(tenant, "console sign-in refused");
        return login_form(
            &state,
            &next,
            Some("Tenant, e-mail or password is wrong."),
            tenant,
            email,
        );
    };
    state.sign_ins.succeeded(attempt);
    let id = cxhooks_signing::random_secret();
    let now = Utc::now();
    let session = ConsoleSession {
        tenant: operator.tenant.clone(),
        email: operator.email.clone(),
        expires_at: (now + SESSION_TTL).timestamp_micros(),
        webhooks_enabled: true,
    };
    if let Err(e) = state
        .store
        .create_console_session(
            &state.master.hash_secret(&id),
            &session,
            now.timestamp_micros(),
        )
        .await
    {
        return ApiError::internal(e).into_response();
    }
    tracing::info!(tenant = %operator.tenant, operator = %operator.email, "console sign-in");
    let mut r = Redirect::to(&next).into_response();
    let (name, value) = set_cookie(&state, SESSION_COOKIE, &id, SESSION_TTL.num_seconds());
    r.headers_mut()
        .append(name, value.parse().expect("a valid header"));
    let (name, value) = set_cookie(&state, LOGIN_COOKIE, "", 0);
    r.headers_mut()
        .append(name, value.parse().expect("a valid header"));
    r
}

/// `POST /console/logout`.
pub async fn logout(State(state): State<AppState>, Posted { session, .. }: Posted) -> Response {
    if let Err(e) = state.store.delete_console_session(&session.id_hash).await {
        return ApiError::internal(e).into_response();
    }
    let mut r = Redirect::to("/console/login").into_response();
    let (name, value) = set_cookie(&state, SESSION_COOKIE, "", 0);
    r.headers_mut()
        .append(name, value.parse().expect("a valid header"));
    r
}
