//! Opening the embedded SQLite store.

use crate::StoreError;
use crate::delivery::claimed_columns;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::time::Duration;

pub(crate) async fn connect(path: &Path, connections: u32) -> Result<SqlitePool, StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Open(format!(
                "cannot create the data directory {}: {e}",
                dir.display()
            ))
        })?;
    }
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

pub(crate) async fn migrate(pool: &SqlitePool) -> Result<(), StoreError> {
    sqlx::migrate!("./migrations/sqlite").run(pool).await?;
    Ok(())
}

/// Claims due deliveries. SQLite has one writer at a time, so a plain UPDATE … RETURNING over
/// the due rows cannot hand a row to two claimers.
pub(crate) async fn claim_due(
    pool: &SqlitePool,
    owner: &str,
    now: i64,
    lease_until: i64,
    limit: u32,
    skip_webhooks: &[String],
    expired_too: bool,
) -> Result<Vec<crate::delivery::Claimed>, StoreError> {
    let skip = serde_json::to_string(skip_webhooks).unwrap_or_else(|_| "[]".into());
    // Due and held by nobody (index `deliveries_claimable`), then, if that left room, leases
    // that have run out (index `deliveries_leased`).
    let mut rows: Vec<crate::delivery::Claimed> = sqlx::query_as(concat!(
        "UPDATE deliveries SET lease_until = $2, lease_owner = $3 WHERE id IN (\
           SELECT id FROM deliveries WHERE status IN ('pending', 'retrying') AND lease_owner IS NULL \
           AND next_attempt_at <= $1 AND webhook_id NOT IN (SELECT value FROM json_each($5)) \
           ORDER BY next_attempt_at LIMIT $4) RETURNING ",
        claimed_columns!()
    ))
    .bind(now)
    .bind(lease_until)
    .bind(owner)
    .bind(i64::from(limit))
    .bind(&skip)
    .fetch_all(pool)
    .await?;
    let room = limit.saturating_sub(u32::try_from(rows.len()).unwrap_or(u32::MAX));
    if expired_too && room > 0 {
        let expired: Vec<crate::delivery::Claimed> = sqlx::query_as(concat!(
            "UPDATE deliveries SET lease_until = $2, lease_owner = $3 WHERE id IN (\
               SELECT id FROM deliveries WHERE lease_owner IS NOT NULL AND lease_until < $1 \
               AND status IN ('pending', 'retrying') AND next_attempt_at <= $1 \
               AND webhook_id NOT IN (SELECT value FROM json_each($5)) ORDER BY lease_until LIMIT $4) \
             RETURNING ",
            claimed_columns!()
        ))
        .bind(now)
        .bind(lease_until)
        .bind(owner)
        .bind(i64::from(room))
        .bind(&skip)
        .fetch_all(pool)
        .await?;
        rows.extend(expired);
    }
    Ok(rows)
}
