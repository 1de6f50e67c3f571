//! What the store keeps sealed under the master key (application private keys and Standard
//! Webhooks secrets, webhook custom headers) and the context each seal is bound to. A leaf: the management service seals, the
//! delivery registry opens, and neither reaches into the other.
//!
//! The context strings and the headers' JSON are stored formats: changing either makes every
//! existing seal unreadable. `tests::stored_formats` pins them.

use cxhooks_signing::{MasterKey, PrivateKey, StandardKey};
use cxhooks_store::{ApplicationId, CustomHeader, TenantName, Webhook, WebhookId};

/// Why a sealed value could not be read. Carries no secret.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The seal does not open with this master key and context.
    #[error("the sealed {what} of {id} does not open with this master key")]
    Open {
        /// What was sealed.
        what: &'static str,
        /// Whose.
        id: String,
    },
    /// It opened, but does not hold what it should.
    #[error("the sealed {what} of {id} is not readable: {reason}")]
    Corrupt {
        /// What was sealed.
        what: &'static str,
        /// Whose.
        id: String,
        /// Why (never the plaintext).
        reason: String,
    },
}

/// The seal context of an application's private key: binds it to its tenant and id.
pub fn application_key_context(tenant: &TenantName, id: ApplicationId) -> String {
    format!("application-key:{tenant}:{id}")
}

/// The seal context of a webhook's custom headers.
pub fn headers_context(tenant: &TenantName, id: WebhookId) -> String {
    format!("webhook-headers:{tenant}:{id}")
}

/// An application's private key (PKCS#8), sealed for the store.
pub fn seal_application_key(
    master: &MasterKey,
    tenant: &TenantName,
    id: ApplicationId,
    key: &PrivateKey,
) -> Vec<u8> {
    master.seal(&application_key_context(tenant, id), &key.to_pkcs8_der())
}

/// An application's private key, unsealed and parsed.
pub fn open_application_key(
    master: &MasterKey,
    tenant: &TenantName,
    id: ApplicationId,
    sealed: &[u8],
) -> Result<PrivateKey, SealError> {
    let (what, whose) = ("private key", id.to_string());
    let der = master
        .open(&application_key_context(tenant, id), sealed)
        .map_err(|_| SealError::Open {
            what,
            id: whose.clone(),
        })?;
    PrivateKey::from_pkcs8_der(&der).map_err(|e| SealError::Corrupt {
        what,
        id: whose,
        reason: e.to_string(),
    })
}

/// The seal context of an application's Standard Webhooks secret.
pub fn standard_secret_context(tenant: &TenantName, id: ApplicationId) -> String {
    format!("standard-secret:{tenant}:{id}")
}

/// An application's Standard Webhooks secret, sealed for the store.
pub fn seal_standard_secret(
    master: &MasterKey,
    tenant: &TenantName,
    id: ApplicationId,
    key: &StandardKey,
) -> Vec<u8> {
    master.seal(&standard_secret_context(tenant, id), key.as_bytes())
}

/// An application's Standard Webhooks secret, unsealed.
pub fn open_standard_secret(
    master: &MasterKey,
    tenant: &TenantName,
    id: ApplicationId,
    sealed: &[u8],
) -> Result<StandardKey, SealError> {
    let bytes = master
        .open(&standard_secret_context(tenant, id), sealed)
        .map_err(|_| SealError::Open {
            what: "Standard Webhooks secret",
            id: id.to_string(),
        })?;
    Ok(StandardKey::from_bytes(&bytes))
}

/// A webhook's custom headers, sealed for the store.
pub fn seal_headers(
    master: &MasterKey,
    tenant: &TenantName,
    id: WebhookId,
    headers: &[CustomHeader],
) -> Vec<u8> {
    master.seal(
        &headers_context(tenant, id),
        &serde_json::to_vec(headers).expect("serialisable"),
    )
}

/// A webhook's custom headers, unsealed.
pub fn open_headers(master: &MasterKey, hook: &Webhook) -> Result<Vec<CustomHeader>, SealError> {
    let (what, id) = ("custom headers", hook.id.to_string());
    let plain = master
        .open(
            &headers_context(&hook.tenant, hook.id),
            &hook.sealed_custom_headers,
        )
        .map_err(|_| SealError::Open {
            what,
            id: id.clone(),
        })?;
    // The reason names only the JSON position, never the plaintext (header values are
    // credentials).
    serde_json::from_slice(&plain).map_err(|e| SealError::Corrupt {
        what,
        id,
        reason: format!(
            "not a JSON list of headers (line {}, column {})",
            e.line(),
            e.column()
        ),
    })
}

/// The seal context of a webhook's outbound authentication.
pub fn auth_context(tenant: &TenantName, id: WebhookId) -> String {
    format!("webhook-auth:{tenant}:{id}")
}

/// A webhook's outbound authentication as JSON (its secrets with it), sealed for the store
/// (`delivery::auth::OutboundAuth` reads and writes the JSON).
pub fn seal_auth(master: &MasterKey, tenant: &TenantName, id: WebhookId, json: &[u8]) -> Vec<u8> {
    master.seal(&auth_context(tenant, id), json)
}

/// A webhook's outbound authentication as JSON, unsealed; `None` when it has none.
pub fn open_auth(master: &MasterKey, hook: &Webhook) -> Result<Option<Vec<u8>>, SealError> {
    let Some(sealed) = &hook.sealed_auth else {
        return Ok(None);
    };
    master
        .open(&auth_context(&hook.tenant, hook.id), sealed)
        .map(Some)
        .map_err(|_| SealError::Open {
            what: "outbound authentication",
            id: hook.id.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    const TENANT: &str = "acme";
    const ID: &str = "0193a5f0-7c3e-7d2a-9f00-5e1f2a3b4c5d";

    fn master() -> MasterKey {
        MasterKey::from_bytes(&[7u8; 32]).expect("32 bytes")
    }

    fn webhook(sealed: Vec<u8>) -> Webhook {
        Webhook {
            tenant: TenantName::parse(TENANT).expect("tenant"),
            id: WebhookId::parse(ID).expect("uuid"),
            application_id: uuid::Uuid::nil().into(),
            url: "http://127.0.0.1:1/".into(),
            description: None,
            filters: Vec::new(),
            sealed_custom_headers: sealed,
            sealed_auth: None,
            status: cxhooks_store::WebhookStatus::Enabled,
            max_in_flight: None,
            max_per_second: None,
            ordered: false,
            audit: cxhooks_store::Audit::new("client", chrono::Utc::now()),
        }
    }

    /// `[{"name":"Authorization","value":"Bearer pinned"}]` sealed for webhook [`ID`] of
    /// tenant [`TENANT`] with the master key of [`master`], as every release so far seals custom
    /// headers: stores hold such bytes, so they must keep opening.
    const SEALED_HEADERS: &str = "kacKHhSWbnedRLmTsRLX1aTyceTKPAAWPULFLpjgkEKOVM+ArY9lsdCwAg9QQpvnIBfJ2wcCWMUT4bSuw6pFUeJa9jS43OWANZG2SPbP";

    #[test]
    fn stored_formats() {
        let tenant = TenantName::parse(TENANT).expect("tenant");
        let id = WebhookId::parse(ID).expect("uuid");
        assert_eq!(
            application_key_context(&tenant, id.uuid().into()),
            format!("application-key:acme:{ID}")
        );
        assert_eq!(
            standard_secret_context(&tenant, id.uuid().into()),
            format!("standard-secret:acme:{ID}")
        );
        assert_eq!(
            headers_context(&tenant, id),
            format!("webhook-headers:acme:{ID}")
        );
        let sealed = base64::engine::general_purpose::STANDARD
            .decode(SEALED_HEADERS)
            .expect("base64");
        let headers = open_headers(&master(), &webhook(sealed)).expect("opens");
        assert_eq!(
            headers,
            [CustomHeader {
                name: "Authorization".into(),
                value: "Bearer pinned".into()
            }]
        );
    }

    #[test]
    fn seals_round_trip_and_are_bound_to_their_owner() {
        let tenant = TenantName::parse(TENANT).expect("tenant");
        let headers = vec![CustomHeader {
            name: "X-Key".into(),
            value: "secret".into(),
        }];
        let hook = webhook(seal_headers(
            &master(),
            &tenant,
            WebhookId::parse(ID).unwrap(),
            &headers,
        ));
        assert_eq!(open_headers(&master(), &hook).expect("opens"), headers);
        let mut other = webhook(hook.sealed_custom_headers.clone());
        other.id = uuid::Uuid::nil().into();
        let err = open_headers(&master(), &other).expect_err("another webhook's seal");
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}
