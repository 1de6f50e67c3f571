//! The local replica: records, the notification ids already applied, the progress of the
//! initial sync, and the timeline. An SQLite file (`sqlite:replica.db`) or a PostgreSQL URL.

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{PgPool, SqlitePool};
use std::str::FromStr;

/// A replica error.
#[derive(Debug, thiserror::Error)]
#[error("replica: {0}")]
pub struct ReplicaError(pub String);

impl From<sqlx::Error> for ReplicaError {
    fn from(e: sqlx::Error) -> Self {
        ReplicaError(e.to_string())
    }
}

#[derive(Debug, Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same body on either pool; the SQL must be valid on both.
macro_rules! on_pool {
    ($r:expr, |$pool:ident| $body:expr) => {
        match &$r.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

/// The replica handle.
#[derive(Debug, Clone)]
pub struct Replica {
    pool: Pool,
}

/// One timeline entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct Entry {
    /// When, RFC 3339.
    pub at: String,
    /// `run`, `initial`, `applied`, `skipped` or `error`.
    pub kind: String,
    /// What happened.
    pub message: String,
}

const SCHEMA: [&str; 4] = [
    "CREATE TABLE IF NOT EXISTS replica_records (entity TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (entity, id))",
    "CREATE TABLE IF NOT EXISTS replica_seen (id TEXT PRIMARY KEY)",
    "CREATE TABLE IF NOT EXISTS replica_progress (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS replica_timeline (n BIGINT NOT NULL, at TEXT NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL)",
];

/// A pool on `into`: `sqlite:PATH` (created if missing and `create`) or `postgres://…`.
async fn connect(into: &str, create: bool) -> Result<Pool, ReplicaError> {
    if let Some(path) = into.strip_prefix("sqlite:") {
        let options = SqliteConnectOptions::from_str(&format!("sqlite:{path}"))
            .map_err(|e| ReplicaError(format!("invalid replica path '{path}': {e}")))?
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal);
        // One connection: the receiver's writes and the initial sync's pages queue for it in
        // the process instead of meeting on SQLite's file lock, where a wait longer than the
        // busy timeout fails a notification with "database is locked".
        Ok(Pool::Sqlite(
            sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await
                .map_err(|e| ReplicaError(format!("cannot open {path}: {e}")))?,
        ))
    } else if into.starts_with("postgres://") || into.starts_with("postgresql://") {
        Ok(Pool::Postgres(PgPool::connect(into).await.map_err(
            |e| ReplicaError(format!("cannot connect to the replica database: {e}")),
        )?))
    } else {
        Err(ReplicaError(format!(
            "--into takes sqlite:FILE or postgres://…, not '{into}'"
        )))
    }
}

impl Replica {
    /// Opens a replica that must exist, to read it (`sync --timeline`): an SQLite file that is
    /// not there, or a database without the replica's tables, is an error that says so, not a
    /// new empty replica.
    pub async fn open_existing(into: &str) -> Result<Self, ReplicaError> {
        let missing = || {
            let at = if into.starts_with("sqlite:") {
                format!("at {into}")
            } else {
                "in the PostgreSQL database of --into".to_owned()
            };
            ReplicaError(format!(
                "no replica {at}: `cxhooks sync --into …` creates it on its first run; pass \
                 --into to name the replica to read"
            ))
        };
        if let Some(path) = into.strip_prefix("sqlite:") {
            let file = path.split('?').next().unwrap_or(path);
            if !std::path::Path::new(file).exists() {
                return Err(missing());
            }
        }
        let replica = Self {
            pool: connect(into, false).await?,
        };
        let tables: i64 = match &replica.pool {
            Pool::Sqlite(pool) => {
                sqlx::query_scalar(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'replica_timeline'",
                )
                .fetch_one(pool)
                .await?
            }
            Pool::Postgres(pool) => {
                sqlx::query_scalar(
                    "SELECT count(*) FROM information_schema.tables \
                     WHERE table_schema = current_schema() AND table_name = 'replica_timeline'",
                )
                .fetch_one(pool)
                .await?
            }
        };
        if tables == 0 {
            return Err(missing());
        }
        Ok(replica)
    }

    /// Opens (creating) a replica: `sqlite:PATH` or `postgres://…`.
    pub async fn open(into: &str) -> Result<Self, ReplicaError> {
        let replica = Self {
            pool: connect(into, true).await?,
        };
        match &replica.pool {
            Pool::Sqlite(pool) => {
                for statement in SCHEMA {
                    sqlx::query(statement).execute(pool).await?;
                }
            }
            // Two processes opening one PostgreSQL replica at once would race on CREATE TABLE IF
            // NOT EXISTS (a duplicate-type error): take a lock for the schema's creation.
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock(7273390)")
                    .execute(&mut *tx)
                    .await?;
                for statement in SCHEMA {
                    sqlx::query(statement).execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
        }
        Ok(replica)
    }

    /// Stores (or replaces) records.
    pub async fn upsert(
        &self,
        entity: &str,
        records: &[(String, String)],
    ) -> Result<(), ReplicaError> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            for (id, data) in records {
                sqlx::query(
                    "INSERT INTO replica_records (entity, id, data) VALUES ($1, $2, $3) \
                     ON CONFLICT (entity, id) DO UPDATE SET data = excluded.data",
                )
                .bind(entity)
                .bind(id)
                .bind(data)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await
        })?;
        Ok(())
    }

    /// Stores a page of the initial sync and its cursor in one transaction: an interrupted
    /// sync resumes after the last page it committed.
    pub async fn page(
        &self,
        entity: &str,
        records: &[(String, String)],
        cursor: Option<&str>,
    ) -> Result<(), ReplicaError> {
        let key = format!("initial:{entity}");
        let value = cursor.unwrap_or("done").to_owned();
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            for (id, data) in records {
                sqlx::query(
                    "INSERT INTO replica_records (entity, id, data) VALUES ($1, $2, $3) \
                     ON CONFLICT (entity, id) DO UPDATE SET data = excluded.data",
                )
                .bind(entity)
                .bind(id)
                .bind(data)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query("INSERT INTO replica_progress (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
                .bind(&key)
                .bind(&value)
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        })?;
        Ok(())
    }

    /// Where the initial sync of `entity` stands: `None` (not started), `Some("done")`, or the
    /// cursor of the next page.
    pub async fn progress(&self, entity: &str) -> Result<Option<String>, ReplicaError> {
        let key = format!("initial:{entity}");
        Ok(on_pool!(self, |pool| sqlx::query_scalar(
            "SELECT value FROM replica_progress WHERE key = $1"
        )
        .bind(&key)
        .fetch_optional(pool)
        .await)?)
    }

    /// Removes a record.
    pub async fn delete(&self, entity: &str, id: &str) -> Result<(), ReplicaError> {
        on_pool!(self, |pool| sqlx::query(
            "DELETE FROM replica_records WHERE entity = $1 AND id = $2"
        )
        .bind(entity)
        .bind(id)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Every record of an entity, by id.
    pub async fn records(&self, entity: &str) -> Result<Vec<(String, String)>, ReplicaError> {
        Ok(on_pool!(self, |pool| sqlx::query_as(
            "SELECT id, data FROM replica_records WHERE entity = $1 ORDER BY id"
        )
        .bind(entity)
        .fetch_all(pool)
        .await)?)
    }

    /// Records a notification id; false if it was already there (a duplicate).
    pub async fn first_time(&self, id: &str) -> Result<bool, ReplicaError> {
        let n = on_pool!(self, |pool| sqlx::query(
            "INSERT INTO replica_seen (id) VALUES ($1) ON CONFLICT (id) DO NOTHING"
        )
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Forgets a notification id (its application failed: let the retry apply it).
    pub async fn forget(&self, id: &str) -> Result<(), ReplicaError> {
        on_pool!(self, |pool| sqlx::query(
            "DELETE FROM replica_seen WHERE id = $1"
        )
        .bind(id)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Appends to the timeline.
    pub async fn log(&self, kind: &str, message: &str) -> Result<(), ReplicaError> {
        let now = chrono::Utc::now();
        on_pool!(self, |pool| sqlx::query(
            "INSERT INTO replica_timeline (n, at, kind, message) VALUES ($1, $2, $3, $4)"
        )
        .bind(now.timestamp_micros())
        .bind(now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .bind(kind)
        .bind(message)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// The timeline, newest first.
    pub async fn timeline(&self, limit: i64) -> Result<Vec<Entry>, ReplicaError> {
        Ok(on_pool!(self, |pool| sqlx::query_as(
            "SELECT at, kind, message FROM replica_timeline ORDER BY n DESC LIMIT $1"
        )
        .bind(limit)
        .fetch_all(pool)
        .await)?)
    }
}
