//! Bulk recovery: the failed deliveries of a webhook in a time range, and the progress of a
//! recovery that redelivers them (`recoveries`, written by the node that runs it).

use crate::id::Id;
use crate::{ApplicationId, DeliveryId, Store, StoreError, TenantName, WebhookId, on_pool};

/// A recovery as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RecoveryRecord {
    /// Its id (a UUID, as text).
    pub id: String,
    /// Tenant.
    pub tenant: String,
    /// Application (as text).
    pub application_id: String,
    /// Webhook (as text).
    pub webhook_id: String,
    /// Failed deliveries created at or after this (µs) are redelivered…
    pub since_us: i64,
    /// …and before this (µs).
    pub until_us: i64,
    /// `running`, `done` or `failed` (as stored; a stale `running` reads as interrupted).
    pub status: String,
    /// Failed deliveries found when it started.
    pub total: i64,
    /// Of those, handled so far…
    pub processed: i64,
    /// …of which were still failed and were redelivered.
    pub redelivered: i64,
    /// Why it stopped, if it failed.
    pub error: Option<String>,
    /// The client that started it.
    pub created_by: String,
    /// Started, µs.
    pub created_at: i64,
    /// Last progress written by its node, µs.
    pub heartbeat_at: i64,
    /// Finished, µs.
    pub finished_at: Option<i64>,
}

const COLUMNS: &str = "id, tenant, application_id, webhook_id, since_us, until_us, status, total, \
     processed, redelivered, error, created_by, created_at, heartbeat_at, finished_at";

impl Store {
    /// The failed deliveries of `webhook` created in `[since, until)` (µs), oldest first, at
    /// most `limit`.
    pub async fn failed_deliveries(
        &self,
        tenant: &TenantName,
        app_id: ApplicationId,
        webhook: WebhookId,
        (since, until): (i64, i64),
        limit: u32,
    ) -> Result<Vec<DeliveryId>, StoreError> {
        let ids: Vec<crate::id::IdText> = on_pool!(self, |pool| sqlx::query_scalar(
            "SELECT id FROM all_deliveries WHERE tenant = $1 AND application_id = $2 \
             AND webhook_id = $3 AND status = 'failed' AND created_at >= $4 AND created_at < $5 \
             ORDER BY created_at, id LIMIT $6"
        )
        .bind(tenant.as_str())
        .bind(Id::from(app_id))
        .bind(Id::from(webhook))
        .bind(since)
        .bind(until)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)?;
        ids.into_iter()
            .map(|id| {
                let text = String::from(id);
                DeliveryId::parse(&text)
                    .ok_or_else(|| StoreError::Corrupt(format!("delivery id '{text}'")))
            })
            .collect()
    }

    /// Delivers again those of `ids` that are still `failed`, as [`Store::redeliver`] does one:
    /// a new attempt series due at `now`. One statement per backend step; returns how many.
    pub async fn redeliver_failed(
        &self,
        tenant: &TenantName,
        app_id: ApplicationId,
        ids: &[DeliveryId],
        now: i64,
    ) -> Result<u64, StoreError> {
        const RESTART: &str = "UPDATE deliveries SET status = 'pending', series_attempts = 0, \
             series_started = NULL, signature = NULL, next_attempt_at = $3, lease_until = NULL, \
             lease_owner = NULL, updated_at = $3 WHERE tenant = $1 AND application_id = $2 \
             AND status = 'failed' AND id";
        if ids.is_empty() {
            return Ok(0);
        }
        match &self.pool {
            crate::Pool::Sqlite(pool) => {
                let list: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 4)).collect();
                let sql = format!("{RESTART} IN ({})", list.join(", "));
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(tenant.as_str())
                    .bind(Id::from(app_id))
                    .bind(now);
                for id in ids {
                    q = q.bind(Id::from(*id));
                }
                Ok(q.execute(pool).await?.rows_affected())
            }
            crate::Pool::Postgres(pool) => {
                let uuids: Vec<uuid::Uuid> = ids.iter().map(|id| id.uuid()).collect();
                let mut tx = pool.begin().await?;
                // Finished deliveries are in the log: the failed ones back to the queue first.
                sqlx::query(concat!(
                    "WITH l AS (DELETE FROM delivery_log WHERE tenant = $1 AND application_id = $2 \
                     AND status = 'failed' AND id = ANY($3) RETURNING *) ",
                    crate::delivery::log_parts::requeue_from_l!()
                ))
                .bind(tenant.as_str())
                .bind(Id::from(app_id))
                .bind(&uuids)
                .execute(&mut *tx)
                .await?;
                let n = sqlx::query(sqlx::AssertSqlSafe(format!("{RESTART} = ANY($4)")))
                    .bind(tenant.as_str())
                    .bind(Id::from(app_id))
                    .bind(now)
                    .bind(&uuids)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(n)
            }
        }
    }

    /// Stores a new recovery; [`StoreError::Conflict`] if one of its webhook is `running`.
    pub async fn insert_recovery(&self, r: &RecoveryRecord) -> Result<(), StoreError> {
        let sql = format!(
            "INSERT INTO recoveries ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        );
        on_pool!(self, |pool| sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&r.id)
            .bind(&r.tenant)
            .bind(&r.application_id)
            .bind(&r.webhook_id)
            .bind(r.since_us)
            .bind(r.until_us)
            .bind(&r.status)
            .bind(r.total)
            .bind(r.processed)
            .bind(r.redelivered)
            .bind(&r.error)
            .bind(&r.created_by)
            .bind(r.created_at)
            .bind(r.heartbeat_at)
            .bind(r.finished_at)
            .execute(pool)
            .await
            .map(|_| ()))
        .map_err(crate::error::conflict(
            "a recovery of this webhook is running",
        ))
    }

    /// Writes a recovery's progress: how many it redelivered, and, once it ends, its status,
    /// error and end time.
    pub async fn recovery_progress(&self, r: &RecoveryRecord) -> Result<(), StoreError> {
        on_pool!(self, |pool| sqlx::query(
            "UPDATE recoveries SET status = $2, redelivered = $3, error = $4, heartbeat_at = $5, \
             finished_at = $6, processed = $7 WHERE id = $1"
        )
        .bind(&r.id)
        .bind(&r.status)
        .bind(r.redelivered)
        .bind(&r.error)
        .bind(r.heartbeat_at)
        .bind(r.finished_at)
        .bind(r.processed)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// The recoveries of a webhook, newest first, at most `limit`.
    pub async fn recoveries(
        &self,
        tenant: &TenantName,
        webhook: WebhookId,
        limit: u32,
    ) -> Result<Vec<RecoveryRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM recoveries WHERE tenant = $1 AND webhook_id = $2 \
             ORDER BY created_at DESC, id DESC LIMIT $3"
        );
        on_pool!(self, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(webhook.to_string())
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await)
        .map_err(StoreError::from)
    }

    /// One recovery of a webhook.
    pub async fn recovery(
        &self,
        tenant: &TenantName,
        webhook: WebhookId,
        id: &str,
    ) -> Result<Option<RecoveryRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM recoveries WHERE tenant = $1 AND webhook_id = $2 AND id = $3"
        );
        on_pool!(self, |pool| sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(tenant.as_str())
            .bind(webhook.to_string())
            .bind(id)
            .fetch_optional(pool)
            .await)
        .map_err(StoreError::from)
    }
}
