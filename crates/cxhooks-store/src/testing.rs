//! A fresh store per test, on either backend (feature `test-support`).
//!
//! PostgreSQL tests read `CXHOOKS_TEST_DATABASE_URL` (`.ci/run` sets it) and default to the
//! local trust-auth server at `postgres://postgres@127.0.0.1:5432/test`; each test gets its own
//! schema so tests run in parallel without seeing each other.

use crate::{Store, StoreLocation};

/// The two backends every storage test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite in a temporary directory.
    Sqlite,
    /// PostgreSQL, one schema per test.
    Postgres,
}

/// A test store location; keeps its temporary directory alive as long as it lives.
#[derive(Debug)]
pub struct TestLocation {
    /// Where the store is.
    pub location: StoreLocation,
    /// A temporary directory (the SQLite file, and room for a master key or other files).
    pub dir: tempfile::TempDir,
}

/// A PostgreSQL test's schema goes with its location: the suites would otherwise leave one
/// schema per test behind (each with its log's partitions), hundreds a day. Dropped on a
/// connection and thread of its own (`Drop` cannot await, and the test's runtime may be
/// shutting down); a lock the test's own tasks still hold makes it give up after 5 s.
impl Drop for TestLocation {
    fn drop(&mut self) {
        let StoreLocation::Postgres {
            url,
            schema: Some(schema),
        } = &self.location
        else {
            return;
        };
        let (url, drop) = (
            url.clone(),
            format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"),
        );
        let dropping = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                use sqlx::Connection;
                let Ok(mut conn) = sqlx::PgConnection::connect(&url).await else {
                    return;
                };
                let _ = sqlx::query("SET lock_timeout = '5s'")
                    .execute(&mut conn)
                    .await;
                let _ = sqlx::query(sqlx::AssertSqlSafe(drop))
                    .execute(&mut conn)
                    .await;
                let _ = conn.close().await;
            });
        });
        let _ = dropping.join();
    }
}

/// The PostgreSQL URL tests use.
pub fn postgres_url() -> String {
    std::env::var("CXHOOKS_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

impl Backend {
    /// A new, empty location on this backend.
    pub fn location(self) -> TestLocation {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let location = match self {
            Backend::Sqlite => StoreLocation::Sqlite {
                path: dir.path().join("cxhooks.db"),
            },
            Backend::Postgres => StoreLocation::Postgres {
                url: postgres_url(),
                schema: Some(format!("cxtest_{}", uuid::Uuid::new_v4().simple())),
            },
        };
        TestLocation { location, dir }
    }

    /// A new, empty, migrated store on this backend.
    pub async fn store(self) -> (Store, TestLocation) {
        let loc = self.location();
        let store = Store::open(&loc.location).await.unwrap_or_else(|e| {
            panic!(
                "cannot open a {self:?} test store: {e}. PostgreSQL tests need a server: run .ci/run \
                 (which starts one) or set CXHOOKS_TEST_DATABASE_URL"
            )
        });
        (store, loc)
    }
}

/// Defines each listed async test function once per backend: `sqlite::name` and
/// `postgres::name`, each calling `name(Backend::…)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::testing::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::testing::Backend::Postgres).await })*
        }
    };
}

/// Replaces a sealed column of one row (`applications.sealed_private_key` or
/// `webhooks.sealed_custom_headers`), as a corrupted or foreign seal would read; returns what
/// was there.
pub async fn replace_sealed(
    store: &Store,
    column: Sealed,
    id: uuid::Uuid,
    with: Vec<u8>,
) -> Vec<u8> {
    let (table, col) = match column {
        Sealed::ApplicationKey => ("applications", "sealed_private_key"),
        Sealed::WebhookHeaders => ("webhooks", "sealed_custom_headers"),
    };
    let read = format!("SELECT {col} FROM {table} WHERE id = $1");
    let write = format!("UPDATE {table} SET {col} = $2 WHERE id = $1");
    // Management tables keep ids as text on both backends.
    let id = id.to_string();
    crate::on_pool!(store, |pool| {
        let old: Vec<u8> = sqlx::query_scalar(sqlx::AssertSqlSafe(read))
            .bind(&id)
            .fetch_one(pool)
            .await
            .expect("the row");
        sqlx::query(sqlx::AssertSqlSafe(write))
            .bind(&id)
            .bind(with)
            .execute(pool)
            .await
            .expect("replaced");
        old
    })
}

/// A sealed column [`replace_sealed`] can replace.
#[derive(Debug, Clone, Copy)]
pub enum Sealed {
    /// An application's private key.
    ApplicationKey,
    /// A webhook's custom headers.
    WebhookHeaders,
}

/// The number a counting query (`SELECT COUNT(*) …`) gives, for a test to look at tables the
/// store's API does not show (where a delivery is kept, what is left after a purge).
pub async fn count(store: &Store, sql: &str) -> i64 {
    crate::on_pool!(store, |pool| sqlx::query_scalar::<_, i64>(
        sqlx::AssertSqlSafe(sql.to_owned())
    )
    .fetch_one(pool)
    .await
    .unwrap_or_else(|e| panic!("{sql}: {e}")))
}

/// Runs a statement as written (rows written as an older release wrote them).
pub async fn execute(store: &Store, sql: &str) {
    crate::on_pool!(store, |pool| sqlx::query(sqlx::AssertSqlSafe(
        sql.to_owned()
    ))
    .execute(pool)
    .await
    .map(|_| ())
    .unwrap_or_else(|e| panic!("{sql}: {e}")))
}

/// Every place `needle` is found in the store through SQL: each column of each table, read as
/// bytes, and also unpacked where it is a packed payload or change body (`pack.rs`). Answers
/// `table.column` for each hit: what an erasure test must find empty.
pub async fn find_everywhere(store: &Store, needle: &str) -> Vec<String> {
    let needle = needle.as_bytes();
    let holds = |bytes: &[u8]| {
        let found = |b: &[u8]| b.windows(needle.len()).any(|w| w == needle);
        found(bytes) || crate::pack::unpack(bytes.to_vec()).is_ok_and(|u| found(&u))
    };
    let mut hits = Vec::new();
    match &store.pool {
        crate::Pool::Sqlite(pool) => {
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .fetch_all(pool)
            .await
            .expect("tables");
            for table in tables {
                let columns: Vec<String> =
                    sqlx::query_scalar("SELECT name FROM pragma_table_info($1)")
                        .bind(&table)
                        .fetch_all(pool)
                        .await
                        .expect("columns");
                for column in columns {
                    let sql = format!("SELECT CAST(\"{column}\" AS BLOB) FROM \"{table}\"");
                    let values: Vec<Option<Vec<u8>>> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                        .fetch_all(pool)
                        .await
                        .expect("values");
                    if values.iter().flatten().any(|v| holds(v)) {
                        hits.push(format!("{table}.{column}"));
                    }
                }
            }
        }
        crate::Pool::Postgres(pool) => {
            let columns: Vec<(String, String, String)> = sqlx::query_as(
                "SELECT c.table_name::text, c.column_name::text, c.data_type::text \
                 FROM information_schema.columns c JOIN information_schema.tables t \
                 ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
                 WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'",
            )
            .fetch_all(pool)
            .await
            .expect("columns");
            for (table, column, kind) in columns {
                let value = if kind == "bytea" {
                    format!("\"{column}\"")
                } else {
                    format!("convert_to(\"{column}\"::text, 'UTF8')")
                };
                let sql = format!("SELECT {value} FROM \"{table}\"");
                let values: Vec<Option<Vec<u8>>> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .fetch_all(pool)
                    .await
                    .expect("values");
                if values.iter().flatten().any(|v| holds(v)) {
                    hits.push(format!("{table}.{column}"));
                }
            }
        }
    }
    hits
}
