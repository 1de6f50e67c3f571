//! Group commit for publishes.
//!
//! Every commit of a publish is an fsync, and on SQLite there is one writer. Publishes that
//! arrive while a commit is running queue here; a committer takes every queued publish (up to
//! [`MAX_GROUP`]) and stores them in one transaction, so N concurrent publishes cost one commit
//! instead of N. SQLite has one committer; PostgreSQL several, committing side by side. A
//! publish is answered only after its group's commit: nothing is acknowledged before it is on
//! disk.

use crate::delivery::{Accept, DeliveryStatus, NewChange, NewDelivery};
use crate::records::RecordWrite;
use crate::{Store, StoreError, TenantName};
use tokio::sync::{mpsc, oneshot};

/// Publishes per group at most: enough to absorb a burst, few enough that one commit stays
/// short.
const MAX_GROUP: usize = 64;

/// Changes and deliveries per group at most (a group takes in one publish past it): a group's
/// rows are copied into the statements' values at once, and 64 publishes of 500 changes (and as
/// many deliveries) made a group of 64,000 rows: peak RSS 103 MB against 77 with this cap, with
/// 1,000,000 deliveries pending (`cxhooks bench --receiver-down`).
const MAX_GROUP_ROWS: usize = 4096;

/// One queued publish: an owned copy of what [`Store::accept_changes`] was given.
pub(crate) struct GroupItem {
    pub(crate) tenant: TenantName,
    changes: Vec<NewChange>,
    deliveries: Vec<NewDelivery>,
    /// The deliveries' payloads as stored, packed before they reach the committer.
    pub(crate) packed: Vec<Vec<u8>>,
    quota: u64,
    idempotency: Option<crate::IdempotencyOwned>,
    record: Option<RecordWrite>,
    /// [`crate::Lease`], owned: node, until, taken.
    lease: Option<(String, i64, Vec<bool>)>,
    pub(crate) now: i64,
    reply: oneshot::Sender<Result<Vec<DeliveryStatus>, StoreError>>,
}

impl GroupItem {
    /// How many rows the publish stores: its changes and deliveries.
    fn rows(&self) -> usize {
        self.changes.len() + self.deliveries.len()
    }

    pub(crate) fn accept(&self) -> Accept<'_> {
        Accept {
            changes: &self.changes,
            deliveries: &self.deliveries,
            quota: self.quota,
            idempotency: self
                .idempotency
                .as_ref()
                .map(crate::IdempotencyOwned::as_ref),
            record: self.record.as_ref(),
            lease: self
                .lease
                .as_ref()
                .map(|(node, until, taken)| crate::Lease {
                    node,
                    until: *until,
                    taken,
                }),
        }
    }
}

/// The handle publishes are queued through; the committer task ends when the last handle
/// (the last clone of the [`Store`]) is dropped.
#[derive(Debug, Clone)]
pub(crate) struct Committer {
    queue: mpsc::Sender<GroupItem>,
}

impl Committer {
    /// Starts `committers` committers on `store`, which must be a store without a committer
    /// (they write directly). They take groups from one queue, one after the other.
    pub(crate) fn spawn(store: Store, committers: usize) -> Self {
        let (queue, rx) = mpsc::channel(4 * MAX_GROUP);
        let rx = std::sync::Arc::new(tokio::sync::Mutex::new(rx));
        for _ in 0..committers.max(1) {
            tokio::spawn(run(store.clone(), rx.clone()));
        }
        Self { queue }
    }

    /// Queues a publish and waits for the commit of its group.
    pub(crate) async fn accept(
        &self,
        tenant: &TenantName,
        accept: &Accept<'_>,
        now: i64,
    ) -> Result<Vec<DeliveryStatus>, StoreError> {
        let (reply, answer) = oneshot::channel();
        let item = GroupItem {
            tenant: tenant.clone(),
            changes: accept.changes.to_vec(),
            deliveries: accept.deliveries.to_vec(),
            packed: crate::pack::pack_all(accept.deliveries),
            quota: accept.quota,
            idempotency: accept.idempotency.map(Into::into),
            record: accept.record.cloned(),
            lease: accept
                .lease
                .map(|l| (l.node.to_owned(), l.until, l.taken.to_vec())),
            now,
            reply,
        };
        let gone = || StoreError::Open("the store's committer has stopped".into());
        self.queue.send(item).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn run(store: Store, queue: std::sync::Arc<tokio::sync::Mutex<mpsc::Receiver<GroupItem>>>) {
    loop {
        // The queue is held only while taking a group, not while writing it.
        let group = {
            let mut rx = queue.lock().await;
            let Some(first) = rx.recv().await else { return };
            let mut rows = first.rows();
            let mut group = vec![first];
            while group.len() < MAX_GROUP && rows < MAX_GROUP_ROWS {
                match rx.try_recv() {
                    Ok(item) => {
                        rows += item.rows();
                        group.push(item);
                    }
                    Err(_) => break,
                }
            }
            group
        };
        match store.accept_group(&group).await {
            Ok(results) => {
                for (item, result) in group.into_iter().zip(results) {
                    let _ = item.reply.send(result);
                }
            }
            Err(e) => {
                // Nothing of the group was committed: every publish in it is told so.
                let message = e.to_string();
                let unavailable = matches!(e, StoreError::Unavailable(_));
                for item in group {
                    let e = if unavailable {
                        StoreError::Unavailable(message.clone())
                    } else {
                        StoreError::Database(sqlx::Error::Protocol(message.clone()))
                    };
                    let _ = item.reply.send(Err(e));
                }
            }
        }
    }
}
