//! The delivery pipeline's SQL that only PostgreSQL runs: claims that skip locked rows, a group
//! of publishes in a few multi-row statements, a batch of deliveries in one statement, and the
//! notification that wakes every node when deliveries are stored (`NOTIFY` / `LISTEN`).

use crate::delivery::accept::{
    GroupView, bind_change, bind_delivery, bind_idempotency, insert_changes_sql,
    insert_deliveries_sql, insert_idempotency_sql, lease_of, refuse_sql, upsert_usage_sql,
};
use crate::delivery::complete::{LATEST_ATTEMPT_VALUES, MOVE_LATEST_ATTEMPT};
use crate::delivery::quota::{GroupCount, UsageCount, UsageKey};
use crate::delivery::rows::{
    ATTEMPT_ROW_BYTES, CHUNK, COMPLETION_ROW_BYTES, DELIVERY_ROW_BYTES, change_row_bytes,
    message_budget, padded_rows, placeholders, row_chunks,
};
use crate::delivery::{
    AttemptRecord, DeliveryOutcome, DeliveryStatus, Lease, NewChange, NewDelivery, claimed_columns,
};
use crate::id::Id;
use crate::{Store, StoreError};
use sqlx::{AssertSqlSafe, PgPool};

/// The PostgreSQL notification channel of the current schema: one per store, so stores sharing
/// a database do not wake each other, and short enough for any schema name (63 bytes at most).
macro_rules! due_channel {
    () => {
        "'cxhooks_due_' || md5(current_schema())"
    };
}

/// Sent by a publish that stored deliveries for any node to claim: delivered at its commit, it
/// wakes every node's [`Store::watch_due`].
pub(crate) const NOTIFY_DUE: &str = concat!("SELECT pg_notify(", due_channel!(), ", '')");

/// Claims, in one statement, up to `k` due deliveries nobody holds of each webhook of `take`
/// (`(webhook, k)`), each webhook's in due order and, for an ordered webhook, only the next of
/// each entity; `FOR UPDATE SKIP LOCKED`, so nodes claiming at once never take the same row.
pub(crate) async fn claim_from(
    pool: &PgPool,
    claim: &crate::delivery::Claim<'_>,
    take: &[(crate::WebhookId, u32)],
) -> Result<Vec<crate::delivery::ClaimedDelivery>, StoreError> {
    let sql = concat!(
        "UPDATE deliveries SET lease_until = $2, lease_owner = $3 WHERE id IN (\
           SELECT p.id FROM unnest($4::uuid[], $5::int8[]) AS h(w, k) CROSS JOIN LATERAL (\
             SELECT d.id FROM deliveries d WHERE d.webhook_id = h.w \
             AND d.status IN ('pending', 'retrying') AND d.lease_owner IS NULL \
             AND d.next_attempt_at <= $1 AND ",
        crate::delivery::in_entity_order!(),
        " ORDER BY d.next_attempt_at LIMIT h.k FOR UPDATE SKIP LOCKED) p) \
         RETURNING ",
        claimed_columns!()
    );
    let (hooks, ks): (Vec<Id>, Vec<i64>) = take
        .iter()
        .map(|(w, k)| (Id::from(w), i64::from(*k)))
        .unzip();
    Ok(sqlx::query_as(sql)
        .bind(claim.now)
        .bind(claim.lease_until)
        .bind(claim.node)
        .bind(hooks)
        .bind(ks)
        .fetch_all(pool)
        .await?)
}

/// Claims deliveries whose lease ran out, oldest lease first, in one statement; `FOR UPDATE
/// SKIP LOCKED`, so nodes claiming at once never take the same row.
pub(crate) async fn claim_expired(
    pool: &PgPool,
    claim: &crate::delivery::Claim<'_>,
    limit: u32,
) -> Result<Vec<crate::delivery::ClaimedDelivery>, StoreError> {
    let sql = concat!(
        "UPDATE deliveries SET lease_until = $2, lease_owner = $3 WHERE id IN (\
           SELECT id FROM deliveries WHERE lease_owner IS NOT NULL AND lease_until < $1 \
           AND status IN ('pending', 'retrying') AND next_attempt_at <= $1 \
           AND webhook_id <> ALL($5) ORDER BY lease_until LIMIT $4 FOR UPDATE SKIP LOCKED) \
         RETURNING ",
        claimed_columns!()
    );
    Ok(sqlx::query_as(sql)
        .bind(claim.now)
        .bind(claim.lease_until)
        .bind(claim.node)
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

/// Binds an attempt's n, start, duration, status, error and answer (6 values) to `$q`.
macro_rules! bind_attempt {
    ($q:expr, $a:expr) => {{
        let a: &AttemptRecord = $a;
        $q.bind(a.n)
            .bind(a.at)
            .bind(a.duration_us)
            .bind(a.status_code)
            .bind(&a.error)
            .bind(&a.response_body)
    }};
}

impl Store {
    /// Writes a group of publishes (none with a record write) into the PostgreSQL transaction
    /// `tx` with a few multi-row statements for the whole group, whatever its size: changes,
    /// deliveries (pending), idempotency answers, one notification to the nodes, then every
    /// owner's usage count and the refusal of deliveries past their quota. One publish alone
    /// took five statements and a commit of its own, and the publishes of one client queued
    /// for their usage count's row, each from its count to its commit (a fsync). Counted last,
    /// as in `accept_in!`; keys and idempotency answers are written in sorted order, so that
    /// groups committing side by side lock rows in one order and never deadlock over them. The
    /// quota comes out as if the publishes were counted one after the other, in order. On an
    /// error nothing is committed: the caller rolls `tx` back.
    pub(crate) async fn accept_grouped_pg(
        &self,
        tx: &mut sqlx::PgConnection,
        items: &[crate::group::GroupItem],
    ) -> Result<Vec<Vec<DeliveryStatus>>, sqlx::Error> {
        let group = GroupView::new(items);
        let count = GroupCount::new(&group);
        let budget = message_budget(self);
        let GroupView {
            accepts,
            changes,
            deliveries,
            ..
        } = &group;
        let sizes = changes
            .iter()
            .map(|(tenant, c)| change_row_bytes(tenant, c));
        for rows in row_chunks(sizes, budget) {
            let mut q = sqlx::query(AssertSqlSafe(insert_changes_sql(self, rows.len())));
            for (tenant, c) in &changes[rows] {
                q = bind_change!(q, c, *tenant);
            }
            q.execute(&mut *tx).await?;
        }
        let sizes = deliveries.iter().map(|&(k, i)| {
            DELIVERY_ROW_BYTES
                + items[k].packed[i].len()
                + items[k].tenant.as_str().len()
                + accepts[k].deliveries[i].event_type.len()
        });
        for rows in row_chunks(sizes, budget) {
            let mut q = sqlx::query(AssertSqlSafe(insert_deliveries_sql(self, rows.len())));
            for &(k, i) in &deliveries[rows] {
                // Stored pending, then refused below if past the quota.
                let (item, accept) = (&items[k], &accepts[k]);
                let leased = lease_of(accept.lease, DeliveryStatus::Pending, i);
                q = bind_delivery!(
                    q,
                    &accept.deliveries[i],
                    item.tenant.as_str(),
                    &item.packed[i],
                    DeliveryStatus::Pending,
                    leased
                );
            }
            q.execute(&mut *tx).await?;
        }
        let mut keyed = group.keyed.clone();
        keyed.sort_by_key(|(item, i)| (item.tenant.as_str(), i.client_id, i.key));
        for rows in row_chunks(keyed.iter().map(|_| 0), usize::MAX) {
            let mut q = sqlx::query(AssertSqlSafe(insert_idempotency_sql(self, rows.len())));
            for (item, keyed) in &keyed[rows] {
                q = bind_idempotency!(q, keyed, item.tenant.as_str(), item.now);
            }
            q.execute(&mut *tx).await?;
        }
        if deliveries
            .iter()
            .any(|&(k, i)| lease_of(accepts[k].lease, DeliveryStatus::Pending, i).is_none())
        {
            // Delivered at commit: every node sharing the store claims at once. Not for
            // deliveries stored leased: their node has them already.
            sqlx::query(NOTIFY_DUE).execute(&mut *tx).await?;
        }
        let mut order: Vec<&UsageKey<'_>> = count.keys.iter().collect();
        order.sort_by_key(|(tenant, owner, month, _)| (*tenant, *owner, *month));
        let mut counted = Vec::with_capacity(order.len());
        for rows in row_chunks(order.iter().map(|_| 0), usize::MAX) {
            let mut q =
                sqlx::query_as::<_, UsageCount>(AssertSqlSafe(upsert_usage_sql(self, rows.len())));
            for (tenant, owner, month, n) in &order[rows] {
                q = q.bind(*tenant).bind(*owner).bind(*month).bind(*n);
            }
            counted.extend(q.fetch_all(&mut *tx).await?);
        }
        let statuses = count.statuses(&group, &counted)?;
        let refused: Vec<Id> = accepts
            .iter()
            .zip(&statuses)
            .flat_map(|(a, s)| a.deliveries.iter().zip(s))
            .filter(|(_, s)| **s == DeliveryStatus::QuotaExceeded)
            .map(|(d, _)| Id::from(d.id))
            .collect();
        for chunk in refused.chunks(CHUNK) {
            let mut q = sqlx::query(AssertSqlSafe(refuse_sql(chunk.len())));
            for id in chunk {
                q = q.bind(id);
            }
            q.execute(&mut *tx).await?;
        }
        Ok(statuses)
    }

    /// [`Store::complete`] of a batch whose every delivery was delivered, on PostgreSQL: one
    /// statement per chunk, which moves the deliveries this node still owns from the queue to
    /// the log (`log_parts`) with their outcomes, their attempts and their webhooks' success,
    /// instead of a transaction of five round trips
    /// (at 1,000 single-change publishes a second, batches hold about two outcomes). A single
    /// statement commits all of it or nothing. Its parts all read the rows as they were before
    /// it, so the attempt a retry follows is moved out of its row from there.
    pub(crate) async fn complete_delivered_pg(
        &self,
        pool: &sqlx::PgPool,
        batch: &[(&DeliveryOutcome, &AttemptRecord)],
        now: i64,
    ) -> Result<(), StoreError> {
        let sizes = batch.iter().map(|(c, a)| {
            COMPLETION_ROW_BYTES
                + ATTEMPT_ROW_BYTES
                + 36
                + c.signature.as_ref().map_or(0, String::len)
                + a.response_body.len()
                + a.error.as_ref().map_or(0, String::len)
        });
        for rows in row_chunks(sizes, message_budget(self)) {
            let chunk = &batch[rows];
            let sql = format!(
                "WITH v(v_id, v_owner, v_webhook, v_signature, v_started, a_n, a_at, a_duration, \
                 a_code, a_error, a_body) AS (VALUES {}), \
                 d AS (DELETE FROM deliveries o USING v WHERE o.id = v_id AND o.lease_owner = v_owner \
                 RETURNING o.*, v.*), \
                 l AS (INSERT INTO delivery_log SELECT id, tenant, application_id, webhook_id, \
                 change_id, type, payload, COALESCE(v_signature, signature), 'delivered', \
                 attempts + 1, series_attempts + 1, COALESCE(series_started, v_started), $1, \
                 NULL, NULL, created_at, $1, {LATEST_ATTEMPT_VALUES}, entity_key, $2 FROM d), \
                 a AS ({MOVE_LATEST_ATTEMPT} JOIN v ON o.id = v.v_id AND v.a_n > 1 \
                 JOIN d ON d.id = v.v_id WHERE o.attempt_at IS NOT NULL \
                 ON CONFLICT (delivery_id, n) DO NOTHING), \
                 w AS (UPDATE webhooks SET failing_since = NULL, failed_deliveries = 0 \
                 WHERE failing_since IS NOT NULL AND id IN (SELECT v.v_webhook FROM v JOIN d ON d.id = v.v_id)) \
                 SELECT id FROM d",
                placeholders(self, padded_rows(chunk.len()), 11, 3)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql))
                .bind(now)
                .bind(self.log.expiry(true, now));
            for (c, a) in chunk {
                q = q
                    .bind(Id::from(&c.delivery_id))
                    .bind(&c.node)
                    .bind(c.webhook_id.to_string())
                    .bind(&c.signature)
                    .bind(c.series_started);
                q = bind_attempt!(q, a);
            }
            // Padding: a null id matches no delivery.
            for _ in chunk.len()..padded_rows(chunk.len()) {
                q = q
                    .bind(None::<Id>)
                    .bind(None::<&str>)
                    .bind(None::<&str>)
                    .bind(None::<&str>);
                for _ in 0..5 {
                    q = q.bind(None::<i64>);
                }
                q = q.bind(None::<&str>).bind(None::<&str>);
            }
            q.execute(pool).await?;
        }
        Ok(())
    }

    /// Calls `on_due` whenever any node sharing this PostgreSQL store stores new deliveries
    /// (`LISTEN`); returns only on an error the listener could not recover from. On SQLite,
    /// where one node owns the store, it never returns.
    pub async fn watch_due(&self, on_due: impl Fn() + Send) -> Result<(), StoreError> {
        let crate::Pool::Postgres(pool) = &self.pool else {
            return std::future::pending().await;
        };
        let channel: String = sqlx::query_scalar(concat!("SELECT ", due_channel!()))
            .fetch_one(pool)
            .await?;
        let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
        listener.listen(&channel).await?;
        loop {
            // After a lost connection the listener reconnects and listens again; what was
            // notified meanwhile is found by the dispatcher's poll.
            listener.recv().await?;
            on_due();
        }
    }
}
