//! Webhooks: create (within the client's limit), read, update, delete; the configuration
//! version nodes poll.

use super::rows::{Doomed, WebhookRow, bump_config, collect, limit_columns, webhook_columns};
use super::{Page, Paged, Webhook};
use crate::error::conflict;
use crate::model::*;
use crate::{ApplicationId, Store, StoreError, WebhookId, on_pool};

impl Store {
    /// Creates a webhook, unless its creator already owns `max_per_client` webhooks in the
    /// tenant (then `Ok(false)`). Count, insert and the configuration version's bump share one
    /// transaction.
    pub async fn create_webhook(
        &self,
        hook: &Webhook,
        max_per_client: u32,
    ) -> Result<bool, StoreError> {
        let filters = serde_json::to_string(&hook.filters).expect("filters serialise");
        let (max_in_flight, max_per_second, ordered) = limit_columns(hook);
        let sql = concat!(
            "INSERT INTO webhooks (",
            webhook_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
        );
        on_pool!(self, |pool| {
            let mut tx = crate::BeginWrite::begin_write(pool).await?;
            let owned: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM webhooks WHERE tenant = $1 AND created_by = $2",
            )
            .bind(hook.tenant.as_str())
            .bind(&hook.audit.created_by)
            .fetch_one(&mut *tx)
            .await?;
            if owned >= i64::from(max_per_client) {
                return Ok(false);
            }
            sqlx::query(sql)
                .bind(hook.id.to_string())
                .bind(hook.tenant.as_str())
                .bind(hook.application_id.to_string())
                .bind(&hook.url)
                .bind(&filters)
                .bind(&hook.sealed_custom_headers)
                .bind(hook.status.as_str())
                .bind(max_in_flight)
                .bind(max_per_second)
                .bind(ordered)
                .bind(to_micros(hook.audit.created_at))
                .bind(&hook.audit.created_by)
                .bind(to_micros(hook.audit.updated_at))
                .bind(&hook.audit.updated_by)
                .bind(&hook.description)
                .bind(&hook.sealed_auth)
                .execute(&mut *tx)
                .await
                .map_err(conflict(format!("webhook {}", hook.id)))?;
            bump_config!(tx, hook.tenant.as_str());
            tx.commit().await?;
            Ok(true)
        })
    }

    /// One webhook of an application of a tenant.
    pub async fn webhook(
        &self,
        tenant: &TenantName,
        application_id: ApplicationId,
        id: WebhookId,
    ) -> Result<Option<Webhook>, StoreError> {
        let sql = concat!(
            "SELECT ",
            webhook_columns!(),
            " FROM webhooks WHERE tenant = $1 AND application_id = $2 AND id = $3"
        );
        let row: Option<WebhookRow> = on_pool!(self, |pool| sqlx::query_as(sql)
            .bind(tenant.as_str())
            .bind(application_id.to_string())
            .bind(id.to_string())
            .fetch_optional(pool)
            .await)?;
        row.map(Webhook::try_from).transpose()
    }

    /// A page of an application's webhooks, in creation order.
    pub async fn webhooks(
        &self,
        tenant: &TenantName,
        application_id: ApplicationId,
        page: &Page,
    ) -> Result<Paged<Webhook>, StoreError> {
        let sql = concat!(
            "SELECT ",
            webhook_columns!(),
            " FROM webhooks WHERE tenant = $1 AND application_id = $2 AND ($3 = '' OR created_by = $3) \
             AND (created_at > $4 OR (created_at = $4 AND id > $5)) ORDER BY created_at, id LIMIT $6"
        );
        let rows: Vec<WebhookRow> = on_pool!(self, |pool| sqlx::query_as(sql)
            .bind(tenant.as_str())
            .bind(application_id.to_string())
            .bind(page.created_by.as_deref().unwrap_or(""))
            .bind(page.after_at())
            .bind(page.after_id())
            .bind(page.fetch())
            .fetch_all(pool)
            .await)?;
        Ok(Paged::from_rows(collect(rows)?, page))
    }

    /// Every webhook of every tenant (to build the matcher at start-up).
    pub async fn all_webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        let sql = concat!(
            "SELECT ",
            webhook_columns!(),
            " FROM webhooks ORDER BY tenant, created_at, id"
        );
        let rows: Vec<WebhookRow> =
            on_pool!(self, |pool| sqlx::query_as(sql).fetch_all(pool).await)?;
        collect(rows)
    }

    /// The current configuration version (moved by every write of applications and webhooks, in the write's transaction).
    pub async fn config_version(&self) -> Result<i64, StoreError> {
        on_pool!(self, |pool| sqlx::query_scalar(
            "SELECT version FROM config_version WHERE id = 1"
        )
        .fetch_one(pool)
        .await)
        .map_err(StoreError::from)
    }

    /// The tenants whose configuration changed after version `seen`, up to version `upto` (as
    /// read from [`Store::config_version`]); `None` when a version in between is not on record
    /// (pruned, or written before the record was kept): the reader then reloads everything.
    /// Every version up to `upto` is committed once `upto` is readable (the moves take the
    /// counter's row lock in turn), so a complete answer misses nothing.
    pub async fn config_changes(
        &self,
        seen: i64,
        upto: i64,
    ) -> Result<Option<Vec<TenantName>>, StoreError> {
        let rows: Vec<(i64, String)> = on_pool!(self, |pool| sqlx::query_as(
            "SELECT version, tenant FROM config_changes WHERE version > $1 AND version <= $2 \
             ORDER BY version"
        )
        .bind(seen)
        .bind(upto)
        .fetch_all(pool)
        .await)?;
        if i64::try_from(rows.len()).ok() != upto.checked_sub(seen) {
            return Ok(None);
        }
        let mut tenants = Vec::new();
        for (_, name) in rows {
            let Ok(name) = TenantName::parse(&name) else {
                return Ok(None);
            };
            if !tenants.contains(&name) {
                tenants.push(name);
            }
        }
        Ok(Some(tenants))
    }

    /// Forgets which tenants the configuration moves before the last `keep` were for.
    pub async fn prune_config_changes(&self, keep: i64) -> Result<u64, StoreError> {
        on_pool!(self, |pool| sqlx::query(
            "DELETE FROM config_changes \
             WHERE version <= (SELECT version FROM config_version WHERE id = 1) - $1"
        )
        .bind(keep)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))
        .map_err(StoreError::from)
    }

    /// Every webhook of some tenants (to reload the matcher for them).
    pub async fn tenants_webhooks(
        &self,
        tenants: &[TenantName],
    ) -> Result<Vec<Webhook>, StoreError> {
        let sql = concat!(
            "SELECT ",
            webhook_columns!(),
            " FROM webhooks WHERE tenant = $1 ORDER BY created_at, id"
        );
        let mut all = Vec::new();
        for tenant in tenants {
            let rows: Vec<WebhookRow> = on_pool!(self, |pool| sqlx::query_as(sql)
                .bind(tenant.as_str())
                .fetch_all(pool)
                .await)?;
            all.extend(collect::<_, Webhook>(rows)?);
        }
        Ok(all)
    }

    /// Writes a webhook's url, filters, headers, status, limits and update audit, clears its failure
    /// streak if `fresh_start` (enabled again), and bumps the configuration version, in one
    /// transaction; false if it does not exist.
    pub async fn update_webhook(
        &self,
        hook: &Webhook,
        fresh_start: bool,
    ) -> Result<bool, StoreError> {
        let filters = serde_json::to_string(&hook.filters).expect("filters serialise");
        let (max_in_flight, max_per_second, ordered) = limit_columns(hook);
        on_pool!(self, |pool| {
            let mut tx = crate::BeginWrite::begin_write(pool).await?;
            let n = sqlx::query(
                "UPDATE webhooks SET url = $4, filters = $5, sealed_custom_headers = $6, \
                 status = $7, updated_at = $8, updated_by = $9, \
                 failing_since = CASE WHEN $10 THEN NULL ELSE failing_since END, \
                 failed_deliveries = CASE WHEN $10 THEN 0 ELSE failed_deliveries END, \
                 max_in_flight = $11, max_per_second = $12, ordered = $13, description = $14, \
                 sealed_auth = $15 \
                 WHERE tenant = $1 AND application_id = $2 AND id = $3",
            )
            .bind(hook.tenant.as_str())
            .bind(hook.application_id.to_string())
            .bind(hook.id.to_string())
            .bind(&hook.url)
            .bind(&filters)
            .bind(&hook.sealed_custom_headers)
            .bind(hook.status.as_str())
            .bind(to_micros(hook.audit.updated_at))
            .bind(&hook.audit.updated_by)
            .bind(fresh_start)
            .bind(max_in_flight)
            .bind(max_per_second)
            .bind(ordered)
            .bind(&hook.description)
            .bind(&hook.sealed_auth)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 1 {
                bump_config!(tx, hook.tenant.as_str());
            }
            tx.commit().await?;
            Ok::<_, StoreError>(n == 1)
        })
    }

    /// Deletes a webhook, records its pending deliveries as cancelled (at `now`) and bumps the
    /// configuration version, in one transaction; false if it did not exist.
    pub async fn delete_webhook(
        &self,
        tenant: &TenantName,
        application_id: ApplicationId,
        id: WebhookId,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.delete_cancelling(tenant, Doomed::Webhook(application_id, id), now)
            .await
    }
}
