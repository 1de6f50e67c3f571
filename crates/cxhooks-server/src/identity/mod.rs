//! Identity: tenants (realms), confidential clients, realm keys, tokens and the bearer-token
//! check every protected endpoint uses.
//!
//! - [`admin`]: creating and changing tenants and clients (the CLI and the console call these).
//! - [`tokens`]: realm keys, RS256 token issuance and verification, JWKS.
//! - [`auth`]: the [`auth::Principal`] extractor and scope checks.
//! - [`external`]: access tokens of external OpenID Connect issuers (`[auth.issuers]`).
//! - [`throttle`]: console sign-in back-off per account and per address.
//! - [`standing`]: whether a token's client and its tenant's feature still stand, per request.
//! - [`operators`]: the people who sign in to the console, with Argon2id passwords.
//! - [`oauth`]: the token endpoint's RFC 6749 error answers.
//! - [`routes`]: the Keycloak-compatible endpoints under `/auth/realms/{tenant}`, and
//!   [`shapes`], their answers as the OpenAPI document describes them.

pub mod admin;
pub mod auth;
pub mod external;
pub mod oauth;
pub mod operators;
pub mod routes;
pub mod shapes;
pub mod standing;
pub mod throttle;
pub mod tokens;

pub use admin::IdentityError;
