//! Retention: finished deliveries (with their attempts) and changes older than the configured
//! retention are deleted in small batches, walking the deliveries' primary key, so that the
//! store stays flat under a steady load. Live deliveries (pending, retrying) are never purged.

use crate::id::Id;
use crate::{DeliveryId, Store, StoreError, on_pool, on_writer};

/// What a purge may delete: finished deliveries whose last update is older than these times
/// (µs). `None` keeps them all.
#[derive(Debug, Clone, Copy, Default)]
pub struct Purge {
    /// Delivered deliveries last updated before this, and pull webhooks' held ones created
    /// before it once numbered (a cursor before a purged number answers 410; an unnumbered one
    /// is kept until numbered, see `Store::number_all_feeds`, so none goes unnoticed).
    pub delivered_before: Option<i64>,
    /// Failed, cancelled and quota-refused deliveries last updated before this.
    pub failed_before: Option<i64>,
}

/// What one batch of a purge did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Deliveries deleted (their attempts with them).
    pub deliveries: u64,
    /// Where the next batch starts; `None`: the pass is over (start the next from the oldest).
    pub next: Option<DeliveryId>,
}

/// The smallest version-7 id of millisecond `us / 1000`: every time-ordered id created at or
/// after that time sorts after it, on both backends (text and `uuid` order agree).
pub(crate) fn first_id_at(us: i64) -> uuid::Uuid {
    let ms = u128::try_from(us.max(0) / 1_000).unwrap_or(0) & ((1 << 48) - 1);
    uuid::Uuid::from_u128(ms << 80)
}

/// The finished deliveries of a batch (`$1` < id ≤ `$2`) past their retention (`$3` for
/// delivered ones, `$4` for the rest).
macro_rules! purged_rows {
    () => {
        "WHERE id > $1 AND id <= $2 AND (\
         (status = 'delivered' AND updated_at < $3) OR \
         (status = 'held' AND feed_seq IS NOT NULL AND updated_at < $3) OR \
         (status IN ('failed', 'cancelled', 'quota_exceeded') AND updated_at < $4))"
    };
}

impl Store {
    /// One batch of a purge pass: looks at up to `batch` deliveries after `after` (in id
    /// order: creation order, ids being time-ordered) created before the later of the two
    /// retention times, and deletes those that are finished and past their retention. The pass
    /// is over (`next` is `None`) after a batch that found fewer than `batch`. Each
    /// batch is one short write, off the delivery path, so a purge running costs deliveries
    /// little.
    pub async fn purge_batch(
        &self,
        purge: &Purge,
        after: Option<DeliveryId>,
        batch: u32,
    ) -> Result<Purged, StoreError> {
        let mut purged = Purged::default();
        let newest = purge.delivered_before.max(purge.failed_before);
        if let Some(newest) = newest {
            let start = after.map_or(uuid::Uuid::nil(), DeliveryId::uuid);
            let window: Vec<crate::id::IdText> = on_pool!(self, |pool| {
                sqlx::query_scalar(
                    "SELECT id FROM deliveries WHERE id > $1 AND id < $2 ORDER BY id LIMIT $3",
                )
                .bind(Id::from(start))
                .bind(Id::from(first_id_at(newest)))
                .bind(i64::from(batch))
                .fetch_all(pool)
                .await
            })?;
            // A batch that is not full ends the pass: under a steady load, deliveries keep
            // passing their retention, and a pass that chased them would never end (nor let
            // the changes be purged after it).
            let full = window.len() == batch as usize;
            let end = window.into_iter().next_back();
            if let Some(end) = end {
                let end = DeliveryId::try_from(end)
                    .map_err(|e| StoreError::Corrupt(format!("a stored delivery id: {e}")))?;
                // SQLite's attempts go with their delivery (a cascading key); PostgreSQL's no
                // longer do (they stay when a delivery moves to the log), so they go here.
                let sql = match self.kind() {
                    crate::Backend::Sqlite => concat!("DELETE FROM deliveries ", purged_rows!()),
                    crate::Backend::Postgres => concat!(
                        "WITH gone AS (DELETE FROM deliveries ",
                        purged_rows!(),
                        " RETURNING id), a AS (DELETE FROM attempts WHERE delivery_id IN \
                         (SELECT id FROM gone)) SELECT id FROM gone"
                    ),
                };
                purged.deliveries = on_writer!(self, |pool| {
                    sqlx::query(sql)
                        .bind(Id::from(start))
                        .bind(Id::from(end))
                        .bind(purge.delivered_before.unwrap_or(i64::MIN))
                        .bind(purge.failed_before.unwrap_or(i64::MIN))
                        .execute(pool)
                        .await
                        .map(|r| r.rows_affected())
                })?;
                purged.next = full.then_some(end);
                return Ok(purged);
            }
        }
        Ok(purged)
    }

    /// Deletes up to `batch` of the changes accepted before `before` (µs), oldest first;
    /// returns how many.
    pub async fn purge_changes(&self, before: i64, batch: u32) -> Result<u64, StoreError> {
        Ok(on_writer!(self, |pool| {
            sqlx::query(
                "DELETE FROM changes WHERE id IN (SELECT id FROM changes WHERE id < $1 \
                 ORDER BY id LIMIT $2)",
            )
            .bind(Id::from(first_id_at(before)))
            .bind(i64::from(batch))
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_id_of_a_millisecond_sorts_before_every_id_made_then_and_after() {
        // The id is made between two reads of the clock: on a loaded machine more than a
        // millisecond can pass between one read and the id (CI failed so).
        let before = chrono::Utc::now().timestamp_micros();
        let made = uuid::Uuid::now_v7();
        let after = chrono::Utc::now().timestamp_micros();
        assert!(first_id_at(before - 1_000) < made);
        assert!(first_id_at(after + 1_000) > made);
        assert!(first_id_at(before - 1_000).to_string() < made.to_string());
    }
}
