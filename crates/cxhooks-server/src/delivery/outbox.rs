//! Publishing: the one path from accepted changes to stored deliveries, taken by the publish
//! API, every record-store write and the test ping.
//!
//! [`publish`]: match each change against the registry → serialise each notification once →
//! reserve this node's room to send at once ([`Handoff`]) → `Store::accept_changes` (changes,
//! deliveries, idempotency answer and record write in one transaction) → count → wake the
//! dispatcher for what was not handed off → hand off the rest, signed and sent from memory.
//! Nothing is acknowledged before that commit.

use super::payload::{Notification, NotificationData, NotificationMetadata, PING};
use super::worker::Handoff;
use crate::state::AppState;
use cxhooks_catalog::EventType;
use cxhooks_store::{
    Accept, AttemptRecord, ChangeId, DeliveryId, NewChange, NewDelivery, RecordWrite, StoreError,
    TenantName, Webhook,
};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::oneshot;
use utoipa::ToSchema;

/// A change as it is matched and published.
#[derive(Debug)]
pub struct ChangeEvent<'a> {
    /// `{entity}:{action}`.
    pub event_type: &'a EventType,
    /// The record's id.
    pub entity_id: &'a str,
    /// RFC 3339.
    pub time: &'a str,
    /// The record (after the change; before it, for deletions).
    pub data: &'a Value,
    /// The changed paths.
    pub paths: &'a [String],
    /// Groups the change put the record in (`metadata.groupsAdded`: ids and labels).
    pub groups_added: &'a [String],
    /// Groups the change took the record out of (`metadata.groupsRemoved`).
    pub groups_removed: &'a [String],
    /// An erasure's `deleted`: matched with the record as it was, stored without it, and
    /// notified with `metadata.erased`.
    pub erased: bool,
}

/// What to publish.
#[derive(Debug)]
pub struct Publish<'a> {
    /// The changes, in order.
    pub changes: &'a [ChangeEvent<'a>],
    /// The caller's `Idempotency-Key`, whose answer is stored with the changes.
    pub idempotency: Option<&'a IdempotencyKey<'a>>,
    /// The record write the (single) change comes from, committed with it.
    pub record: Option<&'a RecordWrite>,
    /// Acceptance time, microseconds since the epoch.
    pub at: i64,
}

/// A publish's `Idempotency-Key`: its client's own, and replaying only the request it came with.
#[derive(Debug)]
pub struct IdempotencyKey<'a> {
    /// The publishing client.
    pub client_id: &'a str,
    /// The key, as sent.
    pub key: &'a str,
    /// [`request_hash`] of the request.
    pub request_hash: String,
}

/// SHA-256 (base64url) of `body` normalised: object keys sorted, no insignificant whitespace.
/// Two requests with the same hash publish the same changes.
pub fn request_hash(body: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(map) => {
                let mut out: serde_json::Map<String, Value> =
                    map.iter().map(|(k, v)| (k.clone(), sorted(v))).collect();
                out.sort_keys();
                Value::Object(out)
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    let bytes = serde_json::to_vec(&sorted(body)).expect("serialisable");
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, digest)
}

/// The answer to a publish, stored as the idempotency answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// How many changes were accepted.
    pub accepted: usize,
    /// Their ids, in input order.
    pub ids: Vec<uuid::Uuid>,
}

/// How a publish ended.
#[derive(Debug)]
pub enum Published {
    /// Stored now, with every delivery it produced.
    Accepted(Accepted),
    /// The `Idempotency-Key` was used before: its first answer, as stored.
    Replayed(String),
}

/// Why a publish was not stored.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A concurrent publish with the same key committed, but its answer is not readable.
    #[error("idempotency conflict without a stored answer")]
    IdempotencyLost,
    /// The key was used before, by this client, for another request.
    #[error(
        "the Idempotency-Key '{0}' was used before with a different request: a retry must repeat          the request exactly; use a new key for a new request"
    )]
    KeyReused(String),
}

/// The first answer given for `key`, if its client used it before for this same request.
pub async fn replayed(
    state: &AppState,
    tenant: &TenantName,
    key: &IdempotencyKey<'_>,
) -> Result<Option<String>, PublishError> {
    match state
        .store
        .idempotent_answer(tenant, key.client_id, key.key)
        .await?
    {
        None => Ok(None),
        Some((hash, answer)) if hash == key.request_hash => Ok(Some(answer)),
        Some(_) => Err(PublishError::KeyReused(key.key.to_owned())),
    }
}

/// Stores `publish`'s changes and the deliveries they produce in one transaction, then starts
/// sending them. Answers only after the commit. With `[telemetry]`, one span records it.
pub async fn publish(
    state: &AppState,
    tenant: &TenantName,
    publish: Publish<'_>,
) -> Result<Published, PublishError> {
    let mut made = 0;
    let Some(telemetry) = state.telemetry.clone() else {
        return accept(state, tenant, publish, &mut made).await;
    };
    let started = std::time::SystemTime::now();
    let count = publish.changes.len();
    let result = accept(state, tenant, publish, &mut made).await;
    let outcome = match &result {
        Ok(Published::Accepted(_)) => "accepted",
        Ok(Published::Replayed(_)) => "replayed",
        Err(_) => "error",
    };
    telemetry.publish(tenant.as_str(), started, count, made, outcome);
    result
}

/// [`publish`]'s work; `made` is set to the number of deliveries the changes produced.
async fn accept(
    state: &AppState,
    tenant: &TenantName,
    publish: Publish<'_>,
    made: &mut usize,
) -> Result<Published, PublishError> {
    let mut changes = Vec::with_capacity(publish.changes.len());
    let mut deliveries = Vec::new();
    for change in publish.changes {
        let (stored, produced) = change.deliveries(state, tenant, publish.at);
        changes.push(stored);
        deliveries.extend(produced);
    }
    *made = deliveries.len();
    let accepted = Accepted {
        accepted: changes.len(),
        ids: changes.iter().map(|c| c.id.uuid()).collect(),
    };
    let answer = publish
        .idempotency
        .map(|_| serde_json::to_string(&accepted).expect("serialisable"));
    let handoff = Handoff::reserve(state, &deliveries);
    let stored = state
        .store
        .accept_changes(
            tenant,
            &Accept {
                changes: &changes,
                deliveries: &deliveries,
                quota: state.config.limits.monthly_notifications_per_client,
                idempotency: publish
                    .idempotency
                    .zip(answer.as_deref())
                    .map(|(k, answer)| cxhooks_store::Idempotency {
                        client_id: k.client_id,
                        key: k.key,
                        request_hash: &k.request_hash,
                        answer,
                    }),
                record: publish.record,
                lease: handoff.as_ref().map(Handoff::lease),
            },
            publish.at,
        )
        .await;
    let statuses = match stored {
        Ok(statuses) => statuses,
        // A concurrent publish with the same key won: answer as it did.
        Err(StoreError::Conflict(_)) if publish.idempotency.is_some() => {
            let key = publish.idempotency.expect("checked");
            return match replayed(state, tenant, key).await? {
                Some(first) => Ok(Published::Replayed(first)),
                None => Err(PublishError::IdempotencyLost),
            };
        }
        Err(e) => return Err(e.into()),
    };
    state.metrics.changes_accepted.inc_by(changes.len() as u64);
    if !deliveries.is_empty() && !handoff.as_ref().is_some_and(Handoff::took_all) {
        state.delivery.wake.notify_one();
    }
    if deliveries.iter().any(|d| d.held) {
        state.delivery.held_stored();
    }
    if let Some(handoff) = handoff {
        handoff
            .start(state, tenant.as_str(), deliveries, &statuses)
            .await;
    }
    Ok(Published::Accepted(accepted))
}

/// Stores a `cxhooks:ping` delivery to `hook` (outside the monthly quota) and wakes the
/// dispatcher; the receiver resolves with its first attempt.
pub async fn ping(
    state: &AppState,
    hook: &Webhook,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(DeliveryId, oneshot::Receiver<AttemptRecord>), StoreError> {
    let id = DeliveryId::now_v7();
    let time = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let payload = Notification {
        id,
        time: &time,
        event_type: PING,
        application_id: hook.application_id,
        webhook_id: hook.id,
        tenant: hook.tenant.as_str(),
        data: NotificationData {
            entity_id: "",
            changed_fields: &[],
        },
        metadata: None,
    };
    let delivery = NewDelivery {
        id,
        application_id: hook.application_id,
        webhook_id: hook.id,
        client_id: hook.audit.created_by.clone(),
        change_id: None,
        event_type: PING.into(),
        payload: payload.to_bytes(),
        created_at: now.timestamp_micros(),
        entity_key: None,
        held: hook.is_pull(),
    };
    // A pull webhook's ping is held for its feed: no attempt will come.
    let outcome = match hook.is_pull() {
        true => oneshot::channel().1,
        false => state.delivery.wait_for_attempt(id),
    };
    state
        .store
        .accept_changes(
            &hook.tenant,
            &Accept {
                changes: &[],
                deliveries: &[delivery],
                quota: u64::MAX,
                idempotency: None,
                record: None,
                lease: None,
            },
            now.timestamp_micros(),
        )
        .await?;
    state.delivery.wake.notify_one();
    if hook.is_pull() {
        state.delivery.held_stored();
    }
    Ok((id, outcome))
}

/// [`cxhooks_store::ChangeBody`], borrowed from the change being published.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BodyOf<'a> {
    data: &'a Value,
    paths: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    groups_added: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    groups_removed: &'a [String],
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    erased: bool,
}

impl ChangeEvent<'_> {
    /// What the store keeps of this change besides its id, type and entity: its JSON
    /// [`cxhooks_store::ChangeBody`].
    fn body(&self) -> Vec<u8> {
        // An erasure's change keeps none of the record.
        let nothing = Value::Object(serde_json::Map::new());
        let body = if self.erased {
            BodyOf {
                data: &nothing,
                paths: &[],
                groups_added: &[],
                groups_removed: &[],
                erased: true,
            }
        } else {
            BodyOf {
                data: self.data,
                paths: self.paths,
                groups_added: self.groups_added,
                groups_removed: self.groups_removed,
                erased: false,
            }
        };
        serde_json::to_vec(&body).expect("serialisable")
    }

    /// The change to store and one delivery per matching webhook, each notification serialised
    /// once, now.
    fn deliveries(
        &self,
        state: &AppState,
        tenant: &TenantName,
        at: i64,
    ) -> (NewChange, Vec<NewDelivery>) {
        // Version 7 (time-ordered) ids: the store's indexes on them grow at their end, packed,
        // rather than splitting pages all over (docs/performance.md, store bytes).
        let id = ChangeId::now_v7();
        let change =
            cxhooks_condition::Change::new(self.event_type, self.entity_id, self.data, self.paths)
                .with_groups(self.groups_added, self.groups_removed);
        let deliveries = state
            .delivery
            .registry
            .matching(tenant, &change)
            .into_iter()
            .map(|hook| {
                let delivery_id = DeliveryId::now_v7();
                let payload = Notification {
                    id: delivery_id,
                    time: self.time,
                    event_type: self.event_type.as_str(),
                    application_id: hook.application_id,
                    webhook_id: hook.id,
                    tenant: tenant.as_str(),
                    data: NotificationData {
                        entity_id: self.entity_id,
                        changed_fields: self.paths,
                    },
                    metadata: self.erased.then_some(NotificationMetadata { erased: true }),
                };
                NewDelivery {
                    id: delivery_id,
                    application_id: hook.application_id,
                    webhook_id: hook.id,
                    client_id: hook.client_id.clone(),
                    change_id: Some(id),
                    event_type: self.event_type.as_str().to_owned(),
                    payload: payload.to_bytes(),
                    created_at: at,
                    // Ordered webhooks' deliveries go one at a time per entity.
                    entity_key: hook
                        .ordered
                        .then(|| format!("{}/{}", self.event_type.entity(), self.entity_id)),
                    held: hook.pull,
                }
            })
            .collect();
        let stored = NewChange {
            id,
            event_type: self.event_type.as_str().to_owned(),
            entity_id: self.entity_id.to_owned(),
            accepted_at: at,
            body: cxhooks_store::pack::pack(&self.body()),
        };
        (stored, deliveries)
    }
}
