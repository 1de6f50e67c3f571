//! Work a node does besides delivering: reloading the webhook registry when the store's
//! configuration version moves, purging what is past its retention, and vacuuming a
//! PostgreSQL store's churned tables.

use crate::state::AppState;
use std::time::Duration;
use tokio::task::JoinSet;

/// Starts the configuration watcher and, on PostgreSQL with `store.vacuum`, the vacuum; they
/// stop when the returned set is dropped.
pub fn spawn(state: &AppState) -> JoinSet<()> {
    let mut set = JoinSet::new();
    set.spawn(watch_config(state.clone()));
    set.spawn(purge(state.clone()));
    if state.store.kind().keeps_dead_versions() && state.config.store.vacuum {
        set.spawn(vacuum_churned(state.clone()));
    }
    set
}

/// How often a PostgreSQL node looks for tables to vacuum.
const VACUUM_EVERY: Duration = Duration::from_secs(1);
/// A table is vacuumed once its dead row versions outnumber this many plus
/// [`VACUUM_SHARE`] of its live rows (autovacuum's defaults: 50 and 20 %).
const VACUUM_MIN_DEAD: i64 = 1_000;
const VACUUM_SHARE: f64 = 0.05;
/// How often at most a node warns that vacuum cannot free dead row versions.
const HELD_WARNING: Duration = Duration::from_secs(60);
/// How long the oldest snapshot's transaction must have been open for the node to blame it:
/// under a heavy load the versions that die while a vacuum runs may leave a table over the
/// threshold, with the nodes' own short transactions the oldest.
const HELD_BY_AGE_S: f64 = 10.0;

/// Vacuums the store's tables that updates have churned, every [`VACUUM_EVERY`]. Every
/// delivery row is written pending and then updated done; PostgreSQL keeps the old versions
/// until vacuum frees their space, which autovacuum does only after a fifth of the table has
/// changed (and not at all where it is off). Freed early, the space holds the next deliveries.
async fn vacuum_churned(state: AppState) {
    // Tables already reported as not the connected role's, so that each is warned about once.
    let mut not_owned = std::collections::BTreeSet::new();
    // When vacuum last found it could not free dead versions, which is warned about at most
    // every HELD_WARNING.
    let mut held_warned: Option<tokio::time::Instant> = None;
    loop {
        tokio::time::sleep(VACUUM_EVERY).await;
        match state
            .store
            .vacuum_churned(VACUUM_MIN_DEAD, VACUUM_SHARE)
            .await
        {
            Ok(done) => {
                for table in done.vacuumed {
                    tracing::debug!(table, "vacuumed");
                    let table = crate::metrics::Table { table };
                    state.metrics.store_vacuums.get_or_create(&table).inc();
                }
                for table in done.skipped {
                    tracing::debug!(table, "not vacuumed: another session holds it");
                }
                if let Some(holder) = done.holder.filter(|h| h.open_s >= HELD_BY_AGE_S)
                    && held_warned.is_none_or(|at| at.elapsed() >= HELD_WARNING)
                {
                    held_warned = Some(tokio::time::Instant::now());
                    tracing::warn!(
                        tables = done.held.join(", "),
                        "vacuum cannot free these tables' dead row versions, so the store \
                         grows: {holder}; end that transaction (or pg_terminate_backend({}))",
                        holder.pid
                    );
                }
                for table in done.not_owned {
                    if not_owned.insert(table.clone()) {
                        tracing::warn!(
                            table,
                            "cannot vacuum this table: the role cxhooks connects as owns neither \
                             it nor the database; leaving it to autovacuum (make that role its \
                             owner, or set store.vacuum = false to silence this)"
                        );
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "vacuuming the store failed; trying again"),
        }
    }
}

/// Deliveries one purge batch looks at: one short write on the store's writer, which publishes
/// wait behind on SQLite.
const PURGE_BATCH: u32 = 500;
/// The pause between two batches of a pass, leaving the writer to the delivery path.
const PURGE_BATCH_PAUSE: Duration = Duration::from_millis(20);
/// The pause between two passes (each from the oldest delivery).
const PURGE_PASS_PAUSE: Duration = Duration::from_secs(1);

/// Deletes finished deliveries and changes past their retention (`[retention]`), off the
/// delivery path, so the store stays flat under a steady load: on PostgreSQL by dropping the
/// log's expired partitions, on SQLite (and for PostgreSQL's deliveries finished before its log
/// existed) in batches.
async fn purge(state: AppState) {
    let retention = state.config.retention.clone();
    let before = |keep: Duration, now: i64| {
        (!keep.is_zero()).then(|| now - i64::try_from(keep.as_micros()).unwrap_or(i64::MAX))
    };
    let mut after = None;
    loop {
        let now = state.clock.now_us();
        if after.is_none() {
            // A pass starts: held deliveries get their numbers first, so that one purged is a
            // gap its feed's reader is told of (410), never skipped unnoticed.
            if let Err(e) = state.store.number_all_feeds().await {
                tracing::warn!(error = %e, "numbering the pull feeds failed; trying again");
            }
            // PostgreSQL's log gets its partitions ahead and loses its expired ones.
            prepare_log(&state).await;
            match state.store.drop_expired_log(now).await {
                Ok(n) => count_purged(&state, "deliveries", n),
                Err(e) => {
                    tracing::warn!(error = %e, "dropping expired log partitions failed; trying again")
                }
            }
        }
        let purge = cxhooks_store::Purge {
            delivered_before: before(retention.delivered, now),
            failed_before: before(retention.failed, now),
        };
        let pause = match state.store.purge_batch(&purge, after, PURGE_BATCH).await {
            Ok(done) => {
                count_purged(&state, "deliveries", done.deliveries);
                after = done.next;
                if after.is_some() {
                    PURGE_BATCH_PAUSE
                } else {
                    purge_changes(&state, before(retention.changes, now)).await;
                    purge_tombstones(&state, before(retention.tombstones, now)).await;
                    PURGE_PASS_PAUSE
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "purging finished deliveries failed; trying again");
                PURGE_PASS_PAUSE
            }
        };
        tokio::time::sleep(pause).await;
    }
}

/// Makes (on PostgreSQL) the partitions of the log of finished deliveries for `[retention]`
/// ahead of need; a failure is warned about and tried again at the next pass.
pub async fn prepare_log(state: &AppState) {
    let keep = |d: Duration| (!d.is_zero()).then_some(d);
    let retention = cxhooks_store::LogRetention {
        delivered: keep(state.config.retention.delivered),
        failed: keep(state.config.retention.failed),
    };
    if let Err(e) = state
        .store
        .prepare_log(retention, state.clock.now_us())
        .await
    {
        tracing::warn!(error = %e, "making the delivery log's partitions failed; trying again");
    }
}

/// Deletes the changes accepted before `before`, a batch at a time.
async fn purge_changes(state: &AppState, before: Option<i64>) {
    let Some(before) = before else { return };
    loop {
        match state.store.purge_changes(before, PURGE_BATCH).await {
            Ok(0) => return,
            Ok(n) => count_purged(state, "changes", n),
            Err(e) => {
                tracing::warn!(error = %e, "purging old changes failed; trying again");
                return;
            }
        }
        tokio::time::sleep(PURGE_BATCH_PAUSE).await;
    }
}

async fn purge_tombstones(state: &AppState, before: Option<i64>) {
    let Some(before) = before else { return };
    loop {
        match state.store.purge_tombstones(before, PURGE_BATCH).await {
            Ok(0) => return,
            Ok(n) => count_purged(state, "tombstones", n),
            Err(e) => {
                tracing::warn!(error = %e, "purging old tombstones failed; trying again");
                return;
            }
        }
        tokio::time::sleep(PURGE_BATCH_PAUSE).await;
    }
}

fn count_purged(state: &AppState, what: &'static str, n: u64) {
    if n > 0 {
        let what = crate::metrics::Purged { what };
        state.metrics.purged.get_or_create(&what).inc_by(n);
    }
}

/// How often the store's configuration version is polled.
const CONFIG_POLL: Duration = Duration::from_secs(1);

/// How many configuration moves the store keeps a record of (which tenant each was for); a
/// node further behind reloads every webhook.
const CONFIG_CHANGES_KEPT: i64 = 10_000;
/// Above this many tenants changed since the last poll, one full reload is cheaper than a
/// query per tenant.
const TENANTS_PER_RELOAD: usize = 64;

/// Reloads the webhook registry and forgets tokens' standings when another node, the CLI or
/// this node changed webhooks, applications, tenants or clients: the bound on how long nodes
/// sharing a store may disagree, and on how long a revoked client's token still works.
///
/// Only the tenants the store names as changed since the version last seen are reloaded
/// (with 100,000 webhooks a full reload re-reads and recompiles them all, on every node, after
/// each change anywhere); everything when it cannot name them.
///
/// The first poll reloads everything whatever the version: a version read when the task
/// starts could already include a change made after the node cached a standing (on a loaded
/// machine the task's first read came after a client's deletion, and its token kept working
/// on that node).
async fn watch_config(state: AppState) {
    let mut seen: Option<i64> = None;
    let mut pruned = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(CONFIG_POLL).await;
        let Ok(now) = state.store.config_version().await else {
            continue;
        };
        if seen == Some(now) {
            continue;
        }
        state.standings.forget_all();
        let changed = match seen {
            Some(seen) => state.store.config_changes(seen, now).await.ok().flatten(),
            None => None,
        };
        let registry = &state.delivery.registry;
        let (scope, reloaded) = match changed.filter(|t| t.len() <= TENANTS_PER_RELOAD) {
            Some(tenants) => (
                "tenants",
                registry
                    .reload_tenants(&state.store, &state.master, &tenants)
                    .await,
            ),
            None => ("all", registry.reload(&state.store, &state.master).await),
        };
        match reloaded {
            Ok(()) => {
                seen = Some(now);
                let scope = crate::metrics::Scope { scope };
                state.metrics.config_reloads.get_or_create(&scope).inc();
            }
            Err(e) => tracing::warn!(error = %e, "reloading webhooks failed; retrying"),
        }
        if pruned.elapsed() >= Duration::from_secs(60) {
            pruned = tokio::time::Instant::now();
            if let Err(e) = state.store.prune_config_changes(CONFIG_CHANGES_KEPT).await {
                tracing::warn!(error = %e, "pruning the record of configuration changes failed");
            }
        }
    }
}
