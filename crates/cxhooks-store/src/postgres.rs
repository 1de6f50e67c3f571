//! Opening a PostgreSQL store.

use crate::StoreError;
use crate::delivery::claimed_columns;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use std::str::FromStr;
use std::time::Duration;

fn redact(url: &str) -> String {
    // Never echo a password from a connection URL.
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://…@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

pub(crate) async fn connect(url: &str, schema: Option<&str>) -> Result<PgPool, StoreError> {
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
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .map_err(|e| StoreError::Open(format!("cannot connect to PostgreSQL at {shown}: {e}")))
}

pub(crate) async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    sqlx::migrate!("./migrations/postgres").run(pool).await?;
    Ok(())
}

/// Claims due deliveries, one statement: those held by nobody in due order, or (`expired`)
/// those whose lease ran out; `FOR UPDATE SKIP LOCKED`, so nodes claiming at once never take
/// the same row.
pub(crate) async fn claim(
    pool: &PgPool,
    claim: &crate::delivery::Claim<'_>,
    limit: u32,
    expired: bool,
) -> Result<Vec<crate::delivery::Claimed>, StoreError> {
    let sql = if expired {
        concat!(
            "UPDATE deliveries SET lease_until = $2, lease_owner = $3 WHERE id IN (\
               SELECT id FROM deliveries WHERE lease_owner IS NOT NULL AND lease_until < $1 \
               AND status IN ('pending', 'retrying') AND next_attempt_at <= $1 \
               AND webhook_id <> ALL($5) ORDER BY lease_until LIMIT $4 FOR UPDATE SKIP LOCKED) \
             RETURNING ",
            claimed_columns!()
        )
    } else {
        concat!(
            "UPDATE deliveries SET lease_until = $2, lease_owner = $3 WHERE id IN (\
               SELECT id FROM deliveries WHERE status IN ('pending', 'retrying') AND lease_owner IS NULL \
               AND next_attempt_at <= $1 AND webhook_id <> ALL($5) ORDER BY next_attempt_at LIMIT $4 \
               FOR UPDATE SKIP LOCKED) RETURNING ",
            claimed_columns!()
        )
    };
    Ok(sqlx::query_as(sql)
        .bind(claim.now)
        .bind(claim.lease_until)
        .bind(claim.owner)
        .bind(i64::from(limit))
        .bind(
            claim
                .skip_webhooks
                .iter()
                .map(crate::id::Id::from)
                .collect::<Vec<_>>(),
        )
        .fetch_all(pool)
        .await?)
}

/// Vacuums the tables of the current schema whose dead row versions (what updates and deletes
/// leave behind) number more than `min_dead` plus `share` of their live rows, as PostgreSQL's
/// autovacuum would with much lower thresholds, and returns their names. `SKIP_LOCKED`: a table
/// another node is vacuuming is left to it.
pub(crate) async fn vacuum_churned(
    pool: &PgPool,
    min_dead: i64,
    share: f64,
) -> Result<Vec<String>, StoreError> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT quote_ident(relname) FROM pg_stat_user_tables \
         WHERE schemaname = current_schema() AND n_dead_tup > $1 + $2 * n_live_tup ORDER BY relname",
    )
    .bind(min_dead)
    .bind(share)
    .fetch_all(pool)
    .await?;
    if !tables.is_empty() {
        // Names quoted by PostgreSQL itself, from its own catalog. Without truncating empty
        // pages off the end, which would lock out the table's readers and writers meanwhile (the
        // next deliveries take those pages anyway).
        let sql = format!("VACUUM (SKIP_LOCKED, TRUNCATE false) {}", tables.join(", "));
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await?;
    }
    Ok(tables)
}

#[cfg(test)]
mod tests {
    use crate::{Store, StoreLocation};

    /// A store made before migration 0010 (ids as text) opens with every change, delivery and
    /// attempt intact, its ids now `uuid`, and the attempts still tied to their delivery.
    #[tokio::test]
    async fn upgrading_to_uuid_ids_keeps_every_delivery_and_attempt() {
        let url = crate::testing::postgres_url();
        let schema = format!("cxtest_{}", uuid::Uuid::new_v4().simple());
        let pool = super::connect(&url, Some(&schema)).await.unwrap();
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
            (6, 1),
            "six id columns are uuid, and attempts still go with their delivery"
        );
        store.drop_schema(&schema).await.unwrap();
        store.close().await;
    }
}
