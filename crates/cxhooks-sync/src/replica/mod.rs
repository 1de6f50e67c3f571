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

mod timeline;
pub use timeline::Entry;

/// Stores (or replaces) `records` in the transaction `tx`, as seen by pass `pass`.
macro_rules! upsert_all {
    ($tx:ident, $entity:expr, $records:expr, $pass:expr) => {
        for (id, data) in $records {
            sqlx::query(UPSERT)
                .bind($entity)
                .bind(id)
                .bind(data)
                .bind($pass)
                .execute(&mut *$tx)
                .await?;
        }
    };
}

/// The replica handle.
#[derive(Debug, Clone)]
pub struct Replica {
    pool: Pool,
}

// `pass`: the reconcile pass that last saw the record (`initial:`, `pass:` and `filter:` keys
// in replica_progress); a pass that ends removes what it did not see.
// `replica_attachments`: with `--attachments`, the attachments of the replicated records, their
// file in base64 (text on both databases).
const SCHEMA: [&str; 5] = [
    "CREATE TABLE IF NOT EXISTS replica_records (entity TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL, pass BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (entity, id))",
    "CREATE TABLE IF NOT EXISTS replica_seen (id TEXT PRIMARY KEY)",
    "CREATE TABLE IF NOT EXISTS replica_progress (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS replica_timeline (n BIGINT NOT NULL, at TEXT NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS replica_attachments (id TEXT PRIMARY KEY, owner TEXT NOT NULL, data TEXT NOT NULL, content TEXT)",
];

const ADD_PASS: &str = "ALTER TABLE replica_records ADD COLUMN pass BIGINT NOT NULL DEFAULT 0";

const UPSERT: &str = "INSERT INTO replica_records (entity, id, data, pass) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (entity, id) DO UPDATE SET data = excluded.data, pass = excluded.pass";

const SET_PROGRESS: &str = "INSERT INTO replica_progress (key, value) VALUES ($1, $2) \
     ON CONFLICT (key) DO UPDATE SET value = excluded.value";

/// Where the replica of one entity stands: the pass under way or last finished, the filter it
/// copies under, and the initial sync's position.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Standing {
    /// The pass number (0: none yet).
    pub pass: i64,
    /// The filter of that pass (`None`: none recorded, as in a replica made before passes).
    pub filter: Option<String>,
    /// `None`: never started; `Some("done")`; or the cursor of the next page.
    pub cursor: Option<String>,
}

/// A pool on `into`: `sqlite:PATH` (created if missing and `create`) or `postgres://…`.
async fn connect(into: &str, create: bool) -> Result<Pool, ReplicaError> {
    if let Some(path) = into.strip_prefix("sqlite:") {
        let options = SqliteConnectOptions::from_str(&format!("sqlite:{path}"))
            .map_err(|e| ReplicaError(format!("invalid replica path '{path}': {e}")))?
            .create_if_missing(create)
            .journal_mode(SqliteJournalMode::Wal)
            // An erased record leaves nothing in the file's free space.
            .pragma("secure_delete", "ON");
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
                // A replica made before passes existed: add the column (its records are pass 0).
                let has_pass: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM pragma_table_info('replica_records') WHERE name = 'pass'",
                )
                .fetch_one(pool)
                .await?;
                if has_pass == 0 {
                    sqlx::query(ADD_PASS).execute(pool).await?;
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
                sqlx::query(
                    "ALTER TABLE replica_records ADD COLUMN IF NOT EXISTS pass BIGINT NOT NULL DEFAULT 0",
                )
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
            }
        }
        Ok(replica)
    }

    /// Stores (or replaces) records, as seen by pass `pass`.
    pub async fn upsert(
        &self,
        entity: &str,
        records: &[(String, String)],
        pass: i64,
    ) -> Result<(), ReplicaError> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            upsert_all!(tx, entity, records, pass);
            tx.commit().await
        })?;
        Ok(())
    }

    /// Stores a page of pass `pass` and its cursor in one transaction: an interrupted pass
    /// resumes after the last page it committed. The last page (`cursor` `None`) also removes
    /// every record the pass did not see (now outside the filter, or gone); answers how many.
    pub async fn page(
        &self,
        entity: &str,
        records: &[(String, String)],
        cursor: Option<&str>,
        pass: i64,
    ) -> Result<u64, ReplicaError> {
        let key = format!("initial:{entity}");
        let value = cursor.unwrap_or("done").to_owned();
        Ok(on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            upsert_all!(tx, entity, records, pass);
            sqlx::query(SET_PROGRESS)
                .bind(&key)
                .bind(&value)
                .execute(&mut *tx)
                .await?;
            let removed = if cursor.is_none() {
                sqlx::query("DELETE FROM replica_records WHERE entity = $1 AND pass < $2")
                    .bind(entity)
                    .bind(pass)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
            } else {
                0
            };
            tx.commit().await.map(|()| removed)
        })?)
    }

    async fn setting(&self, key: &str) -> Result<Option<String>, ReplicaError> {
        Ok(on_pool!(self, |pool| sqlx::query_scalar(
            "SELECT value FROM replica_progress WHERE key = $1"
        )
        .bind(key)
        .fetch_optional(pool)
        .await)?)
    }

    /// The last entry of pull webhook `hook`'s feed applied; `None` before the first.
    pub async fn feed_cursor(&self, hook: &str) -> Result<Option<i64>, ReplicaError> {
        Ok(self
            .setting(&format!("feed:{hook}"))
            .await?
            .and_then(|c| c.parse().ok()))
    }

    /// Keeps the feed's cursor (`None`: start again from the oldest entry the feed keeps).
    pub async fn set_feed_cursor(
        &self,
        hook: &str,
        cursor: Option<i64>,
    ) -> Result<(), ReplicaError> {
        let key = format!("feed:{hook}");
        on_pool!(self, |pool| match cursor {
            Some(c) =>
                sqlx::query(SET_PROGRESS)
                    .bind(&key)
                    .bind(c.to_string())
                    .execute(pool)
                    .await,
            None =>
                sqlx::query("DELETE FROM replica_progress WHERE key = $1")
                    .bind(&key)
                    .execute(pool)
                    .await,
        }
        .map(|_| ()))?;
        Ok(())
    }

    /// Where the replica of `entity` stands.
    pub async fn standing(&self, entity: &str) -> Result<Standing, ReplicaError> {
        Ok(Standing {
            pass: self
                .setting(&format!("pass:{entity}"))
                .await?
                .and_then(|p| p.parse().ok())
                .unwrap_or(0),
            filter: self.setting(&format!("filter:{entity}")).await?,
            cursor: self.setting(&format!("initial:{entity}")).await?,
        })
    }

    /// The latest `modificationdate` or deletion time (the source's clock, RFC 3339) among the
    /// records of `entity` the sync has seen; `None` before the first.
    pub async fn mark(&self, entity: &str) -> Result<Option<String>, ReplicaError> {
        self.setting(&format!("mark:{entity}")).await
    }

    /// Moves the mark of `entity` to `seen` if that is later (RFC 3339 texts of one format
    /// sort as their times).
    pub async fn advance_mark(&self, entity: &str, seen: &str) -> Result<(), ReplicaError> {
        on_pool!(self, |pool| sqlx::query(
            "INSERT INTO replica_progress (key, value) VALUES ($1, $2) ON CONFLICT (key) \
             DO UPDATE SET value = CASE WHEN excluded.value > replica_progress.value \
             THEN excluded.value ELSE replica_progress.value END"
        )
        .bind(format!("mark:{entity}"))
        .bind(seen)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// This replica's id, made on first use and kept: it names the webhook the sync owns.
    pub async fn id(&self) -> Result<String, ReplicaError> {
        if let Some(id) = self.setting("replica-id").await? {
            return Ok(id);
        }
        let made = uuid::Uuid::new_v4().simple().to_string();
        // Two first runs at once keep whichever id was written first.
        on_pool!(self, |pool| sqlx::query(
            "INSERT INTO replica_progress (key, value) VALUES ('replica-id', $1) \
             ON CONFLICT (key) DO NOTHING"
        )
        .bind(&made)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(self.setting("replica-id").await?.unwrap_or(made))
    }

    /// Starts a new pass under `filter`, from the first page; answers its number. Records stay
    /// until the pass ends, so that the replica is never emptier than the source meanwhile.
    pub async fn start_pass(&self, entity: &str, filter: &str) -> Result<i64, ReplicaError> {
        let pass = self.standing(entity).await?.pass + 1;
        let settings = [
            (format!("pass:{entity}"), pass.to_string()),
            (format!("filter:{entity}"), filter.to_owned()),
            (format!("initial:{entity}"), String::new()),
        ];
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            for (key, value) in &settings {
                sqlx::query(SET_PROGRESS)
                    .bind(key)
                    .bind(value)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        })?;
        Ok(pass)
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

    /// After an erasure: the SQLite file's WAL written back and emptied, so that the pages as
    /// they were are gone from disk too (nothing on PostgreSQL).
    pub async fn checkpoint(&self) -> Result<(), ReplicaError> {
        if let Pool::Sqlite(pool) = &self.pool {
            // Another process reading the replica (`sync --timeline`) holds the WAL for a
            // moment: try again for up to a second, then leave it to the next checkpoint.
            for _ in 0..50 {
                let (busy, _, _): (i64, i64, i64) =
                    sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                        .fetch_one(pool)
                        .await?;
                if busy == 0 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
        Ok(())
    }

    /// Whether the replica holds record `id` of `entity`.
    pub async fn has(&self, entity: &str, id: &str) -> Result<bool, ReplicaError> {
        let n: i64 = on_pool!(self, |pool| sqlx::query_scalar(
            "SELECT count(*) FROM replica_records WHERE entity = $1 AND id = $2"
        )
        .bind(entity)
        .bind(id)
        .fetch_one(pool)
        .await)?;
        Ok(n > 0)
    }

    /// Stores (or replaces) an attachment of record `owner`, with its file in base64.
    pub async fn upsert_attachment(
        &self,
        id: &str,
        owner: &str,
        data: &str,
        content: Option<&str>,
    ) -> Result<(), ReplicaError> {
        on_pool!(self, |pool| sqlx::query(
            "INSERT INTO replica_attachments (id, owner, data, content) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, data = excluded.data, \
             content = excluded.content"
        )
        .bind(id)
        .bind(owner)
        .bind(data)
        .bind(content)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Removes attachment `id`, or every attachment of record `owner`.
    pub async fn delete_attachments(
        &self,
        id: Option<&str>,
        owner: Option<&str>,
    ) -> Result<(), ReplicaError> {
        on_pool!(self, |pool| sqlx::query(
            "DELETE FROM replica_attachments WHERE id = $1 OR owner = $2"
        )
        .bind(id.unwrap_or(""))
        .bind(owner.unwrap_or(""))
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Every attachment: id, owner, record and file (base64), by id.
    pub async fn attachments(
        &self,
    ) -> Result<Vec<(String, String, String, Option<String>)>, ReplicaError> {
        Ok(on_pool!(self, |pool| sqlx::query_as(
            "SELECT id, owner, data, content FROM replica_attachments ORDER BY id"
        )
        .fetch_all(pool)
        .await)?)
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
}
