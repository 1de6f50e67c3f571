//! One attempt over HTTP: a pooled client (connections and TLS sessions are reused), no
//! redirects, a timeout from connect to last byte, at most 64 KiB of answer read, no private
//! addresses unless the operator allows them (checked on the resolved address), never the
//! service itself unless the operator allows that, and a `Cx-Delivery-Hop` header on every
//! request so that a delivery that comes back in is refused. Under `cx+standard` it also
//! carries Standard Webhooks' `webhook-*` headers, signed for this attempt.

use super::auth::OutboundAuth;
use super::registry::HookInfo;
use crate::config::{ConfigError, DeliveryConfig};
use crate::net::OwnAddresses;
use cxhooks_store::WebhookId;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The notification's own headers (HTTP header names are case-insensitive; these are sent in
/// lower case, as HTTP/2 requires and HTTP/1.1 allows).
const CX_SIGNATURE: HeaderName = HeaderName::from_static("cx-signature");
/// The RFC 7638 thumbprint of the key that made `Cx-Signature`, its `kid` in the
/// application's JWKS.
const CX_SIGNATURE_KEY_ID: HeaderName = HeaderName::from_static("cx-signature-key-id");
const SCHEMA_VERSION: HeaderName = HeaderName::from_static("cx-payload-schema-version");
/// Marks a request as a cxhooks delivery: the publish and record APIs refuse requests carrying
/// it, so a webhook aimed at them (directly or through a name or proxy the url checks cannot
/// see through) fails once instead of publishing its own deliveries without end.
pub const DELIVERY_HOP: HeaderName = HeaderName::from_static("cx-delivery-hop");

/// Standard Webhooks' headers (<https://www.standardwebhooks.com>).
const WEBHOOK_ID: HeaderName = HeaderName::from_static("webhook-id");
const WEBHOOK_TIMESTAMP: HeaderName = HeaderName::from_static("webhook-timestamp");
const WEBHOOK_SIGNATURE: HeaderName = HeaderName::from_static("webhook-signature");

/// One attempt's Standard Webhooks headers, for an application under `cx+standard`.
#[derive(Debug, Clone)]
pub struct StandardHeaders {
    /// `webhook-id`: the delivery's id, the same on every attempt (receivers deduplicate on it).
    pub id: String,
    /// `webhook-timestamp`: the attempt's time, in seconds since the epoch.
    pub timestamp: i64,
    /// `webhook-signature`: `v1,` and the HMAC over `{id}.{timestamp}.{body}`.
    pub signature: String,
}

/// Most of an answer that is read.
const READ_CAP: usize = 64 * 1024;
/// Idle connections kept per host at most (see [`Sender::new`]).
const IDLE_PER_HOST: usize = 1024;
/// Most of an answer that is kept in the attempt log.
const LOG_CAP: usize = 4 * 1024;

/// What one attempt observed.
#[derive(Debug, Clone)]
pub struct Observed {
    /// Start, µs since the epoch.
    pub at: i64,
    /// Duration, µs.
    pub duration_us: i64,
    /// HTTP status, if an answer came.
    pub status: Option<u16>,
    /// Why it failed without an answer (or why the answer counts as a failure).
    pub error: Option<String>,
    /// First 4 KiB of the answer, as text.
    pub body: String,
    /// `Retry-After` of a 429 or 503, as an absolute time in µs.
    pub retry_after: Option<i64>,
}

impl Observed {
    /// A 2xx answer.
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Resolves host names, keeping only public addresses.
#[derive(Debug)]
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public = keep_public(&host, all)?;
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// The globally reachable addresses among those `host` resolved to; an error naming the first
/// refused one when none is.
fn keep_public(host: &str, all: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, String> {
    let mut refused = None;
    let public: Vec<SocketAddr> = all
        .into_iter()
        .filter(|a| match crate::net::forbidden_reason(a.ip()) {
            None => true,
            Some(reason) => {
                refused.get_or_insert((a.ip(), reason));
                false
            }
        })
        .collect();
    match refused {
        Some((ip, reason)) if public.is_empty() => Err(format!(
            "{host} resolves to {ip}, {reason}, which is not globally reachable: refused unless \
             delivery.allow_private_targets"
        )),
        _ => Ok(public),
    }
}

/// The HTTP side of delivery.
#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
    allow_private: bool,
    /// The service's own addresses; `None` when `delivery.allow_self_targets`.
    own: Option<OwnAddresses>,
    timeout: Duration,
    /// What every client is built from: the shared one, and each mutual-TLS webhook's own.
    config: DeliveryConfig,
    /// `delivery.ca_file`'s certificates.
    roots: Vec<reqwest::Certificate>,
    /// Mutual-TLS webhooks' clients (their certificate's own pool), with the identity they hold.
    mtls: Arc<Mutex<HashMap<WebhookId, (String, reqwest::Client)>>>,
    /// OAuth2 webhooks' bearer tokens.
    tokens: Arc<super::auth::Tokens>,
}

/// Why a request failed, from its chain of causes (none of them contains header values).
pub(super) fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("timed out after {}", humantime::format_duration(timeout));
    }
    // The chain of causes says what really happened (refused, reset, TLS, DNS); none of it
    // contains header values.
    let mut text = if e.is_connect() {
        "connection failed".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn retry_after(headers: &reqwest::header::HeaderMap, now_us: i64) -> Option<i64> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .to_owned();
    if let Ok(secs) = value.parse::<i64>() {
        return Some(now_us.saturating_add(secs.max(0).saturating_mul(1_000_000)));
    }
    chrono::DateTime::parse_from_rfc2822(&value)
        .ok()
        .map(|t| t.timestamp_micros())
}

impl Sender {
    /// A sender configured from `[delivery]`, for the service at `own`; an error when
    /// `delivery.ca_file` cannot be read.
    pub fn new(config: &DeliveryConfig, own: OwnAddresses) -> Result<Self, ConfigError> {
        let roots = match &config.ca_file {
            None => Vec::new(),
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| {
                    ConfigError(format!("delivery.ca_file {}: {e}", path.display()))
                })?;
                let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                    ConfigError(format!("delivery.ca_file {}: {e}", path.display()))
                })?;
                if certs.is_empty() {
                    return Err(ConfigError(format!(
                        "delivery.ca_file {}: no PEM certificate in it",
                        path.display()
                    )));
                }
                certs
            }
        };
        let client = Self::builder(config, &roots)
            .build()
            .map_err(|e| ConfigError(format!("the HTTP client: {e}")))?;
        Ok(Self {
            client,
            allow_private: config.allow_private_targets,
            own: (!config.allow_self_targets).then_some(own),
            timeout: config.timeout,
            config: config.clone(),
            roots,
            mtls: Arc::default(),
            tokens: Arc::default(),
        })
    }

    /// A client as configured (what every request to a receiver or token endpoint goes through).
    fn builder(config: &DeliveryConfig, roots: &[reqwest::Certificate]) -> reqwest::ClientBuilder {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            // Idle connections kept per host: enough for every send in flight to one host, which
            // several webhooks can share (up to 16 sends each). Keeping only one webhook's worth
            // closed and reopened a connection every 20 deliveries in the bench (4 webhooks, one
            // receiver); idle ones close after 90 s.
            .pool_max_idle_per_host(IDLE_PER_HOST)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .user_agent(concat!("cxhooks/", env!("CARGO_PKG_VERSION")));
        if !config.allow_private_targets {
            builder = builder.dns_resolver(std::sync::Arc::new(PublicOnly));
        }
        builder.tls_certs_merge(roots.iter().cloned())
    }

    /// The client that sends to `hook`: its own (with its certificate) under mutual TLS, made
    /// once per certificate; the shared one otherwise.
    fn client_for(
        &self,
        hook: &HookInfo,
        auth: Option<&OutboundAuth>,
    ) -> Result<reqwest::Client, String> {
        let Some(pem) = auth.and_then(OutboundAuth::identity_pem) else {
            return Ok(self.client.clone());
        };
        // The whole identity: a new key for the same certificate makes a new client.
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &pem);
        let held: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        let mut mtls = self.mtls.lock().expect("not poisoned");
        if let Some((fingerprint, client)) = mtls.get(&hook.id)
            && *fingerprint == held
        {
            return Ok(client.clone());
        }
        // The reason names the PEM's problem, never its content.
        let identity = reqwest::Identity::from_pem(&pem)
            .map_err(|e| format!("the webhook's client certificate is unusable: {e}"))?;
        let client = Self::builder(&self.config, &self.roots)
            .identity(identity)
            .build()
            .map_err(|e| format!("the webhook's client certificate is unusable: {e}"))?;
        if mtls.len() > 10_000 {
            mtls.clear();
        }
        mtls.insert(hook.id, (held, client.clone()));
        Ok(client)
    }

    /// Refuses `url` if it is a literal address that is not globally reachable (names are
    /// checked on what they resolve to, by the resolver) or this service itself.
    fn refused(&self, url: Option<&reqwest::Url>, shown: &str) -> Option<String> {
        let literal = match url.and_then(|u| u.host()) {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if !self.allow_private
            && let Some(reason) = literal.and_then(crate::net::forbidden_reason)
        {
            return Some(format!(
                "{shown} is {reason}, which is not globally reachable: refused unless \
                 delivery.allow_private_targets"
            ));
        }
        // Checked again here, not only when the webhook was saved: the listener or the public
        // url may have changed since.
        if let (Some(own), Some(url)) = (&self.own, url)
            && let Some(what) = own.find(url)
        {
            return Some(format!(
                "{shown} is {what}: refused unless delivery.allow_self_targets"
            ));
        }
        None
    }

    /// A bearer token for an OAuth2 webhook (the kept one unless `stale` names it), from its
    /// token endpoint, which passes the same checks as receivers.
    async fn bearer(
        &self,
        hook: &HookInfo,
        auth: &OutboundAuth,
        stale: Option<&str>,
    ) -> Result<String, String> {
        if let OutboundAuth::OAuth2 { token_url, .. } = auth {
            let parsed = reqwest::Url::parse(token_url).ok();
            if let Some(why) = self.refused(parsed.as_ref(), token_url) {
                return Err(format!("token endpoint: {why}"));
            }
        }
        self.tokens
            .bearer(&self.client, hook.id, auth, stale, self.timeout)
            .await
    }

    /// Sends one attempt, made `at` (µs since the epoch, by the node's clock).
    pub async fn send(
        &self,
        hook: &HookInfo,
        payload: &[u8],
        signature: &str,
        key_id: &HeaderValue,
        standard: Option<&StandardHeaders>,
        at: i64,
    ) -> Observed {
        let started = Instant::now();
        let mut observed = Observed {
            at,
            duration_us: 0,
            status: None,
            error: None,
            body: String::new(),
            retry_after: None,
        };
        // A literal address never reaches the resolver: check it here. Names, `localhost`
        // included, are checked by the resolver on what they resolve to.
        if let Some(why) = self.refused(hook.target.as_ref(), &hook.url) {
            observed.error = Some(why);
            return observed;
        }
        let auth = hook.auth.as_deref();
        let client = match self.client_for(hook, auth) {
            Ok(client) => client,
            Err(why) => {
                observed.error = Some(why);
                return observed;
            }
        };
        let oauth = auth.filter(|a| matches!(a, OutboundAuth::OAuth2 { .. }));
        // An OAuth2 webhook's request carries a bearer token; a 401 fetches a new one and sends
        // once more (the token may have been revoked or rotated before it expired).
        let attempt = async {
            let (mut bearer, mut again) = (None::<String>, false);
            loop {
                if let Some(auth) = oauth {
                    let stale = bearer.as_deref().filter(|_| again);
                    bearer = Some(self.bearer(hook, auth, stale).await?);
                }
                let request = self.request(&client, hook, payload, signature, key_id, standard);
                let sent = match &bearer {
                    Some(token) => request.bearer_auth(token),
                    None => request,
                }
                .send()
                .await;
                let refused =
                    matches!(&sent, Ok(r) if r.status() == reqwest::StatusCode::UNAUTHORIZED);
                if refused && oauth.is_some() && !again {
                    again = true;
                    continue;
                }
                return Ok::<_, String>(sent);
            }
        };
        // One deadline for an OAuth2 webhook's whole attempt (token, request, one more of each
        // after a 401), so that a claim's lease covers it as it covers a plain request.
        let sent = match oauth {
            Some(_) => tokio::time::timeout(self.timeout, attempt)
                .await
                .unwrap_or_else(|_| {
                    Err(format!(
                        "timed out after {} (the token request and the delivery together)",
                        humantime::format_duration(self.timeout)
                    ))
                }),
            None => attempt.await,
        };
        match sent {
            Ok(sent) => self.read_answer(&mut observed, sent, at).await,
            Err(why) => observed.error = Some(why),
        }
        observed.duration_us = i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX);
        observed
    }

    /// One request of an attempt, with every header it carries but a bearer token.
    fn request(
        &self,
        client: &reqwest::Client,
        hook: &HookInfo,
        payload: &[u8],
        signature: &str,
        key_id: &HeaderValue,
        standard: Option<&StandardHeaders>,
    ) -> reqwest::RequestBuilder {
        let request = match &hook.target {
            Some(url) => client.post(url.clone()),
            None => client.post(&hook.url),
        };
        let mut request = request
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(CX_SIGNATURE, signature)
            .header(CX_SIGNATURE_KEY_ID, key_id.clone())
            .header(SCHEMA_VERSION, HeaderValue::from_static("1"))
            .header(DELIVERY_HOP, HeaderValue::from_static("1"))
            .body(payload.to_vec());
        if let Some(standard) = standard {
            request = request
                .header(WEBHOOK_ID, &standard.id)
                .header(WEBHOOK_TIMESTAMP, standard.timestamp)
                .header(WEBHOOK_SIGNATURE, &standard.signature);
        }
        for h in hook.headers.iter().flatten() {
            request = request.header(&h.name, &h.value);
        }
        request
    }

    /// Reads what came back of a request into `observed`.
    async fn read_answer(
        &self,
        observed: &mut Observed,
        sent: Result<reqwest::Response, reqwest::Error>,
        at: i64,
    ) {
        match sent {
            Err(e) => observed.error = Some(describe(&e, self.timeout)),
            Ok(mut response) => {
                let status = response.status();
                observed.status = Some(status.as_u16());
                if status.as_u16() == 429 || status.as_u16() == 503 {
                    observed.retry_after = retry_after(response.headers(), at);
                }
                if status.is_redirection() {
                    let to = response
                        .headers()
                        .get(reqwest::header::LOCATION)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("?");
                    observed.error = Some(format!(
                        "redirect to {to} not followed: webhook urls must answer directly"
                    ));
                }
                let mut kept = Vec::new();
                let mut read = 0usize;
                loop {
                    match response.chunk().await {
                        Ok(Some(chunk)) => {
                            read += chunk.len();
                            let room = LOG_CAP.saturating_sub(kept.len());
                            kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
                            if read >= READ_CAP {
                                break;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            if status.is_success() {
                                // The status decided it; a broken body after a 2xx is noted only.
                                observed.body = format!(
                                    "(answer body cut short: {})",
                                    describe(&e, self.timeout)
                                );
                            } else {
                                observed.error = Some(describe(&e, self.timeout));
                            }
                            break;
                        }
                    }
                }
                if observed.body.is_empty() {
                    observed.body = String::from_utf8_lossy(&kept).into_owned();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
