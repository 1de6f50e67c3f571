//! Pull webhooks' feeds: a pull webhook's deliveries are stored `held` and read back by its
//! consumer in sequence order, from a cursor (the last number it read).
//!
//! A held delivery is numbered after it committed, by whoever reads the feed next
//! ([`Store::number_feed`]): in one transaction that holds the feed's row (`feeds`), so that
//! numbering rounds follow each other and a number is readable only once every lower one has
//! committed. A cursor is then safe to keep: nothing can later appear below it.

use crate::id::{Id, IdText};
use crate::model::TenantName;
use crate::{ChangeId, DeliveryId, Store, StoreError, WebhookId, on_pool};

/// Held deliveries numbered per round at most (a round runs again while more are left).
const ROUND: i64 = 10_000;

/// A delivery as its feed hands it out.
#[derive(Debug, Clone)]
pub struct FeedEntry {
    /// Its number in the feed: the cursor that follows it.
    pub seq: i64,
    /// The notification id.
    pub id: DeliveryId,
    /// The change it notifies (none for a ping).
    pub change_id: Option<ChangeId>,
    /// Event type.
    pub event_type: String,
    /// The exact payload bytes (a tombstone after an erasure).
    pub payload: Vec<u8>,
    /// Creation time, µs.
    pub created_at: i64,
}

/// A feed's position: the last number handed out, and the last cursor its consumer sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedPosition {
    /// The highest number handed out (0: none yet).
    pub last: i64,
    /// The highest cursor the consumer read from (what it has had).
    pub read: i64,
    /// When it last read, µs.
    pub read_at: Option<i64>,
}

/// What reading a feed after a cursor found.
#[derive(Debug, Clone)]
pub enum FeedRead {
    /// The entries after the cursor, in order and without a gap (may be none).
    Entries(Vec<FeedEntry>),
    /// The entry after the cursor is gone (past retention): the oldest one kept, if any.
    Gone {
        /// The lowest number still kept.
        oldest: Option<i64>,
    },
}

#[derive(sqlx::FromRow)]
struct Row {
    feed_seq: i64,
    #[sqlx(try_from = "IdText")]
    id: DeliveryId,
    change_id: Option<IdText>,
    r#type: String,
    #[sqlx(try_from = "crate::pack::Packed")]
    payload: Vec<u8>,
    created_at: i64,
}

/// Numbers one round of `$hook`'s unnumbered held deliveries (in id order: acceptance order)
/// after `$last`, inside `$tx`; the numbers given. A row that left meanwhile (its webhook
/// deleted) leaves its number unused: the highest given, not the count, is the new last.
macro_rules! number_round {
    ($tx:expr, $hook:expr, $last:expr) => {
        sqlx::query_scalar::<_, i64>(
            "WITH todo AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM deliveries \
             WHERE webhook_id = $1 AND status = 'held' AND feed_seq IS NULL ORDER BY id LIMIT $3) \
             UPDATE deliveries SET feed_seq = $2 + todo.n FROM todo WHERE deliveries.id = todo.id \
             RETURNING deliveries.feed_seq",
        )
        .bind(Id::from($hook.uuid()))
        .bind($last)
        .bind(ROUND)
        .fetch_all(&mut *$tx)
        .await?
    };
}

impl Store {
    /// Numbers `hook`'s held deliveries that committed since the last round and returns the
    /// feed's last number. Cheap (one indexed read) when there is nothing to number.
    pub async fn number_feed(
        &self,
        tenant: &TenantName,
        hook: WebhookId,
    ) -> Result<i64, StoreError> {
        let unnumbered: Option<i64> = on_pool!(self, |pool| {
            sqlx::query_scalar(
            "SELECT CAST(1 AS BIGINT) FROM deliveries WHERE webhook_id = $1 AND status = 'held' \
             AND feed_seq IS NULL LIMIT 1"
        )
        .bind(Id::from(hook.uuid()))
        .fetch_optional(pool)
        .await
        })?;
        if unnumbered.is_none() {
            return Ok(self.feed_position(hook).await?.last);
        }
        macro_rules! numbered {
            ($pool:expr) => {{
                let mut tx = crate::BeginWrite::begin_write($pool).await?;
                sqlx::query(
                    "INSERT INTO feeds (webhook_id, tenant) VALUES ($1, $2) \
                     ON CONFLICT (webhook_id) DO NOTHING",
                )
                .bind(Id::from(hook.uuid()))
                .bind(tenant.as_str())
                .execute(&mut *tx)
                .await?;
                // Taking the feed's row: rounds of one feed run one after another.
                let mut last: i64 = sqlx::query_scalar(
                    "UPDATE feeds SET last_seq = last_seq WHERE webhook_id = $1 RETURNING last_seq",
                )
                .bind(Id::from(hook.uuid()))
                .fetch_one(&mut *tx)
                .await?;
                loop {
                    let given = number_round!(tx, hook, last);
                    last = given.iter().copied().fold(last, i64::max);
                    if given.len() < ROUND as usize {
                        break;
                    }
                }
                sqlx::query("UPDATE feeds SET last_seq = $2 WHERE webhook_id = $1")
                    .bind(Id::from(hook.uuid()))
                    .bind(last)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(last)
            }};
        }
        match &self.pool {
            crate::Pool::Sqlite(pool) => numbered!(pool),
            crate::Pool::Postgres(pool) => numbered!(pool),
        }
    }

    /// Numbers the held deliveries of every feed that has some unnumbered (before a purge
    /// pass: see [`crate::Purge`]).
    pub async fn number_all_feeds(&self) -> Result<(), StoreError> {
        let feeds: Vec<(IdText, String)> = on_pool!(self, |pool| sqlx::query_as(
            "SELECT DISTINCT webhook_id, tenant FROM deliveries \
             WHERE status = 'held' AND feed_seq IS NULL"
        )
        .fetch_all(pool)
        .await)?;
        for (hook, tenant) in feeds {
            let hook = WebhookId::try_from(hook)
                .map_err(|e| StoreError::Corrupt(format!("a stored webhook id: {e}")))?;
            let tenant = TenantName::parse(&tenant)?;
            self.number_feed(&tenant, hook).await?;
        }
        Ok(())
    }

    /// The feed's position (all zero before its first delivery was numbered).
    pub async fn feed_position(&self, hook: WebhookId) -> Result<FeedPosition, StoreError> {
        let row: Option<(i64, i64, Option<i64>)> = on_pool!(self, |pool| sqlx::query_as(
            "SELECT last_seq, read_seq, read_at FROM feeds WHERE webhook_id = $1"
        )
        .bind(Id::from(hook.uuid()))
        .fetch_optional(pool)
        .await)?;
        Ok(
            row.map_or_else(FeedPosition::default, |(last, read, read_at)| {
                FeedPosition {
                    last,
                    read,
                    read_at,
                }
            }),
        )
    }

    /// Up to `limit` numbered entries of `hook`'s feed after `cursor`, in order; stops before a
    /// gap (entries past retention are gone), and answers [`FeedRead::Gone`] when the first one
    /// after `cursor` is. `last` is what [`Store::number_feed`] answered before: every number up
    /// to it committed before this read, so one of them missing was purged.
    pub async fn read_feed(
        &self,
        tenant: &TenantName,
        hook: WebhookId,
        (cursor, last): (i64, i64),
        limit: u32,
    ) -> Result<FeedRead, StoreError> {
        let rows: Vec<Row> = on_pool!(self, |pool| sqlx::query_as(
            "SELECT feed_seq, id, change_id, type, payload, created_at FROM deliveries \
             WHERE webhook_id = $1 AND tenant = $2 AND status = 'held' AND feed_seq > $3 \
             ORDER BY feed_seq LIMIT $4"
        )
        .bind(Id::from(hook.uuid()))
        .bind(tenant.as_str())
        .bind(cursor)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)?;
        let mut entries = Vec::with_capacity(rows.len());
        for (expected, row) in (cursor + 1..).zip(rows) {
            if row.feed_seq != expected {
                if entries.is_empty() {
                    return Ok(FeedRead::Gone {
                        oldest: Some(row.feed_seq),
                    });
                }
                break;
            }
            let change_id = row
                .change_id
                .map(|text| {
                    ChangeId::try_from(text)
                        .map_err(|e| StoreError::Corrupt(format!("a stored change id: {e}")))
                })
                .transpose()?;
            entries.push(FeedEntry {
                seq: row.feed_seq,
                id: row.id,
                change_id,
                event_type: row.r#type,
                payload: row.payload,
                created_at: row.created_at,
            });
        }
        if entries.is_empty() && cursor < last {
            // Numbered past the cursor, and nothing after it kept.
            return Ok(FeedRead::Gone { oldest: None });
        }
        Ok(FeedRead::Entries(entries))
    }

    /// Notes that `hook`'s consumer has read up to `cursor` (kept only if higher), at `now`.
    pub async fn feed_read_to(
        &self,
        hook: WebhookId,
        cursor: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        on_pool!(self, |pool| sqlx::query(
            "UPDATE feeds SET read_seq = $2, read_at = $3 WHERE webhook_id = $1 AND read_seq < $2"
        )
        .bind(Id::from(hook.uuid()))
        .bind(cursor)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }
}
