//! Storage for cxhooks: one interface over two backends.
//!
//! # Layout
//! - [`model`]: the domain types that cross the store boundary (tenant names, scopes,
//!   permission matrices, clients), validated on the way in.
//! - [`Store`]: the handle every caller uses. Each method is written once, in SQL that both
//!   backends accept (`$1` placeholders, microsecond integer timestamps, TEXT/BLOB columns), and
//!   runs on whichever pool the store was opened with.
//! - `sqlite` / `postgres`: opening each backend (pragmas, pools, schemas) and its migrations
//!   (`migrations/sqlite`, `migrations/postgres`). SQL that only one backend can run (claiming
//!   work with `FOR UPDATE SKIP LOCKED`) lives in its backend's module.
//! - `identity`: tenants, realm keys, clients.
//! - `management`: applications and webhooks, with cursor pages ([`Page`], [`Paged`]).
//! - `delivery`: the durable outbox: changes, deliveries, attempts, usage counts.
//! - `records`: the record store, whose writes commit with the change they publish.
//! - `group`, `script`: SQLite's group commit of publishes, in two messages to its thread.
//! - `console`: the console's operators and sessions, and the request-log chart.
//!
//! Every method that reads tenant data takes the tenant first: there is no way to reach an
//! object without naming its tenant.
#![warn(missing_docs)]

mod additional;
mod console;
mod delivery;
mod erase;
mod error;
mod group;
mod id;
mod identity;
mod ids;
mod management;
pub mod model;
pub mod pack;
mod postgres;
mod records;
mod script;
mod sqlite;
#[cfg(feature = "test-support")]
pub mod testing;
#[cfg(test)]
mod upgrade_test;

pub use additional::AdditionalField;
pub use console::*;
pub use delivery::*;
pub use erase::tombstone;
pub use error::StoreError;
pub use ids::{ApplicationId, ChangeId, DeliveryId, WebhookId};
pub use management::*;
pub use model::*;
pub use records::*;
pub use sqlite::private_dir;

use sqlx::{PgPool, SqlitePool};
use std::path::PathBuf;

/// Where the store lives.
#[derive(Debug, Clone)]
pub enum StoreLocation {
    /// An SQLite file (created with its directory if absent).
    Sqlite {
        /// Path of the database file.
        path: PathBuf,
    },
    /// A PostgreSQL database.
    Postgres {
        /// `postgres://…` connection URL.
        url: String,
        /// A schema to use instead of the default `search_path` (created if absent); tests give
        /// each test its own.
        schema: Option<String>,
    },
}

impl StoreLocation {
    /// A short name of the backend: `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            StoreLocation::Sqlite { .. } => Backend::Sqlite,
            StoreLocation::Postgres { .. } => Backend::Postgres,
        }
        .as_str()
    }
}

/// Which database a store runs on: what callers branch on where the backends differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite, owned by one node.
    Sqlite,
    /// PostgreSQL, which several nodes may share.
    Postgres,
}

impl Backend {
    /// Its short name: `sqlite` or `postgres`.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// One node owns the store: leases a killed process left behind are its own to take back.
    pub fn single_node(self) -> bool {
        self == Backend::Sqlite
    }

    /// One writer at a time (SQLite's lock): batch writes and write them in turn rather than
    /// side by side.
    pub fn single_writer(self) -> bool {
        self == Backend::Sqlite
    }

    /// Updates leave dead row versions that a vacuum must free (PostgreSQL's MVCC).
    pub fn keeps_dead_versions(self) -> bool {
        self == Backend::Postgres
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same body on whichever pool the store holds. The body is compiled once per backend,
/// so its SQL must be valid on both (see the crate docs).
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.pool {
            $crate::Pool::Sqlite($pool) => $body,
            $crate::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// [`on_pool!`] on the delivery pipeline's writer (see [`Store`]).
macro_rules! on_writer {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.writer {
            $crate::Pool::Sqlite($pool) => $body,
            $crate::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_writer;

/// Begins a transaction that will write. On SQLite it takes the write lock at once (`BEGIN
/// IMMEDIATE`), waiting up to the busy timeout for it: a deferred transaction that reads first
/// and writes later fails at once with "database is locked" when another connection writes
/// meanwhile, since SQLite cannot wait without risking a deadlock.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>;
}

impl BeginWrite for sqlx::SqlitePool {
    type Db = sqlx::Sqlite;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl BeginWrite for sqlx::PgPool {
    type Db = sqlx::Postgres;
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        self.begin().await
    }
}

/// Group committers of a PostgreSQL store (see [`group`]): as many groups commit side by side,
/// each a connection of the pool. SQLite has one writer, hence one committer.
const PG_COMMITTERS: usize = 2;

/// The store handle: cheap to clone, shared by every task.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: Pool,
    /// Where the delivery pipeline writes (publishes, claims, releases, completions): on SQLite
    /// one connection of its own, so those writers queue in order inside the process instead
    /// of meeting at SQLite's write lock, whose busy handler backs off by sleeping 1, 2, 5, 10
    /// … 100 ms; on PostgreSQL the same pool.
    pub(crate) writer: Pool,
    /// The group committer for publishes (see [`group`]); none inside the committer itself.
    pub(crate) committer: Option<group::Committer>,
    /// How long the log keeps finished deliveries and how far its partitions reach (PostgreSQL).
    pub(crate) log: std::sync::Arc<delivery::log_parts::LogWindow>,
}

/// PostgreSQL's activity counters ([`Store::pg_activity`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PgActivity {
    /// The write-ahead log's position, bytes.
    pub wal_bytes: i64,
    /// Transactions committed in this database.
    pub commits: i64,
    /// Row versions inserted, updated and deleted in this database.
    pub rows_written: i64,
}

/// What [`Store::vacuum_churned`] did with the churned tables, by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Vacuumed {
    /// Vacuumed now.
    pub vacuumed: Vec<String>,
    /// Not vacuumed: another session held them (another node vacuuming, a lock), or
    /// PostgreSQL skipped them for a reason it only warns about.
    pub skipped: Vec<String>,
    /// Not tried: the connected role owns neither the table nor the database, and PostgreSQL
    /// vacuums a table only for them (or a superuser).
    pub not_owned: Vec<String>,
    /// Vacuumed, yet still over the threshold: the dead versions could not be freed, because
    /// a transaction that began before they died may still read them.
    pub held: Vec<String>,
    /// When some are [`Vacuumed::held`]: the session with the oldest snapshot of the database,
    /// if PostgreSQL shows one (a prepared transaction or a replication slot may hold the
    /// versions instead).
    pub holder: Option<SnapshotHolder>,
}

/// A PostgreSQL session, as `pg_stat_activity` shows it, whose open transaction keeps vacuum
/// from freeing dead row versions.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotHolder {
    /// The server process (`pg_terminate_backend` ends it).
    pub pid: i32,
    /// The client's `application_name` (`psql`, a report's tool…), maybe empty.
    pub application: String,
    /// `active`, `idle in transaction`…
    pub state: String,
    /// How long its transaction has been open, in seconds.
    pub open_s: f64,
}

impl std::fmt::Display for SnapshotHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PostgreSQL process {} (application '{}', {}) has had a transaction open for {:.0} s",
            self.pid, self.application, self.state, self.open_s
        )
    }
}

/// What [`Store::check_master_key`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterKeyCheck {
    /// The fingerprint matches the recorded one (or was recorded now, on first use).
    Matches,
    /// The store was created with another master key.
    Mismatch,
}

/// How a store's connections are had.
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// PostgreSQL: how long a statement waits for a connection of the pool before it fails with
    /// [`StoreError::Unavailable`] (the server answers 503 at once, rather than hang while the
    /// database is unreachable).
    pub acquire_timeout: std::time::Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            acquire_timeout: std::time::Duration::from_secs(1),
        }
    }
}

impl Store {
    /// Opens (and creates, for SQLite) the store and applies pending migrations.
    pub async fn open(location: &StoreLocation) -> Result<Self, StoreError> {
        Self::open_with(location, StoreOptions::default()).await
    }

    /// [`Store::open`] with `options`.
    pub async fn open_with(
        location: &StoreLocation,
        options: StoreOptions,
    ) -> Result<Self, StoreError> {
        let store = Self::connect_with(location, options).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Opens the store without migrating.
    pub async fn connect(location: &StoreLocation) -> Result<Self, StoreError> {
        Self::connect_with(location, StoreOptions::default()).await
    }

    /// [`Store::connect`] with `options`.
    pub async fn connect_with(
        location: &StoreLocation,
        options: StoreOptions,
    ) -> Result<Self, StoreError> {
        Ok(match location {
            StoreLocation::Sqlite { path } => {
                let mut store = Self {
                    pool: Pool::Sqlite(sqlite::connect(path, 4).await?),
                    writer: Pool::Sqlite(sqlite::connect(path, 1).await?),
                    committer: None,
                    log: Default::default(),
                };
                store.committer = Some(group::Committer::spawn(store.clone(), 1));
                store
            }
            StoreLocation::Postgres { url, schema } => {
                let pool = Pool::Postgres(
                    postgres::connect(url, schema.as_deref(), options.acquire_timeout).await?,
                );
                let mut store = Self {
                    writer: pool.clone(),
                    pool,
                    committer: None,
                    log: Default::default(),
                };
                store.committer = Some(group::Committer::spawn(store.clone(), PG_COMMITTERS));
                store
            }
        })
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Sqlite(pool) => sqlite::migrate(pool).await,
            Pool::Postgres(pool) => postgres::migrate(pool).await,
        }
    }

    /// Which backend the store runs on.
    pub fn kind(&self) -> Backend {
        match &self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// The backend's short name ([`Store::kind`] as text).
    pub fn backend(&self) -> &'static str {
        self.kind().as_str()
    }

    /// Records the master key's fingerprint on first use and compares it afterwards, so that a
    /// node or CLI started with another master key is refused before it seals anything.
    pub async fn check_master_key(&self, fingerprint: &[u8]) -> Result<MasterKeyCheck, StoreError> {
        const KEY: &str = "master_key_fingerprint";
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            )
            .bind(KEY)
            .bind(fingerprint)
            .execute(pool)
            .await?;
            let stored: Vec<u8> = sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
                .bind(KEY)
                .fetch_one(pool)
                .await?;
            Ok(if stored == fingerprint {
                MasterKeyCheck::Matches
            } else {
                MasterKeyCheck::Mismatch
            })
        })
    }

    /// The bytes the store occupies: for SQLite the database file after a WAL checkpoint, for
    /// PostgreSQL the tables of the current schema with their indexes and TOAST. What
    /// `cxhooks bench` divides by deliveries.
    pub async fn size_bytes(&self) -> Result<i64, StoreError> {
        match &self.pool {
            Pool::Sqlite(pool) => {
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(pool)
                    .await?;
                Ok(sqlx::query_scalar(
                    "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
                )
                .fetch_one(pool)
                .await?)
            }
            Pool::Postgres(pool) => Ok(sqlx::query_scalar(
                "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::BIGINT FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = current_schema() AND c.relkind = 'r'",
            )
            .fetch_one(pool)
            .await?),
        }
    }

    /// PostgreSQL: the server's write-ahead log position (bytes written since its start) and
    /// this database's committed transactions and written row versions (inserted, updated,
    /// deleted) so far, for a bench to count per delivery; `None` on SQLite. The counts are the
    /// statistics the backends have reported, up to a second late.
    pub async fn pg_activity(&self) -> Result<Option<PgActivity>, StoreError> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(None);
        };
        sqlx::query("SELECT pg_stat_clear_snapshot()")
            .execute(pool)
            .await?;
        let (wal_bytes, commits, rows_written) = sqlx::query_as(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::BIGINT, xact_commit, \
             tup_inserted + tup_updated + tup_deleted FROM pg_stat_database \
             WHERE datname = current_database()",
        )
        .fetch_one(pool)
        .await?;
        Ok(Some(PgActivity {
            wal_bytes,
            commits,
            rows_written,
        }))
    }

    /// The store's size (as [`Store::size_bytes`]) once rewritten without dead space: what its
    /// rows and indexes need, as opposed to what it grew by. PostgreSQL keeps every row version
    /// an update leaves behind until vacuum frees it for reuse, so right after a burst its files
    /// hold each delivery up to three times; `VACUUM FULL` rewrites them with live rows only.
    /// On SQLite, which updates rows in place, `VACUUM` only repacks pages. For `cxhooks
    /// bench`: it locks every table while it runs.
    pub async fn live_size_bytes(&self) -> Result<i64, StoreError> {
        match &self.pool {
            Pool::Sqlite(pool) => {
                sqlx::query("VACUUM").execute(pool).await?;
            }
            Pool::Postgres(pool) => {
                // This schema's tables only: the database may hold other stores.
                let tables: Vec<String> = sqlx::query_scalar(
                    "SELECT quote_ident(c.relname) FROM pg_class c \
                     JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = current_schema() AND c.relkind = 'r'",
                )
                .fetch_all(pool)
                .await?;
                if !tables.is_empty() {
                    let sql = format!("VACUUM FULL {}", tables.join(", "));
                    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(pool).await?;
                }
            }
        }
        self.size_bytes().await
    }

    /// PostgreSQL: vacuums the store's tables where updates and deletes have left more than
    /// `min_dead` dead row versions plus `share` of the live rows, so that the space of delivered
    /// notifications' old versions is reused instead of growing the files (whatever autovacuum's
    /// settings, or with it off). Says which tables were vacuumed and which were not; SQLite,
    /// which updates rows in place, has none.
    pub async fn vacuum_churned(&self, min_dead: i64, share: f64) -> Result<Vacuumed, StoreError> {
        match &self.pool {
            Pool::Sqlite(_) => Ok(Vacuumed::default()),
            Pool::Postgres(pool) => postgres::vacuum_churned(pool, min_dead, share).await,
        }
    }

    /// Drops a PostgreSQL schema and everything in it (what `cxhooks bench` made); nothing on
    /// SQLite.
    pub async fn drop_schema(&self, schema: &str) -> Result<(), StoreError> {
        if let Pool::Postgres(pool) = &self.pool {
            let valid = !schema.is_empty()
                && schema
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !valid {
                return Err(StoreError::Open(format!(
                    "'{schema}' is not a schema name cxhooks makes (a-z, 0-9, _)"
                )));
            }
            let sql = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(pool).await?;
        }
        Ok(())
    }

    /// Closes every connection.
    pub async fn close(&self) {
        on_writer!(self, |pool| pool.close().await);
        on_pool!(self, |pool| pool.close().await)
    }
}
