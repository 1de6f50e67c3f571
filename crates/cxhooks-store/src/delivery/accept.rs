//! Storing publishes: their changes and deliveries, counted against monthly quotas, alone or
//! in groups (see `group.rs`); and answering a publish repeated with its `Idempotency-Key`.

use super::quota::{client_counts, month_of, quota_statuses};
use super::rows::{
    CHUNK, DELIVERY_ROW_BYTES, change_row_bytes, message_budget, placeholders, row_chunks,
};
use super::{Accept, DeliveryStatus, Idempotency, Lease, NewChange, NewDelivery};
use crate::id::Id;
use crate::model::TenantName;
use crate::{Store, StoreError, on_pool};
use sqlx::AssertSqlSafe;

const DELIVERY_COLUMNS: &str = "id, tenant, application_id, webhook_id, change_id, type, payload, signature, \
     status, attempts, series_attempts, series_started, next_attempt_at, lease_until, lease_owner, created_at, updated_at, entity_key";

/// A group of publishes as its writers read it: each publish's [`Accept`] and month, and its
/// rows flattened across the group.
pub(crate) struct GroupView<'a> {
    pub(crate) items: &'a [crate::group::GroupItem],
    pub(crate) accepts: Vec<Accept<'a>>,
    pub(crate) months: Vec<String>,
    /// Every change, with its tenant.
    pub(crate) changes: Vec<(&'a str, &'a NewChange)>,
    /// Every delivery: (publish, delivery within it).
    pub(crate) deliveries: Vec<(usize, usize)>,
    /// Every publish with an `Idempotency-Key`: (publish, key and answer).
    pub(crate) keyed: Vec<(&'a crate::group::GroupItem, Idempotency<'a>)>,
}

impl<'a> GroupView<'a> {
    pub(crate) fn new(items: &'a [crate::group::GroupItem]) -> Self {
        let accepts: Vec<Accept<'a>> = items.iter().map(|item| item.accept()).collect();
        let changes = items
            .iter()
            .zip(&accepts)
            .flat_map(|(item, a)| a.changes.iter().map(|c| (item.tenant.as_str(), c)))
            .collect();
        let deliveries = accepts
            .iter()
            .enumerate()
            .flat_map(|(k, a)| (0..a.deliveries.len()).map(move |i| (k, i)))
            .collect();
        let keyed = items
            .iter()
            .zip(&accepts)
            .filter_map(|(item, a)| a.idempotency.map(|key| (item, key)))
            .collect();
        Self {
            items,
            months: items.iter().map(|item| month_of(item.now)).collect(),
            accepts,
            changes,
            deliveries,
            keyed,
        }
    }
}

/// `{head} VALUES (…), (…) {tail}`: `rows` rows of `cols` values.
fn values_sql(store: &Store, head: &str, rows: usize, cols: usize, tail: &str) -> String {
    format!(
        "{head} VALUES {} {tail}",
        placeholders(store, rows, cols, 1)
    )
}

/// `INSERT INTO changes` of `rows` rows ([`bind_change!`]).
pub(crate) fn insert_changes_sql(store: &Store, rows: usize) -> String {
    let head = "INSERT INTO changes (id, tenant, type, entity_id, accepted_at, body)";
    values_sql(store, head, rows, 6, "")
}

/// `INSERT INTO deliveries` of `rows` rows ([`bind_delivery!`]).
pub(crate) fn insert_deliveries_sql(store: &Store, rows: usize) -> String {
    let head = format!("INSERT INTO deliveries ({DELIVERY_COLUMNS})");
    values_sql(store, &head, rows, 18, "")
}

/// `INSERT INTO idempotency` of `rows` rows ([`bind_idempotency!`]).
pub(crate) fn insert_idempotency_sql(store: &Store, rows: usize) -> String {
    let head = "INSERT INTO idempotency (tenant, client_id, key, request_hash, answer, created_at)";
    values_sql(store, head, rows, 6, "")
}

/// Binds an idempotency row (6 values) to `$q`, a query or a [`crate::script::Script`].
macro_rules! bind_idempotency {
    ($q:expr, $i:expr, $tenant:expr, $now:expr) => {{
        let i: &crate::Idempotency<'_> = $i;
        $q.bind($tenant)
            .bind(i.client_id)
            .bind(i.key)
            .bind(i.request_hash)
            .bind(i.answer)
            .bind($now)
    }};
}
pub(crate) use bind_idempotency;

/// Adds `rows` usage counts (tenant, owner, month, deliveries; no key twice) and returns each
/// key's count afterwards.
pub(crate) fn upsert_usage_sql(store: &Store, rows: usize) -> String {
    let head = "INSERT INTO usage (tenant, client_id, month, count)";
    let tail = "ON CONFLICT (tenant, client_id, month) DO UPDATE SET count = usage.count + excluded.count \
                RETURNING tenant, client_id, month, count";
    values_sql(store, head, rows, 4, tail)
}

/// Refuses `rows` deliveries, by id, stored pending: past their owner's quota.
pub(crate) fn refuse_sql(rows: usize) -> String {
    format!(
        "UPDATE deliveries SET status = 'quota_exceeded', lease_until = NULL, lease_owner = NULL \
         WHERE id IN ({})",
        (1..=rows)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Binds a change row (6 values) to `$q`, a query or a [`crate::script::Script`].
macro_rules! bind_change {
    ($q:expr, $c:expr, $tenant:expr) => {{
        let c: &NewChange = $c;
        $q.bind(Id::from(c.id))
            .bind($tenant)
            .bind(&c.event_type)
            .bind(&c.entity_id)
            .bind(c.accepted_at)
            .bind(&c.body)
    }};
}
pub(crate) use bind_change;

/// Binds a delivery row ([`DELIVERY_COLUMNS`], 18 values) to `$q`, a query or a
/// [`crate::script::Script`]; `$leased` is the lease it is stored under, if any.
macro_rules! bind_delivery {
    ($q:expr, $d:expr, $tenant:expr, $payload:expr, $status:expr, $leased:expr) => {{
        let d: &NewDelivery = $d;
        // A pull webhook's delivery is held for its feed (unless refused), never leased.
        let leased: Option<Lease<'_>> = $leased.filter(|_| !d.held);
        let status = match $status {
            DeliveryStatus::Pending if d.held => DeliveryStatus::Held,
            other => other,
        };
        $q.bind(Id::from(d.id))
            .bind($tenant)
            .bind(Id::from(d.application_id))
            .bind(Id::from(d.webhook_id))
            .bind(d.change_id.map(Id::from))
            .bind(&d.event_type)
            .bind($payload)
            .bind(None::<String>)
            .bind(status.as_str())
            .bind(0i64)
            .bind(0i64)
            .bind(None::<i64>)
            .bind(d.created_at)
            .bind(leased.map(|l| l.until))
            .bind(leased.map(|l| l.node))
            .bind(d.created_at)
            .bind(d.created_at)
            .bind(d.entity_key.as_deref())
    }};
}
pub(crate) use bind_delivery;

/// The lease delivery `i` of a publish is stored under: the publishing node's, if it took the
/// delivery and the delivery is within its owner's quota.
pub(crate) fn lease_of<'a>(
    lease: Option<Lease<'a>>,
    status: DeliveryStatus,
    i: usize,
) -> Option<Lease<'a>> {
    lease.filter(|l| status == DeliveryStatus::Pending && l.taken.get(i) == Some(&true))
}

/// The body of [`Store::accept_changes`] inside the transaction (or savepoint) `$tx`: one
/// definition for PostgreSQL's own transactions and SQLite's group commits that fell back to
/// one statement at a time (see [`Store::accept_group`]).
macro_rules! accept_in {
    ($store:expr, $tx:ident, $tenant:expr, $accept:expr, $packed:expr, $now:expr) => {{
        let Accept {
            changes,
            deliveries,
            quota,
            idempotency,
            record,
            lease,
        } = *$accept;
        let (tenant, now) = ($tenant, $now);
        let month = month_of(now);
        let is_postgres = $store.kind() == crate::Backend::Postgres;
        // Per owner: how many of its deliveries this publish adds. Counted in owner order, as
        // groups count (`accept_grouped_pg`), so that publishes and groups committing side by
        // side lock usage rows in one order.
        let mut owners = client_counts(deliveries);
        owners.sort_unstable_by_key(|(owner, _)| *owner);
        async {
            if let Some(write) = record {
                crate::records::apply_record_write!(is_postgres, $tx, tenant, write, now);
            }
            let sizes = changes.iter().map(|c| change_row_bytes(tenant.as_str(), c));
            for rows in row_chunks(sizes, message_budget($store)) {
                let chunk = &changes[rows];
                let mut q = sqlx::query(AssertSqlSafe(insert_changes_sql($store, chunk.len())));
                for c in chunk {
                    q = bind_change!(q, c, tenant.as_str());
                }
                q.execute(&mut *$tx).await?;
            }
            let sizes = deliveries.iter().zip($packed.iter()).map(|(d, p)| {
                DELIVERY_ROW_BYTES + p.len() + tenant.as_str().len() + d.event_type.len()
            });
            for rows in row_chunks(sizes, message_budget($store)) {
                let mut q = sqlx::query(AssertSqlSafe(insert_deliveries_sql($store, rows.len())));
                for i in rows {
                    // Stored pending, then refused below if past the quota.
                    let payload: &Vec<u8> = &$packed[i];
                    let leased = lease_of(lease, DeliveryStatus::Pending, i);
                    q = bind_delivery!(q, &deliveries[i], tenant.as_str(), payload, DeliveryStatus::Pending, leased);
                }
                q.execute(&mut *$tx).await?;
            }
            if let Some(keyed) = &idempotency {
                let q = sqlx::query(AssertSqlSafe(insert_idempotency_sql($store, 1)));
                bind_idempotency!(q, keyed, tenant.as_str(), now)
                    .execute(&mut *$tx)
                    .await
                    .map_err(crate::error::conflict(format!("a publish with Idempotency-Key '{}'", keyed.key)))?;
            }
            if is_postgres
                && (0..deliveries.len()).any(|i| lease_of(lease, DeliveryStatus::Pending, i).is_none())
            {
                // Delivered at commit: every node sharing the store claims at once instead of
                // at its next poll. Not for deliveries stored leased: their node has them.
                sqlx::query(crate::postgres::NOTIFY_DUE)
                    .execute(&mut *$tx)
                    .await?;
            }
            // Counting last, in the same transaction, so that concurrent publishes cannot both
            // slip under the quota: the count's row stays locked to the commit, and publishes of
            // one owner wait for each other only from here (on PostgreSQL, where they run side
            // by side). Deliveries past the quota were stored pending: they are refused now,
            // before anyone can see them.
            let mut totals = Vec::with_capacity(owners.len());
            for (owner, n) in &owners {
                let total: i64 = sqlx::query_scalar(
                    "INSERT INTO usage (tenant, client_id, month, count) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (tenant, client_id, month) DO UPDATE SET count = usage.count + $4 RETURNING count",
                )
                .bind(tenant.as_str())
                .bind(owner)
                .bind(&month)
                .bind(n)
                .fetch_one(&mut *$tx)
                .await?;
                totals.push((*owner, *n, total));
            }
            let statuses = quota_statuses(deliveries, &totals, quota);
            let refused: Vec<&NewDelivery> = deliveries
                .iter()
                .zip(&statuses)
                .filter(|(_, s)| **s == DeliveryStatus::QuotaExceeded)
                .map(|(d, _)| d)
                .collect();
            for chunk in refused.chunks(CHUNK) {
                let mut q = sqlx::query(AssertSqlSafe(refuse_sql(chunk.len())));
                for d in chunk {
                    q = q.bind(Id::from(d.id));
                }
                q.execute(&mut *$tx).await?;
            }
            Ok::<_, StoreError>(statuses)
        }
        .await
    }};
}

impl Store {
    /// What `client` was answered before with this `Idempotency-Key`: (request hash, answer).
    pub async fn idempotent_answer(
        &self,
        tenant: &TenantName,
        client: &str,
        key: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        on_pool!(self, |pool| sqlx::query_as(
            "SELECT request_hash, answer FROM idempotency WHERE tenant = $1 AND client_id = $2 AND key = $3"
        )
        .bind(tenant.as_str())
        .bind(client)
        .bind(key)
        .fetch_optional(pool)
        .await)
        .map_err(StoreError::from)
    }

    /// Stores accepted changes and their deliveries in one transaction, counting each delivery
    /// against its owner's monthly quota: deliveries past `quota` are stored as
    /// `quota_exceeded`. Returns the stored status of each delivery, in order. With an
    /// idempotency key, the answer is stored too; a concurrent publish with the same key makes
    /// this fail with [`StoreError::Conflict`]. A record write, if any, commits with them.
    pub async fn accept_changes(
        &self,
        tenant: &TenantName,
        accept: &Accept<'_>,
        now: i64,
    ) -> Result<Vec<DeliveryStatus>, StoreError> {
        if let Some(committer) = &self.committer {
            // Packed on the way into the queue, in the publisher's task.
            return committer.accept(tenant, accept, now).await;
        }
        // Payloads are packed before the transaction begins, not while it holds the writer.
        let packed = crate::pack::pack_all(accept.deliveries);
        match &self.writer {
            crate::Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let statuses = accept_in!(self, tx, tenant, accept, packed, now)?;
                tx.commit().await?;
                Ok(statuses)
            }
            crate::Pool::Sqlite(pool) => {
                let mut tx = crate::BeginWrite::begin_write(pool).await?;
                let statuses = accept_in!(self, tx, tenant, accept, packed, now)?;
                tx.commit().await?;
                Ok(statuses)
            }
        }
    }

    /// Stores several publishes in one transaction, committed with one fsync. The group is
    /// first written whole: on SQLite as two scripts (see [`Store::accept_scripted`]), on
    /// PostgreSQL as a few multi-row statements (see [`Store::accept_grouped_pg`]). If a
    /// statement fails (a conflicting `Idempotency-Key`), or a publish writes a record (whose
    /// version checks read as they go), the group is written one statement at a time instead,
    /// each publish in a savepoint of its own: one that fails is rolled back alone and gets its
    /// error.
    pub(crate) async fn accept_group(
        &self,
        items: &[crate::group::GroupItem],
    ) -> Result<Vec<Result<Vec<DeliveryStatus>, StoreError>>, StoreError> {
        // Each publish in a savepoint of `$tx`, then the commit.
        macro_rules! one_by_one {
            ($tx:ident) => {{
                let mut results = Vec::with_capacity(items.len());
                for item in items {
                    let accept = item.accept();
                    let mut savepoint = sqlx::Connection::begin(&mut *$tx).await?;
                    match accept_in!(
                        self,
                        savepoint,
                        &item.tenant,
                        &accept,
                        item.packed,
                        item.now
                    ) {
                        Ok(statuses) => {
                            savepoint.commit().await?;
                            results.push(Ok(statuses));
                        }
                        Err(e) => {
                            savepoint.rollback().await?;
                            results.push(Err(e));
                        }
                    }
                }
                $tx.commit().await?;
                Ok(results)
            }};
        }
        let whole = items.iter().all(|item| item.accept().record.is_none());
        match &self.writer {
            crate::Pool::Sqlite(pool) => {
                if whole {
                    let mut conn = pool.acquire().await?;
                    match self.accept_scripted(&mut conn, items).await {
                        Ok(statuses) => return Ok(statuses.into_iter().map(Ok).collect()),
                        Err(e) => {
                            // Nothing of it is committed: undo what ran (if the transaction
                            // had begun), then find the publish that fails below.
                            tracing::debug!(error = %e, "a scripted group commit failed; storing it statement by statement");
                            let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                        }
                    }
                }
                let mut tx = crate::BeginWrite::begin_write(pool).await?;
                one_by_one!(tx)
            }
            crate::Pool::Postgres(pool) => {
                if whole {
                    let mut tx = pool.begin().await?;
                    match self.accept_grouped_pg(&mut tx, items).await {
                        Ok(statuses) => {
                            tx.commit().await?;
                            return Ok(statuses.into_iter().map(Ok).collect());
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "a group commit failed; storing it statement by statement");
                            let _ = tx.rollback().await;
                        }
                    }
                }
                let mut tx = pool.begin().await?;
                one_by_one!(tx)
            }
        }
    }
}
