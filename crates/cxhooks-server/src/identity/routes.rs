//! The Keycloak-compatible realm endpoints: token, JWKS, discovery document and userinfo.

use super::auth::Principal;
use super::oauth::{OAuthError, oauth};
use super::tokens::{self, TokenError};
use crate::error::ApiError;
use crate::service::access::RetryAfter;
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use chrono::Utc;
use cxhooks_store::{Scope, ScopeSet, Tenant, TenantName};
use serde_json::json;

use utoipa_axum::{router::OpenApiRouter, routes};

/// The realm routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(token))
        .routes(routes!(certs))
        .routes(routes!(userinfo, userinfo_post))
        .routes(routes!(discovery))
}

/// The token request (RFC 6749 §4.4).
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct TokenForm {
    /// `client_credentials`.
    pub grant_type: String,
    /// Space-separated subset of the client's default scopes.
    pub scope: Option<String>,
    /// Client id, when not sent with HTTP Basic.
    pub client_id: Option<String>,
    /// Client secret, when not sent with HTTP Basic.
    pub client_secret: Option<String>,
}

async fn realm(state: &AppState, name: &str) -> Result<Tenant, OAuthError> {
    let not_found = |why: String| oauth(StatusCode::NOT_FOUND, "invalid_request", why);
    let name = TenantName::parse(name)
        .map_err(|e| not_found(format!("realm '{name}' does not exist: {e}")))?;
    state.store.tenant(&name).await?.ok_or_else(|| {
        not_found(format!(
            "realm '{name}' does not exist: check the tenant name (as in {name}.carerix.net)"
        ))
    })
}

struct ClientCredentials {
    id: String,
    secret: String,
}

fn form_decode(part: &str) -> Result<String, ()> {
    // RFC 6749 §2.3.1: id and secret are form-encoded before being put in the Basic header.
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(&format!("v={part}")).map_err(|_| ())?;
    pairs.into_iter().next().map(|(_, v)| v).ok_or(())
}

fn credentials(
    headers: &HeaderMap,
    form: &[(String, String)],
) -> Result<ClientCredentials, OAuthError> {
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let malformed = |why: &str| {
        oauth(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("malformed Basic authorization header: {why}"),
        )
    };
    let basic = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => {
            let value = value.to_str().map_err(|_| malformed("it is not text"))?;
            let (scheme, rest) = value
                .split_once(' ')
                .ok_or_else(|| malformed("expected 'Basic base64(id:secret)'"))?;
            if !scheme.eq_ignore_ascii_case("basic") {
                return Err(malformed(&format!(
                    "the scheme is '{scheme}', expected 'Basic'"
                )));
            }
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest.trim())
                .map_err(|_| malformed("the credentials are not valid base64"))?;
            let text = String::from_utf8(decoded)
                .map_err(|_| malformed("the credentials are not UTF-8"))?;
            let (id, secret) = text
                .split_once(':')
                .ok_or_else(|| malformed("expected 'id:secret' inside the base64"))?;
            let id = form_decode(id).map_err(|_| malformed("the client id is not form-encoded"))?;
            let secret = form_decode(secret)
                .map_err(|_| malformed("the client secret is not form-encoded"))?;
            Some(ClientCredentials { id, secret })
        }
    };
    match (basic, field("client_id"), field("client_secret")) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(oauth(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the client authenticated twice (Basic header and form fields): use one",
        )),
        (Some(c), None, None) => Ok(c),
        (None, Some(id), Some(secret)) => Ok(ClientCredentials { id, secret }),
        (None, Some(_), None) => Err(oauth(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client_secret is missing: a confidential client authenticates with its id and secret",
        )),
        (None, _, _) => Err(oauth(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication is required: HTTP Basic (client id and secret) or client_id and \
             client_secret form fields",
        )),
    }
}

/// Decides the granted scopes: the requested ones (each must be granted by a default scope),
/// or the defaults when none are requested. Webhooks scopes need the tenant's feature.
fn grant(
    tenant: &Tenant,
    defaults: &ScopeSet,
    requested: Option<&str>,
) -> Result<ScopeSet, OAuthError> {
    let invalid_scope = |why: String| oauth(StatusCode::BAD_REQUEST, "invalid_scope", why);
    let Some(requested) = requested.filter(|r| !r.trim().is_empty()) else {
        let usable = defaults
            .iter()
            .filter(|s| tenant.webhooks_enabled || !s.needs_webhooks_feature());
        return Ok(ScopeSet::from_scopes(usable));
    };
    let mut granted = Vec::new();
    for word in requested.split_whitespace() {
        // OpenID clients habitually ask for these; they grant nothing here.
        if matches!(word, "openid" | "profile" | "email") {
            continue;
        }
        let scope: Scope = word
            .parse()
            .map_err(|e: cxhooks_store::InvalidValue| invalid_scope(e.0))?;
        if scope.needs_webhooks_feature() && !tenant.webhooks_enabled {
            return Err(invalid_scope(format!(
                "{scope} cannot be granted: the webhooks feature is not activated for tenant '{}'",
                tenant.name
            )));
        }
        if !defaults.grants(scope) {
            return Err(invalid_scope(format!(
                "{scope} is not among the client's default scopes ({}); add it to the client's default scopes",
                if defaults.is_empty() {
                    "none".to_owned()
                } else {
                    defaults.to_string()
                }
            )));
        }
        granted.push(scope);
    }
    Ok(ScopeSet::from_scopes(granted))
}

/// Keycloak-compatible token endpoint: `client_credentials` with HTTP Basic or form credentials.
/// Errors are RFC 6749 §5.2 `{"error", "error_description"}`.
#[utoipa::path(post, path = "/auth/realms/{tenant}/protocol/openid-connect/token", tag = "identity",
    params(("tenant" = String, Path, description = "tenant (realm) name")),
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "the access token", body = super::shapes::TokenAnswer),
        (status = 400, description = "invalid_request, unsupported_grant_type or invalid_scope", body = super::shapes::OAuthErrorAnswer),
        (status = 401, description = "invalid_client", body = super::shapes::OAuthErrorAnswer),
        (status = 404, description = "unknown realm", body = super::shapes::OAuthErrorAnswer),
        (status = 429, description = "temporarily_unavailable: the client's token requests are over \
            limits.api_requests_per_client_per_s; `Retry-After` says when to ask again", body = super::shapes::OAuthErrorAnswer)))]
pub async fn token(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let tenant = realm(&state, &tenant).await?;
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    if !form_type {
        return Err(oauth(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the token request must be form-encoded (Content-Type: application/x-www-form-urlencoded)",
        ));
    }
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).map_err(|e| {
        oauth(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("the form body does not parse: {e}"),
        )
    })?;
    for (i, (k, _)) in form.iter().enumerate() {
        if form[..i].iter().any(|(other, _)| other == k) {
            return Err(oauth(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("parameter '{k}' is repeated"),
            ));
        }
    }
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    match field("grant_type") {
        None => {
            return Err(oauth(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is missing: use client_credentials",
            ));
        }
        Some("client_credentials") => {}
        Some(other) => {
            return Err(oauth(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!(
                    "grant type '{other}' is not supported: confidential clients use client_credentials"
                ),
            ));
        }
    }
    let creds = credentials(&headers, &form)?;
    // Counted per client id whether or not the secret is right, before it is checked: a secret
    // cannot be guessed faster than the client may ask for tokens.
    state
        .limiter
        .check_token_request(&tenant.name, &creds.id)
        .map_err(|RetryAfter(secs)| {
            tracing::info!(tenant = %tenant.name, "token request over the client's rate");
            OAuthError {
                retry_after: Some(secs),
                ..oauth(
                    StatusCode::TOO_MANY_REQUESTS,
                    "temporarily_unavailable",
                    format!(
                        "this client asked for tokens more than {} times in a second \
                         (limits.api_requests_per_client_per_s); ask again after {secs} s",
                        state.limiter.per_s()
                    ),
                )
            }
        })?;
    let client = state.store.client(&tenant.name, &creds.id).await?;
    // Hash even for an unknown client, so that timing does not tell which client ids exist.
    let secret_ok = match &client {
        Some(c) => state.master.verify_secret(&creds.secret, &c.secret_hash),
        None => {
            let _ = state.master.verify_secret(&creds.secret, &[0; 32]);
            false
        }
    };
    let client = match client {
        Some(c) if secret_ok => c,
        _ => {
            return Err(oauth(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                format!(
                    "client authentication failed: unknown client id or wrong secret for realm '{}'",
                    tenant.name
                ),
            ));
        }
    };
    let scopes = grant(&tenant, &client.default_scopes, field("scope"))?;
    let ttl = state.config.auth.token_ttl;
    let audience = (state.config.auth).audience_of(tenant.name.as_str(), &state.public_url);
    let grant = tokens::Grant {
        tenant: &tenant.name,
        client_id: &client.client_id,
        scopes: &scopes,
        ttl,
        now: Utc::now(),
        audience: audience.as_deref(),
    };
    let access_token = state
        .keys
        .issue(&state.store, &state.master, &state.public_url, &grant)
        .await
        .map_err(|e| match e {
            TokenError::Store(e) => OAuthError::from(e),
            other => {
                let incident = uuid::Uuid::new_v4();
                tracing::error!(%incident, error = %other, "token issuance failed");
                oauth(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    format!("incident {incident}"),
                )
            }
        })?;
    let body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": ttl.as_secs(),
        "scope": scopes.to_string(),
    });
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    // RFC 6749 §5.1.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// The realm's JSON Web Key Set.
#[utoipa::path(get, path = "/auth/realms/{tenant}/protocol/openid-connect/certs", tag = "identity",
    params(("tenant" = String, Path)),
    responses((status = 200, description = "JWKS", body = super::shapes::Jwks),
        (status = 404, description = "unknown realm", body = super::shapes::OAuthErrorAnswer)))]
pub async fn certs(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Response, OAuthError> {
    let tenant = realm(&state, &tenant).await?;
    let keys = state.store.realm_keys(&tenant.name).await?;
    Ok(cached(JWKS_MAX_AGE, tokens::jwks(&keys)))
}

/// How long clients may keep the JWKS: a new realm key signs tokens at once, so a cache of a
/// minute is as stale as a verifier's view may get.
const JWKS_MAX_AGE: u32 = 60;

/// How long clients may keep the discovery document, which changes only with the deployment.
const DISCOVERY_MAX_AGE: u32 = 3600;

/// `body` as JSON that shared caches may keep for `max_age` seconds.
fn cached(max_age: u32, body: serde_json::Value) -> Response {
    let mut response = Json(body).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        response.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    response
}

/// The realm's OpenID Connect discovery document.
#[utoipa::path(get, path = "/auth/realms/{tenant}/.well-known/openid-configuration", tag = "identity",
    params(("tenant" = String, Path)),
    responses((status = 200, description = "discovery document", body = super::shapes::Discovery),
        (status = 404, description = "unknown realm", body = super::shapes::OAuthErrorAnswer)))]
pub async fn discovery(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Response, OAuthError> {
    let tenant = realm(&state, &tenant).await?;
    let iss = tokens::issuer(&state.public_url, &tenant.name);
    let scopes: Vec<_> = Scope::ALL.iter().map(|s| s.as_str()).collect();
    Ok(cached(
        DISCOVERY_MAX_AGE,
        json!({
            "issuer": iss,
            "token_endpoint": format!("{iss}/protocol/openid-connect/token"),
            "jwks_uri": format!("{iss}/protocol/openid-connect/certs"),
            "userinfo_endpoint": format!("{iss}/protocol/openid-connect/userinfo"),
            "grant_types_supported": ["client_credentials"],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": scopes,
        }),
    ))
}

/// The token's client, for this realm only (403 for a token of another tenant).
#[utoipa::path(get, path = "/auth/realms/{tenant}/protocol/openid-connect/userinfo", tag = "identity",
    params(("tenant" = String, Path)),
    responses((status = 200, description = "the token's client", body = super::shapes::UserInfo),
        (status = 401, body = crate::error::ProblemDoc), (status = 403, body = crate::error::ProblemDoc)),
    security(("oauth2" = [])))]
pub async fn userinfo(
    principal: Principal,
    Path(tenant): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    principal.require_tenant(&tenant)?;
    Ok(Json(json!({
        "sub": principal.client_id,
        "azp": principal.client_id,
        "tenant": principal.tenant,
        "scope": principal.scopes.to_string(),
    })))
}

/// The same as `GET` (OpenID Connect Core §5.3.1: the UserInfo endpoint takes both).
#[utoipa::path(post, path = "/auth/realms/{tenant}/protocol/openid-connect/userinfo", tag = "identity",
    params(("tenant" = String, Path)),
    responses((status = 200, description = "the token's client", body = super::shapes::UserInfo),
        (status = 401, body = crate::error::ProblemDoc), (status = 403, body = crate::error::ProblemDoc)),
    security(("oauth2" = [])))]
pub async fn userinfo_post(
    principal: Principal,
    tenant: Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    userinfo(principal, tenant).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(webhooks: bool) -> Tenant {
        Tenant {
            name: TenantName::parse("acme").unwrap(),
            webhooks_enabled: webhooks,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn scope_grants() {
        let defaults =
            ScopeSet::parse("urn:cx/webhooks:data:manage urn:cx/cx5Acl:data:manage").unwrap();
        let all = grant(&tenant(true), &defaults, None).unwrap();
        assert_eq!(all, defaults);
        // A narrower scope implied by a default may be asked for alone.
        let narrow = grant(
            &tenant(true),
            &defaults,
            Some("urn:cx/webhooks:data/webhooks:manage"),
        )
        .unwrap();
        assert_eq!(narrow.to_string(), "urn:cx/webhooks:data/webhooks:manage");
        let err = grant(
            &tenant(true),
            &defaults,
            Some("urn:cx/cx5Wrapper:data:manage"),
        )
        .unwrap_err();
        assert_eq!(err.error, "invalid_scope");
        assert!(
            err.description
                .contains("not among the client's default scopes")
        );
        // Feature off: defaults lose the webhooks scopes, asking for one is refused by name.
        let off = grant(&tenant(false), &defaults, None).unwrap();
        assert_eq!(off.to_string(), "urn:cx/cx5Acl:data:manage");
        let err = grant(
            &tenant(false),
            &defaults,
            Some("urn:cx/webhooks:data:manage"),
        )
        .unwrap_err();
        assert!(
            err.description
                .contains("webhooks feature is not activated"),
            "{}",
            err.description
        );
    }
}
