//! Authentication to receivers, per webhook: OAuth2 client credentials (a bearer token fetched
//! from the receiver's token endpoint, kept until it expires, fetched again once on a 401) or a
//! client certificate (mutual TLS). Its secrets are sealed at rest with the webhook
//! (`seal::seal_auth`) and never shown, logged or written into an attempt's error.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a webhook authenticates to its receiver, with its secrets (sealed at rest).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum OutboundAuth {
    /// OAuth2 client credentials (RFC 6749 §4.4), the client authenticated with HTTP Basic.
    #[serde(rename = "oauth2")]
    OAuth2 {
        /// The token endpoint.
        #[serde(rename = "tokenUrl")]
        token_url: String,
        /// The client id.
        #[serde(rename = "clientId")]
        client_id: String,
        /// The client secret.
        #[serde(rename = "clientSecret")]
        client_secret: String,
        /// The scope asked for, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scope: Option<String>,
    },
    /// A client certificate for mutual TLS.
    #[serde(rename = "mtls")]
    Mtls {
        /// The certificate (and its chain), PEM.
        certificate: String,
        /// Its private key, PEM (PKCS#8, PKCS#1 or SEC1).
        #[serde(rename = "privateKey")]
        private_key: String,
    },
}

impl std::fmt::Debug for OutboundAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::OAuth2 {
                token_url,
                client_id,
                ..
            } => f
                .debug_struct("OAuth2")
                .field("token_url", token_url)
                .field("client_id", client_id)
                .finish_non_exhaustive(),
            Self::Mtls { .. } => f.write_str("Mtls(..)"),
        }
    }
}

impl OutboundAuth {
    /// `hook`'s, unsealed; `None` when it has none.
    pub fn open(
        master: &cxhooks_signing::MasterKey,
        hook: &cxhooks_store::Webhook,
    ) -> Result<Option<Self>, crate::seal::SealError> {
        let Some(plain) = crate::seal::open_auth(master, hook)? else {
            return Ok(None);
        };
        // The reason names only the JSON position, never the plaintext (it holds secrets).
        serde_json::from_slice(&plain)
            .map(Some)
            .map_err(|e| crate::seal::SealError::Corrupt {
                what: "outbound authentication",
                id: hook.id.to_string(),
                reason: format!(
                    "not an authentication (line {}, column {})",
                    e.line(),
                    e.column()
                ),
            })
    }

    /// Sealed for webhook `id` of `tenant`.
    pub fn seal(
        &self,
        master: &cxhooks_signing::MasterKey,
        tenant: &cxhooks_store::TenantName,
        id: cxhooks_store::WebhookId,
    ) -> Vec<u8> {
        let json = serde_json::to_vec(self).expect("serialisable");
        crate::seal::seal_auth(master, tenant, id, &json)
    }

    /// `oauth2` or `mtls`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::OAuth2 { .. } => "oauth2",
            Self::Mtls { .. } => "mtls",
        }
    }

    /// The representation answers carry: no secret (`clientSecret`, `privateKey`).
    pub fn shown(&self) -> serde_json::Value {
        match self {
            Self::OAuth2 {
                token_url,
                client_id,
                scope,
                ..
            } => serde_json::json!({"type": "oauth2", "tokenUrl": token_url,
                "clientId": client_id, "scope": scope}),
            Self::Mtls { certificate, .. } => serde_json::json!({"type": "mtls",
                "certificate": certificate, "fingerprint": fingerprint(certificate)}),
        }
    }

    /// The certificate and key as one PEM, what a TLS identity is read from.
    pub fn identity_pem(&self) -> Option<Vec<u8>> {
        match self {
            Self::Mtls {
                certificate,
                private_key,
            } => Some(format!("{}\n{}\n", certificate.trim(), private_key.trim()).into_bytes()),
            Self::OAuth2 { .. } => None,
        }
    }
}

/// `sha256:` and the hex SHA-256 of the first certificate's DER, or of the text when it has none.
pub fn fingerprint(certificate: &str) -> String {
    let mut reader = std::io::Cursor::new(certificate.as_bytes());
    let der = std::iter::from_fn(|| rustls_pki_types::pem::from_buf(&mut reader).ok().flatten())
        .find(|(kind, _)| *kind == rustls_pki_types::pem::SectionKind::Certificate)
        .map_or_else(|| certificate.as_bytes().to_vec(), |(_, der)| der);
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &der);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Token endpoint, client id, secret and scope: another of any fetches a new token.
type Settings = (String, String, String, Option<String>);

/// A token kept for a webhook: for which settings, and until when.
struct Kept {
    for_settings: Settings,
    token: String,
    until: Instant,
}

/// What a webhook's token slot holds: the token, or the last failure to get one (its waiters
/// fail with it at once rather than each asking a token endpoint that does not answer).
#[derive(Default)]
struct Slot {
    kept: Option<Kept>,
    failed: Option<(Settings, Instant, String)>,
}

/// Bearer tokens per webhook, fetched one at a time per webhook.
#[derive(Default)]
pub struct Tokens {
    slots: Mutex<HashMap<cxhooks_store::WebhookId, Arc<tokio::sync::Mutex<Slot>>>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens(..)")
    }
}

/// Kept at most this long whatever `expires_in` says, and fetched again this long before it
/// ends (a token is not sent in its last seconds).
const LONGEST: Duration = Duration::from_secs(24 * 3600);
const MARGIN: Duration = Duration::from_secs(30);
/// Without `expires_in`.
const DEFAULT_LIFE: Duration = Duration::from_secs(300);
/// Most of a token endpoint's answer read.
const ANSWER_CAP: usize = 64 * 1024;
/// How long a failure to get a token is answered without asking again.
const FAILED_FOR: Duration = Duration::from_secs(1);

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl Tokens {
    fn slot(&self, hook: cxhooks_store::WebhookId) -> Arc<tokio::sync::Mutex<Slot>> {
        let mut slots = self.slots.lock().expect("not poisoned");
        if slots.len() > 10_000 {
            slots.retain(|_, slot| Arc::strong_count(slot) > 1);
        }
        slots.entry(hook).or_default().clone()
    }

    /// A bearer token for `hook`: the kept one, unless `stale` (the receiver refused it) names
    /// it or it ran out; otherwise fetched with `client` from the token endpoint.
    pub async fn bearer(
        &self,
        client: &reqwest::Client,
        hook: cxhooks_store::WebhookId,
        auth: &OutboundAuth,
        stale: Option<&str>,
        timeout: Duration,
    ) -> Result<String, String> {
        let OutboundAuth::OAuth2 {
            token_url,
            client_id,
            client_secret,
            scope,
        } = auth
        else {
            return Err("not an OAuth2 webhook".into());
        };
        let settings: Settings = (
            token_url.clone(),
            client_id.clone(),
            client_secret.clone(),
            scope.clone(),
        );
        let slot = self.slot(hook);
        let mut slot = slot.lock().await;
        if let Some(k) = slot.kept.as_ref()
            && k.for_settings == settings
            && k.until > Instant::now()
            && stale != Some(k.token.as_str())
        {
            return Ok(k.token.clone());
        }
        if let Some((failed_for, until, why)) = &slot.failed
            && *failed_for == settings
            && *until > Instant::now()
        {
            return Err(why.clone());
        }
        slot.kept = None;
        match fetch(client, &settings, timeout).await {
            Ok((token, life)) => {
                slot.failed = None;
                slot.kept = Some(Kept {
                    for_settings: settings,
                    token: token.clone(),
                    until: Instant::now() + life.saturating_sub(MARGIN),
                });
                Ok(token)
            }
            Err(why) => {
                slot.failed = Some((settings, Instant::now() + FAILED_FOR, why.clone()));
                Err(why)
            }
        }
    }
}

/// Asks the token endpoint for a token: the token and how long it lives. An error says what
/// the endpoint answered, with the client's secret (and its Basic form) taken out.
async fn fetch(
    client: &reqwest::Client,
    (token_url, client_id, client_secret, scope): &Settings,
    timeout: Duration,
) -> Result<(String, Duration), String> {
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    let mut answer = client
        .post(token_url)
        .basic_auth(client_id, Some(client_secret))
        .header(reqwest::header::ACCEPT, "application/json")
        .form(&form)
        .send()
        .await
        .map_err(|e| {
            format!(
                "token endpoint {token_url}: {}",
                super::sender::describe(&e, timeout)
            )
        })?;
    let status = answer.status();
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = answer.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() >= ANSWER_CAP {
            break;
        }
    }
    if !status.is_success() {
        let said: String = String::from_utf8_lossy(&body).chars().take(200).collect();
        let basic = base64::engine::general_purpose::STANDARD
            .encode(format!("{client_id}:{client_secret}"));
        let said = said
            .replace(client_secret.as_str(), "…")
            .replace(&basic, "…");
        return Err(format!(
            "token endpoint {token_url} answered {status}: {said}"
        ));
    }
    // The answer's text is not quoted: it holds the token.
    let token: TokenAnswer = serde_json::from_slice(&body).map_err(|_| {
        format!("token endpoint {token_url} answered {status} without a usable access_token")
    })?;
    let life = token
        .expires_in
        .map_or(DEFAULT_LIFE, Duration::from_secs)
        .min(LONGEST);
    Ok((token.access_token, life))
}
