//! Changes, deliveries, attempts: the durable outbox.
//!
//! A publish writes its changes and every delivery they produce in one transaction
//! ([`Store::accept_changes`]). Workers claim due deliveries with a lease
//! ([`Store::claim_due`], backend-specific SQL), send them, and write the outcomes back in
//! batches ([`Store::complete`]). A delivery whose lease expires unfinished (its node died) is
//! claimed again: delivery is at least once.

use crate::Store;
use crate::id::Id;
use crate::script::Script;

pub(crate) mod accept;
mod claim;
pub(crate) mod complete;
mod log;
pub(crate) mod quota;
pub(crate) mod rows;
mod types;

use accept::{
    GroupView, bind_change, bind_delivery, insert_changes_sql, insert_deliveries_sql,
    insert_idempotency_sql, lease_of, upsert_usage_sql,
};
pub(crate) use claim::Claim;
pub use quota::month_of;
use quota::{GroupCount, UsageCount};
use rows::row_chunks;
pub use types::*;

impl Store {
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
}
