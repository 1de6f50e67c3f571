//! The request log: deliveries of an application, one delivery, its attempts. It reads
//! `all_deliveries`: the queue and, on PostgreSQL, the log of finished deliveries (`log_parts`).

use super::{AttemptRecord, DeliveryRecord, DeliveryStatus, LogFilter};
use crate::id::{Id, is_id};
use crate::{ApplicationId, DeliveryId, Page, Paged, Store, StoreError, TenantName, on_pool};

macro_rules! record_columns {
    () => {
        "id, application_id, webhook_id, change_id, type, payload, status, attempts, next_attempt_at, created_at, updated_at"
    };
}

impl Store {
    /// The request log of an application, newest first; `page.after` is the last item of the
    /// previous page.
    pub async fn deliveries(
        &self,
        tenant: &TenantName,
        app_id: ApplicationId,
        filter: &LogFilter,
        page: &Page,
    ) -> Result<Paged<DeliveryRecord>, StoreError> {
        let sql = concat!(
            "SELECT ",
            record_columns!(),
            " FROM all_deliveries WHERE tenant = $1 AND application_id = $2 \
             AND ($3 IS NULL OR webhook_id = $3) AND ($4 = '' OR type = $4) AND ($5 = '' OR status = $5) \
             AND created_at >= $6 AND created_at < $7 \
             AND (created_at < $8 OR (created_at = $8 AND id < $9)) \
             AND ($11 IS NULL OR change_id = $11) \
             AND ($12 = '' OR change_id IN (SELECT id FROM changes WHERE tenant = $1 AND entity_id = $12)) \
             ORDER BY created_at DESC, id DESC LIMIT $10"
        );
        let (before_at, before_id) = match &page.after {
            Some((at, id)) => (*at, Some(id.as_str())),
            None => (i64::MAX, None),
        };
        // Text that is not an id names no webhook or change and follows no delivery: nothing to list.
        if filter.webhook_id.as_deref().is_some_and(|w| !is_id(w))
            || filter.change_id.as_deref().is_some_and(|c| !is_id(c))
            || before_id.is_some_and(|id| !is_id(id))
        {
            return Ok(Paged {
                items: Vec::new(),
                more: false,
            });
        }
        let rows: Vec<DeliveryRecord> = on_pool!(self, |pool| sqlx::query_as(sql)
            .bind(tenant.as_str())
            .bind(Id::from(app_id))
            .bind(filter.webhook_id.as_deref().map(Id::from))
            .bind(filter.event_type.as_deref().unwrap_or(""))
            .bind(filter.status.map_or("", DeliveryStatus::as_str))
            .bind(filter.since.unwrap_or(i64::MIN))
            .bind(filter.until.unwrap_or(i64::MAX))
            .bind(before_at)
            .bind(before_id.map(Id::from))
            .bind(i64::from(page.limit) + 1)
            .bind(filter.change_id.as_deref().map(Id::from))
            .bind(filter.entity_id.as_deref().unwrap_or(""))
            .fetch_all(pool)
            .await)?;
        let mut items = rows;
        let more = items.len() > page.limit as usize;
        items.truncate(page.limit as usize);
        Ok(Paged { items, more })
    }

    /// One delivery of an application.
    pub async fn delivery(
        &self,
        tenant: &TenantName,
        app_id: ApplicationId,
        id: DeliveryId,
    ) -> Result<Option<DeliveryRecord>, StoreError> {
        let sql = concat!(
            "SELECT ",
            record_columns!(),
            " FROM all_deliveries WHERE tenant = $1 AND application_id = $2 AND id = $3"
        );
        on_pool!(self, |pool| sqlx::query_as(sql)
            .bind(tenant.as_str())
            .bind(Id::from(app_id))
            .bind(Id::from(id))
            .fetch_optional(pool)
            .await)
        .map_err(StoreError::from)
    }

    /// The attempts of a delivery, in order.
    pub async fn attempts(
        &self,
        delivery_id: DeliveryId,
    ) -> Result<Vec<AttemptRecord>, StoreError> {
        // The latest attempt is in the delivery's row (see `MOVE_LATEST_ATTEMPT`); `UNION`
        // drops it if it was also moved by an outcome recorded after its lease was lost.
        on_pool!(self, |pool| sqlx::query_as(
            "SELECT n, at, duration_us, status_code, error, response_body FROM attempts WHERE delivery_id = $1 \
             UNION SELECT attempts, attempt_at, attempt_duration_us, attempt_status_code, attempt_error, \
             attempt_response_body FROM all_deliveries WHERE id = $1 AND attempt_at IS NOT NULL ORDER BY n"
        )
        .bind(Id::from(delivery_id))
        .fetch_all(pool)
        .await)
        .map_err(StoreError::from)
    }
}
