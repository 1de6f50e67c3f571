//! The realm endpoints' answers as the OpenAPI document describes them (documentation shapes:
//! the handlers build the same JSON), so that generated clients parse them into types.

use utoipa::ToSchema;

/// A token answer (RFC 6749 §5.1).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct TokenAnswer {
    /// The RS256 JWT.
    access_token: String,
    /// `Bearer`.
    token_type: String,
    /// Lifetime in seconds (`auth.token_ttl`).
    expires_in: u64,
    /// The granted scopes, space-separated.
    scope: String,
}

/// An error of the token endpoint (RFC 6749 §5.2).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct OAuthErrorAnswer {
    /// `invalid_request`, `invalid_client`, `unsupported_grant_type`, `invalid_scope`,
    /// `temporarily_unavailable` or `server_error`.
    error: String,
    /// What was wrong and how to fix it.
    error_description: String,
}

/// A realm's JSON Web Key Set.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct Jwks {
    /// The realm's keys, newest first.
    keys: Vec<Jwk>,
}

/// One RSA public key (RFC 7517).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct Jwk {
    /// Key id, as in the tokens' header.
    kid: String,
    /// `RSA`.
    kty: String,
    /// `RS256`.
    alg: String,
    /// `sig`.
    #[schema(rename = "use")]
    use_: String,
    /// Modulus, base64url.
    n: String,
    /// Exponent, base64url.
    e: String,
}

/// A realm's OpenID Connect discovery document.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct Discovery {
    /// `{public_url}/auth/realms/{tenant}`.
    issuer: String,
    /// The token endpoint.
    token_endpoint: String,
    /// The JWKS.
    jwks_uri: String,
    /// The userinfo endpoint.
    userinfo_endpoint: String,
    /// `client_credentials`.
    grant_types_supported: Vec<String>,
    /// `token`.
    response_types_supported: Vec<String>,
    /// `public`.
    subject_types_supported: Vec<String>,
    /// `client_secret_basic`, `client_secret_post`.
    token_endpoint_auth_methods_supported: Vec<String>,
    /// `RS256`.
    id_token_signing_alg_values_supported: Vec<String>,
    /// Every scope a client can be given.
    scopes_supported: Vec<String>,
}

/// Who the token was issued to.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct UserInfo {
    /// The client id.
    sub: String,
    /// The client id.
    azp: String,
    /// The tenant.
    tenant: String,
    /// The token's scopes, space-separated.
    scope: String,
}
