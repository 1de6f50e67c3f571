//! A webhook's `auth` as a caller writes it: OAuth2 client credentials or a client certificate,
//! checked whole. Secrets may be left out to keep the stored ones (what `GET` answers carries
//! none), but only with the token endpoint and client, or the certificate, they were given for.

use super::input::Problems;
use crate::delivery::auth::OutboundAuth;
use crate::error::{ApiError, FieldError};
use crate::state::AppState;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

/// `auth` as written: `type` `oauth2` (`tokenUrl`, `clientId`, `clientSecret`, `scope`) or
/// `mtls` (`certificate`, `privateKey`). Answers leave the secrets out (`clientSecret`,
/// `privateKey`) and add `fingerprint` to a certificate; sent back without them, the stored
/// ones are kept as long as `tokenUrl` and `clientId` (or `certificate`) are unchanged.
#[derive(Clone, Default, Deserialize, ToSchema)]
pub struct AuthIn {
    /// `oauth2` or `mtls`.
    #[serde(rename = "type")]
    #[schema(pattern = "^(oauth2|mtls)$")]
    pub kind: String,
    /// oauth2: the token endpoint (checked as a webhook url is).
    #[serde(rename = "tokenUrl")]
    pub token_url: Option<String>,
    /// oauth2: the client id.
    #[serde(rename = "clientId")]
    pub client_id: Option<String>,
    /// oauth2: the client secret (sealed at rest, never shown). Required unless kept.
    #[serde(rename = "clientSecret")]
    #[schema(write_only)]
    pub client_secret: Option<String>,
    /// oauth2: the scope to ask for.
    pub scope: Option<String>,
    /// mtls: the client certificate (and its chain), PEM.
    pub certificate: Option<String>,
    /// mtls: its private key, PEM (sealed at rest, never shown). Required unless kept.
    #[serde(rename = "privateKey")]
    #[schema(write_only)]
    pub private_key: Option<String>,
}

impl std::fmt::Debug for AuthIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthIn")
            .field("kind", &self.kind)
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

const OAUTH2: [&str; 5] = ["type", "tokenUrl", "clientId", "clientSecret", "scope"];
const MTLS: [&str; 4] = ["type", "certificate", "privateKey", "fingerprint"];

/// A text member of `auth` of at most `max` characters, without control characters.
fn text(
    p: &mut Problems,
    map: &Map<String, Value>,
    key: &str,
    required: bool,
    max: usize,
) -> Option<String> {
    let value = p.string(map, "/auth", key, required)?;
    let path = format!("/auth/{key}");
    if value.trim().is_empty() {
        p.add(path, format!("'{key}' is empty"));
        return None;
    }
    if value.chars().count() > max {
        p.add(path, format!("'{key}' has at most {max} characters"));
        return None;
    }
    if key != "certificate" && key != "privateKey" && value.chars().any(char::is_control) {
        p.add(path, format!("'{key}' has a control character"));
        return None;
    }
    Some(value.to_owned())
}

/// Checks `auth` of a webhook (`url`: its url, `None` for a pull webhook).
pub(super) fn check(
    state: &AppState,
    p: &mut Problems,
    value: &Value,
    url: Option<&str>,
    check_url: impl Fn(&AppState, &mut Problems, &str, (&str, &str)),
) -> Option<AuthIn> {
    if !value.is_object() {
        p.add("/auth", "expected an auth object ({\"type\": \"oauth2\", …} or {\"type\": \"mtls\", …}) or null");
        return None;
    }
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let allowed: &[&str] = match kind {
        "oauth2" => &OAUTH2,
        "mtls" => &MTLS,
        _ => {
            p.add(
                "/auth/type",
                "'type' is oauth2 (client credentials) or mtls (a client certificate)",
            );
            return None;
        }
    };
    let map = p.object(value, "/auth", "auth", allowed)?;
    if url.is_none() {
        p.add(
            "/auth",
            "a pull webhook (no url) sends no request: there is nothing to authenticate",
        );
        return None;
    }
    let mut auth = AuthIn {
        kind: kind.to_owned(),
        ..AuthIn::default()
    };
    if kind == "oauth2" {
        auth.token_url = text(p, map, "tokenUrl", true, 2048);
        if let Some(token_url) = &auth.token_url {
            check_url(state, p, token_url, ("/auth/tokenUrl", "tokenUrl"));
            // The client secret travels to it: in clear text only where private targets are
            // allowed (a test set-up, a closed network).
            if !token_url.starts_with("https://") && !state.config.delivery.allow_private_targets {
                p.add(
                    "/auth/tokenUrl",
                    "'tokenUrl' must be https: the client secret is sent to it",
                );
            }
        }
        auth.client_id = text(p, map, "clientId", true, 255);
        auth.client_secret = text(p, map, "clientSecret", false, 4096);
        auth.scope = text(p, map, "scope", false, 1024);
        return Some(auth);
    }
    if !url.is_some_and(|u| u.starts_with("https://")) {
        p.add(
            "/auth",
            "a client certificate is presented in a TLS handshake only: the url must be https",
        );
    }
    auth.certificate = text(p, map, "certificate", true, 64 * 1024);
    auth.private_key = text(p, map, "privateKey", false, 64 * 1024);
    let certificate = auth.certificate.as_deref()?;
    if reqwest::Certificate::from_pem_bundle(certificate.as_bytes()).map_or(true, |c| c.is_empty())
    {
        p.add(
            "/auth/certificate",
            "'certificate' is not a PEM certificate (-----BEGIN CERTIFICATE-----)",
        );
        return None;
    }
    if let Some(key) = &auth.private_key
        && let Err(why) = usable(certificate, key)
    {
        p.add("/auth/privateKey", why);
    }
    Some(auth)
}

/// Whether `key` is a PEM private key that goes with `certificate`: a TLS client is built with
/// them (the reason never quotes the key).
fn usable(certificate: &str, key: &str) -> Result<(), String> {
    let auth = OutboundAuth::Mtls {
        certificate: certificate.to_owned(),
        private_key: key.to_owned(),
    };
    let pem = auth.identity_pem().unwrap_or_default();
    let identity = reqwest::Identity::from_pem(&pem)
        .map_err(|_| "'privateKey' is not a PEM private key (PKCS#8, PKCS#1 or SEC1)".to_owned())?;
    reqwest::Client::builder()
        .identity(identity)
        .build()
        .map(|_| ())
        .map_err(|e| format!("'privateKey' does not go with the certificate ({e})"))
}

fn missing(path: &str, says: &str) -> ApiError {
    ApiError::invalid(
        format!("the webhook has 1 problem: {path}: {says}"),
        vec![FieldError {
            path: path.into(),
            message: says.into(),
        }],
    )
}

impl AuthIn {
    /// The authentication to store: with the secrets given, or the stored ones (`stored`) when
    /// they are left out and the settings they were given for are unchanged.
    pub fn resolve(self, stored: Option<&OutboundAuth>) -> Result<OutboundAuth, ApiError> {
        match self.kind.as_str() {
            "oauth2" => {
                let (token_url, client_id) = (
                    self.token_url.unwrap_or_default(),
                    self.client_id.unwrap_or_default(),
                );
                let kept = match stored {
                    Some(OutboundAuth::OAuth2 {
                        token_url: t,
                        client_id: c,
                        client_secret,
                        ..
                    }) if *t == token_url && *c == client_id => Some(client_secret.clone()),
                    _ => None,
                };
                let client_secret = self.client_secret.or(kept).ok_or_else(|| {
                    missing(
                        "/auth/clientSecret",
                        "'clientSecret' is required (the stored one is kept only for the same \
                         tokenUrl and clientId)",
                    )
                })?;
                Ok(OutboundAuth::OAuth2 {
                    token_url,
                    client_id,
                    client_secret,
                    scope: self.scope,
                })
            }
            _ => {
                let certificate = self.certificate.unwrap_or_default();
                let kept = match stored {
                    Some(OutboundAuth::Mtls {
                        certificate: c,
                        private_key,
                    }) if c.trim() == certificate.trim() => Some(private_key.clone()),
                    _ => None,
                };
                let private_key = self.private_key.or(kept).ok_or_else(|| {
                    missing(
                        "/auth/privateKey",
                        "'privateKey' is required (the stored one is kept only for the same \
                         certificate)",
                    )
                })?;
                Ok(OutboundAuth::Mtls {
                    certificate,
                    private_key,
                })
            }
        }
    }
}
