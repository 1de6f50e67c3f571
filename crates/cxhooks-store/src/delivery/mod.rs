//! Changes, deliveries, attempts: the durable outbox.
//!
//! A publish writes its changes and every delivery they produce in one transaction
//! ([`Store::accept_changes`]). Workers claim due deliveries with a lease
//! ([`Store::claim_due`], backend-specific SQL), send them, and write the outcomes back in
//! batches ([`Store::complete`]). A delivery whose lease expires unfinished (its node died) is
//! claimed again: delivery is at least once.

use crate::id::Id;
use crate::model::*;
use crate::script::Script;
use crate::{Store, StoreError, on_pool};
use sqlx::AssertSqlSafe;

mod claim;
pub(crate) mod complete;
mod log;
pub(crate) mod rows;
mod types;

pub(crate) use claim::Claim;
use complete::{MOVE_LATEST_ATTEMPT, SET_LATEST_ATTEMPT};
use rows::{
    ATTEMPT_ROW_BYTES, CHANGE_ROW_BYTES, CHUNK, COMPLETION_ROW_BYTES, DELIVERY_ROW_BYTES,
    message_budget, padded_rows, placeholders, row_chunks,
};
pub use types::*;

const DELIVERY_COLUMNS: &str = "id, tenant, application_id, webhook_id, change_id, type, payload, signature, \
     status, attempts, series_attempts, series_started, next_attempt_at, lease_until, lease_owner, created_at, updated_at";

/// The PostgreSQL notification channel of the current schema: one per store, so stores sharing
/// a database do not wake each other, and short enough for any schema name (63 bytes at most).
macro_rules! due_channel {
    () => {
        "'cxhooks_due_' || md5(current_schema())"
    };
}

/// The month a usage count belongs to (`2026-11`).
pub fn month_of(us: i64) -> String {
    from_micros(us).format("%Y-%m").to_string()
}

/// Per owner, in order of first appearance: how many of `deliveries` it owns.
fn owner_counts(deliveries: &[NewDelivery]) -> Vec<(&str, i64)> {
    let mut owners: Vec<(&str, i64)> = Vec::new();
    let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for d in deliveries {
        match index.entry(d.owner.as_str()) {
            std::collections::hash_map::Entry::Occupied(at) => owners[*at.get()].1 += 1,
            std::collections::hash_map::Entry::Vacant(at) => {
                at.insert(owners.len());
                owners.push((&d.owner, 1));
            }
        }
    }
    owners
}

/// The stored status of each of a publish's deliveries, given each owner's count (`n`) in it
/// and its monthly total once they are counted: an owner's last deliveries are the ones past
/// its quota.
fn quota_statuses(
    deliveries: &[NewDelivery],
    totals: &[(&str, i64, i64)],
    quota: u64,
) -> Vec<DeliveryStatus> {
    let quota = i64::try_from(quota).unwrap_or(i64::MAX);
    let mut statuses = vec![DeliveryStatus::Pending; deliveries.len()];
    for (owner, n, total) in totals {
        let mut excess = (total - quota).clamp(0, *n);
        for (i, d) in deliveries.iter().enumerate().rev() {
            if excess == 0 {
                break;
            }
            if d.owner == *owner {
                statuses[i] = DeliveryStatus::QuotaExceeded;
                excess -= 1;
            }
        }
    }
    statuses
}

/// A usage count a group of publishes adds to, `(tenant, owner, month)`, with how many of the
/// group's deliveries it gets.
type UsageKey<'a> = (&'a str, &'a str, &'a str, i64);

/// A group of publishes as its writers read it: each publish's [`Accept`] and month, and its
/// rows flattened across the group.
struct GroupView<'a> {
    items: &'a [crate::group::GroupItem],
    accepts: Vec<Accept<'a>>,
    months: Vec<String>,
    /// Every change, with its tenant.
    changes: Vec<(&'a str, &'a NewChange)>,
    /// Every delivery: (publish, delivery within it).
    deliveries: Vec<(usize, usize)>,
    /// Every publish with an `Idempotency-Key`: (publish, (key, answer)).
    keyed: Vec<(&'a crate::group::GroupItem, (&'a str, &'a str))>,
}

impl<'a> GroupView<'a> {
    fn new(items: &'a [crate::group::GroupItem]) -> Self {
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

/// A usage count as the upsert returns it: tenant, owner, month, count.
type UsageCount = (String, String, String, i64);

/// How a group of publishes counts against quotas: each publish's owners (as
/// [`owner_counts`]), and the group's usage keys in order of first appearance, with where each
/// key is in that list.
struct GroupCount<'a> {
    owners: Vec<Vec<(&'a str, i64)>>,
    keys: Vec<UsageKey<'a>>,
    index: std::collections::HashMap<(&'a str, &'a str, &'a str), usize>,
}

impl<'a> GroupCount<'a> {
    fn new(group: &'a GroupView<'a>) -> Self {
        let owners: Vec<Vec<(&str, i64)>> = group
            .accepts
            .iter()
            .map(|a| owner_counts(a.deliveries))
            .collect();
        let mut keys: Vec<UsageKey<'a>> = Vec::new();
        let mut index = std::collections::HashMap::new();
        for ((item, month), owners) in group.items.iter().zip(&group.months).zip(&owners) {
            for (owner, n) in owners {
                let key = (item.tenant.as_str(), *owner, month.as_str());
                let k = *index.entry(key).or_insert_with(|| {
                    keys.push((key.0, key.1, key.2, 0));
                    keys.len() - 1
                });
                keys[k].3 += n;
            }
        }
        Self {
            owners,
            keys,
            index,
        }
    }

    /// Each publish's delivery statuses, given every key's count once the whole group was
    /// added (`counted`: tenant, owner, month, count): as if the publishes had been counted one
    /// after the other, in order.
    fn statuses(
        &self,
        group: &GroupView<'_>,
        counted: &[UsageCount],
    ) -> Result<Vec<Vec<DeliveryStatus>>, sqlx::Error> {
        let (items, accepts, months) = (group.items, &group.accepts, &group.months);
        // Each key's count before the group: its total now, less the group's deliveries.
        let mut before: Vec<Option<i64>> = vec![None; self.keys.len()];
        for (tenant, owner, month, count) in counted {
            if let Some(&k) = self
                .index
                .get(&(tenant.as_str(), owner.as_str(), month.as_str()))
            {
                before[k] = Some(count - self.keys[k].3);
            }
        }
        let mut running = before
            .into_iter()
            .collect::<Option<Vec<i64>>>()
            .ok_or_else(|| sqlx::Error::Protocol("a usage count was not returned".into()))?;
        let mut statuses = Vec::with_capacity(items.len());
        for (((item, accept), month), owners) in
            items.iter().zip(accepts).zip(months).zip(&self.owners)
        {
            let mut totals = Vec::with_capacity(owners.len());
            for (owner, n) in owners {
                let k = self.index[&(item.tenant.as_str(), *owner, month.as_str())];
                running[k] += n;
                totals.push((*owner, *n, running[k]));
            }
            statuses.push(quota_statuses(accept.deliveries, &totals, accept.quota));
        }
        Ok(statuses)
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
fn insert_changes_sql(store: &Store, rows: usize) -> String {
    let head = "INSERT INTO changes (id, tenant, type, entity_id, accepted_at)";
    values_sql(store, head, rows, 5, "")
}

/// `INSERT INTO deliveries` of `rows` rows ([`bind_delivery!`]).
fn insert_deliveries_sql(store: &Store, rows: usize) -> String {
    let head = format!("INSERT INTO deliveries ({DELIVERY_COLUMNS})");
    values_sql(store, &head, rows, 17, "")
}

/// `INSERT INTO idempotency` of `rows` rows: tenant, key, answer, time.
fn insert_idempotency_sql(store: &Store, rows: usize) -> String {
    let head = "INSERT INTO idempotency (tenant, key, answer, created_at)";
    values_sql(store, head, rows, 4, "")
}

/// Adds `rows` usage counts (tenant, owner, month, deliveries; no key twice) and returns each
/// key's count afterwards.
fn upsert_usage_sql(store: &Store, rows: usize) -> String {
    let head = "INSERT INTO usage (tenant, client_id, month, count)";
    let tail = "ON CONFLICT (tenant, client_id, month) DO UPDATE SET count = usage.count + excluded.count \
                RETURNING tenant, client_id, month, count";
    values_sql(store, head, rows, 4, tail)
}

/// Refuses `rows` deliveries, by id, stored pending: past their owner's quota.
fn refuse_sql(rows: usize) -> String {
    format!(
        "UPDATE deliveries SET status = 'quota_exceeded', lease_until = NULL, lease_owner = NULL \
         WHERE id IN ({})",
        (1..=rows)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
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

/// Binds a change row (5 values) to `$q`, a query or a [`crate::script::Script`].
macro_rules! bind_change {
    ($q:expr, $c:expr, $tenant:expr) => {{
        let c: &NewChange = $c;
        $q.bind(Id::from(c.id))
            .bind($tenant)
            .bind(&c.event_type)
            .bind(&c.entity_id)
            .bind(c.accepted_at)
    }};
}

/// Binds a delivery row ([`DELIVERY_COLUMNS`], 17 values) to `$q`, a query or a
/// [`crate::script::Script`]; `$leased` is the lease it is stored under, if any.
macro_rules! bind_delivery {
    ($q:expr, $d:expr, $tenant:expr, $payload:expr, $status:expr, $leased:expr) => {{
        let d: &NewDelivery = $d;
        let leased: Option<Lease<'_>> = $leased;
        $q.bind(Id::from(d.id))
            .bind($tenant)
            .bind(Id::from(d.application_id))
            .bind(Id::from(d.webhook_id))
            .bind(d.change_id.map(Id::from))
            .bind(&d.event_type)
            .bind($payload)
            .bind(None::<String>)
            .bind($status.as_str())
            .bind(0i64)
            .bind(0i64)
            .bind(None::<i64>)
            .bind(d.created_at)
            .bind(leased.map(|l| l.until))
            .bind(leased.map(|l| l.owner))
            .bind(d.created_at)
            .bind(d.created_at)
    }};
}

/// The lease delivery `i` of a publish is stored under: the publishing node's, if it took the
/// delivery and the delivery is within its owner's quota.
fn lease_of<'a>(lease: Option<Lease<'a>>, status: DeliveryStatus, i: usize) -> Option<Lease<'a>> {
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
        let is_postgres = matches!($store.pool, crate::Pool::Postgres(_));
        // Per owner: how many of its deliveries this publish adds. Counted in owner order, as
        // groups count (`accept_grouped_pg`), so that publishes and groups committing side by
        // side lock usage rows in one order.
        let mut owners = owner_counts(deliveries);
        owners.sort_unstable_by_key(|(owner, _)| *owner);
        async {
            if let Some(write) = record {
                crate::records::apply_record_write!($tx, tenant, write, now);
            }
            let sizes = changes.iter().map(|c| {
                CHANGE_ROW_BYTES + tenant.as_str().len() + c.event_type.len() + c.entity_id.len()
            });
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
            if let Some((key, answer)) = idempotency {
                sqlx::query(AssertSqlSafe(insert_idempotency_sql($store, 1)))
                    .bind(tenant.as_str())
                    .bind(key)
                    .bind(answer)
                    .bind(now)
                    .execute(&mut *$tx)
                    .await
                    .map_err(crate::error::conflict(format!("a publish with Idempotency-Key '{key}'")))?;
            }
            if is_postgres
                && (0..deliveries.len()).any(|i| lease_of(lease, DeliveryStatus::Pending, i).is_none())
            {
                // Delivered at commit: every node sharing the store claims at once instead of
                // at its next poll. Not for deliveries stored leased: their node has them.
                sqlx::query(concat!("SELECT pg_notify(", due_channel!(), ", '')"))
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
    /// A previous answer to a publish with this `Idempotency-Key`.
    pub async fn idempotent_answer(
        &self,
        tenant: &TenantName,
        key: &str,
    ) -> Result<Option<String>, StoreError> {
        on_pool!(self, |pool| sqlx::query_scalar(
            "SELECT answer FROM idempotency WHERE tenant = $1 AND key = $2"
        )
        .bind(tenant.as_str())
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
        let sizes = changes.iter().map(|(tenant, c)| {
            CHANGE_ROW_BYTES + tenant.len() + c.event_type.len() + c.entity_id.len()
        });
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
        keyed.sort_by_key(|(item, (key, _))| (item.tenant.as_str(), *key));
        for rows in row_chunks(keyed.iter().map(|_| 0), usize::MAX) {
            let mut q = sqlx::query(AssertSqlSafe(insert_idempotency_sql(self, rows.len())));
            for (item, (key, answer)) in &keyed[rows] {
                q = q
                    .bind(item.tenant.as_str())
                    .bind(*key)
                    .bind(*answer)
                    .bind(item.now);
            }
            q.execute(&mut *tx).await?;
        }
        if deliveries
            .iter()
            .any(|&(k, i)| lease_of(accepts[k].lease, DeliveryStatus::Pending, i).is_none())
        {
            // Delivered at commit: every node sharing the store claims at once. Not for
            // deliveries stored leased: their node has them already.
            sqlx::query(concat!("SELECT pg_notify(", due_channel!(), ", '')"))
                .execute(&mut *tx)
                .await?;
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

    /// Writes a group of publishes (none with a record write) in two [`Script`]s, whatever its
    /// size: the first opens the transaction and counts every owner's deliveries against its
    /// quota, the second stores every change, delivery and idempotency answer and commits.
    /// Statement by statement, a group took three statements per publish, a savepoint around
    /// each and the transaction's own two, each a round trip to SQLite's thread. The quota
    /// comes out as if the publishes were counted one after the other, in order. On an error
    /// nothing is committed, and the transaction may be left open for the caller to roll back.
    pub(crate) async fn accept_scripted(
        &self,
        conn: &mut sqlx::SqliteConnection,
        items: &[crate::group::GroupItem],
    ) -> Result<Vec<Vec<DeliveryStatus>>, sqlx::Error> {
        let group = GroupView::new(items);
        let count = GroupCount::new(&group);
        let mut counting = Script::default();
        counting.statement("BEGIN IMMEDIATE");
        for rows in row_chunks(count.keys.iter().map(|_| 0), usize::MAX) {
            counting.statement(&upsert_usage_sql(self, rows.len()));
            for (tenant, owner, month, n) in &count.keys[rows] {
                counting = counting.bind(*tenant).bind(*owner).bind(*month).bind(*n);
            }
        }
        let counted = counting
            .fetch_all(conn)
            .await?
            .iter()
            .map(<UsageCount as sqlx::FromRow<_>>::from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let statuses = count.statuses(&group, &counted)?;
        let GroupView {
            accepts,
            changes,
            deliveries,
            keyed,
            ..
        } = &group;

        let mut writing = Script::default();
        for rows in row_chunks(changes.iter().map(|_| 0), usize::MAX) {
            writing.statement(&insert_changes_sql(self, rows.len()));
            for (tenant, c) in &changes[rows] {
                writing = bind_change!(writing, c, *tenant);
            }
        }
        for rows in row_chunks(deliveries.iter().map(|_| 0), usize::MAX) {
            writing.statement(&insert_deliveries_sql(self, rows.len()));
            for &(k, i) in &deliveries[rows] {
                let (item, accept, status) = (&items[k], &accepts[k], statuses[k][i]);
                let leased = lease_of(accept.lease, status, i);
                writing = bind_delivery!(
                    writing,
                    &accept.deliveries[i],
                    item.tenant.as_str(),
                    &item.packed[i],
                    status,
                    leased
                );
            }
        }
        for rows in row_chunks(keyed.iter().map(|_| 0), usize::MAX) {
            writing.statement(&insert_idempotency_sql(self, rows.len()));
            for (item, (key, answer)) in &keyed[rows] {
                writing = writing
                    .bind(item.tenant.as_str())
                    .bind(*key)
                    .bind(*answer)
                    .bind(item.now);
            }
        }
        writing.statement("COMMIT");
        writing.fetch_all(conn).await?;
        Ok(statuses)
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

    /// [`Store::complete`] of a batch whose every delivery was delivered, on PostgreSQL: one
    /// statement per chunk, which records the outcomes (of deliveries this node still owns),
    /// their attempts and their webhooks' success, instead of a transaction of five round trips
    /// (at 1,000 single-change publishes a second, batches hold about two outcomes). A single
    /// statement commits all of it or nothing. Its parts all read the rows as they were before
    /// it, so the attempt a retry follows is moved out of its row from there.
    async fn complete_delivered_pg(
        &self,
        pool: &sqlx::PgPool,
        batch: &[(&Completion, &AttemptRecord)],
        now: i64,
    ) -> Result<(), StoreError> {
        let sizes = batch.iter().map(|(c, a)| {
            COMPLETION_ROW_BYTES
                + ATTEMPT_ROW_BYTES
                + c.webhook_id.len()
                + c.signature.as_ref().map_or(0, String::len)
                + a.response_body.len()
                + a.error.as_ref().map_or(0, String::len)
        });
        for rows in row_chunks(sizes, message_budget(self)) {
            let chunk = &batch[rows];
            let sql = format!(
                "WITH v(v_id, v_owner, v_webhook, v_signature, v_started, a_n, a_at, a_duration, \
                 a_code, a_error, a_body) AS (VALUES {}), \
                 d AS (UPDATE deliveries SET status = 'delivered', next_attempt_at = $1, \
                 signature = COALESCE(v_signature, signature), attempts = attempts + 1, \
                 series_attempts = series_attempts + 1, \
                 series_started = COALESCE(series_started, v_started), lease_until = NULL, \
                 lease_owner = NULL, updated_at = $1, {SET_LATEST_ATTEMPT} \
                 FROM v WHERE id = v_id AND lease_owner = v_owner RETURNING id), \
                 a AS ({MOVE_LATEST_ATTEMPT} JOIN v ON o.id = v.v_id AND v.a_n > 1 \
                 JOIN d ON d.id = v.v_id WHERE o.attempt_at IS NOT NULL \
                 ON CONFLICT (delivery_id, n) DO NOTHING), \
                 w AS (UPDATE webhooks SET failing_since = NULL, failed_deliveries = 0 \
                 WHERE failing_since IS NOT NULL AND id IN (SELECT v_webhook FROM v JOIN d ON d.id = v.v_id)) \
                 SELECT id FROM d",
                placeholders(self, padded_rows(chunk.len()), 11, 2)
            );
            let mut q = sqlx::query(AssertSqlSafe(sql)).bind(now);
            for (c, a) in chunk {
                q = q
                    .bind(Id::from(&c.delivery_id))
                    .bind(&c.lease_owner)
                    .bind(&c.webhook_id)
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
}
