//! Signing in and out, the session cookie, CSRF tokens, form bodies and the page layout.
//!
//! A session id is 256 random bits in an `HttpOnly`, `SameSite=Strict`, `Secure` cookie (not
//! `Secure` only when the public url is plain http on loopback); the store keeps only its keyed
//! hash. Every form carries a CSRF token derived from the session id with the master key,
//! checked on every POST. The sign-in form, which has no session yet, uses a double-submit
//! cookie instead. Sign-in attempts go through [`super::throttle`] first.

use super::throttle::{Limit, Throttled};
use crate::error::ApiError;
use crate::identity::auth::Principal;
use crate::identity::operators;
use crate::state::AppState;
use crate::transport::Peer;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Extension, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine as _;
use chrono::Utc;
use cxhooks_store::{ConsoleSession, Scope, ScopeSet, TenantName};
use maud::{DOCTYPE, Markup, html};
use serde::Deserialize;

const SESSION_COOKIE: &str = "cxhooks_session";
const LOGIN_COOKIE: &str = "cxhooks_login";
/// How long a sign-in lasts.
pub const SESSION_TTL: chrono::Duration = chrono::Duration::hours(12);

/// A signed-in operator.
#[derive(Debug, Clone)]
pub struct Session {
    /// The tenant the operator manages.
    pub tenant: TenantName,
    /// The operator's e-mail.
    pub email: String,
    /// Whether the tenant's webhooks feature is on: without it, the operator gets no webhooks
    /// scope (as a token could not either).
    pub webhooks_enabled: bool,
    csrf: String,
    id_hash: Vec<u8>,
}

impl Session {
    /// The operator as an API caller: every scope, and (in [`crate::service::access::Caller`]) the
    /// whole permission matrix of its tenant.
    pub fn principal(&self) -> Principal {
        Principal {
            tenant: self.tenant.clone(),
            client_id: format!("operator:{}", self.email),
            scopes: ScopeSet::from_scopes(
                Scope::ALL
                    .into_iter()
                    .filter(|s| self.webhooks_enabled || !s.needs_webhooks_feature()),
            ),
            expires_at: Utc::now() + SESSION_TTL,
            webhooks_off: false,
            operator: Some(self.email.clone()),
        }
    }

    /// The hidden field every form of this session carries.
    pub fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name="csrf" value=(self.csrf); }
    }

    /// Refuses a form whose CSRF token is not this session's.
    pub fn check(&self, form: &Form) -> Result<(), CsrfRefused> {
        if form
            .get("csrf")
            .is_some_and(|t| constant_time_eq(t.as_bytes(), self.csrf.as_bytes()))
        {
            Ok(())
        } else {
            Err(CsrfRefused)
        }
    }
}

/// A form without this session's CSRF token: answered 403 with a page saying what to do.
#[derive(Debug)]
pub struct CsrfRefused;

impl IntoResponse for CsrfRefused {
    fn into_response(self) -> Response {
        forbidden_form()
    }
}

fn forbidden_form() -> Response {
    let mut r = page(
        None,
        "Form expired",
        html! {
            h1 { "This form has expired" }
            p { "It was not sent from this sign-in (or the page is too old). Go back, reload the page and try again." }
        },
    );
    *r.status_mut() = StatusCode::FORBIDDEN;
    r
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn csrf_for(state: &AppState, session_id: &str) -> String {
    let mac = state
        .master
        .hash_secret(&format!("console-csrf:{session_id}"));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&mac[..24])
}

/// The value of cookie `name`.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn set_cookie(
    state: &AppState,
    name: &str,
    value: &str,
    max_age: i64,
) -> (header::HeaderName, String) {
    let secure = if plain_http_on_loopback(&state.public_url) {
        ""
    } else {
        "; Secure"
    };
    (
        header::SET_COOKIE,
        format!(
            "{name}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
        ),
    )
}

/// Whether the console is served over plain http to this machine only: the one case where its
/// cookies go without `Secure`. Anywhere else (https, or a server behind a TLS proxy whose
/// public url was not set and defaults to `http://0.0.0.0:…`) they are `Secure`; browsers accept
/// `Secure` cookies from `http://localhost` too.
fn plain_http_on_loopback(public_url: &str) -> bool {
    let Ok(url) = url::Url::parse(public_url) else {
        return false;
    };
    url.scheme() == "http"
        && match url.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        }
}

/// Where to go back to after signing in: only console paths, never another site.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with("/console/") && !n.contains("//") && !n.contains('\\') => n,
        _ => "/console/requests",
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let to_login = || {
            let here = parts
                .uri
                .path_and_query()
                .map_or("/console/requests", |p| p.as_str());
            let next: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
            Redirect::to(&format!("/console/login?next={next}")).into_response()
        };
        let Some(id) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(to_login());
        };
        let id_hash = state.master.hash_secret(id);
        match state
            .store
            .console_session(&id_hash, Utc::now().timestamp_micros())
            .await
        {
            Ok(Some(s)) => Ok(Session {
                tenant: s.tenant,
                email: s.email,
                webhooks_enabled: s.webhooks_enabled,
                csrf: csrf_for(state, id),
                id_hash,
            }),
            Ok(None) => Err(to_login()),
            Err(e) => Err(ApiError::internal(e).into_response()),
        }
    }
}

/// A POSTed form of a signed-in operator whose CSRF token checked out: what every console
/// action takes. Without a session it redirects to sign-in; with a wrong token it answers 403.
#[derive(Debug)]
pub struct Posted {
    /// The operator.
    pub session: Session,
    /// The form.
    pub form: Form,
}

impl axum::extract::FromRequest<AppState> for Posted {
    type Rejection = Response;

    async fn from_request(
        request: axum::extract::Request,
        state: &AppState,
    ) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let session = Session::from_request_parts(&mut parts, state).await?;
        let request = axum::extract::Request::from_parts(parts, body);
        let body = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let form = Form::parse(&body);
        session.check(&form).map_err(IntoResponse::into_response)?;
        Ok(Self { session, form })
    }
}

/// A form body: `application/x-www-form-urlencoded` pairs, repeated names kept (checkboxes).
#[derive(Debug, Default)]
pub struct Form(Vec<(String, String)>);

impl Form {
    /// Parses a form body.
    pub fn parse(body: &Bytes) -> Self {
        Self(url::form_urlencoded::parse(body).into_owned().collect())
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, trimmed, or "".
    pub fn text(&self, name: &str) -> &str {
        self.get(name).map_or("", str::trim)
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A whole console page. `session` is absent on the sign-in page.
pub fn page(session: Option<&Session>, title: &str, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · cxhooks console" }
                link rel="icon" href="data:,";
                link rel="stylesheet" href="/console/assets/console.css";
                script src="/console/assets/console.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/console/requests" { "cxhooks" }
                    @if let Some(s) = session {
                        nav {
                            a href="/console/clients" { "Clients" }
                            a href="/console/applications" { "Applications" }
                            a href="/console/webhooks" { "Webhooks" }
                            a href="/console/requests" { "Request log" }
                        }
                        form.signout method="post" action="/console/logout" {
                            (s.csrf_field())
                            span.who { (s.email) " · " (s.tenant) }
                            button.link type="submit" { "Sign out" }
                        }
                    }
                }
                main {
                    @if let Some(s) = session.filter(|s| !s.webhooks_enabled) {
                        div.problem role="status" {
                            p { "The webhooks feature is not activated for tenant " (s.tenant)
                                ": applications and webhooks cannot be changed and nothing is delivered. \
                                 An administrator turns it on with " code { "cxhooks tenant set " (s.tenant) " --webhooks on" } "." }
                        }
                    }
                    (body)
                }
            }
        }
    };
    Html(markup.into_string()).into_response()
}

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

#[cfg(test)]
mod tests {
    use super::plain_http_on_loopback;

    #[test]
    fn cookies_go_without_secure_only_over_plain_http_on_loopback() {
        for url in [
            "http://127.0.0.1:8080",
            "http://localhost:8080/",
            "http://[::1]:8080",
        ] {
            assert!(plain_http_on_loopback(url), "{url}");
        }
        for url in [
            "https://127.0.0.1:8080",
            "https://hooks.example.com",
            "http://0.0.0.0:8080",
            "http://192.168.1.10:8080",
            "http://hooks.example.com",
            "not a url",
        ] {
            assert!(!plain_http_on_loopback(url), "{url}");
        }
    }
}
