//! The sections of the configuration, `[server]` to `[limits]`, each with its defaults.

use super::serde_forms::{byte_size, duration, duration_list};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::path::PathBuf;
use std::time::Duration;

/// `[server]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Listener address; port 0 picks a free port.
    pub listen: String,
    /// Base of `iss` and of links; `http://{listen}` when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// Origins (`https://app.example.com`) whose browser scripts may call the API, the token
    /// endpoint, the JWKS and the discovery document (CORS); `["*"]` for any. None by default.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cors_origins: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8480".into(),
            public_url: None,
            cors_origins: Vec::new(),
        }
    }
}

/// `[store]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Directory of the embedded SQLite store and its generated master key.
    pub data_dir: PathBuf,
    /// `postgres://…` selects PostgreSQL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// PostgreSQL: each node vacuums the store's tables once updates have left enough dead
    /// rows in them, so delivered notifications' old row versions are reused, not kept.
    pub vacuum: bool,
    /// PostgreSQL: how long a request waits for a database connection before it is answered
    /// 503 with `Retry-After` (and `/readyz` 503): an unreachable database fails fast.
    #[serde(with = "duration")]
    pub acquire_timeout: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./cxhooks-data"),
            database_url: None,
            vacuum: true,
            acquire_timeout: Duration::from_secs(1),
        }
    }
}

/// `[auth]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Access token lifetime.
    #[serde(with = "duration")]
    pub token_ttl: Duration,
    /// The `aud` of access tokens, which libraries check: the service's public URL when unset;
    /// `""` issues tokens without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// The `aud` of one realm's (tenant's) tokens, by tenant, instead of `audience`.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub realm_audiences: std::collections::BTreeMap<String, String>,
    /// External OpenID Connect issuers, by tenant (`[auth.issuers.acme]`): their access tokens
    /// are taken alongside the realm's own, for clients registered with `client create
    /// --external`.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub issuers: std::collections::BTreeMap<String, ExternalIssuer>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            token_ttl: Duration::from_secs(300),
            audience: None,
            realm_audiences: Default::default(),
            issuers: Default::default(),
        }
    }
}

/// `[auth.issuers.{tenant}]`: an OpenID Connect issuer (Keycloak, Auth0, …) whose JWT access
/// tokens a tenant's external clients call with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExternalIssuer {
    /// The issuer, exactly as its tokens' `iss` has it; its discovery document is at
    /// `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// The `aud` its tokens must carry; the tenant's own audience (`auth.audience`, the public
    /// URL by default) when unset, none checked when `""`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// The claims that name the client, the first present wins.
    pub client_id_claims: Vec<String>,
    /// The claim with the granted scopes (space-separated text or a list).
    pub scope_claim: String,
    /// A claim that must name the tenant, if the issuer serves several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_claim: Option<String>,
    /// At most one fetch of the issuer's keys per this interval for a token with an unknown
    /// `kid` (a forged `kid` must not make cxhooks hammer the issuer).
    #[serde(with = "duration")]
    pub refetch_interval: Duration,
    /// The keys are fetched again after this long, so that a key the issuer withdrew stops
    /// being accepted; while the issuer cannot be reached, the cached keys keep working.
    #[serde(with = "duration")]
    pub keys_max_age: Duration,
}

impl Default for ExternalIssuer {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            audience: None,
            client_id_claims: vec!["azp".into(), "client_id".into()],
            scope_claim: "scope".into(),
            tenant_claim: None,
            refetch_interval: Duration::from_secs(10),
            keys_max_age: Duration::from_secs(600),
        }
    }
}

impl AuthConfig {
    /// The `aud` of `tenant`'s tokens on a service at `public_url`; none if turned off.
    pub fn audience_of(&self, tenant: &str, public_url: &str) -> Option<String> {
        let aud = self
            .realm_audiences
            .get(tenant)
            .or(self.audience.as_ref())
            .map_or(public_url, String::as_str);
        (!aud.is_empty()).then(|| aud.to_owned())
    }
}

/// `[keys]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeysConfig {
    /// Application key size: 2048, 3072 or 4096.
    pub rsa_bits: u32,
    /// File with the 32-byte master key; `{store.data_dir}/master.key` when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_key_file: Option<PathBuf>,
    /// The master key itself, base64 (`CXHOOKS_KEYS__MASTER_KEY`); wins over the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_key: Option<String>,
    /// How long an application's replaced key stays in its JWKS after a rotation, so that
    /// deliveries signed before it still verify: at least the retry schedule's last offset.
    #[serde(with = "duration")]
    pub rotation_grace: Duration,
}

impl KeysConfig {
    /// `rotation_grace` covers the retry schedule: a delivery signed just before a rotation is
    /// retried until the schedule's last offset, and its consumer must still find its key.
    pub fn check_grace(&self, retry_schedule: &[Duration]) -> Result<(), super::ConfigError> {
        let last = retry_schedule.last().copied().unwrap_or_default();
        if self.rotation_grace >= last {
            return Ok(());
        }
        Err(super::ConfigError(format!(
            "keys.rotation_grace ({}) must be at least the last offset of \
             delivery.retry_schedule ({}): a delivery signed just before a rotation is retried \
             until then, and its consumer must still find the key it was signed with; set \
             keys.rotation_grace = \"{}\" or more",
            humantime::format_duration(self.rotation_grace),
            humantime::format_duration(last),
            humantime::format_duration(last)
        )))
    }
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            rsa_bits: 2048,
            master_key_file: None,
            master_key: None,
            rotation_grace: Duration::from_secs(24 * 3600),
        }
    }
}

/// `[delivery]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryConfig {
    /// One attempt, connect to last byte.
    #[serde(with = "duration")]
    pub timeout: Duration,
    /// Retry offsets from the first attempt.
    #[serde(with = "duration_list")]
    pub retry_schedule: Vec<Duration>,
    /// Allow loopback / private addresses as webhook urls.
    pub allow_private_targets: bool,
    /// Allow webhook urls that are this service itself: its listener's address and port (any
    /// interface address, for a wildcard listener) or `server.public_url`'s host and port.
    pub allow_self_targets: bool,
    /// Concurrent requests to one webhook.
    pub max_in_flight_per_webhook: u32,
    /// How long a claimed delivery stays claimed by a node.
    #[serde(with = "duration")]
    pub lease: Duration,
    /// A webhook failing without success this long and this many deliveries goes to `error`.
    pub error_after: ErrorAfter,
    /// Deliveries a bulk recovery redelivers per second (at least 1).
    pub recover_per_s: u32,
    /// A PEM file of CA certificates trusted for receivers besides the system's (a private CA
    /// that signed receivers' certificates, for mutual TLS inside an organisation).
    pub ca_file: Option<std::path::PathBuf>,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        let secs = |s| Duration::from_secs(s);
        Self {
            timeout: secs(10),
            retry_schedule: vec![
                secs(3),
                secs(18),
                secs(108),
                secs(648),
                secs(3600),
                secs(7200),
            ],
            allow_private_targets: false,
            allow_self_targets: false,
            max_in_flight_per_webhook: 16,
            lease: secs(60),
            error_after: ErrorAfter {
                failing_for: secs(24 * 3600),
                deliveries: 20,
            },
            recover_per_s: 100,
            ca_file: None,
        }
    }
}

/// `delivery.error_after`, written `24h,20`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorAfter {
    /// How long every attempt must have failed.
    pub failing_for: Duration,
    /// How many deliveries must have failed in that time.
    pub deliveries: u32,
}

impl Serialize for ErrorAfter {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!(
            "{},{}",
            humantime::format_duration(self.failing_for),
            self.deliveries
        ))
    }
}

impl<'de> Deserialize<'de> for ErrorAfter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let (dur, n) = text.split_once(',').ok_or_else(|| {
            serde::de::Error::custom(format!(
                "expected 'DURATION,COUNT' like '24h,20', got '{text}'"
            ))
        })?;
        Ok(ErrorAfter {
            failing_for: duration::parse(dur).map_err(serde::de::Error::custom)?,
            deliveries: n.trim().parse().map_err(|_| {
                serde::de::Error::custom(format!(
                    "'{}' is not a whole number of deliveries",
                    n.trim()
                ))
            })?,
        })
    }
}

/// `[limits]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Webhooks one client may own.
    pub max_webhooks_per_client: u32,
    /// Notifications one client may receive per calendar month.
    pub monthly_notifications_per_client: u64,
    /// Filters in one webhook.
    pub max_filters_per_webhook: u32,
    /// Largest request body; larger gets 413.
    #[serde(with = "byte_size")]
    pub max_body_bytes: u64,
    /// Largest attachment file (`crattachment`'s `content`); larger gets 413. Sent as base64,
    /// a file takes 4/3 of its size in the body, which `max_body_bytes` also bounds.
    #[serde(with = "byte_size")]
    pub max_attachment_bytes: u64,
    /// Management API requests per client per second, and token requests per client id; past
    /// it 429 with `Retry-After`.
    pub api_requests_per_client_per_s: u32,
    /// Console sign-in failures in a row one account (tenant and e-mail) may have before each
    /// further attempt waits out a back-off; 0 turns the limit off.
    pub sign_in_failures_per_account: u32,
    /// Console sign-in failures one client address (an IPv6 /64) may have before each further
    /// attempt waits out a back-off; 0 turns the limit off (behind a proxy every sign-in comes
    /// from the proxy's address).
    pub sign_in_failures_per_address: u32,
    /// The first sign-in back-off; it doubles with each further failure, up to 15 minutes.
    #[serde(with = "duration")]
    pub sign_in_backoff: Duration,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_webhooks_per_client: 100,
            monthly_notifications_per_client: 1_000_000,
            max_filters_per_webhook: 10,
            max_body_bytes: 1 << 20,
            max_attachment_bytes: 512 << 10,
            api_requests_per_client_per_s: 100,
            sign_in_failures_per_account: 5,
            sign_in_failures_per_address: 20,
            sign_in_backoff: Duration::from_secs(1),
        }
    }
}

/// `[retention]`: how long finished deliveries (with their attempts) and changes are kept; `0`
/// keeps them for good. Live deliveries (pending, retrying) are never purged, whatever their age.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Delivered deliveries, from their delivery.
    #[serde(with = "duration")]
    pub delivered: Duration,
    /// Failed, cancelled and quota-refused deliveries, from when they ended.
    #[serde(with = "duration")]
    pub failed: Duration,
    /// Accepted changes, from their acceptance.
    #[serde(with = "duration")]
    pub changes: Duration,
    /// Tombstones of deleted records (`GET /data/v1/{entity}/deleted`), from the deletion. A
    /// consumer down for longer must fetch every record again to find what was deleted.
    #[serde(with = "duration")]
    pub tombstones: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        const DAY: u64 = 24 * 3600;
        Self {
            delivered: Duration::from_secs(30 * DAY),
            failed: Duration::from_secs(90 * DAY),
            changes: Duration::from_secs(90 * DAY),
            tombstones: Duration::from_secs(90 * DAY),
        }
    }
}

/// `[metrics]`: delivery outcomes per tenant and per webhook in `/metrics`, off by default. A
/// series per owner would let a scrape grow with the tenants; `max_series` bounds each family.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// `cxhooks_tenant_deliveries_total{tenant, outcome}`.
    pub per_tenant: bool,
    /// `cxhooks_webhook_deliveries_total{tenant, webhook, outcome}`.
    pub per_webhook: bool,
    /// Tenants (and webhooks) counted under their own label at most, the first seen; the rest
    /// are counted together as `_other`.
    pub max_series: u32,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            per_tenant: false,
            per_webhook: false,
            max_series: 1000,
        }
    }
}

/// `[telemetry]`: OpenTelemetry traces, off unless `otlp_endpoint` is set: one span per publish
/// and one per delivery attempt, exported over OTLP/HTTP (protobuf) in batches.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// The collector's OTLP/HTTP base URL (`http://127.0.0.1:4318`); spans go to
    /// `{otlp_endpoint}/v1/traces`.
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the spans' resource.
    pub service_name: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            service_name: "cxhooks".into(),
        }
    }
}

/// `[catalog]`: entities and fields of the operator's own, for a source system other than
/// Carerix (or Carerix fields the shipped catalog lacks), merged into the shipped catalog.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogConfig {
    /// A JSON file in the shape of `carerix-fields.json` (`{"entities": {"hrperson": {"label",
    /// "fields": [{"path", "label", "type"}]}}}`), read and checked at start.
    pub file: Option<std::path::PathBuf>,
}

impl CatalogConfig {
    /// Reads `file` (if set) and merges it into this process's catalog; an unreadable or
    /// invalid file is an error that names it and says what is wrong.
    pub fn install(&self) -> Result<(), super::ConfigError> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let fail =
            |why: String| super::ConfigError(format!("catalog.file {}: {why}", file.display()));
        let text =
            std::fs::read_to_string(file).map_err(|e| fail(format!("cannot read it: {e}")))?;
        let extras = cxhooks_catalog::Catalog::from_json(&text).map_err(|e| {
            fail(format!(
                "{e}; it takes the shape of carerix-fields.json: {{\"entities\": {{\"hrperson\": \
                 {{\"label\": \"Person\", \"fields\": [{{\"path\": \"name\", \"label\": \"Name\", \
                 \"type\": \"string\"}}]}}}}}}"
            ))
        })?;
        cxhooks_catalog::Catalog::configure(extras).map_err(|e| fail(e.to_string()))?;
        Ok(())
    }
}
