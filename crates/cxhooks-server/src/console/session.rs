//! The session cookie, CSRF tokens, form bodies and the page layout (signing in and out is
//! `sign_in`'s).
//!
//! A session id is 256 random bits in an `HttpOnly`, `SameSite=Strict`, `Secure` cookie (not
//! `Secure` only when the public url is plain http on loopback); the store keeps only its keyed
//! hash. Every form carries a CSRF token derived from the session id with the master key,
//! checked on every POST. The sign-in form, which has no session yet, uses a double-submit
//! cookie instead.

use crate::error::ApiError;
use crate::identity::auth::Principal;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine as _;
use chrono::Utc;
use cxhooks_store::{Scope, ScopeSet, TenantName};
use maud::{DOCTYPE, Markup, html};

pub(super) const SESSION_COOKIE: &str = "cxhooks_session";
pub(super) const LOGIN_COOKIE: &str = "cxhooks_login";
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
    pub(super) id_hash: Vec<u8>,
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

pub(super) fn forbidden_form() -> Response {
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

pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(super) fn csrf_for(state: &AppState, session_id: &str) -> String {
    let mac = state
        .master
        .hash_secret(&format!("console-csrf:{session_id}"));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&mac[..24])
}

/// The value of cookie `name`.
pub(super) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

pub(super) fn set_cookie(
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
pub(super) fn safe_next(next: Option<&str>) -> &str {
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
                            a href="/console/additional-fields" { "Fields" }
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
