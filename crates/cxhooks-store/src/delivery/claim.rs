//! Taking due deliveries under a lease and giving them back; starting a delivery over; the
//! queue's depth.

use super::ClaimedDelivery;
use super::rows::CHUNK;
use crate::id::Id;
use crate::{ApplicationId, DeliveryId, Store, StoreError, TenantName, WebhookId, on_pool};
use sqlx::AssertSqlSafe;

/// Who claims, when, and what to leave to others: see [`Store::claim_due`].
pub(crate) struct Claim<'a> {
    pub(crate) node: &'a str,
    pub(crate) now: i64,
    pub(crate) lease_until: i64,
    pub(crate) skip_webhooks: &'a [WebhookId],
}

impl Store {
    /// Claims up to `limit` due deliveries for `node` until `lease_until` (µs), leaving those
    /// of `skip_webhooks` (webhooks the node cannot take more of now) to other nodes. With
    /// `expired_too`, deliveries whose lease ran out (their node died) fill what room is left:
    /// a second statement, which callers need not run on every claim.
    pub async fn claim_due(
        &self,
        node: &str,
        now: i64,
        lease_until: i64,
        limit: u32,
        skip_webhooks: &[WebhookId],
        expired_too: bool,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let claim = Claim {
            node,
            now,
            lease_until,
            skip_webhooks,
        };
        let once = |limit: u32, expired: bool| {
            let claim = &claim;
            async move {
                match &self.writer {
                    crate::Pool::Sqlite(pool) => {
                        crate::sqlite::claim(pool, claim, limit, expired).await
                    }
                    crate::Pool::Postgres(pool) => {
                        crate::postgres::claim(pool, claim, limit, expired).await
                    }
                }
            }
        };
        // Due and held by nobody (index `deliveries_claimable`), then, if that left room, leases
        // that have run out (index `deliveries_leased`).
        let mut rows = once(limit, false).await?;
        let room = limit.saturating_sub(u32::try_from(rows.len()).unwrap_or(u32::MAX));
        if expired_too && room > 0 {
            rows.extend(once(room, true).await?);
        }
        Ok(rows)
    }

    /// Gives back claims that will not be worked on now (e.g. the webhook's in-flight limit).
    pub async fn release(&self, node: &str, ids: &[DeliveryId]) -> Result<(), StoreError> {
        for chunk in ids.chunks(CHUNK) {
            let sql = format!(
                "UPDATE deliveries SET lease_until = NULL, lease_owner = NULL WHERE lease_owner = $1 AND id IN ({})",
                (2..chunk.len() + 2)
                    .map(|i| format!("${i}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            crate::on_writer!(self, |pool| {
                let mut q = sqlx::query(AssertSqlSafe(sql.clone())).bind(node);
                for id in chunk {
                    q = q.bind(Id::from(id));
                }
                q.execute(pool).await.map(|_| ())
            })?;
        }
        Ok(())
    }

    /// Drops every lease: for a single-node store at start-up, where no other process can hold
    /// one, so that work claimed by a killed process is resumed at once rather than after its
    /// lease expires.
    pub async fn release_all_leases(&self) -> Result<u64, StoreError> {
        let n = on_pool!(self, |pool| {
            sqlx::query(
            "UPDATE deliveries SET lease_until = NULL, lease_owner = NULL WHERE lease_until IS NOT NULL"
        )
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
        })?;
        Ok(n)
    }

    /// Starts a new attempt series now for a delivery, signed anew (with the current key).
    pub async fn redeliver(
        &self,
        tenant: &TenantName,
        app_id: ApplicationId,
        id: DeliveryId,
        now: i64,
    ) -> Result<bool, StoreError> {
        let n = on_pool!(self, |pool| {
            sqlx::query(
            "UPDATE deliveries SET status = 'pending', series_attempts = 0, series_started = NULL, signature = NULL, \
             next_attempt_at = $4, lease_until = NULL, lease_owner = NULL, updated_at = $4 \
             WHERE tenant = $1 AND application_id = $2 AND id = $3"
        )
        .bind(tenant.as_str())
        .bind(Id::from(app_id))
        .bind(Id::from(id))
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Queue depth (deliveries pending or retrying) and when the oldest of them was created (µs).
    pub async fn queue_stats(&self) -> Result<(i64, Option<i64>), StoreError> {
        on_pool!(self, |pool| sqlx::query_as(
            "SELECT COUNT(*), MIN(created_at) FROM deliveries WHERE status IN ('pending', 'retrying')"
        )
        .fetch_one(pool)
        .await)
        .map_err(StoreError::from)
    }

    /// How many deliveries are pending or retrying (queue depth).
    pub async fn pending_count(&self) -> Result<i64, StoreError> {
        on_pool!(self, |pool| sqlx::query_scalar(
            "SELECT COUNT(*) FROM deliveries WHERE status IN ('pending', 'retrying')"
        )
        .fetch_one(pool)
        .await)
        .map_err(StoreError::from)
    }
}
