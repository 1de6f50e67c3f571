//! Applications and webhooks: their types here (a webhook's delivery limits in [`limits`]),
//! their rows in [`rows`], their reads and writes in [`applications`] and [`webhooks`]. Every write that changes what a node delivers
//! bumps the configuration version in its own transaction, so every node reloads.

mod applications;
mod limits;
pub use limits::{MaxInFlight, MaxPerSecond};
mod rows;
pub(crate) use rows::{BUMP_CONFIG, LOG_CONFIG, bump_config};
mod webhooks;

use crate::model::*;
use crate::{ApplicationId, StoreError, WebhookId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Who created and last changed an object, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audit {
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Client id of the creator: what `owner` permissions compare with.
    pub created_by: String,
    /// Last change time.
    pub updated_at: DateTime<Utc>,
    /// Client id of the last changer.
    pub updated_by: String,
}

impl Audit {
    /// A new object's audit fields.
    pub fn new(by: &str, at: DateTime<Utc>) -> Self {
        Self {
            created_at: at,
            created_by: by.to_owned(),
            updated_at: at,
            updated_by: by.to_owned(),
        }
    }

    /// Marks a change.
    pub fn touch(&mut self, by: &str, at: DateTime<Utc>) {
        self.updated_at = at;
        self.updated_by = by.to_owned();
    }
}

/// An application: a named collection of webhooks sharing one RSA key pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    /// The tenant.
    pub tenant: TenantName,
    /// Its id.
    pub id: ApplicationId,
    /// Human name.
    pub name: String,
    /// Modulus size of its key.
    pub key_bits: u32,
    /// PKCS#8 private key sealed with the master key.
    pub sealed_private_key: Vec<u8>,
    /// SubjectPublicKeyInfo DER: the `secret` consumers verify with.
    pub public_key: Vec<u8>,
    /// Which signatures its deliveries carry.
    pub signature_scheme: SignatureScheme,
    /// Its Standard Webhooks secret, sealed with the master key; `Some` exactly under
    /// [`SignatureScheme::CxStandard`].
    pub sealed_standard_secret: Option<Vec<u8>>,
    /// Its JWKS is also served without authentication, at a public URL, for receivers that
    /// fetch keys by `Cx-Signature-Key-Id` (off unless the application opts in).
    pub public_jwks: bool,
    /// Audit fields.
    pub audit: Audit,
}

/// Which signatures an application's deliveries carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SignatureScheme {
    /// `Cx-Signature` only (the seed documents' scheme).
    #[default]
    #[serde(rename = "cx")]
    Cx,
    /// `Cx-Signature` and Standard Webhooks' `webhook-id`, `webhook-timestamp` and
    /// `webhook-signature`.
    #[serde(rename = "cx+standard")]
    CxStandard,
}

impl SignatureScheme {
    /// Every scheme, in a stable order.
    pub const ALL: [SignatureScheme; 2] = [SignatureScheme::Cx, SignatureScheme::CxStandard];

    /// As the API and the store write it: `cx` or `cx+standard`.
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureScheme::Cx => "cx",
            SignatureScheme::CxStandard => "cx+standard",
        }
    }

    /// The scheme written `text`, if any.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// One filter of a webhook, as given (the condition is compiled by the caller).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    /// `{entity}:{action}`.
    pub event_type: String,
    /// Condition text, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}

/// A custom header sent with every delivery of a webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomHeader {
    /// Header name.
    pub name: String,
    /// Header value (may be a credential: stored sealed, never logged).
    pub value: String,
}

/// A webhook's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookStatus {
    /// Receives deliveries.
    Enabled,
    /// Switched off by a client.
    Disabled,
    /// Switched off by cxhooks after failing for too long, or after `410 Gone`.
    Error,
}

impl WebhookStatus {
    /// The lower-case word.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookStatus::Enabled => "enabled",
            WebhookStatus::Disabled => "disabled",
            WebhookStatus::Error => "error",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "enabled" => Ok(Self::Enabled),
            "disabled" => Ok(Self::Disabled),
            "error" => Ok(Self::Error),
            other => Err(StoreError::Corrupt(format!(
                "unknown webhook status '{other}'"
            ))),
        }
    }
}

/// A webhook. Custom headers are kept sealed by the caller (`sealed_custom_headers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// The tenant.
    pub tenant: TenantName,
    /// Its id.
    pub id: WebhookId,
    /// The application it belongs to.
    pub application_id: ApplicationId,
    /// Where deliveries go; empty for a pull webhook, whose consumer reads its feed.
    pub url: String,
    /// What it is for, in the owner's words (at most 500 characters); `None`: not given.
    pub description: Option<String>,
    /// Its filters.
    pub filters: Vec<Filter>,
    /// The custom headers as JSON, sealed with the master key.
    pub sealed_custom_headers: Vec<u8>,
    /// How it authenticates to its receiver (OAuth2 or a client certificate, with their
    /// secrets), as JSON sealed with the master key; `None`: it does not.
    pub sealed_auth: Option<Vec<u8>>,
    /// Its status.
    pub status: WebhookStatus,
    /// At most this many of its deliveries in flight at once; `None`: the configured
    /// `delivery.max_in_flight_per_webhook`.
    pub max_in_flight: Option<MaxInFlight>,
    /// At most this many of its deliveries started per second; `None`: no limit.
    pub max_per_second: Option<MaxPerSecond>,
    /// Deliveries of one entity (event type's entity and `entityId`) are sent one at a time,
    /// in the order their changes were accepted.
    pub ordered: bool,
    /// Audit fields.
    pub audit: Audit,
}

impl Webhook {
    /// A pull webhook: no url, its deliveries held for its feed.
    pub fn is_pull(&self) -> bool {
        self.url.is_empty()
    }
}

/// A page request: at most `limit` objects after `after` (in creation order).
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// Page size.
    pub limit: u32,
    /// Position of the last object of the previous page: (created_at µs, id).
    pub after: Option<(i64, String)>,
    /// Only objects created by this client (`read: owner`).
    pub created_by: Option<String>,
}

impl Page {
    // The limit plus one: the extra row tells whether another page follows.
    fn fetch(&self) -> i64 {
        i64::from(self.limit) + 1
    }
    fn after_at(&self) -> i64 {
        self.after.as_ref().map_or(i64::MIN, |a| a.0)
    }
    fn after_id(&self) -> &str {
        self.after.as_ref().map_or("", |a| a.1.as_str())
    }
}

/// One page of objects and whether more follow.
#[derive(Debug, Clone)]
pub struct Paged<T> {
    /// The objects.
    pub items: Vec<T>,
    /// True if another page follows the last item.
    pub more: bool,
}

impl<T> Paged<T> {
    fn from_rows(mut items: Vec<T>, page: &Page) -> Self {
        let more = items.len() > page.limit as usize;
        items.truncate(page.limit as usize);
        Self { items, more }
    }
}
