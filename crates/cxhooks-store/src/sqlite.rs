//! Opening the embedded SQLite store, and the delivery SQL only SQLite runs: claims, and a
//! group of publishes in two scripts.

use crate::delivery::accept::{
    GroupView, bind_change, bind_delivery, bind_idempotency, insert_changes_sql,
    insert_deliveries_sql, insert_idempotency_sql, lease_of, upsert_usage_sql,
};
use crate::delivery::quota::{GroupCount, UsageCount};
use crate::delivery::rows::row_chunks;
use crate::delivery::{DeliveryStatus, Lease, NewChange, NewDelivery, claimed_columns};
use crate::id::Id;
use crate::script::Script;
use crate::{Store, StoreError};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::time::Duration;

/// See [`connect`]: a batch's `RETURNING` is at most [`crate::delivery`]'s 400 rows per
/// statement, and claims return at most a few hundred.
const ROW_CHANNEL: usize = 1024;

pub(crate) async fn connect(path: &Path, connections: u32) -> Result<SqlitePool, StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        private_dir(dir).map_err(|e| {
            StoreError::Open(format!(
                "cannot create the data directory {}: {e}",
                dir.display()
            ))
        })?;
    }
    create_private(path).map_err(|e| {
        StoreError::Open(format!(
            "cannot create the SQLite store {}: {e}",
            path.display()
        ))
    })?;
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: a change is acknowledged only once it is on disk, even across a power cut.
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        // 16 MiB of page cache per connection instead of 2: the delivery tables' hot pages stay
        // in memory instead of being read back from the OS for every statement.
        .pragma("cache_size", "-16384")
        // Deleted content is overwritten with zeros, so that an erased record (and what an
        // update replaced) leaves nothing behind in the file's free space (docs/records.md,
        // Erasure; cost measured in docs/performance.md).
        .pragma("secure_delete", "ON")
        // Rows a statement may hand to the async side before SQLite's thread waits for them to
        // be taken: sqlx's 50 made an outcome batch's `RETURNING` of more rows stop and wait for
        // a wake-up of the async worker, then be woken itself, every 50 rows.
        .row_buffer_size(ROW_CHANNEL)
        // The CLI administers the store while a server runs on it: wait for the writer's lock
        // instead of failing.
        .busy_timeout(Duration::from_secs(10));
    SqlitePoolOptions::new()
        .max_connections(connections)
        .connect_with(options)
        .await
        .map_err(|e| {
            StoreError::Open(format!(
                "cannot open the SQLite store {}: {e}",
                path.display()
            ))
        })
}

/// Creates `dir` and its missing parents readable by their owner only (0700), as the data
/// directory holds the store and the master key; a directory that exists is left as it is.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates the store file, empty and readable by its owner only, unless it exists: SQLite would
/// create it 0644, and gives its `-wal` and `-shm` files the mode of the database file.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(drop)
}

pub(crate) async fn migrate(pool: &SqlitePool) -> Result<(), StoreError> {
    sqlx::migrate!("./migrations/sqlite").run(pool).await?;
    Ok(())
}

/// Claims, in one statement, up to `k` due deliveries nobody holds of each webhook of `take`
/// (`(webhook, k)`), each webhook's in due order and, for an ordered webhook, only the next of
/// each entity. SQLite has one writer at a time, so a plain UPDATE … RETURNING cannot hand a
/// row to two claimers.
pub(crate) async fn claim_from(
    pool: &SqlitePool,
    claim: &crate::delivery::Claim<'_>,
    take: &[(crate::WebhookId, u32)],
) -> Result<Vec<crate::delivery::ClaimedDelivery>, StoreError> {
    let per_hook = (0..take.len())
        .map(|i| {
            format!(
                "SELECT id FROM (SELECT d.id FROM deliveries d WHERE d.webhook_id = ${} \
                 AND d.status IN ('pending', 'retrying') AND d.lease_owner IS NULL \
                 AND d.next_attempt_at <= $1 AND {} ORDER BY d.next_attempt_at LIMIT ${})",
                4 + 2 * i,
                crate::delivery::in_entity_order!(),
                5 + 2 * i
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let sql = format!(
        "UPDATE deliveries SET lease_until = $2, lease_owner = $3 WHERE id IN ({per_hook}) RETURNING {}",
        claimed_columns!()
    );
    let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(claim.now)
        .bind(claim.lease_until)
        .bind(claim.node);
    for (webhook, k) in take {
        q = q.bind(crate::id::Id::from(webhook)).bind(i64::from(*k));
    }
    Ok(q.fetch_all(pool).await?)
}

/// Claims deliveries whose lease ran out, oldest lease first, in one statement.
pub(crate) async fn claim_expired(
    pool: &SqlitePool,
    claim: &crate::delivery::Claim<'_>,
    limit: u32,
) -> Result<Vec<crate::delivery::ClaimedDelivery>, StoreError> {
    let sql = concat!(
        "UPDATE deliveries SET lease_until = $2, lease_owner = $3 WHERE id IN (\
           SELECT id FROM deliveries WHERE lease_owner IS NOT NULL AND lease_until < $1 \
           AND status IN ('pending', 'retrying') AND next_attempt_at <= $1 \
           AND webhook_id NOT IN (SELECT value FROM json_each($5)) ORDER BY lease_until LIMIT $4) \
         RETURNING ",
        claimed_columns!()
    );
    let skip = serde_json::to_string(claim.skip_webhooks).unwrap_or_else(|_| "[]".into());
    Ok(sqlx::query_as(sql)
        .bind(claim.now)
        .bind(claim.lease_until)
        .bind(claim.node)
        .bind(i64::from(limit))
        .bind(skip)
        .fetch_all(pool)
        .await?)
}

impl Store {
    /// Writes a group of publishes (none with a record write) in two [`Script`]s, whatever its
    /// size: the first opens the transaction and counts every owner's deliveries against its
    /// quota, the second stores every change, delivery and idempotency answer and commits.
    /// Statement by statement, a group took three statements per publish, a savepoint around
    /// each and the transaction's own two, each a round trip to SQLite's thread. The quota
    /// comes out as if the publishes were counted one after the other, in order. On an error
    /// nothing is committed, and the transaction may be left open for the caller to roll back.
    pub(crate) async fn accept_scripted(
        &self,
        conn: &mut sqlx::SqliteConnection,
        items: &[crate::group::GroupItem],
    ) -> Result<Vec<Vec<DeliveryStatus>>, sqlx::Error> {
        let group = GroupView::new(items);
        let count = GroupCount::new(&group);
        let mut counting = Script::default();
        counting.statement("BEGIN IMMEDIATE");
        for rows in row_chunks(count.keys.iter().map(|_| 0), usize::MAX) {
            counting.statement(&upsert_usage_sql(self, rows.len()));
            for (tenant, owner, month, n) in &count.keys[rows] {
                counting = counting.bind(*tenant).bind(*owner).bind(*month).bind(*n);
            }
        }
        let counted = counting
            .fetch_all(conn)
            .await?
            .iter()
            .map(<UsageCount as sqlx::FromRow<_>>::from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let statuses = count.statuses(&group, &counted)?;
        let GroupView {
            accepts,
            changes,
            deliveries,
            keyed,
            ..
        } = &group;

        let mut writing = Script::default();
        for rows in row_chunks(changes.iter().map(|_| 0), usize::MAX) {
            writing.statement(&insert_changes_sql(self, rows.len()));
            for (tenant, c) in &changes[rows] {
                writing = bind_change!(writing, c, *tenant);
            }
        }
        for rows in row_chunks(deliveries.iter().map(|_| 0), usize::MAX) {
            writing.statement(&insert_deliveries_sql(self, rows.len()));
            for &(k, i) in &deliveries[rows] {
                let (item, accept, status) = (&items[k], &accepts[k], statuses[k][i]);
                let leased = lease_of(accept.lease, status, i);
                writing = bind_delivery!(
                    writing,
                    &accept.deliveries[i],
                    item.tenant.as_str(),
                    &item.packed[i],
                    status,
                    leased
                );
            }
        }
        for rows in row_chunks(keyed.iter().map(|_| 0), usize::MAX) {
            writing.statement(&insert_idempotency_sql(self, rows.len()));
            for (item, keyed) in &keyed[rows] {
                writing = bind_idempotency!(writing, keyed, item.tenant.as_str(), item.now);
            }
        }
        writing.statement("COMMIT");
        writing.fetch_all(conn).await?;
        Ok(statuses)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Store, StoreLocation};

    /// A store made before migration 0008 (rowid tables, payloads as plain JSON) opens with
    /// every delivery, attempt and change intact: dropping the old `deliveries` must not cascade
    /// into `attempts`.
    #[tokio::test]
    async fn upgrading_to_keyed_tables_keeps_every_delivery_and_attempt() {
        let dir = std::env::temp_dir().join(format!("cxhooks-upgrade-{}", uuid::Uuid::new_v4()));
        let path = dir.join("store.db");
        let pool = super::connect(&path, 1).await.unwrap();
        let before = crate::upgrade_test::up_to(sqlx::migrate!("./migrations/sqlite"), 7);
        before.run(&pool).await.unwrap();
        let rows = crate::upgrade_test::OldRows::new();
        crate::upgrade_test::store_old_rows!(&pool, &rows, "1");
        pool.close().await;

        let store = Store::open(&StoreLocation::Sqlite { path: path.clone() })
            .await
            .unwrap();
        rows.check(&store).await;
        let keyed: i64 = crate::on_pool!(store, |pool| sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_schema WHERE sql LIKE '%WITHOUT ROWID%'"
        )
        .fetch_one(pool)
        .await)
        .unwrap();
        assert_eq!(keyed, 3);
        let fk: i64 = crate::on_pool!(store, |pool| sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(pool)
            .await)
        .unwrap();
        assert_eq!(fk, 1, "foreign keys are on again after the migration");
        store.close().await;
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
