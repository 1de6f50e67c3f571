//! Authentication to receivers, per webhook: OAuth2 client credentials (a bearer token fetched
//! from the receiver's token endpoint, kept until it expires, fetched again once on a 401) or a
//! client certificate (mutual TLS). Its secrets are sealed at rest with the webhook
//! (`seal::seal_auth`) and never shown, logged or written into an attempt's error.

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

/// A token kept for a webhook: for which settings, and until when.
struct Kept {
    /// The settings it was fetched with (another token endpoint, client, secret or scope
    /// fetches anew).
    for_settings: (String, String, String, Option<String>),
    token: String,
    until: Instant,
}

/// Bearer tokens per webhook, fetched one at a time per webhook.
#[derive(Default)]
pub struct Tokens {
    kept: Mutex<HashMap<cxhooks_store::WebhookId, Arc<tokio::sync::Mutex<Option<Kept>>>>>,
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

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl Tokens {
    fn slot(&self, hook: cxhooks_store::WebhookId) -> Arc<tokio::sync::Mutex<Option<Kept>>> {
        let mut kept = self.kept.lock().expect("not poisoned");
        if kept.len() > 10_000 {
            kept.retain(|_, slot| Arc::strong_count(slot) > 1);
        }
        kept.entry(hook).or_default().clone()
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
        let settings = (
            token_url.clone(),
            client_id.clone(),
            client_secret.clone(),
            scope.clone(),
        );
        let slot = self.slot(hook);
        let mut kept = slot.lock().await;
        if let Some(k) = kept.as_ref()
            && k.for_settings == settings
            && k.until > Instant::now()
            && stale != Some(k.token.as_str())
        {
            return Ok(k.token.clone());
        }
        *kept = None;
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let answer = client
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
        let mut answer = answer;
        while let Ok(Some(chunk)) = answer.chunk().await {
            body.extend_from_slice(&chunk);
            if body.len() >= ANSWER_CAP {
                break;
            }
        }
        if !status.is_success() {
            let said: String = String::from_utf8_lossy(&body).chars().take(200).collect();
            return Err(format!(
                "token endpoint {token_url} answered {status}: {said}"
            ));
        }
        let token: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|e| format!("token endpoint {token_url} answered no access_token ({e})"))?;
        let life = token
            .expires_in
            .map_or(DEFAULT_LIFE, Duration::from_secs)
            .min(LONGEST);
        *kept = Some(Kept {
            for_settings: settings,
            token: token.access_token.clone(),
            until: Instant::now() + life.saturating_sub(MARGIN),
        });
        Ok(token.access_token)
    }
}
