//! The notification: built and serialised once, when the change is accepted. Those exact bytes
//! are stored, signed, sent and re-sent.

use cxhooks_store::{ApplicationId, DeliveryId, WebhookId};
use serde::Serialize;

/// The notification body of SPEC §6, fields in the documented order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification<'a> {
    /// Unique per (change, webhook); the consumer's idempotency key.
    pub id: DeliveryId,
    /// The change's time, RFC 3339 UTC.
    pub time: &'a str,
    /// `{entity}:{action}`, or `cxhooks:ping`.
    #[serde(rename = "type")]
    pub event_type: &'a str,
    /// The webhook's application.
    pub application_id: ApplicationId,
    /// The matched webhook.
    pub webhook_id: WebhookId,
    /// The tenant.
    pub tenant: &'a str,
    /// What changed.
    pub data: NotificationData<'a>,
    /// Only on the `{entity}:deleted` of an erasure: `{"erased": true}`, so that replicas
    /// erase the record too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<NotificationMetadata>,
}

/// `metadata` of a notification.
#[derive(Debug, Serialize)]
pub struct NotificationMetadata {
    /// The record was erased (GDPR art. 17), not only deleted.
    pub erased: bool,
}

/// `data` of a notification.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationData<'a> {
    /// The record's id (empty for a ping).
    pub entity_id: &'a str,
    /// The changed paths, in the order the change gave them.
    pub changed_fields: &'a [String],
}

impl Notification<'_> {
    /// The bytes that are signed and sent.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a notification serialises")
    }
}

/// The event type of test deliveries.
pub const PING: &str = "cxhooks:ping";
