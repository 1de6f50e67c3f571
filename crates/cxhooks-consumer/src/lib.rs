//! What an integration needs to receive cxhooks (and Carerix) webhooks: check `Cx-Signature`
//! and read the notification into typed structs. It depends on nothing of the server.
//!
//! # Layout
//! - [`verify_signature`]: RSASSA-PKCS1-v1_5 with SHA-256 over the raw body, against the
//!   application's `secret` (its PEM public key), exactly as the seed documents' Java, Node.js
//!   and PHP examples check it.
//! - [`KeySet`]: an application's keys by id, from its JWKS, for `Cx-Signature-Key-Id`: the
//!   key a delivery names, so that a rotation's old and new keys both verify in its overlap.
//! - `RemoteKeys` (feature `fetch`): the key set fetched from a JWKS URL (an application's
//!   public `jwksUrl`) and cached, the key picked by `Cx-Signature-Key-Id`.
//! - [`Notification`] / [`NotificationData`]: the body of SPEC §6; [`Notification::parse`]
//!   verifies and parses in one step.
//!
//! # Example
//!
//! ```
//! use cxhooks_consumer::{Notification, verify_signature};
//! # let key = cxhooks_signing::PrivateKey::generate(cxhooks_signing::RsaBits::B2048).unwrap();
//! # let secret = key.public_key().to_pem();
//! let body = br#"{"id":"8469bf71-4942-45ea-98b8-393077288785","time":"2024-02-14T14:24:40Z","type":"cremployee:updated","applicationId":"192e953d-1e3a-4513-b14c-a66bca4be005","webhookId":"4c3174c9-deab-426a-8d26-23bbc89e461e","tenant":"acme","data":{"entityId":"1","changedFields":["touser","touser.lastname"]}}"#;
//! # let signature = key.sign_base64(body).unwrap();
//! // `secret` is the application's secret; `signature` the Cx-Signature header; `body` the raw
//! // request body, byte for byte (verify before parsing: re-serialised JSON does not verify).
//! verify_signature(&secret, body, &signature).expect("signed by our application");
//! let n = Notification::parse(&secret, body, &signature).unwrap();
//! assert_eq!(n.event_type, "cremployee:updated");
//! assert_eq!(n.entity(), "cremployee");
//! assert_eq!(n.data.changed_fields, ["touser", "touser.lastname"]);
//! // `n.id` is stable across retries: use it to ignore a delivery you already processed.
//! ```
#![warn(missing_docs)]

use cxhooks_signing::PublicKey;
use serde::{Deserialize, Serialize};

#[cfg(feature = "fetch")]
mod remote;
#[cfg(feature = "fetch")]
pub use remote::{RemoteError, RemoteKeys};

/// Why a delivery was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The secret is not a PEM public key.
    #[error("the application secret is not a usable public key: {0}")]
    Secret(String),
    /// The signature does not match the body and secret: tampered, or not from cxhooks.
    #[error("Cx-Signature does not match this body and application secret")]
    Mismatch,
    /// The delivery names a key (`Cx-Signature-Key-Id`) the key set does not hold.
    #[error("no key with id '{0}' in the application's JWKS")]
    UnknownKey(String),
    /// A JWKS that is not one.
    #[error("not a usable JWKS: {0}")]
    Jwks(String),
    /// The body verified but is not a notification.
    #[error("the body is not a notification: {0}")]
    Body(#[from] serde_json::Error),
}

/// Checks `Cx-Signature` (standard base64) over the exact `body` bytes with the application's
/// `secret` (PEM; the JSON-escaped form with literal `\n` is accepted too).
pub fn verify_signature(secret: &str, body: &[u8], signature: &str) -> Result<(), VerifyError> {
    let key = PublicKey::from_pem(secret).map_err(|e| VerifyError::Secret(e.to_string()))?;
    if key.verify_base64(body, signature) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// An application's public keys by id (`kid`, the RFC 7638 thumbprint), read from its JWKS
/// (`GET /webhooks/v1/applications/{id}/jwks`): the current key and those still in their
/// rotation grace period.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<(String, PublicKey)>,
}

impl KeySet {
    /// Reads a JWKS (`{"keys": [{"kty": "RSA", "kid", "n", "e"}, …]}`); keys of other types
    /// are skipped.
    pub fn from_jwks(jwks: &serde_json::Value) -> Result<Self, VerifyError> {
        use base64::Engine as _;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let list = jwks["keys"]
            .as_array()
            .ok_or_else(|| VerifyError::Jwks("no 'keys' array".into()))?;
        let mut keys = Vec::new();
        for k in list.iter().filter(|k| k["kty"] == "RSA") {
            let member = |name: &str| {
                k[name]
                    .as_str()
                    .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
                    .ok_or_else(|| VerifyError::Jwks(format!("a key without a base64url '{name}'")))
            };
            let kid = k["kid"]
                .as_str()
                .ok_or_else(|| VerifyError::Jwks("a key without 'kid'".into()))?;
            let key = PublicKey::from_components(&member("n")?, &member("e")?)
                .map_err(|e| VerifyError::Jwks(e.to_string()))?;
            keys.push((kid.to_owned(), key));
        }
        Ok(Self { keys })
    }

    /// The set of one key, the application's `secret` (PEM), under its thumbprint: for a
    /// service without a JWKS.
    pub fn from_secret(secret: &str) -> Result<Self, VerifyError> {
        let key = PublicKey::from_pem(secret).map_err(|e| VerifyError::Secret(e.to_string()))?;
        Ok(Self {
            keys: vec![(key.thumbprint(), key)],
        })
    }

    /// Checks `Cx-Signature` with whichever key of the set made it: for deliveries that name no
    /// key (Carerix's own service).
    pub fn verify_any(&self, body: &[u8], signature: &str) -> Result<(), VerifyError> {
        if self
            .keys
            .iter()
            .any(|(_, key)| key.verify_base64(body, signature))
        {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        }
    }

    /// Whether the set holds a key with this id.
    pub fn has(&self, kid: &str) -> bool {
        self.keys.iter().any(|(k, _)| k == kid)
    }

    /// Checks `Cx-Signature` with the key `kid` names.
    pub fn verify(&self, kid: &str, body: &[u8], signature: &str) -> Result<(), VerifyError> {
        let (_, key) = self
            .keys
            .iter()
            .find(|(k, _)| k == kid)
            .ok_or_else(|| VerifyError::UnknownKey(kid.to_owned()))?;
        if key.verify_base64(body, signature) {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        }
    }
}

/// A webhook notification (SPEC §6, seed 004's "Webhook Event").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// Unique per (change, webhook) and the same across retries: the idempotency key.
    pub id: String,
    /// When the change happened (RFC 3339).
    pub time: String,
    /// `{entity}:{action}` (`cremployee:updated`), or `cxhooks:ping` for a test.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The application of the webhook.
    pub application_id: String,
    /// The webhook that matched.
    pub webhook_id: String,
    /// The tenant.
    pub tenant: String,
    /// What changed.
    pub data: NotificationData,
    /// Present on an erasure's `{entity}:deleted`: `{"erased": true}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<NotificationMetadata>,
}

/// `metadata` of a notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationMetadata {
    /// The record was erased (GDPR art. 17): erase every copy of it, not only this one.
    #[serde(default)]
    pub erased: bool,
}

/// `data` of a notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationData {
    /// The record's id (empty for a ping).
    pub entity_id: String,
    /// Every changed field path, parents included (`touser`, `touser.lastname`).
    pub changed_fields: Vec<String>,
}

impl Notification {
    /// Verifies the signature, then parses the body.
    pub fn parse(secret: &str, body: &[u8], signature: &str) -> Result<Self, VerifyError> {
        verify_signature(secret, body, signature)?;
        Ok(serde_json::from_slice(body)?)
    }

    /// Verifies the signature with the key `kid` names (`Cx-Signature-Key-Id`), then parses.
    pub fn parse_with(
        keys: &KeySet,
        kid: &str,
        body: &[u8],
        signature: &str,
    ) -> Result<Self, VerifyError> {
        keys.verify(kid, body, signature)?;
        Ok(serde_json::from_slice(body)?)
    }

    /// The entity part of the type (`cremployee`).
    pub fn entity(&self) -> &str {
        self.event_type
            .split_once(':')
            .map_or(&self.event_type, |(e, _)| e)
    }

    /// The action part of the type (`created`, `updated`, `deleted`, or `ping`).
    pub fn action(&self) -> &str {
        self.event_type.split_once(':').map_or("", |(_, a)| a)
    }

    /// Whether the record was erased (an erasure's `deleted`, `metadata.erased`): a replica
    /// must erase its copy, and anything it keeps of the record.
    pub fn is_erased(&self) -> bool {
        self.metadata.as_ref().is_some_and(|m| m.erased)
    }

    /// Whether this is a test ping.
    pub fn is_ping(&self) -> bool {
        self.event_type == "cxhooks:ping"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cxhooks_signing::{PrivateKey, RsaBits};

    #[test]
    fn a_key_set_verifies_by_key_id() {
        use base64::Engine as _;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let (old, new) = (
            PrivateKey::generate(RsaBits::B2048).unwrap(),
            PrivateKey::generate(RsaBits::B2048).unwrap(),
        );
        let jwk = |k: &PrivateKey| {
            let (n, e) = k.public_key().components();
            serde_json::json!({"kty": "RSA", "kid": k.public_key().thumbprint(),
                "n": URL_SAFE_NO_PAD.encode(n), "e": URL_SAFE_NO_PAD.encode(e)})
        };
        let set = KeySet::from_jwks(&serde_json::json!({"keys": [jwk(&new), jwk(&old),
            {"kty": "EC", "kid": "x"}]}))
        .unwrap();
        let body = b"{}";
        for k in [&old, &new] {
            let kid = k.public_key().thumbprint();
            assert!(set.has(&kid));
            set.verify(&kid, body, &k.sign_base64(body).unwrap())
                .unwrap();
        }
        // Signed by one, named as the other: refused.
        let forged = old.sign_base64(body).unwrap();
        assert!(matches!(
            set.verify(&new.public_key().thumbprint(), body, &forged),
            Err(VerifyError::Mismatch)
        ));
        assert!(matches!(
            set.verify("x", body, &forged),
            Err(VerifyError::UnknownKey(_))
        ));
        assert!(KeySet::from_jwks(&serde_json::json!({"no": []})).is_err());
    }

    #[test]
    fn tampered_bodies_and_other_keys_are_refused() {
        let key = PrivateKey::generate(RsaBits::B2048).unwrap();
        let secret = key.public_key().to_pem();
        let body = br#"{"id":"1","time":"t","type":"cxhooks:ping","applicationId":"a","webhookId":"w","tenant":"acme","data":{"entityId":"","changedFields":[]}}"#;
        let sig = key.sign_base64(body).unwrap();
        let n = Notification::parse(&secret, body, &sig).unwrap();
        assert!(n.is_ping());
        assert_eq!((n.entity(), n.action()), ("cxhooks", "ping"));
        let mut tampered = body.to_vec();
        tampered[10] ^= 1;
        assert!(matches!(
            verify_signature(&secret, &tampered, &sig),
            Err(VerifyError::Mismatch)
        ));
        let other = PrivateKey::generate(RsaBits::B2048)
            .unwrap()
            .public_key()
            .to_pem();
        assert!(matches!(
            verify_signature(&other, body, &sig),
            Err(VerifyError::Mismatch)
        ));
        assert!(matches!(
            verify_signature("nope", body, &sig),
            Err(VerifyError::Secret(_))
        ));
        assert!(matches!(
            verify_signature(&secret, body, "!!"),
            Err(VerifyError::Mismatch)
        ));
        // The JSON-escaped form of the secret works too.
        assert!(verify_signature(&secret.replace('\n', "\\n"), body, &sig).is_ok());
        let not_json = b"hello";
        let sig = key.sign_base64(not_json).unwrap();
        assert!(matches!(
            Notification::parse(&secret, not_json, &sig),
            Err(VerifyError::Body(_))
        ));
    }
}
