//! Access tokens of external OpenID Connect issuers (`[auth.issuers.{tenant}]`), taken
//! alongside the realms' own.
//!
//! - **Keys:** an issuer's JWKS (found through its discovery document) is fetched on first use
//!   and cached. It is fetched again when a token names a `kid` it lacks, at most once per
//!   `refetch_interval` (a forged `kid` must not make cxhooks hammer the issuer), and after
//!   `keys_max_age`. A failed fetch keeps the cached keys: while the issuer is down, tokens
//!   signed by known keys keep working and new `kid`s get 401.
//! - **Claims:** the signature, `iss` (exactly the configured issuer), `exp`/`nbf` (30 s of
//!   leeway) and `aud` are checked. The client is the first of `client_id_claims` present, the
//!   scopes come from `scope_claim` (unknown scopes such as `openid` are ignored), and
//!   `tenant_claim`, if set, must name the tenant.
//! - **The client** must be registered in cxhooks for that issuer (`client create --external`):
//!   the caller then checks its standing, and its scopes bound what the token grants.

use super::tokens::{TokenError, Verified};
use crate::config::ExternalIssuer;
use chrono::DateTime;
use cxhooks_store::{Scope, ScopeSet, TenantName};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// One of an issuer's keys, with the algorithm its JWK names, if any.
type IssuerKey = Arc<(DecodingKey, Option<Algorithm>)>;

/// What is cached of one issuer.
#[derive(Default)]
struct Keys {
    /// By `kid`.
    keys: HashMap<String, IssuerKey>,
    /// When they were fetched.
    fetched: Option<Instant>,
    /// The last fetch attempt, successful or not.
    tried: Option<Instant>,
}

/// The algorithms an issuer's tokens may be signed with (asymmetric only: an HMAC key would
/// have to be shared with cxhooks).
const ALGORITHMS: [Algorithm; 8] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// Every configured issuer's cached keys.
pub struct ExternalIssuers {
    http: reqwest::Client,
    keys: RwLock<HashMap<String, Keys>>,
    /// One fetch at a time: concurrent requests with an unknown `kid` wait for it.
    fetching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for ExternalIssuers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExternalIssuers(..)")
    }
}

impl Default for ExternalIssuers {
    fn default() -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client");
        Self {
            http,
            keys: RwLock::default(),
            fetching: tokio::sync::Mutex::new(()),
        }
    }
}

/// The configured issuer whose `iss` the (not yet verified) token names, with its tenant.
pub fn issuer_of<'c>(
    issuers: &'c std::collections::BTreeMap<String, ExternalIssuer>,
    token: &str,
) -> Option<(&'c str, &'c ExternalIssuer)> {
    use base64::Engine as _;
    if issuers.is_empty() {
        return None;
    }
    let payload = token.split('.').nth(1)?;
    let claims: Map<String, Value> = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .ok()?,
    )
    .ok()?;
    let iss = claims.get("iss")?.as_str()?;
    issuers
        .iter()
        .find(|(_, i)| i.issuer == iss)
        .map(|(tenant, i)| (tenant.as_str(), i))
}

fn invalid(why: impl Into<String>) -> TokenError {
    TokenError::Invalid(why.into())
}

impl ExternalIssuers {
    /// The key `kid` of `config`'s issuer, fetching its keys when allowed.
    async fn key(&self, config: &ExternalIssuer, kid: &str) -> Result<IssuerKey, TokenError> {
        let cached = |fresh_only: bool| {
            let all = self.keys.read().expect("lock");
            let keys = all.get(&config.issuer)?;
            let fresh = keys
                .fetched
                .is_some_and(|at| at.elapsed() < config.keys_max_age);
            (fresh || !fresh_only).then(|| keys.keys.get(kid).cloned())?
        };
        if let Some(key) = cached(true) {
            return Ok(key);
        }
        let _one = self.fetching.lock().await;
        if let Some(key) = cached(true) {
            return Ok(key);
        }
        let may_fetch = self
            .keys
            .read()
            .expect("lock")
            .get(&config.issuer)
            .and_then(|k| k.tried)
            .is_none_or(|at| at.elapsed() >= config.refetch_interval);
        if may_fetch {
            let fetched = self.fetch(&config.issuer).await;
            let mut all = self.keys.write().expect("lock");
            let entry = all.entry(config.issuer.clone()).or_default();
            entry.tried = Some(Instant::now());
            match fetched {
                Ok(keys) => {
                    entry.keys = keys;
                    entry.fetched = Some(Instant::now());
                }
                Err(e) => {
                    tracing::warn!(issuer = %config.issuer, error = %e, "fetching the issuer's keys failed; the cached ones stay");
                }
            }
        }
        cached(false).ok_or_else(|| {
            invalid(format!(
                "its key id '{kid}' is not among the keys of {} (fetched at most once per {}s)",
                config.issuer,
                config.refetch_interval.as_secs()
            ))
        })
    }

    /// The issuer's signing keys, by `kid`, through its discovery document.
    async fn fetch(&self, issuer: &str) -> Result<HashMap<String, IssuerKey>, String> {
        let discovery = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let get = |url: String| async move {
            let r = self
                .http
                .get(&url)
                .send()
                .await
                .map_err(|e| format!("{url}: {e}"))?;
            if !r.status().is_success() {
                return Err(format!("{url} answered {}", r.status()));
            }
            r.json::<Value>()
                .await
                .map_err(|e| format!("{url}: not JSON: {e}"))
        };
        let document = get(discovery.clone()).await?;
        let jwks_uri = document["jwks_uri"]
            .as_str()
            .ok_or_else(|| format!("{discovery} has no jwks_uri"))?
            .to_owned();
        let set: JwkSet = serde_json::from_value(get(jwks_uri.clone()).await?)
            .map_err(|e| format!("{jwks_uri} is not a JWK set: {e}"))?;
        Ok(set.keys.iter().filter_map(usable).collect())
    }

    /// Verifies `token` of the issuer `config` configured for `tenant`; `audience` is the one
    /// its tokens must carry, if any.
    pub async fn verify(
        &self,
        tenant: &str,
        config: &ExternalIssuer,
        audience: Option<&str>,
        token: &str,
    ) -> Result<Verified, TokenError> {
        let tenant = TenantName::parse(tenant).map_err(|e| invalid(e.0))?;
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(invalid(format!(
                "{:?} tokens are not accepted from external issuers: sign with RS256, PS256 or ES256",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| invalid("it names no key id (kid)"))?;
        let key = self.key(config, &kid).await?;
        if key.1.is_some_and(|alg| alg != header.alg) {
            return Err(invalid("its algorithm is not its key's"));
        }
        let mut validation = Validation::new(header.alg);
        validation.leeway = 30;
        validation.set_required_spec_claims(&["exp", "iss"]);
        validation.set_issuer(&[&config.issuer]);
        match audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key.0, &validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                invalid(match e.kind() {
                    ErrorKind::ExpiredSignature => "it has expired: get a new one".to_owned(),
                    ErrorKind::InvalidSignature => "its signature does not verify".to_owned(),
                    ErrorKind::InvalidAudience => format!(
                        "it was issued for another audience: its aud must name {}",
                        audience.unwrap_or("-")
                    ),
                    ErrorKind::ImmatureSignature => "it is not valid yet (nbf)".to_owned(),
                    other => format!("{other:?}"),
                })
            })?
            .claims;
        let client_id = config
            .client_id_claims
            .iter()
            .find_map(|c| claims.get(c).and_then(Value::as_str))
            .ok_or_else(|| {
                invalid(format!(
                    "it names no client ({})",
                    config.client_id_claims.join(" or ")
                ))
            })?;
        if let Some(claim) = &config.tenant_claim
            && claims.get(claim).and_then(Value::as_str) != Some(tenant.as_str())
        {
            return Err(invalid(format!(
                "its {claim} claim does not name tenant '{tenant}'"
            )));
        }
        let named: Vec<&str> = match claims.get(&config.scope_claim) {
            Some(Value::String(s)) => s.split_whitespace().collect(),
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let scopes = ScopeSet::from_scopes(named.iter().filter_map(|s| s.parse::<Scope>().ok()));
        let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
        Ok(Verified {
            tenant,
            client_id: client_id.to_owned(),
            scopes,
            expires_at: DateTime::from_timestamp(exp, 0).unwrap_or_default(),
        })
    }
}

/// A JWK usable to verify signatures: with a `kid`, not marked for encryption.
fn usable(jwk: &Jwk) -> Option<(String, IssuerKey)> {
    use jsonwebtoken::jwk::PublicKeyUse;
    let kid = jwk.common.key_id.clone()?;
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let key = DecodingKey::from_jwk(jwk).ok()?;
    let alg = jwk
        .common
        .key_algorithm
        .and_then(|a| a.to_string().parse::<Algorithm>().ok());
    Some((kid, Arc::new((key, alg))))
}
