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
        .bind(claim.skip_webhooks)
        .fetch_all(pool)
        .await?)
}
