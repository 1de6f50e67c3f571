//! PostgreSQL's log of finished deliveries, partitioned by expiry (migration "delivery log").
//!
//! A delivery leaves the queue (`deliveries`) for `delivery_log` in the statement that finishes
//! it, with `expires_at` = when its retention ends. The nodes make the log's partitions ahead
//! ([`Store::prepare_log`]) and drop those whose whole range has expired
//! ([`Store::drop_expired_log`]): the purge of a steady load is then one `DROP TABLE` per
//! partition instead of a delete per row, and the queue holds live deliveries only. SQLite
//! keeps finished deliveries in the queue table (see `purge`).

use crate::id::Id;
use crate::{ApplicationId, DeliveryId, Store, StoreError, TenantName};
use sqlx::AssertSqlSafe;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// `INSERT INTO deliveries` of the rows a `DELETE FROM delivery_log … RETURNING *` named `l`
/// took out of the log: the queue's columns, in its order.
macro_rules! requeue_from_l {
    () => {
        "INSERT INTO deliveries SELECT id, tenant, application_id, webhook_id, change_id, \
         type, payload, signature, status, attempts, series_attempts, series_started, \
         next_attempt_at, lease_until, lease_owner, created_at, updated_at, attempt_at, \
         attempt_duration_us, attempt_status_code, attempt_error, attempt_response_body, \
         entity_key FROM l"
    };
}

/// The columns the queue and the log share, in order (the queue's `feed_seq` is not logged).
const LOG_COLUMNS: &str = "id, tenant, application_id, webhook_id, change_id, type, payload, \
     signature, status, attempts, series_attempts, series_started, next_attempt_at, lease_until, \
     lease_owner, created_at, updated_at, attempt_at, attempt_duration_us, attempt_status_code, \
     attempt_error, attempt_response_body, entity_key";
pub(crate) use requeue_from_l;

/// `expires_at` of a delivery kept for good: the only value of `delivery_log_forever`.
pub(crate) const FOREVER: i64 = i64::MAX;
/// Serialises the nodes' partition work (any constant the store uses for nothing else).
const PARTS_LOCK: i64 = 0x6378_6c6f_6750;
/// Partition widths: an eighth of the shorter retention, so that a delivery outlives its
/// retention by at most that; but at least a 64th of the longer one, so that the log holds at
/// most 66 partitions; and within these bounds. The default retention (30 and 90 days) makes
/// day-wide partitions, 10 minutes 75-second ones.
const MIN_WIDTH_US: i64 = 1_000_000;
const MAX_WIDTH_US: i64 = 86_400_000_000;

/// The width of the partitions for retentions of `shortest` and `longest` µs (both above 0).
fn width(shortest: i64, longest: i64) -> i64 {
    (shortest / 8)
        .max(longest / 64)
        .clamp(MIN_WIDTH_US, MAX_WIDTH_US)
}

/// What the finishing statements need to know of the log: how long each outcome is kept and
/// how far the made partitions reach. Until [`Store::prepare_log`] has run, everything is kept
/// for good (in `delivery_log_forever`, which the migration made).
#[derive(Debug, Default)]
pub(crate) struct LogWindow {
    /// µs; 0 keeps for good.
    delivered_keep: AtomicI64,
    failed_keep: AtomicI64,
    /// The end of the last partition made (exclusive, µs); 0 before any.
    covered_until: AtomicI64,
}

impl LogWindow {
    /// `expires_at` for a delivery finished at `now`, delivered or not. Clamped into the
    /// partitions made, so that an insert always finds one even if the nodes fell behind making
    /// them (they make them two widths ahead of need).
    pub(crate) fn expiry(&self, delivered: bool, now: i64) -> i64 {
        let keep = if delivered {
            &self.delivered_keep
        } else {
            &self.failed_keep
        }
        .load(Ordering::Relaxed);
        let covered = self.covered_until.load(Ordering::Relaxed);
        if keep == 0 || covered == 0 {
            return FOREVER;
        }
        now.saturating_add(keep).min(covered - 1)
    }
}

/// How long the log keeps each outcome ([`Store::prepare_log`]); `None` keeps for good.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogRetention {
    /// Delivered deliveries, from their delivery.
    pub delivered: Option<Duration>,
    /// Failed, cancelled and quota-refused deliveries, from when they ended.
    pub failed: Option<Duration>,
}

fn micros(d: Option<Duration>) -> i64 {
    d.map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Moves the deliveries `$ids` (an iterator of [`DeliveryId`]) that are finished from the queue
/// to the log, inside the caller's transaction `$tx`, on PostgreSQL; nothing on SQLite.
macro_rules! move_finished {
    ($store:expr, $tx:expr, $ids:expr, $now:expr) => {{
        let store: &$crate::Store = $store;
        if store.kind() == $crate::Backend::Postgres {
            let ids: Vec<$crate::DeliveryId> = $ids.into_iter().collect();
            for chunk in ids.chunks($crate::delivery::rows::CHUNK) {
                let sql = $crate::delivery::log_parts::move_sql(chunk.len());
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(store.log.expiry(true, $now))
                    .bind(store.log.expiry(false, $now));
                for id in chunk {
                    q = q.bind($crate::id::Id::from(id));
                }
                q.execute(&mut *$tx).await?;
            }
        }
    }};
}
pub(crate) use move_finished;

/// The statement [`move_finished!`] runs for `n` ids (`$3` …): finished ones that no node holds
/// (one cancelled while a node was sending it stays until that node's outcome moves it).
pub(crate) fn move_sql(n: usize) -> String {
    let ids: Vec<String> = (3..3 + n).map(|i| format!("${i}")).collect();
    // The log's columns named: the queue has `feed_seq` after them, which the log leaves out.
    format!(
        "WITH d AS (DELETE FROM deliveries WHERE id IN ({}) \
         AND status NOT IN ('pending', 'retrying', 'held') AND lease_owner IS NULL RETURNING *) \
         INSERT INTO delivery_log ({LOG_COLUMNS}, expires_at) SELECT {LOG_COLUMNS}, \
         CASE WHEN d.status = 'delivered' THEN $1 ELSE $2 END FROM d",
        ids.join(", ")
    )
}

impl Store {
    /// PostgreSQL: makes the log's partitions for deliveries finished from `now` on with
    /// `retention`, and notes it for the finishing statements. Run by every node at start and
    /// then with each purge pass; cheap when the partitions exist. Nothing on SQLite.
    pub async fn prepare_log(&self, retention: LogRetention, now: i64) -> Result<(), StoreError> {
        let crate::Pool::Postgres(pool) = &self.writer else {
            return Ok(());
        };
        let (delivered, failed) = (micros(retention.delivered), micros(retention.failed));
        let longest = delivered.max(failed);
        let shortest = [delivered, failed].into_iter().filter(|&k| k > 0).min();
        let mut covered: Option<i64> = None;
        if let Some(shortest) = shortest {
            let width = width(shortest, longest);
            let need = now.saturating_add(longest).saturating_add(2 * width);
            // Every node calls this once a second: nothing to write while its partitions reach.
            let reach = self.log.covered_until.load(Ordering::Relaxed);
            if reach >= need {
                self.log.delivered_keep.store(delivered, Ordering::Relaxed);
                self.log.failed_keep.store(failed, Ordering::Relaxed);
                return Ok(());
            }
            let mut tx = pool.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(PARTS_LOCK)
                .execute(&mut *tx)
                .await?;
            let last: Option<i64> = sqlx::query_scalar("SELECT MAX(to_us) FROM delivery_log_parts")
                .fetch_one(&mut *tx)
                .await?;
            let mut end = last.unwrap_or(now / width * width);
            while end < need {
                let name = format!("delivery_log_p{end}");
                sqlx::query(AssertSqlSafe(format!(
                    "CREATE TABLE {name} PARTITION OF delivery_log FOR VALUES FROM ({end}) TO ({})",
                    end + width
                )))
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO delivery_log_parts (name, from_us, to_us) VALUES ($1, $2, $3)",
                )
                .bind(&name)
                .bind(end)
                .bind(end + width)
                .execute(&mut *tx)
                .await?;
                end += width;
            }
            tx.commit().await?;
            covered = Some(end);
        }
        // The reach first: an expiry is clamped into it, and none is used before it is known.
        self.log
            .covered_until
            .store(covered.unwrap_or(0), Ordering::Relaxed);
        self.log.delivered_keep.store(delivered, Ordering::Relaxed);
        self.log.failed_keep.store(failed, Ordering::Relaxed);
        Ok(())
    }

    /// PostgreSQL: drops the log's partitions whose whole range expired before `now`, with the
    /// earlier attempts of their deliveries; returns how many deliveries went. One partition per
    /// transaction, each waiting at most a second for readers of the log to finish (it then
    /// tries again at the next pass). Nothing on SQLite.
    pub async fn drop_expired_log(&self, now: i64) -> Result<u64, StoreError> {
        let crate::Pool::Postgres(pool) = &self.writer else {
            return Ok(0);
        };
        let expired: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM delivery_log_parts WHERE to_us <= $1 ORDER BY from_us",
        )
        .bind(now)
        .fetch_all(pool)
        .await?;
        let mut dropped = 0;
        for name in expired {
            // Names are made by `prepare_log` from a number alone.
            if !name
                .strip_prefix("delivery_log_p")
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(StoreError::Corrupt(format!(
                    "delivery_log_parts names {name:?}, not a partition cxhooks made"
                )));
            }
            let mut tx = pool.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(PARTS_LOCK)
                .execute(&mut *tx)
                .await?;
            sqlx::query("SET LOCAL lock_timeout = '1s'")
                .execute(&mut *tx)
                .await?;
            let listed: Option<String> =
                sqlx::query_scalar("DELETE FROM delivery_log_parts WHERE name = $1 RETURNING name")
                    .bind(&name)
                    .fetch_optional(&mut *tx)
                    .await?;
            if listed.is_none() {
                continue; // another node dropped it
            }
            let rows: i64 =
                sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) FROM {name}")))
                    .fetch_one(&mut *tx)
                    .await?;
            sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM {name} WHERE attempts > 1)"
            )))
            .execute(&mut *tx)
            .await?;
            sqlx::query(AssertSqlSafe(format!("DROP TABLE {name}")))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            dropped += u64::try_from(rows).unwrap_or(0);
        }
        Ok(dropped)
    }

    /// PostgreSQL: writes `n` delivered deliveries kept for good straight into the log, as the
    /// history of a large store (10,000 made-up tenants with 10 webhooks each, time-ordered ids
    /// ending at `now`), a million per statement; `after_each` hears how many are in. For a
    /// bench to show that claims and completions do not slow down with the log's size. Nothing
    /// on SQLite.
    pub async fn preload_log(
        &self,
        n: u64,
        now: i64,
        after_each: impl Fn(u64),
    ) -> Result<(), StoreError> {
        let crate::Pool::Postgres(pool) = &self.writer else {
            return Ok(());
        };
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        let mut done = 0;
        while done < n {
            let upto = (done + 1_000_000).min(n);
            // Row g was finished (n - g) ms before `now`; its id is a version-7 uuid of then.
            sqlx::query(
                "INSERT INTO delivery_log SELECT \
                 (lpad(to_hex(t / 1000), 12, '0') || '7' || substr(md5(g::text), 1, 19))::uuid, \
                 'pre' || (g % 10000), md5('a' || (g % 10000))::uuid, md5('w' || (g % 100000))::uuid, \
                 NULL, 'cremployee:updated', decode(repeat('ab', 100), 'hex'), NULL, 'delivered', \
                 1, 1, t, t, NULL, NULL, t, t, t, 1000, 200, NULL, '', NULL, $4 \
                 FROM generate_series($1::BIGINT, $2::BIGINT) g, LATERAL (SELECT $3 - ($2 - g) * 1000 AS t) x",
            )
            .bind(done + 1)
            .bind(upto)
            .bind(now - (n - upto) * 1_000)
            .bind(FOREVER)
            .execute(pool)
            .await?;
            done = upto;
            after_each(u64::try_from(done).unwrap_or(0));
        }
        Ok(())
    }

    /// PostgreSQL: moves a delivery back from the log to the queue (to be sent again), inside
    /// `tx`; nothing if it is in the queue.
    pub(crate) async fn unlog(
        tx: &mut sqlx::PgConnection,
        tenant: &TenantName,
        app_id: ApplicationId,
        id: DeliveryId,
    ) -> Result<(), StoreError> {
        sqlx::query(concat!(
            "WITH l AS (DELETE FROM delivery_log WHERE tenant = $1 AND application_id = $2 \
             AND id = $3 RETURNING *) ",
            requeue_from_l!()
        ))
        .bind(tenant.as_str())
        .bind(Id::from(app_id))
        .bind(Id::from(id))
        .execute(tx)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::width;

    #[test]
    fn partitions_are_an_eighth_of_the_shorter_retention_and_at_most_66() {
        let (s, day) = (1_000_000, 86_400_000_000);
        assert_eq!(width(30 * day, 90 * day), day, "the default: a day");
        assert_eq!(width(600 * s, 600 * s), 75 * s);
        assert_eq!(
            width(10 * s, 600 * s),
            600 * s / 64,
            "66 partitions, not 482"
        );
        assert_eq!(width(s, s), s, "at least a second");
    }
}
