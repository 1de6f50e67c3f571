//! Opening a PostgreSQL store.

use crate::{SnapshotHolder, StoreError, Vacuumed};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use std::str::FromStr;
use std::time::Duration;

mod delivery;

pub(crate) use delivery::{NOTIFY_DUE, claim_expired, claim_from};

fn redact(url: &str) -> String {
    // Never echo a password from a connection URL.
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://…@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

pub(crate) async fn connect(
    url: &str,
    schema: Option<&str>,
    acquire_timeout: Duration,
) -> Result<PgPool, StoreError> {
    let shown = redact(url);
    let mut options = PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::Open(format!("invalid PostgreSQL URL {shown}: {e}")))?;
    if let Some(schema) = schema {
        if !schema
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(StoreError::Open(format!("invalid schema name '{schema}'")));
        }
        let mut conn = PgConnection::connect_with(&options).await.map_err(|e| {
            StoreError::Open(format!("cannot connect to PostgreSQL at {shown}: {e}"))
        })?;
        // The name was checked above to be [A-Za-z0-9_]+, so it cannot break out of the statement.
        let create = format!("CREATE SCHEMA IF NOT EXISTS {schema}");
        sqlx::query(sqlx::AssertSqlSafe(create))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        options = options.options([("search_path", schema)]);
    }
    PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(acquire_timeout)
        .connect_with(options)
        .await
        .map_err(|e| StoreError::Open(format!("cannot connect to PostgreSQL at {shown}: {e}")))
}

pub(crate) async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    sqlx::migrate!("./migrations/postgres").run(pool).await?;
    Ok(())
}

/// Vacuums the tables of the current schema whose dead row versions (what updates and deletes
/// leave behind) number more than `min_dead` plus `share` of their live rows, as PostgreSQL's
/// autovacuum would with much lower thresholds. `SKIP_LOCKED`: a table another node is
/// vacuuming is left to it. A table the connected role may not vacuum (it owns neither the
/// table nor the database) is not tried: PostgreSQL would skip it with a warning each time.
pub(crate) async fn vacuum_churned(
    pool: &PgPool,
    min_dead: i64,
    share: f64,
) -> Result<Vacuumed, StoreError> {
    let churned: Vec<(String, i64, bool)> = sqlx::query_as(
        "SELECT quote_ident(s.relname), s.vacuum_count, \
                pg_has_role(c.relowner, 'USAGE') OR pg_has_role(d.datdba, 'USAGE') \
         FROM pg_stat_user_tables s \
         JOIN pg_class c ON c.oid = s.relid \
         JOIN pg_database d ON d.datname = current_database() \
         WHERE s.schemaname = current_schema() AND s.n_dead_tup > $1 + $2 * s.n_live_tup \
         ORDER BY s.relname",
    )
    .bind(min_dead)
    .bind(share)
    .fetch_all(pool)
    .await?;
    let mut done = Vacuumed::default();
    let mut tried = Vec::new();
    for (table, count, may) in churned {
        if may {
            tried.push((table, count));
        } else {
            done.not_owned.push(table);
        }
    }
    if tried.is_empty() {
        return Ok(done);
    }
    // Names quoted by PostgreSQL itself, from its own catalog. Without truncating empty pages
    // off the end, which would lock out the table's readers and writers meanwhile (the next
    // deliveries take those pages anyway).
    let names: Vec<&str> = tried.iter().map(|(table, _)| table.as_str()).collect();
    let sql = format!("VACUUM (SKIP_LOCKED, TRUNCATE false) {}", names.join(", "));
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(pool)
        .await?;
    // A table skipped because another session held it is not counted: its `vacuum_count` did
    // not move (PostgreSQL 15 and later count a vacuum in shared memory as it ends). A vacuum
    // leaves counted as dead the versions it could not free.
    let after: Vec<(String, i64, bool)> = sqlx::query_as(
        "SELECT quote_ident(relname), vacuum_count, n_dead_tup > $1 + $2 * n_live_tup \
         FROM pg_stat_user_tables WHERE schemaname = current_schema()",
    )
    .bind(min_dead)
    .bind(share)
    .fetch_all(pool)
    .await?;
    for (table, before) in tried {
        match after.iter().find(|(t, _, _)| *t == table) {
            Some((_, count, still_churned)) if *count > before => {
                if *still_churned {
                    done.held.push(table.clone());
                }
                done.vacuumed.push(table);
            }
            _ => done.skipped.push(table),
        }
    }
    if !done.held.is_empty() {
        done.holder = oldest_snapshot(pool).await?;
    }
    Ok(done)
}

/// The session of this database whose snapshot is the oldest (other than this one's): what
/// keeps vacuum from freeing the versions that died after it was taken.
async fn oldest_snapshot(pool: &PgPool) -> Result<Option<SnapshotHolder>, StoreError> {
    let row: Option<(i32, String, String, f64)> = sqlx::query_as(
        "SELECT pid, COALESCE(application_name, ''), COALESCE(state, ''), \
                COALESCE(EXTRACT(EPOCH FROM now() - xact_start), 0)::float8 \
         FROM pg_stat_activity \
         WHERE backend_xmin IS NOT NULL AND pid <> pg_backend_pid() \
           AND datname = current_database() \
         ORDER BY age(backend_xmin) DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(pid, application, state, open_s)| SnapshotHolder {
        pid,
        application,
        state,
        open_s,
    }))
}

#[cfg(test)]
mod tests {
    use crate::{Store, StoreLocation, Vacuumed};
    use sqlx::Connection;
    use sqlx::postgres::PgConnectOptions;
    use std::str::FromStr;

    /// What was tried and how it went, leaving out whether the freed versions were held back
    /// (other tests' transactions in the same database may hold them).
    fn outcome(done: &Vacuumed) -> (&[String], &[String], &[String]) {
        (&done.vacuumed, &done.skipped, &done.not_owned)
    }

    /// Runs trusted SQL (names made by the test) and expects it to succeed.
    async fn run(pool: &sqlx::PgPool, sql: String) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await
            .unwrap();
    }

    /// Polls `vacuum_churned` until the statistics show the table churned (they reach
    /// PostgreSQL's shared memory within about a second), and returns what it did.
    async fn vacuum_once_churned(pool: &sqlx::PgPool) -> super::Vacuumed {
        for _ in 0..100 {
            let done = super::vacuum_churned(pool, 100, 0.0).await.unwrap();
            if done != Vacuumed::default() {
                return done;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("3,000 deleted rows never showed in pg_stat_user_tables");
    }

    /// Only vacuums that ran are reported as vacuumed: a table another session holds (another
    /// node vacuuming it) is skipped, and one the connected role does not own is not tried.
    #[tokio::test]
    async fn a_vacuum_is_counted_only_where_it_ran() {
        let url = crate::testing::postgres_url();
        let schema = format!("cxtest_{}", uuid::Uuid::new_v4().simple());
        let owner = super::connect(&url, Some(&schema), std::time::Duration::from_secs(10))
            .await
            .unwrap();
        sqlx::raw_sql(
            "CREATE TABLE churned (n int) WITH (autovacuum_enabled = false); \
             INSERT INTO churned SELECT generate_series(1, 3000); DELETE FROM churned",
        )
        .execute(&owner)
        .await
        .unwrap();
        let table = || vec!["churned".to_owned()];

        // Another role, allowed to read the schema but owning nothing.
        let role = format!("cxtest_{}", uuid::Uuid::new_v4().simple());
        let create = format!(
            "CREATE ROLE {role} LOGIN PASSWORD 'cxtest'; GRANT USAGE ON SCHEMA {schema} TO {role}"
        );
        run(&owner, create).await;
        let options = PgConnectOptions::from_str(&url)
            .unwrap()
            .username(&role)
            .password("cxtest")
            .options([("search_path", schema.as_str())]);
        let stranger = sqlx::PgPool::connect_with(options).await.unwrap();
        let done = vacuum_once_churned(&stranger).await;
        stranger.close().await;
        let drop = format!("DROP OWNED BY {role}; DROP ROLE {role}");
        run(&owner, drop).await;
        assert_eq!(outcome(&done), (&[][..], &[][..], &table()[..]));

        // Held by another session: skipped, not counted.
        let mut holder = owner.begin().await.unwrap();
        sqlx::query("LOCK TABLE churned IN SHARE UPDATE EXCLUSIVE MODE")
            .execute(&mut *holder)
            .await
            .unwrap();
        let done = vacuum_once_churned(&owner).await;
        holder.rollback().await.unwrap();
        assert_eq!(outcome(&done), (&[][..], &table()[..], &[][..]));

        // Free: vacuumed.
        let done = vacuum_once_churned(&owner).await;
        assert_eq!(outcome(&done), (&table()[..], &[][..], &[][..]));
        let drop = format!("DROP SCHEMA {schema} CASCADE");
        run(&owner, drop).await;
    }

    /// A vacuum that cannot free the dead versions (a transaction older than them is open)
    /// says so, and names the session that holds them; once it ends, the next vacuum frees
    /// them. In a database of its own: other tests' transactions would hold them too.
    #[tokio::test]
    async fn a_vacuum_held_back_names_the_transaction_that_holds_it() {
        let url = crate::testing::postgres_url();
        let database = format!("cxtest_{}", uuid::Uuid::new_v4().simple());
        let admin = sqlx::PgPool::connect(&url).await.unwrap();
        let create = format!("CREATE DATABASE {database}");
        run(&admin, create).await;
        let options = PgConnectOptions::from_str(&url)
            .unwrap()
            .database(&database);
        let pool = sqlx::PgPool::connect_with(options.clone()).await.unwrap();
        sqlx::raw_sql(
            "CREATE TABLE churned (n int) WITH (autovacuum_enabled = false); \
             INSERT INTO churned SELECT generate_series(1, 3000)",
        )
        .execute(&pool)
        .await
        .unwrap();
        // A report's transaction, begun before the rows die.
        let mut report =
            sqlx::PgConnection::connect_with(&options.application_name("cxtest-report"))
                .await
                .unwrap();
        sqlx::raw_sql("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM churned")
            .execute(&mut report)
            .await
            .unwrap();
        sqlx::query("DELETE FROM churned")
            .execute(&pool)
            .await
            .unwrap();

        let held = vacuum_once_churned(&pool).await;
        assert_eq!(held.vacuumed, vec!["churned".to_owned()]);
        assert_eq!(held.held, vec!["churned".to_owned()]);
        let holder = held.holder.expect("the report's session is named");
        assert_eq!(
            (holder.application.as_str(), holder.state.as_str()),
            ("cxtest-report", "idle in transaction")
        );
        assert!(holder.to_string().contains("cxtest-report"), "{holder}");

        sqlx::raw_sql("ROLLBACK")
            .execute(&mut report)
            .await
            .unwrap();
        let freed = vacuum_once_churned(&pool).await;
        assert_eq!(
            freed,
            Vacuumed {
                vacuumed: vec!["churned".to_owned()],
                ..Vacuumed::default()
            }
        );
        report.close().await.unwrap();
        pool.close().await;
        let drop = format!("DROP DATABASE {database} WITH (FORCE)");
        run(&admin, drop).await;
    }

    /// A store made before migration 0010 (ids as text) opens with every change, delivery and
    /// attempt intact, its ids now `uuid`.
    #[tokio::test]
    async fn upgrading_to_uuid_ids_keeps_every_delivery_and_attempt() {
        let url = crate::testing::postgres_url();
        let schema = format!("cxtest_{}", uuid::Uuid::new_v4().simple());
        let pool = super::connect(&url, Some(&schema), std::time::Duration::from_secs(10))
            .await
            .unwrap();
        let before = crate::upgrade_test::up_to(sqlx::migrate!("./migrations/postgres"), 9);
        before.run(&pool).await.unwrap();
        let rows = crate::upgrade_test::OldRows::new();
        crate::upgrade_test::store_old_rows!(&pool, &rows, "true");
        pool.close().await;

        let store = Store::open(&StoreLocation::Postgres {
            url: url.clone(),
            schema: Some(schema.clone()),
        })
        .await
        .unwrap();
        rows.check(&store).await;
        let (uuid_columns, cascades): (i64, i64) = crate::on_pool!(store, |pool| sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = current_schema() \
               AND data_type = 'uuid' AND table_name IN ('changes', 'deliveries', 'attempts')), \
             (SELECT COUNT(*) FROM pg_constraint WHERE conname = 'attempts_delivery_id_fkey' \
               AND connamespace = current_schema()::regnamespace AND confdeltype = 'c')"
        )
        .fetch_one(pool)
        .await)
        .unwrap();
        assert_eq!(
            (uuid_columns, cascades),
            (6, 0),
            "six id columns are uuid; attempts no longer cascade from the queue (since migration \
             \"delivery log\" they go with their log partition)"
        );
        store.drop_schema(&schema).await.unwrap();
        store.close().await;
    }
}
