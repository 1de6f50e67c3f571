//! Retention: finished deliveries past their retention are purged with their attempts; live
//! ones never are, whatever their age; changes go by their own time. On PostgreSQL finished
//! deliveries leave the queue for the log partitioned by expiry, whose expired partitions are
//! dropped whole; on SQLite they stay in the queue table and are deleted in batches.

use super::claims::finish;
use super::{job_deliveries, store_unleased, tenant};
use cxhooks_store::testing::{Backend, count, execute};
use cxhooks_store::*;
use std::time::Duration;

const S: i64 = 1_000_000;
/// The retention of these tests: delivered ones 10 s, failed ones 10 minutes.
const DELIVERED_KEEP: i64 = 10 * S;
const FAILED_KEEP: i64 = 600 * S;

fn retention() -> LogRetention {
    LogRetention {
        delivered: Some(Duration::from_micros(DELIVERED_KEEP as u64)),
        failed: Some(Duration::from_micros(FAILED_KEEP as u64)),
    }
}

/// What a node's purge does at `at`: drops the log's expired partitions (PostgreSQL) and walks
/// the queue in batches of 2 for finished deliveries past their retention; returns how many
/// deliveries went and in how many batches.
async fn purge_at(store: &Store, at: i64) -> (u64, u32) {
    let purge = Purge {
        delivered_before: Some(at - DELIVERED_KEEP),
        failed_before: Some(at - FAILED_KEEP),
    };
    let (mut deleted, mut batches, mut after) =
        (store.drop_expired_log(at).await.unwrap(), 0, None);
    loop {
        let done = store.purge_batch(&purge, after, 2).await.unwrap();
        deleted += done.deliveries;
        batches += 1;
        match done.next {
            Some(next) => after = Some(next),
            None => return (deleted, batches),
        }
    }
}

/// How many deliveries of `app` the request log lists (up to 100).
async fn listed(store: &Store, tenant: &TenantName, app: ApplicationId) -> usize {
    let page = Page {
        limit: 100,
        ..Page::default()
    };
    let filter = LogFilter::default();
    let listed = store.deliveries(tenant, app, &filter, &page).await;
    listed.unwrap().items.len()
}

/// Time-ordered ids, as publishes make them: the batch purge walks them in creation order.
fn made(app: ApplicationId, hook: WebhookId, n: usize, now: i64) -> Vec<NewDelivery> {
    let mut ds = job_deliveries(n, app, hook, now);
    for d in &mut ds {
        d.id = DeliveryId::now_v7();
    }
    ds
}

/// Delivered and failed deliveries are purged once past their own retention, attempts
/// included; one finished later, and live ones, stay. Before that the request log shows them
/// all, wherever they are kept, and a redelivered one goes back to the queue.
async fn a_purge_deletes_finished_deliveries_past_retention_and_nothing_live(backend: Backend) {
    let (store, _loc) = backend.store().await;
    let (acme, key) = tenant("acme");
    store.create_tenant(&acme, &key).await.unwrap();
    let app = ApplicationId::new_v4();
    let now = chrono::Utc::now().timestamp_micros();
    store.prepare_log(retention(), now).await.unwrap();
    let hooks: Vec<WebhookId> = (0..5).map(|_| WebhookId::now_v7()).collect();
    let (ok_hook, failing_hook, late_hook, live_hook, retried_hook) =
        (hooks[0], hooks[1], hooks[2], hooks[3], hooks[4]);
    let delivered = made(app, ok_hook, 5, now);
    let failed = made(app, failing_hook, 3, now);
    let late = made(app, late_hook, 2, now);
    let live = made(app, live_hook, 2, now);
    let retried = made(app, retried_hook, 1, now);
    let change = NewChange {
        id: ChangeId::now_v7(),
        event_type: "crjob:created".into(),
        entity_id: "1".into(),
        accepted_at: now,
        body: Vec::new(),
    };
    for ds in [&delivered, &failed, &late, &live, &retried] {
        store_unleased(&store, &acme, &[], ds, now).await;
    }
    store_unleased(&store, &acme, std::slice::from_ref(&change), &[], now).await;
    let only = |hook: WebhookId| move |w: WebhookId| if w == hook { 100 } else { 0 };
    let claim = |hook, at| {
        let store = store.clone();
        async move {
            store
                .claim_fair("a", at, at + 60 * S, 100, None, &only(hook))
                .await
                .unwrap()
                .deliveries
        }
    };
    finish(
        &store,
        "a",
        &claim(ok_hook, now).await,
        now + S,
        Next::Delivered,
    )
    .await;
    finish(
        &store,
        "a",
        &claim(failing_hook, now).await,
        now + S,
        Next::Failed,
    )
    .await;
    // Delivered at its second attempt, after a 503: two attempts to purge.
    let first = claim(retried_hook, now).await;
    let attempt = |n: i64, code: i64, next: Next| DeliveryOutcome {
        delivery_id: first[0].id,
        webhook_id: retried_hook,
        node: "a".into(),
        attempt: Some(AttemptRecord {
            n,
            at: now + n * S,
            duration_us: 10,
            status_code: Some(code),
            error: None,
            response_body: String::new(),
        }),
        signature: None,
        next,
        series_started: now,
    };
    let retry = attempt(1, 503, Next::Retry(now + S));
    store
        .complete(&[retry], now + S, i64::MAX, i64::MAX)
        .await
        .unwrap();
    assert_eq!(claim(retried_hook, now + 2 * S).await.len(), 1);
    let success = attempt(2, 200, Next::Delivered);
    store
        .complete(&[success], now + 2 * S, i64::MAX, i64::MAX)
        .await
        .unwrap();
    finish(
        &store,
        "a",
        &claim(late_hook, now).await,
        now + 190 * S,
        Next::Delivered,
    )
    .await;

    let kept = |ds: &[NewDelivery]| {
        let (store, tenant) = (store.clone(), acme.name.clone());
        let ids: Vec<DeliveryId> = ds.iter().map(|d| d.id).collect();
        async move {
            let mut n = 0;
            for id in ids {
                if store.delivery(&tenant, app, id).await.unwrap().is_some() {
                    n += 1;
                }
            }
            n
        }
    };
    // Everything is in the request log, with its attempts.
    assert_eq!(listed(&store, &acme.name, app).await, 13);
    let codes = |id| {
        let store = store.clone();
        async move {
            let attempts = store.attempts(id).await.unwrap();
            attempts.iter().map(|a| a.status_code).collect::<Vec<_>>()
        }
    };
    assert_eq!(codes(retried[0].id).await, [Some(503), Some(200)]);
    let status = |id| {
        let (store, tenant) = (store.clone(), acme.name.clone());
        async move {
            store
                .delivery(&tenant, app, id)
                .await
                .unwrap()
                .unwrap()
                .status
        }
    };
    assert_eq!(status(failed[0].id).await, DeliveryStatus::Failed);
    assert_eq!(status(late[0].id).await, DeliveryStatus::Delivered);
    // Where they are kept: on PostgreSQL the queue holds the live ones alone.
    let queued = count(&store, "SELECT COUNT(*) FROM deliveries").await;
    match backend {
        Backend::Postgres => {
            assert_eq!(queued, 2, "only the live deliveries stay in the queue");
            assert_eq!(count(&store, "SELECT COUNT(*) FROM delivery_log").await, 11);
            let forever = count(&store, "SELECT COUNT(*) FROM delivery_log_forever").await;
            assert_eq!(forever, 0, "each in a partition that expires");
        }
        Backend::Sqlite => assert_eq!(queued, 13),
    }

    // 200 s on: the delivered ones are gone with their attempts, the later one and the failed
    // ones (kept 10 minutes) are not.
    let (deleted, batches) = purge_at(&store, now + 200 * S).await;
    assert_eq!(deleted, 6);
    if backend == Backend::Sqlite {
        assert!(
            batches >= 7,
            "{batches} batches of at most 2 over 13 deliveries"
        );
    }
    assert_eq!(kept(&delivered).await + kept(&retried).await, 0);
    assert!(store.attempts(retried[0].id).await.unwrap().is_empty());
    assert_eq!(count(&store, "SELECT COUNT(*) FROM attempts").await, 0);
    assert_eq!(kept(&failed).await, 3);
    assert_eq!(kept(&late).await, 2, "finished later");
    assert_eq!(kept(&live).await, 2, "pending: never purged");

    // A failed one sent again is live again: back in the queue, claimed, delivered, logged.
    let again = failed[0].id;
    assert!(
        store
            .redeliver(&acme.name, app, again, now + 300 * S)
            .await
            .unwrap()
    );
    assert_eq!(status(again).await, DeliveryStatus::Pending);
    let claimed = claim(failing_hook, now + 300 * S).await;
    assert_eq!(claimed.iter().map(|c| c.id).collect::<Vec<_>>(), [again]);
    finish(&store, "a", &claimed, now + 301 * S, Next::Delivered).await;
    assert_eq!(status(again).await, DeliveryStatus::Delivered);

    // 1,000 s on, past every retention: only what is live is left.
    let (deleted, _) = purge_at(&store, now + 1_000 * S).await;
    assert_eq!(deleted, 5);
    assert_eq!(kept(&failed).await + kept(&late).await, 0);
    assert_eq!(kept(&live).await, 2);
    assert_eq!(store.pending_count().await.unwrap(), 2);
    if backend == Backend::Postgres {
        assert_eq!(count(&store, "SELECT COUNT(*) FROM delivery_log").await, 0);
        let parts = count(
            &store,
            "SELECT COUNT(*) FROM delivery_log_parts WHERE to_us <= 0",
        )
        .await;
        assert_eq!(parts, 0);
    }
    // Changes by their own cut-off.
    assert_eq!(store.purge_changes(now - 60 * S, 10).await.unwrap(), 0);
    assert_eq!(store.purge_changes(now + 60 * S, 10).await.unwrap(), 1);
}

/// A store whose log was never prepared (no retention known) keeps finished deliveries for
/// good: nothing expires, whenever the purge runs.
async fn without_a_retention_finished_deliveries_are_kept_for_good(backend: Backend) {
    let (store, _loc) = backend.store().await;
    let (acme, key) = tenant("acme");
    store.create_tenant(&acme, &key).await.unwrap();
    let (app, hook) = (ApplicationId::new_v4(), WebhookId::now_v7());
    let now = chrono::Utc::now().timestamp_micros();
    let ds = made(app, hook, 3, now);
    store_unleased(&store, &acme, &[], &ds, now).await;
    let claimed = store
        .claim_fair("a", now, now + 60 * S, 100, None, &|_| 100)
        .await
        .unwrap()
        .deliveries;
    finish(&store, "a", &claimed, now + S, Next::Delivered).await;
    assert_eq!(
        store.drop_expired_log(now + 10_000_000 * S).await.unwrap(),
        0
    );
    for d in &ds {
        let kept = store.delivery(&acme.name, app, d.id).await.unwrap();
        assert_eq!(kept.unwrap().status, DeliveryStatus::Delivered);
    }
    if backend == Backend::Postgres {
        assert_eq!(
            count(&store, "SELECT COUNT(*) FROM delivery_log_forever").await,
            3
        );
    }
}

/// Every node prepares the log at start and at each purge pass: partitions are made once,
/// ahead of the longest retention, and each is dropped once.
async fn nodes_preparing_the_log_together_make_each_partition_once(backend: Backend) {
    let (a, loc) = backend.store().await;
    let b = Store::open(&loc.location).await.unwrap();
    let now = chrono::Utc::now().timestamp_micros();
    let (x, y) = tokio::join!(
        a.prepare_log(retention(), now),
        b.prepare_log(retention(), now)
    );
    x.unwrap();
    y.unwrap();
    a.prepare_log(retention(), now + S).await.unwrap();
    if backend == Backend::Sqlite {
        return; // one table, no partitions
    }
    let parts = count(&a, "SELECT COUNT(*) FROM delivery_log_parts").await;
    let tables = count(
        &a,
        "SELECT COUNT(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'delivery_log'::regclass AND c.relname <> 'delivery_log_forever'",
    )
    .await;
    assert_eq!(parts, tables);
    // Widths of 9.4 s (a 64th of the longer retention, above an eighth of the shorter), from
    // the current one to 10 minutes (the longer retention) and two widths ahead: 66 or 67, and
    // one more when the second call, a second later, needs one the first did not reach.
    assert!((66..=68).contains(&parts), "{parts} partitions");
    let reach = count(&a, "SELECT MAX(to_us) FROM delivery_log_parts").await;
    assert!(
        reach >= now + FAILED_KEEP,
        "the partitions reach past the longest retention"
    );
    let (x, y) = tokio::join!(
        a.drop_expired_log(now + 2_000 * S),
        b.drop_expired_log(now + 2_000 * S)
    );
    assert_eq!(x.unwrap() + y.unwrap(), 0, "they were empty");
    assert_eq!(
        count(&a, "SELECT COUNT(*) FROM delivery_log_parts").await,
        0
    );
    b.close().await;
}

/// A delivery finished before PostgreSQL's log existed stays in the queue: the batch purge
/// deletes it there, with its attempts, once past its retention.
async fn deliveries_finished_in_the_queue_are_purged_with_their_attempts(backend: Backend) {
    let (store, _loc) = backend.store().await;
    let (acme, key) = tenant("acme");
    store.create_tenant(&acme, &key).await.unwrap();
    let (app, hook, id) = (
        ApplicationId::new_v4(),
        WebhookId::now_v7(),
        DeliveryId::now_v7(),
    );
    let now = chrono::Utc::now().timestamp_micros();
    let insert = format!(
        "INSERT INTO deliveries (id, tenant, application_id, webhook_id, type, payload, status, \
         attempts, series_attempts, next_attempt_at, created_at, updated_at) \
         VALUES ('{id}', 'acme', '{app}', '{hook}', 'crjob:created', '', 'delivered', 2, 2, \
         {now}, {now}, {now})"
    );
    execute(&store, &insert).await;
    for n in [1, 2] {
        let attempt = format!(
            "INSERT INTO attempts (delivery_id, n, at, duration_us, status_code, response_body) \
             VALUES ('{id}', {n}, {now}, 10, 503, '')"
        );
        execute(&store, &attempt).await;
    }
    assert_eq!(store.attempts(id).await.unwrap().len(), 2);
    assert_eq!(
        purge_at(&store, now + DELIVERED_KEEP / 2).await.0,
        0,
        "not yet"
    );
    assert_eq!(purge_at(&store, now + 2 * DELIVERED_KEEP).await.0, 1);
    assert!(store.delivery(&acme.name, app, id).await.unwrap().is_none());
    assert_eq!(count(&store, "SELECT COUNT(*) FROM attempts").await, 0);
}

/// Deleting a tenant deletes every delivery it had, wherever it is kept (the queue, and on
/// PostgreSQL the log's partitions), with their earlier attempts; another tenant's stay.
async fn deleting_a_tenant_deletes_its_deliveries_in_the_queue_and_the_log(backend: Backend) {
    let (store, _loc) = backend.store().await;
    let now = chrono::Utc::now().timestamp_micros();
    store.prepare_log(retention(), now).await.unwrap();
    let app = ApplicationId::new_v4();
    let mut tenants = Vec::new();
    for name in ["acme", "other"] {
        let (t, key) = tenant(name);
        store.create_tenant(&t, &key).await.unwrap();
        let (done, retried, live) = (
            WebhookId::now_v7(),
            WebhookId::now_v7(),
            WebhookId::now_v7(),
        );
        for hook in [done, retried, live] {
            store_unleased(&store, &t, &[], &made(app, hook, 2, now), now).await;
        }
        let only = |hook: WebhookId| move |w: WebhookId| if w == hook { 100 } else { 0 };
        let claimed = store
            .claim_fair("a", now, now + 60 * S, 100, None, &only(done))
            .await
            .unwrap()
            .deliveries;
        finish(&store, "a", &claimed, now + S, Next::Delivered).await;
        // A 503, then a retry due later: an attempt in `attempts` and the delivery in the queue.
        let claimed = store
            .claim_fair("a", now, now + 60 * S, 100, None, &only(retried))
            .await
            .unwrap()
            .deliveries;
        for (n, d) in claimed.iter().enumerate() {
            let outcome = |k: i64, next| DeliveryOutcome {
                delivery_id: d.id,
                webhook_id: retried,
                node: "a".into(),
                attempt: Some(AttemptRecord {
                    n: k,
                    at: now + k * S,
                    duration_us: 10,
                    status_code: Some(503),
                    error: None,
                    response_body: String::new(),
                }),
                signature: None,
                next,
                series_started: now,
            };
            store
                .complete(
                    &[outcome(1, Next::Retry(now + S))],
                    now + S,
                    i64::MAX,
                    i64::MAX,
                )
                .await
                .unwrap();
            let again = store
                .claim_fair("a", now + 2 * S, now + 60 * S, 1, None, &only(retried))
                .await
                .unwrap()
                .deliveries;
            assert_eq!(again.len(), 1);
            // One fails for good (to the log), the other waits for its third attempt.
            let next = if n == 0 {
                Next::Failed
            } else {
                Next::Retry(now + 100 * S)
            };
            store
                .complete(&[outcome(2, next)], now + 2 * S, i64::MAX, i64::MAX)
                .await
                .unwrap();
        }
        tenants.push(t);
    }
    let rows = |tenant: &str| {
        let (store, sql) = (
            store.clone(),
            format!("SELECT COUNT(*) FROM all_deliveries WHERE tenant = '{tenant}'"),
        );
        async move { count(&store, &sql).await }
    };
    assert_eq!((rows("acme").await, rows("other").await), (6, 6));
    assert_eq!(count(&store, "SELECT COUNT(*) FROM attempts").await, 4);
    if backend == Backend::Postgres {
        assert_eq!(count(&store, "SELECT COUNT(*) FROM delivery_log").await, 6);
    }
    assert!(store.delete_tenant(&tenants[0].name).await.unwrap());
    assert_eq!((rows("acme").await, rows("other").await), (0, 6));
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM attempts").await,
        2,
        "the deleted tenant's attempts went, the other's stayed"
    );
    assert_eq!(listed(&store, &tenants[1].name, app).await, 6);
}

cxhooks_store::both_backends!(
    deleting_a_tenant_deletes_its_deliveries_in_the_queue_and_the_log,
    deliveries_finished_in_the_queue_are_purged_with_their_attempts,
    a_purge_deletes_finished_deliveries_past_retention_and_nothing_live,
    without_a_retention_finished_deliveries_are_kept_for_good,
    nodes_preparing_the_log_together_make_each_partition_once,
);
