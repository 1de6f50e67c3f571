//! Writing outcomes back: attempts, deliveries' next state, webhooks' health; and cancelling
//! the pending deliveries of a webhook or application that goes away.

use super::log_parts::move_finished;
use super::rows::{
    CHUNK, COMPLETION_ROW_BYTES, message_budget, padded_rows, placeholders, row_chunks,
};
use super::{AttemptRecord, DeliveryOutcome, DeliveryStatus, Next, WebhookEffects};
use crate::id::{Id, IdText};
use crate::{DeliveryId, Store, StoreError, WebhookId};
use sqlx::AssertSqlSafe;

/// A delivery's latest attempt lives in its row (`attempt_*`, its number the row's `attempts`),
/// the earlier ones in `attempts`. Most deliveries succeed at their first attempt, which is then
/// written with the outcome, in the row the outcome updates anyway, instead of as a row of its
/// own with a key of its own: about 140 bytes and one statement less per delivered notification
/// on PostgreSQL. Readers take both places ([`Store::attempts`]).
///
/// The start of the statement that moves the latest attempts of the deliveries `o` (joined by
/// the caller) into `attempts`, before a later attempt takes their place.
pub(crate) const MOVE_LATEST_ATTEMPT: &str = "INSERT INTO attempts \
     (delivery_id, n, at, duration_us, status_code, error, response_body) \
     SELECT o.id, o.attempts, o.attempt_at, o.attempt_duration_us, o.attempt_status_code, \
     o.attempt_error, o.attempt_response_body FROM deliveries o";

/// The assignments that record an outcome's attempt (`a_at`, `a_duration`, `a_code`, `a_error`,
/// `a_body`; `a_at` NULL when nothing was sent) as a delivery's latest.
pub(crate) const SET_LATEST_ATTEMPT: &str = "attempt_at = COALESCE(a_at, attempt_at), \
     attempt_duration_us = COALESCE(a_duration, attempt_duration_us), \
     attempt_status_code = CASE WHEN a_at IS NULL THEN attempt_status_code ELSE a_code END, \
     attempt_error = CASE WHEN a_at IS NULL THEN attempt_error ELSE a_error END, \
     attempt_response_body = COALESCE(a_body, attempt_response_body)";

/// The same values as a select list, in the columns' order (`attempt_at` …
/// `attempt_response_body`), for a finished delivery written to the log.
pub(crate) const LATEST_ATTEMPT_VALUES: &str = "COALESCE(a_at, attempt_at), \
     COALESCE(a_duration, attempt_duration_us), \
     CASE WHEN a_at IS NULL THEN attempt_status_code ELSE a_code END, \
     CASE WHEN a_at IS NULL THEN attempt_error ELSE a_error END, \
     COALESCE(a_body, attempt_response_body)";

impl Store {
    /// Writes a batch of attempt outcomes in one transaction. A completion whose lease was lost
    /// (another node claimed the delivery since) is dropped. Webhooks are put in `error` on
    /// 410 Gone, or when they have failed without success for `error_after_us` and at least
    /// `error_after_deliveries` deliveries.
    pub async fn complete(
        &self,
        batch: &[DeliveryOutcome],
        now: i64,
        error_after_us: i64,
        error_after_deliveries: i64,
    ) -> Result<WebhookEffects, StoreError> {
        let mut effects = WebhookEffects::default();
        if let crate::Pool::Postgres(pool) = &self.writer {
            // Every outcome a delivery, with its attempt: no failure to count.
            let delivered: Option<Vec<(&DeliveryOutcome, &AttemptRecord)>> = batch
                .iter()
                .map(|c| {
                    c.attempt
                        .as_ref()
                        .filter(|_| c.next == Next::Delivered)
                        .map(|a| (c, a))
                })
                .collect();
            if let Some(delivered) = delivered {
                self.complete_delivered_pg(pool, &delivered, now).await?;
                return Ok(effects);
            }
        }
        crate::on_writer!(self, |pool| {
            let mut tx = crate::BeginWrite::begin_write(pool).await?;
            // A delivery's latest attempt is kept in its row, the earlier ones in `attempts`
            // (migration "latest attempt inline"): before a second or later attempt is recorded,
            // the one it follows moves there, if this node still owns the delivery.
            let later: Vec<&DeliveryOutcome> = batch
                .iter()
                .filter(|c| c.attempt.as_ref().is_some_and(|a| a.n > 1))
                .collect();
            for chunk in later.chunks(CHUNK / 2) {
                let sql = format!(
                    "WITH v(v_id, v_owner) AS (VALUES {}) {MOVE_LATEST_ATTEMPT} \
                     JOIN v ON o.id = v.v_id AND o.lease_owner = v.v_owner \
                     WHERE o.attempt_at IS NOT NULL ON CONFLICT (delivery_id, n) DO NOTHING",
                    placeholders(self, chunk.len(), 2, 1)
                );
                let mut q = sqlx::query(AssertSqlSafe(sql));
                for c in chunk {
                    q = q.bind(Id::from(&c.delivery_id)).bind(&c.node);
                }
                q.execute(&mut *tx).await?;
            }
            // One statement per chunk: the outcomes as a table of values, joined on id and lease
            // owner; what it returns is what this node still owned.
            let mut still_owned = std::collections::HashSet::with_capacity(batch.len());
            let sizes = batch.iter().map(|c| {
                COMPLETION_ROW_BYTES
                    + c.signature.as_ref().map_or(0, String::len)
                    + c.attempt.as_ref().map_or(0, |a| {
                        a.response_body.len() + a.error.as_ref().map_or(0, String::len)
                    })
            });
            for rows in row_chunks(sizes, message_budget(self)) {
                let chunk = &batch[rows];
                let sql = format!(
                    "WITH v(v_id, v_owner, v_status, v_next, v_signature, v_tried, v_started, v_now, \
                     a_at, a_duration, a_code, a_error, a_body) AS (VALUES {}) \
                     UPDATE deliveries SET status = v_status, next_attempt_at = v_next, \
                     signature = COALESCE(v_signature, signature), attempts = attempts + v_tried, \
                     series_attempts = series_attempts + v_tried, \
                     series_started = COALESCE(series_started, v_started), lease_until = NULL, \
                     lease_owner = NULL, updated_at = v_now, {SET_LATEST_ATTEMPT} \
                     FROM v WHERE id = v_id AND lease_owner = v_owner RETURNING id",
                    placeholders(self, padded_rows(chunk.len()), 13, 1)
                );
                let mut q = sqlx::query_scalar::<_, IdText>(AssertSqlSafe(sql));
                for c in chunk {
                    let (status, next_at) = match c.next {
                        Next::Delivered => (DeliveryStatus::Delivered, now),
                        Next::Retry(at) => (DeliveryStatus::Retrying, at),
                        Next::Failed | Next::Gone => (DeliveryStatus::Failed, now),
                        Next::Cancelled => (DeliveryStatus::Cancelled, now),
                    };
                    q = q
                        .bind(Id::from(&c.delivery_id))
                        .bind(&c.node)
                        .bind(status.as_str())
                        .bind(next_at)
                        .bind(&c.signature)
                        .bind(i64::from(c.attempt.is_some()))
                        .bind(c.series_started)
                        .bind(now);
                    q = match &c.attempt {
                        Some(a) => q
                            .bind(Some(a.at))
                            .bind(Some(a.duration_us))
                            .bind(a.status_code)
                            .bind(&a.error)
                            .bind(Some(&a.response_body)),
                        None => q
                            .bind(None::<i64>)
                            .bind(None::<i64>)
                            .bind(None::<i64>)
                            .bind(None::<&str>)
                            .bind(None::<&str>),
                    };
                }
                // Padding: a null id matches no delivery.
                for _ in chunk.len()..padded_rows(chunk.len()) {
                    q = q
                        .bind(None::<Id>)
                        .bind(None::<&str>)
                        .bind(None::<&str>)
                        .bind(None::<i64>)
                        .bind(None::<&str>)
                        .bind(None::<i64>)
                        .bind(None::<i64>)
                        .bind(None::<i64>)
                        .bind(None::<i64>)
                        .bind(None::<i64>)
                        .bind(None::<i64>)
                        .bind(None::<&str>)
                        .bind(None::<&str>);
                }
                still_owned.extend(
                    q.fetch_all(&mut *tx)
                        .await?
                        .into_iter()
                        .filter_map(|id| DeliveryId::try_from(id).ok()),
                );
            }
            // Finished ones leave the queue for the log (PostgreSQL).
            move_finished!(
                self,
                tx,
                batch
                    .iter()
                    .filter(|c| !matches!(c.next, Next::Retry(_)))
                    .map(|c| c.delivery_id)
                    .filter(|id| still_owned.contains(id)),
                now
            );
            let owned: Vec<bool> = batch
                .iter()
                .map(|c| still_owned.contains(&c.delivery_id))
                .collect();
            // Webhook health: a success clears the failure streak (one statement for the whole
            // batch); the first failed attempt of a delivery extends it, and only failures can
            // put a webhook in `error`.
            let mut succeeded: Vec<WebhookId> = Vec::new();
            for (c, _) in batch.iter().zip(&owned).filter(|(_, o)| **o) {
                let Some(a) = &c.attempt else { continue };
                if c.next == Next::Delivered {
                    if !succeeded.contains(&c.webhook_id) {
                        succeeded.push(c.webhook_id);
                    }
                    continue;
                }
                if a.n == 1 || c.next == Next::Gone {
                    sqlx::query(
                        "UPDATE webhooks SET failing_since = COALESCE(failing_since, $2), \
                         failed_deliveries = failed_deliveries + 1 WHERE id = $1",
                    )
                    .bind(c.webhook_id.to_string())
                    .bind(a.at)
                    .execute(&mut *tx)
                    .await?;
                }
                let errored: Option<String> = sqlx::query_scalar(
                    "UPDATE webhooks SET status = 'error' WHERE id = $1 AND status = 'enabled' \
                     AND ($2 OR (failing_since <= $3 AND failed_deliveries >= $4)) RETURNING id",
                )
                .bind(c.webhook_id.to_string())
                .bind(c.next == Next::Gone)
                .bind(now - error_after_us)
                .bind(error_after_deliveries)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(id) = errored {
                    let cancelled: Vec<IdText> = sqlx::query_scalar(
                        "UPDATE deliveries SET status = 'cancelled', updated_at = $2 WHERE webhook_id = $1 \
                         AND status IN ('pending', 'retrying') AND lease_owner IS NULL RETURNING id",
                    )
                    .bind(Id::from(&id))
                    .bind(now)
                    .fetch_all(&mut *tx)
                    .await?;
                    move_finished!(
                        self,
                        tx,
                        cancelled
                            .into_iter()
                            .filter_map(|id| DeliveryId::try_from(id).ok()),
                        now
                    );
                    sqlx::query(crate::management::BUMP_CONFIG)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(
                        "INSERT INTO config_changes (version, tenant) SELECT c.version, w.tenant \
                         FROM config_version c, webhooks w WHERE c.id = 1 AND w.id = $1",
                    )
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
                    effects.errored.extend(WebhookId::parse(&id));
                }
            }
            for chunk in succeeded.chunks(CHUNK) {
                let sql = format!(
                    "UPDATE webhooks SET failing_since = NULL, failed_deliveries = 0 \
                     WHERE failing_since IS NOT NULL AND id IN ({})",
                    (1..=chunk.len())
                        .map(|i| format!("${i}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                let mut q = sqlx::query(AssertSqlSafe(sql));
                for id in chunk {
                    q = q.bind(id.to_string());
                }
                q.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(())
        })?;
        Ok(effects)
    }
}
