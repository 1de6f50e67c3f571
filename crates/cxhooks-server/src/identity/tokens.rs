//! Realm keys, RS256 access tokens and the JWKS.
//!
//! Tokens are signed with our own RSA code (the same PKCS#1 v1.5 SHA-256 that signs
//! deliveries) and verified with `jsonwebtoken`, which checks expiry and issuer. The header's
//! `kid` names the realm key; the key, not the token, says which tenant the token speaks for.

use super::admin::realm_key_context;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use cxhooks_signing::{MasterKey, PrivateKey, PublicKey};
use cxhooks_store::{RealmKey, ScopeSet, Store, StoreError, TenantName};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// The claims of a cxhooks access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// `{public_url}/auth/realms/{tenant}`.
    pub iss: String,
    /// The client id.
    pub sub: String,
    /// The audience (`auth.audience`, the service's public URL by default); none when turned
    /// off, and in tokens issued before it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// The client id (authorised party), as Keycloak sets it.
    pub azp: String,
    /// The tenant.
    pub tenant: String,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issue time, seconds since the epoch.
    pub iat: i64,
    /// Unique token id.
    pub jti: String,
    /// Always `Bearer`.
    pub typ: String,
}

/// What a token grants: to whom, what, for how long from when.
#[derive(Debug, Clone, Copy)]
pub struct Grant<'a> {
    /// The tenant.
    pub tenant: &'a TenantName,
    /// The client.
    pub client_id: &'a str,
    /// The granted scopes.
    pub scopes: &'a ScopeSet,
    /// Lifetime.
    pub ttl: Duration,
    /// Issue time.
    pub now: DateTime<Utc>,
    /// The token's `aud`, if any.
    pub audience: Option<&'a str>,
}

/// A verified token.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The tenant, from the realm key that signed the token.
    pub tenant: TenantName,
    /// The client.
    pub client_id: String,
    /// The granted scopes.
    pub scopes: ScopeSet,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
}

struct VerifyingKey {
    tenant: TenantName,
    decoding: DecodingKey,
    loaded: Instant,
}

/// How long a verifying key is trusted from memory before the store is asked again; bounds how
/// long tokens of a deleted tenant keep working on a node.
const KEY_CACHE_TTL: Duration = Duration::from_secs(30);

/// Realm keys in memory: parsed private keys for signing, decoding keys for verification.
#[derive(Default)]
pub struct RealmKeys {
    signing: RwLock<HashMap<String, Arc<PrivateKey>>>,
    verifying: RwLock<HashMap<String, Arc<VerifyingKey>>>,
}

impl std::fmt::Debug for RealmKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RealmKeys(..)")
    }
}

/// Why a token was refused (said in the 401's `error_description`).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts with a JSON header.
    #[error("it is not a JWT")]
    Malformed,
    /// Not RS256 or no `kid`.
    #[error("only RS256 tokens with a kid are accepted")]
    Algorithm,
    /// No realm key has this `kid`.
    #[error("it was not issued by this server (unknown key id)")]
    UnknownKey,
    /// Signature, expiry, issuer or claims did not check out.
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The issuer URL of a tenant's realm.
pub fn issuer(public_url: &str, tenant: &TenantName) -> String {
    format!("{public_url}/auth/realms/{tenant}")
}

fn b64_json<T: Serialize>(value: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("serialisable"))
}

impl RealmKeys {
    /// The current signing key of a tenant with its `kid`.
    async fn signing_key(
        &self,
        store: &Store,
        master: &MasterKey,
        tenant: &TenantName,
    ) -> Result<(String, Arc<PrivateKey>), TokenError> {
        let newest: RealmKey = store
            .realm_keys(tenant)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| TokenError::Invalid(format!("tenant '{tenant}' has no realm key")))?;
        if let Some(key) = self.signing.read().expect("lock").get(&newest.kid) {
            return Ok((newest.kid, key.clone()));
        }
        let der = master
            .open(
                &realm_key_context(tenant, &newest.kid),
                &newest.sealed_private_key,
            )
            .map_err(|e| TokenError::Invalid(e.to_string()))?;
        let key = Arc::new(
            PrivateKey::from_pkcs8_der(&der).map_err(|e| TokenError::Invalid(e.to_string()))?,
        );
        self.signing
            .write()
            .expect("lock")
            .insert(newest.kid.clone(), key.clone());
        Ok((newest.kid, key))
    }

    /// Issues a token for a grant, signed by the tenant's current realm key.
    pub async fn issue(
        &self,
        store: &Store,
        master: &MasterKey,
        public_url: &str,
        grant: &Grant<'_>,
    ) -> Result<String, TokenError> {
        let Grant {
            tenant,
            client_id,
            scopes,
            ttl,
            now,
            audience,
        } = *grant;
        let (kid, key) = self.signing_key(store, master, tenant).await?;
        let claims = Claims {
            iss: issuer(public_url, tenant),
            sub: client_id.to_owned(),
            aud: audience.map(str::to_owned),
            azp: client_id.to_owned(),
            tenant: tenant.to_string(),
            scope: scopes.to_string(),
            exp: now.timestamp() + ttl.as_secs() as i64,
            iat: now.timestamp(),
            jti: uuid::Uuid::new_v4().to_string(),
            typ: "Bearer".to_owned(),
        };
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": kid});
        let signing_input = format!("{}.{}", b64_json(&header), b64_json(&claims));
        // One RSA signature (~0.4 ms): off the async workers.
        let signature = tokio::task::spawn_blocking(move || {
            key.sign(signing_input.as_bytes())
                .map(|s| (signing_input, s))
        })
        .await
        .map_err(|e| TokenError::Invalid(e.to_string()))?
        .map_err(|e| TokenError::Invalid(e.to_string()))?;
        Ok(format!(
            "{}.{}",
            signature.0,
            URL_SAFE_NO_PAD.encode(signature.1)
        ))
    }

    async fn verifying_key(
        &self,
        store: &Store,
        kid: &str,
    ) -> Result<Arc<VerifyingKey>, TokenError> {
        if let Some(key) = self.verifying.read().expect("lock").get(kid)
            && key.loaded.elapsed() < KEY_CACHE_TTL
        {
            return Ok(key.clone());
        }
        let Some(stored) = store.realm_key_by_kid(kid).await? else {
            self.verifying.write().expect("lock").remove(kid);
            return Err(TokenError::UnknownKey);
        };
        let public = PublicKey::from_spki_der(&stored.public_key)
            .map_err(|e| TokenError::Invalid(e.to_string()))?;
        let key = Arc::new(VerifyingKey {
            tenant: stored.tenant,
            decoding: DecodingKey::from_rsa_der(&public.pkcs1_der()),
            loaded: Instant::now(),
        });
        self.verifying
            .write()
            .expect("lock")
            .insert(kid.to_owned(), key.clone());
        Ok(key)
    }

    /// Verifies a bearer token. One carrying an `aud` must name `audience_of` its tenant.
    pub async fn verify(
        &self,
        store: &Store,
        public_url: &str,
        audience_of: impl Fn(&TenantName) -> Option<String>,
        token: &str,
    ) -> Result<Verified, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        let kid = match (header.alg, header.kid) {
            (Algorithm::RS256, Some(kid)) => kid,
            _ => return Err(TokenError::Algorithm),
        };
        let key = self.verifying_key(store, &kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = 30;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.set_issuer(&[issuer(public_url, &key.tenant)]);
        let data =
            jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation).map_err(|e| {
                use jsonwebtoken::errors::ErrorKind;
                TokenError::Invalid(match e.kind() {
                    ErrorKind::ExpiredSignature => "it has expired: get a new one".to_owned(),
                    ErrorKind::InvalidSignature => "its signature does not verify".to_owned(),
                    ErrorKind::InvalidIssuer => {
                        "it was issued for another realm or server".to_owned()
                    }
                    other => format!("{other:?}"),
                })
            })?;
        let claims = data.claims;
        if let Some(aud) = &claims.aud
            && Some(aud) != audience_of(&key.tenant).as_ref()
        {
            return Err(TokenError::Invalid(format!(
                "it was issued for another audience ('{aud}'): get a new one"
            )));
        }
        if claims.tenant != key.tenant.as_str() {
            return Err(TokenError::Invalid(
                "its tenant does not match the realm key that signed it".into(),
            ));
        }
        let scopes = ScopeSet::parse(&claims.scope).map_err(|e| TokenError::Invalid(e.0))?;
        Ok(Verified {
            tenant: key.tenant.clone(),
            client_id: claims.sub,
            scopes,
            expires_at: DateTime::from_timestamp(claims.exp, 0).unwrap_or_default(),
        })
    }
}

/// The JWKS of a tenant's realm keys.
pub fn jwks(keys: &[RealmKey]) -> serde_json::Value {
    let keys: Vec<_> = keys
        .iter()
        .filter_map(|k| PublicKey::from_spki_der(&k.public_key).ok().map(|p| (k, p)))
        .map(|(k, public)| {
            let (n, e) = public.components();
            serde_json::json!({
                "kid": k.kid, "kty": "RSA", "alg": "RS256", "use": "sig",
                "n": URL_SAFE_NO_PAD.encode(n), "e": URL_SAFE_NO_PAD.encode(e),
            })
        })
        .collect();
    serde_json::json!({ "keys": keys })
}
