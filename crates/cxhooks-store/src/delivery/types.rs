//! The values the outbox takes in and gives back: what a publish stores, what a claim hands
//! out, what an attempt writes back, what the request log shows.

use crate::{ApplicationId, ChangeId, DeliveryId, WebhookId};

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not attempted yet (or redelivery requested).
    Pending,
    /// A 2xx answer was received.
    Delivered,
    /// Attempted, failed, more attempts scheduled.
    Retrying,
    /// Every scheduled attempt failed (or the receiver answered 410 Gone).
    Failed,
    /// Its webhook or application was deleted or disabled before it was delivered.
    Cancelled,
    /// Past the client's monthly notification quota: recorded, not sent.
    QuotaExceeded,
    /// A pull webhook's: kept for its consumer to read from the feed, never sent.
    Held,
}

impl DeliveryStatus {
    /// Every status, for validation messages.
    pub const ALL: [DeliveryStatus; 7] = [
        Self::Pending,
        Self::Delivered,
        Self::Retrying,
        Self::Failed,
        Self::Cancelled,
        Self::QuotaExceeded,
        Self::Held,
    ];

    /// The word used in the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Retrying => "retrying",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::QuotaExceeded => "quota_exceeded",
            Self::Held => "held",
        }
    }

    /// Parses the word.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether more attempts are to come (`pending` or `retrying`).
    pub fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::Retrying)
    }
}

/// A stored status that is none of [`DeliveryStatus::ALL`].
#[derive(Debug, thiserror::Error)]
#[error("'{0}' is not a delivery status")]
pub struct UnknownStatus(String);

impl TryFrom<String> for DeliveryStatus {
    type Error = UnknownStatus;
    fn try_from(s: String) -> Result<Self, UnknownStatus> {
        Self::parse(&s).ok_or(UnknownStatus(s))
    }
}

/// An accepted change.
#[derive(Debug, Clone)]
pub struct NewChange {
    /// Change id.
    pub id: ChangeId,
    /// `{entity}:{action}`.
    pub event_type: String,
    /// The record's id.
    pub entity_id: String,
    /// Acceptance time, µs.
    pub accepted_at: i64,
    /// The change's `data` and metadata as JSON ([`ChangeBody`]), packed with [`crate::pack`]:
    /// kept for backtests and erasure as long as the change is (`retention.changes`).
    pub body: Vec<u8>,
}

/// What a stored change keeps of its publish besides its id, type, entity and time: the JSON
/// of its `body` column, unpacked.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeBody {
    /// The record (after the change; before it, for deletions).
    #[serde(default)]
    pub data: serde_json::Value,
    /// The changed paths (`metadata.paths`).
    #[serde(default)]
    pub paths: Vec<String>,
    /// `metadata.groupsAdded`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups_added: Vec<String>,
    /// `metadata.groupsRemoved`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups_removed: Vec<String>,
    /// The record was erased (a `deleted` change that keeps none of its data).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub erased: bool,
}

/// A delivery to create.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    /// The notification id (`id` of the payload), stable across retries.
    pub id: DeliveryId,
    /// Its application.
    pub application_id: ApplicationId,
    /// Its webhook.
    pub webhook_id: WebhookId,
    /// The client that created the webhook: whose monthly quota it counts against.
    pub client_id: String,
    /// The change it notifies (none for a ping).
    pub change_id: Option<ChangeId>,
    /// Event type.
    pub event_type: String,
    /// The exact bytes that will be sent and signed (stored compressed, given back as they are).
    pub payload: Vec<u8>,
    /// Creation time, µs; the first attempt is due then.
    pub created_at: i64,
    /// For a webhook that delivers in entity order (`ordered`): the entity the change is about
    /// (`{entity type}/{entityId}`), whose deliveries go one at a time in change order. `None`
    /// for every other webhook.
    pub entity_key: Option<String>,
    /// A pull webhook's: stored `held` for its feed, never leased nor sent.
    pub held: bool,
}

/// A publish's `Idempotency-Key` and what it answered: the key is its client's own, and it
/// replays only a request with the same hash.
#[derive(Debug, Clone, Copy)]
pub struct Idempotency<'a> {
    /// The publishing client.
    pub client_id: &'a str,
    /// The key.
    pub key: &'a str,
    /// The hash of the (normalised) request.
    pub request_hash: &'a str,
    /// The answer given.
    pub answer: &'a str,
}

/// [`Idempotency`], owned.
#[derive(Debug, Clone)]
pub struct IdempotencyOwned {
    /// The publishing client.
    pub client_id: String,
    /// The key.
    pub key: String,
    /// The hash of the (normalised) request.
    pub request_hash: String,
    /// The answer given.
    pub answer: String,
}

impl IdempotencyOwned {
    /// Borrowed.
    pub fn as_ref(&self) -> Idempotency<'_> {
        Idempotency {
            client_id: &self.client_id,
            key: &self.key,
            request_hash: &self.request_hash,
            answer: &self.answer,
        }
    }
}

impl From<Idempotency<'_>> for IdempotencyOwned {
    fn from(i: Idempotency<'_>) -> Self {
        Self {
            client_id: i.client_id.to_owned(),
            key: i.key.to_owned(),
            request_hash: i.request_hash.to_owned(),
            answer: i.answer.to_owned(),
        }
    }
}

/// What one publish stores: see [`Store::accept_changes`](crate::Store::accept_changes).
#[derive(Debug, Clone, Copy)]
pub struct Accept<'a> {
    /// The accepted changes.
    pub changes: &'a [NewChange],
    /// The deliveries they produced.
    pub deliveries: &'a [NewDelivery],
    /// Monthly notifications per client (the webhook's creator).
    pub quota: u64,
    /// The `Idempotency-Key` to remember, with its answer.
    pub idempotency: Option<Idempotency<'a>>,
    /// The record write that produced the change (record store), if any.
    pub record: Option<&'a crate::records::RecordWrite>,
    /// Deliveries the publishing node takes on itself, if any.
    pub lease: Option<Lease<'a>>,
}

/// Deliveries stored already claimed by the node that accepts them: it sends them from memory,
/// with no claim to write or read back. If it dies first, the lease runs out and another node
/// claims them, as it would any claim of a dead node.
#[derive(Debug, Clone, Copy)]
pub struct Lease<'a> {
    /// The node's id (`lease_owner` in the store).
    pub node: &'a str,
    /// When the lease ends, µs.
    pub until: i64,
    /// Which deliveries, by position in [`Accept::deliveries`], the node takes; those past
    /// their client's quota are stored unclaimed whatever this says.
    pub taken: &'a [bool],
}

/// A delivery claimed for sending.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedDelivery {
    /// Notification id.
    #[sqlx(try_from = "crate::id::IdText")]
    pub id: DeliveryId,
    /// Tenant.
    pub tenant: String,
    /// Application.
    #[sqlx(try_from = "crate::id::IdText")]
    pub application_id: ApplicationId,
    /// Webhook.
    #[sqlx(try_from = "crate::id::IdText")]
    pub webhook_id: WebhookId,
    /// Payload bytes.
    #[sqlx(try_from = "crate::pack::Packed")]
    pub payload: Vec<u8>,
    /// Signature, once signed.
    pub signature: Option<String>,
    /// Attempts so far (all series).
    pub attempts: i64,
    /// Attempts in the current series.
    pub series_attempts: i64,
    /// First attempt of the current series, µs.
    pub series_started: Option<i64>,
}

/// One attempt as recorded.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AttemptRecord {
    /// 1-based over the delivery's whole life.
    pub n: i64,
    /// Start, µs.
    pub at: i64,
    /// Duration, µs.
    pub duration_us: i64,
    /// HTTP status, if an answer came.
    pub status_code: Option<i64>,
    /// Network error, if no answer came (or why the answer counts as a failure).
    pub error: Option<String>,
    /// First 4 KiB of the answer.
    pub response_body: String,
}

/// What happens to a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Done.
    Delivered,
    /// Try again at this time (µs).
    Retry(i64),
    /// No more attempts.
    Failed,
    /// The receiver answered 410 Gone: fail this one, put the webhook in `error`, cancel the
    /// webhook's other pending deliveries.
    Gone,
    /// The webhook is gone or disabled: not sent.
    Cancelled,
}

/// The outcome of one attempt, to write back.
#[derive(Debug, Clone)]
pub struct DeliveryOutcome {
    /// The delivery.
    pub delivery_id: DeliveryId,
    /// Its webhook.
    pub webhook_id: WebhookId,
    /// The node that claimed it (the outcome of a lost lease is ignored).
    pub node: String,
    /// The attempt, unless nothing was sent.
    pub attempt: Option<AttemptRecord>,
    /// The signature used, to keep for retries.
    pub signature: Option<String>,
    /// What next.
    pub next: Next,
    /// When the series started (first attempt), µs.
    pub series_started: i64,
}

/// A delivery as the request log shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRecord {
    /// Notification id.
    #[sqlx(try_from = "crate::id::IdText")]
    pub id: DeliveryId,
    /// Application.
    #[sqlx(try_from = "crate::id::IdText")]
    pub application_id: ApplicationId,
    /// Webhook.
    #[sqlx(try_from = "crate::id::IdText")]
    pub webhook_id: WebhookId,
    /// Change, if any.
    #[sqlx(try_from = "crate::id::MaybeIdText")]
    pub change_id: Option<ChangeId>,
    /// Event type.
    #[sqlx(rename = "type")]
    pub event_type: String,
    /// Payload bytes.
    #[sqlx(try_from = "crate::pack::Packed")]
    pub payload: Vec<u8>,
    /// Status word.
    #[sqlx(try_from = "String")]
    pub status: DeliveryStatus,
    /// Attempts so far.
    pub attempts: i64,
    /// Next attempt due, µs (meaningful while pending or retrying).
    pub next_attempt_at: i64,
    /// Created, µs.
    pub created_at: i64,
    /// Last change, µs.
    pub updated_at: i64,
}

/// Filters of the request log.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    /// Only this webhook.
    pub webhook_id: Option<String>,
    /// Only this event type.
    pub event_type: Option<String>,
    /// Only this status.
    pub status: Option<DeliveryStatus>,
    /// Created at or after, µs.
    pub since: Option<i64>,
    /// Created before, µs.
    pub until: Option<i64>,
    /// Only deliveries of this change.
    pub change_id: Option<String>,
    /// Only deliveries of changes to a record with this id (of any entity).
    pub entity_id: Option<String>,
}

/// What a completion batch changed about webhooks.
#[derive(Debug, Default)]
pub struct WebhookEffects {
    /// Webhooks set to `error` (410 Gone, or failing past the threshold).
    pub errored: Vec<WebhookId>,
}

/// The columns of [`ClaimedDelivery`], for `RETURNING`.
macro_rules! claimed_columns {
    () => {
        "id, tenant, application_id, webhook_id, payload, signature, attempts, series_attempts, series_started"
    };
}
pub(crate) use claimed_columns;
