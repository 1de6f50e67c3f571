//! Delivery: from an accepted change to a receiver's answer.
//!
//! - [`outbox`]: publishing: match, serialise, store in one transaction, hand off, wake.
//! - [`payload`]: the notification, serialised once when the change is accepted.
//! - [`registry`]: webhooks and their compiled filters in memory, and application keys.
//! - [`policy`]: when to retry (offsets from the first attempt; `Retry-After` bounded).
//! - [`sender`]: one HTTP attempt, with outbound safety.
//! - [`worker`]: the dispatcher (claim due deliveries with a lease, sign those not signed yet
//!   off the async workers, send within the per-webhook in-flight limit) and the completer
//!   (write outcomes back in batches, one transaction each).
//!
//! The store is the queue: nothing is only in memory, so a process killed at any instant
//! loses nothing. ClaimedDelivery work it had not completed is claimed again when its lease expires
//! (at once, at start-up, on the single-node SQLite store).

pub mod auth;
pub mod outbox;
pub mod payload;
pub mod policy;
pub mod registry;
pub mod sender;
pub mod worker;

use cxhooks_store::{AttemptRecord, DeliveryId};
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::{Notify, oneshot};

/// Delivery state shared by the API and the workers.
#[derive(Debug)]
pub struct Delivery {
    /// Webhooks and keys in memory.
    pub registry: registry::Registry,
    /// The HTTP client.
    pub sender: sender::Sender,
    /// Wakes the dispatcher when new deliveries are stored.
    pub wake: Notify,
    /// Counts this node's commits of held deliveries: wakes the feeds' long polls (another
    /// node's commits are found by polling, see `service::feed`).
    pub held: tokio::sync::watch::Sender<u64>,
    /// This node's lease owner id.
    pub node: String,
    /// The dispatcher's limits and queues, once the workers run.
    pub pipeline: std::sync::OnceLock<worker::Pipeline>,
    waiters: Mutex<HashMap<DeliveryId, oneshot::Sender<AttemptRecord>>>,
}

impl Delivery {
    /// Delivery state for a node.
    pub fn new(registry: registry::Registry, sender: sender::Sender) -> Self {
        Self {
            registry,
            sender,
            wake: Notify::new(),
            held: tokio::sync::watch::Sender::new(0),
            node: format!("{:016x}", uuid::Uuid::new_v4().as_u64_pair().1),
            pipeline: std::sync::OnceLock::new(),
            waiters: Mutex::new(HashMap::new()),
        }
    }

    /// Resolves when the next attempt of `delivery_id` has been recorded.
    pub fn wait_for_attempt(&self, delivery_id: DeliveryId) -> oneshot::Receiver<AttemptRecord> {
        let (tx, rx) = oneshot::channel();
        self.waiters.lock().expect("lock").insert(delivery_id, tx);
        rx
    }

    /// Says that held deliveries were committed: the feeds' long polls look again.
    pub fn held_stored(&self) {
        self.held.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn attempted(&self, delivery_id: DeliveryId, attempt: &AttemptRecord) {
        if let Some(tx) = self.waiters.lock().expect("lock").remove(&delivery_id) {
            let _ = tx.send(attempt.clone());
        }
    }
}

/// How many threads sign deliveries at once: one per core (what `cxhooks bench --sign-only`
/// also uses).
pub fn signing_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}
