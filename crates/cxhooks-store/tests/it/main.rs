//! The store suite, run against both backends.

mod changes;
mod claims;
mod config_changes;
mod feeds;
mod retention;

use chrono::{TimeZone, Utc};
use cxhooks_store::testing::Backend;
use cxhooks_store::*;

mod webhook_limits;

fn tenant(name: &str) -> (Tenant, RealmKey) {
    let name = TenantName::parse(name).unwrap();
    let at = Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap();
    let key = RealmKey {
        kid: uuid::Uuid::new_v4().to_string(),
        tenant: name.clone(),
        sealed_private_key: vec![1, 2, 3],
        public_key: vec![4, 5, 6],
        created_at: at,
    };
    (
        Tenant {
            name,
            webhooks_enabled: true,
            created_at: at,
        },
        key,
    )
}

fn client(tenant: &TenantName, id: &str) -> Client {
    let at = Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap();
    Client {
        tenant: tenant.clone(),
        client_id: id.into(),
        name: "HireData".into(),
        code: ClientCode::parse("urn:hiredata/hiredata").unwrap(),
        secret_hash: vec![9; 32],
        default_scopes: ScopeSet::parse("urn:cx/webhooks:data:manage urn:cx/cx5Acl:data:manage")
            .unwrap(),
        permissions: Permissions::parse("create=on,read=all,update=owner,delete=owner").unwrap(),
        issuer: None,
        created_at: at,
        updated_at: at,
    }
}

async fn tenants_round_trip(backend: Backend) {
    let (store, _loc) = backend.store().await;
    let (acme, key) = tenant("acme");
    store.create_tenant(&acme, &key).await.unwrap();
    assert_eq!(store.tenant(&acme.name).await.unwrap(), Some(acme.clone()));
    assert_eq!(
        store.realm_keys(&acme.name).await.unwrap(),
        vec![key.clone()]
    );
    assert_eq!(
        store.realm_key_by_kid(&key.kid).await.unwrap(),
        Some(key.clone())
    );

    let (dup, dup_key) = tenant("acme");
    match store.create_tenant(&dup, &dup_key).await {
        Err(StoreError::Conflict(what)) => assert_eq!(what, "tenant 'acme'"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    // The failed create left no orphan key behind.
    assert_eq!(store.realm_key_by_kid(&dup_key.kid).await.unwrap(), None);

    let (beta, beta_key) = tenant("beta");
    store.create_tenant(&beta, &beta_key).await.unwrap();
    let names: Vec<_> = store
        .tenants()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(names, ["acme", "beta"]);

    assert!(store.set_tenant_webhooks(&acme.name, false).await.unwrap());
    assert!(
        !store
            .tenant(&acme.name)
            .await
            .unwrap()
            .unwrap()
            .webhooks_enabled
    );
    let nope = TenantName::parse("nope").unwrap();
    assert!(!store.set_tenant_webhooks(&nope, false).await.unwrap());
    assert_eq!(store.tenant(&nope).await.unwrap(), None);
}

async fn clients_are_partitioned_by_tenant(backend: Backend) {
    let (store, _loc) = backend.store().await;
    let (acme, key) = tenant("acme");
    let (beta, beta_key) = tenant("beta");
    store.create_tenant(&acme, &key).await.unwrap();
    store.create_tenant(&beta, &beta_key).await.unwrap();

    let c = client(&acme.name, "c1");
    store.create_client(&c).await.unwrap();
    assert_eq!(
        store.client(&acme.name, "c1").await.unwrap(),
        Some(c.clone())
    );
    // A client of an external issuer keeps its issuer and has no secret.
    let external = Client {
        issuer: Some("https://kc.example/realms/acme".into()),
        secret_hash: Vec::new(),
        ..client(&acme.name, "hr-sync")
    };
    store.create_client(&external).await.unwrap();
    assert_eq!(
        store.client(&acme.name, "hr-sync").await.unwrap(),
        Some(external)
    );
    // The same id under another tenant is not visible.
    assert_eq!(store.client(&beta.name, "c1").await.unwrap(), None);
    assert!(store.clients(&beta.name).await.unwrap().is_empty());
    assert!(matches!(
        store.create_client(&c).await,
        Err(StoreError::Conflict(_))
    ));

    let mut changed = c.clone();
    changed.permissions = Permissions::parse("read=owner").unwrap();
    changed.secret_hash = vec![7; 32];
    assert!(store.update_client(&changed).await.unwrap());
    assert_eq!(store.client(&acme.name, "c1").await.unwrap(), Some(changed));
    assert!(
        !store
            .update_client(&client(&beta.name, "c1"))
            .await
            .unwrap()
    );

    assert!(!store.delete_client(&beta.name, "c1").await.unwrap());
    assert!(store.delete_client(&acme.name, "c1").await.unwrap());
    assert_eq!(store.client(&acme.name, "c1").await.unwrap(), None);
}

async fn deleting_a_tenant_deletes_what_it_owns(backend: Backend) {
    let (store, _loc) = backend.store().await;
    let (acme, key) = tenant("acme");
    store.create_tenant(&acme, &key).await.unwrap();
    store
        .create_client(&client(&acme.name, "c1"))
        .await
        .unwrap();
    assert!(store.delete_tenant(&acme.name).await.unwrap());
    assert_eq!(store.client(&acme.name, "c1").await.unwrap(), None);
    assert_eq!(store.realm_key_by_kid(&key.kid).await.unwrap(), None);
    assert!(!store.delete_tenant(&acme.name).await.unwrap());
}

async fn master_key_fingerprint_is_recorded_then_checked(backend: Backend) {
    let (store, _loc) = backend.store().await;
    assert_eq!(
        store.check_master_key(&[1; 32]).await.unwrap(),
        MasterKeyCheck::Matches
    );
    assert_eq!(
        store.check_master_key(&[1; 32]).await.unwrap(),
        MasterKeyCheck::Matches
    );
    assert_eq!(
        store.check_master_key(&[2; 32]).await.unwrap(),
        MasterKeyCheck::Mismatch
    );
}

async fn reopening_keeps_data_and_migrations_are_idempotent(backend: Backend) {
    let loc = backend.location();
    let store = Store::open(&loc.location).await.unwrap();
    let (acme, key) = tenant("acme");
    store.create_tenant(&acme, &key).await.unwrap();
    store.close().await;
    let again = Store::open(&loc.location).await.unwrap();
    again.migrate().await.unwrap();
    assert_eq!(again.tenant(&acme.name).await.unwrap(), Some(acme));
}

/// `n` deliveries of one webhook, owned by client `c1`, created at `now`.
fn job_deliveries(n: usize, app: ApplicationId, hook: WebhookId, now: i64) -> Vec<NewDelivery> {
    (0..n)
        .map(|i| NewDelivery {
            id: DeliveryId::new_v4(),
            application_id: app,
            webhook_id: hook,
            client_id: "c1".into(),
            change_id: None,
            event_type: "crjob:created".into(),
            payload: format!("{{\"n\":{i}}}").into_bytes(),
            created_at: now,
            entity_key: None,
            held: false,
        })
        .collect()
}

/// A publish that hands some of its deliveries to its own node stores them leased to it:
/// another node claims the one not taken at once and the taken ones only after the lease runs
/// out; one past the quota is never claimed, whatever the publish asked.
async fn deliveries_stored_leased_are_claimed_only_after_the_lease(backend: Backend) {
    let (store, _loc) = backend.store().await;
    let (acme, key) = tenant("acme");
    store.create_tenant(&acme, &key).await.unwrap();
    let (app, hook, now) = (ApplicationId::new_v4(), WebhookId::new_v4(), 1_000_000);
    let deliveries = job_deliveries(4, app, hook, now);
    let until = now + 5_000_000;
    let taken = [true, false, true, true];
    let accept = Accept {
        changes: &[],
        deliveries: &deliveries,
        quota: 3,
        idempotency: None,
        record: None,
        lease: Some(Lease {
            node: "a",
            until,
            taken: &taken,
        }),
    };
    let statuses = store
        .accept_changes(&acme.name, &accept, now)
        .await
        .unwrap();
    assert_eq!(statuses[3], DeliveryStatus::QuotaExceeded);
    // Another node finds only the one not taken: the quota-exceeded one is not sent at all.
    let other = store
        .claim_due("b", now, now + 60_000_000, 10, &[], true)
        .await
        .unwrap();
    let id = |i: usize| deliveries[i].id;
    assert_eq!(other.iter().map(|c| c.id).collect::<Vec<_>>(), [id(1)]);
    // Before the lease ends, still nothing; after, node b takes what a held.
    let early = store
        .claim_due("b", until - 1, until + 60_000_000, 10, &[], true)
        .await
        .unwrap();
    assert!(early.is_empty(), "{early:?}");
    let late = store
        .claim_due("b", until + 1, until + 60_000_000, 10, &[], true)
        .await
        .unwrap();
    let mut late: Vec<DeliveryId> = late.into_iter().map(|c| c.id).collect();
    late.sort();
    let mut held = vec![id(0), id(2)];
    held.sort();
    assert_eq!(late, held);
    let record = store
        .delivery(&acme.name, app, deliveries[2].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.status, DeliveryStatus::Pending);
}

/// Tenant `acme` with `n` pending deliveries of one webhook of one application, stored at
/// `now`; returns them all.
async fn acme_with_pending(
    store: &Store,
    n: usize,
) -> (Tenant, ApplicationId, WebhookId, Vec<NewDelivery>, i64) {
    let (acme, key) = tenant("acme");
    store.create_tenant(&acme, &key).await.unwrap();
    let (app, hook, now) = (ApplicationId::new_v4(), WebhookId::new_v4(), 1_000_000);
    let deliveries = job_deliveries(n, app, hook, now);
    store_unleased(store, &acme, &[], &deliveries, now).await;
    (acme, app, hook, deliveries, now)
}

/// Stores `changes` and `deliveries` for `tenant` in one publish, none leased, within quota.
async fn store_unleased(
    store: &Store,
    tenant: &Tenant,
    changes: &[NewChange],
    deliveries: &[NewDelivery],
    now: i64,
) {
    let accept = Accept {
        changes,
        deliveries,
        quota: 10_000,
        idempotency: None,
        record: None,
        lease: None,
    };
    store
        .accept_changes(&tenant.name, &accept, now)
        .await
        .unwrap();
}

/// The live size leaves out what updates left behind, and compacting loses nothing: 200
/// deliveries, each claimed and given back (two updates), measure no more live than grown; on
/// PostgreSQL, whose updates write new row versions, less. Every delivery is still there after.
async fn live_size_leaves_out_what_updates_left_behind(backend: Backend) {
    let (store, _loc) = backend.store().await;
    let (acme, app, _, deliveries, now) = acme_with_pending(&store, 200).await;
    let claimed = store
        .claim_due("a", now, now + 60_000_000, 500, &[], false)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 200);
    let ids: Vec<DeliveryId> = claimed.into_iter().map(|c| c.id).collect();
    store.release("a", &ids).await.unwrap();

    let grown = store.size_bytes().await.unwrap();
    let live = store.live_size_bytes().await.unwrap();
    assert!(live > 0 && live <= grown, "live {live}, grown {grown}");
    if backend == Backend::Postgres {
        assert!(
            live < grown,
            "three row versions each: live {live}, grown {grown}"
        );
    }
    assert_eq!(store.pending_count().await.unwrap(), 200);
    let again = store
        .claim_due("b", now, now + 60_000_000, 500, &[], false)
        .await
        .unwrap();
    assert_eq!(again.len(), 200);
    let record = store
        .delivery(&acme.name, app, deliveries[7].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.payload, deliveries[7].payload);
}

/// Stores `n` pending deliveries of one webhook for `tenant`, then claims and gives each back
/// (two updates each); returns how much the store grew by.
async fn store_and_churn(store: &Store, tenant: &Tenant, n: usize, now: i64) -> i64 {
    let before = store.size_bytes().await.unwrap();
    let deliveries = job_deliveries(n, ApplicationId::new_v4(), WebhookId::new_v4(), now);
    store_unleased(store, tenant, &[], &deliveries, now).await;
    let claimed = store
        .claim_due("a", now, now + 60_000_000, 10_000, &[], false)
        .await
        .unwrap();
    assert_eq!(claimed.len(), n);
    let ids: Vec<DeliveryId> = claimed.into_iter().map(|c| c.id).collect();
    store.release("a", &ids).await.unwrap();
    store.size_bytes().await.unwrap() - before
}

/// Vacuuming churned tables frees what updates left behind for the next deliveries: on
/// PostgreSQL, once the deliveries table's dead versions pass the threshold it is vacuumed, and
/// the next 1,000 deliveries, churned the same way, grow the store by much less than the first
/// 1,000 did. SQLite updates in place and has nothing to vacuum.
async fn vacuuming_frees_what_updates_left_for_the_next_deliveries(backend: Backend) {
    let (store, _loc) = backend.store().await;
    let (acme, key) = tenant("acme");
    store.create_tenant(&acme, &key).await.unwrap();
    // The second 1,000 are due before the first, so its claim takes them alone.
    let first = store_and_churn(&store, &acme, 1_000, 2_000_000).await;
    if backend == Backend::Sqlite {
        assert_eq!(
            store.vacuum_churned(100, 0.0).await.unwrap(),
            cxhooks_store::Vacuumed::default()
        );
        return;
    }
    // The statistics a table's dead rows are counted in reach PostgreSQL within about a second.
    // A vacuum cannot free versions that a transaction begun before they died may still see
    // (other tests' transactions in the same database): it then leaves them counted, and the
    // table is vacuumed again until they are gone.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut vacuums = 0;
    loop {
        let done = store.vacuum_churned(100, 0.0).await.unwrap();
        if done.vacuumed.iter().any(|t| t == "deliveries") {
            vacuums += 1;
        } else if vacuums > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "2,000 dead versions of deliveries were not freed ({vacuums} vacuums)"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(
        store.vacuum_churned(i64::MAX / 2, 0.0).await.unwrap()
            == cxhooks_store::Vacuumed::default(),
        "below the threshold, nothing is vacuumed"
    );
    // Their heap versions take the freed space; their index entries are new (without the
    // vacuum the second 1,000 grow the store by about as much as the first: 770 against 811 KiB).
    let second = store_and_churn(&store, &acme, 1_000, 1_000_000).await;
    assert!(
        second * 3 < first * 2,
        "the freed space holds the next deliveries: grew {first} bytes, then {second}"
    );
}

/// A publish larger than one statement carries (400 rows, or on PostgreSQL 10 KiB of values)
/// is stored whole, every change and delivery, in one transaction.
async fn a_publish_of_many_statements_is_stored_whole(backend: Backend) {
    let (store, _loc) = backend.store().await;
    let (acme, key) = tenant("acme");
    store.create_tenant(&acme, &key).await.unwrap();
    let (app, hook, now) = (ApplicationId::new_v4(), WebhookId::new_v4(), 1_000_000);
    let n = 900;
    let changes: Vec<NewChange> = (0..n)
        .map(|i| NewChange {
            id: ChangeId::now_v7(),
            event_type: "cremployee:updated".into(),
            entity_id: format!("{}", 100_000 + i),
            accepted_at: now,
            body: Vec::new(),
        })
        .collect();
    let mut deliveries = job_deliveries(n, app, hook, now);
    for (d, c) in deliveries.iter_mut().zip(&changes) {
        d.change_id = Some(c.id);
    }
    store_unleased(&store, &acme, &changes, &deliveries, now).await;
    assert_eq!(store.pending_count().await.unwrap(), n as i64);
    let last = store
        .delivery(&acme.name, app, deliveries[n - 1].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(last.change_id, Some(changes[n - 1].id));
    assert_eq!(last.payload, deliveries[n - 1].payload);
}

/// The request log pages by (created, id) with the cursor the API hands out, newest first, on
/// both backends alike (PostgreSQL keeps ids as `uuid`, SQLite as text: the same order). Text
/// that is not an id (a webhook filter, a cursor, a delivery) finds nothing and is no error.
async fn the_request_log_pages_in_id_order_and_takes_any_text(backend: Backend) {
    let (store, _loc) = backend.store().await;
    let (acme, app, hook, deliveries, _) = acme_with_pending(&store, 5).await;
    let mut expected: Vec<DeliveryId> = deliveries.iter().map(|d| d.id).collect();
    expected.sort_unstable_by_key(|id| std::cmp::Reverse(id.to_string()));
    let all = LogFilter::default();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = Page {
            limit: 2,
            after: after.clone(),
            created_by: None,
        };
        let got = store
            .deliveries(&acme.name, app, &all, &page)
            .await
            .unwrap();
        seen.extend(got.items.iter().map(|d| d.id));
        let Some(last) = got.items.last() else { break };
        after = Some((last.created_at, last.id.to_string()));
        if !got.more {
            break;
        }
    }
    assert_eq!(seen, expected);

    let first = Page {
        limit: 50,
        after: None,
        created_by: None,
    };
    let by_hook = |webhook_id: &str| LogFilter {
        webhook_id: Some(webhook_id.to_owned()),
        ..LogFilter::default()
    };
    let count = |filter: LogFilter, page: Page| {
        let store = &store;
        let tenant = acme.name.clone();
        async move {
            let got = store.deliveries(&tenant, app, &filter, &page).await;
            got.unwrap_or_else(|e| panic!("{filter:?} {page:?}: {e}"))
                .items
                .len()
        }
    };
    assert_eq!(count(by_hook(&hook.to_string()), first.clone()).await, 5);
    let other = uuid::Uuid::new_v4().to_string();
    assert_eq!(count(by_hook(&other), first.clone()).await, 0);
    assert_eq!(count(by_hook("hook-1"), first.clone()).await, 0);
    let forged = Page {
        limit: 50,
        after: Some((i64::MAX, "zzz".into())),
        created_by: None,
    };
    assert_eq!(count(LogFilter::default(), forged).await, 0);
    assert!(
        store
            .attempts(DeliveryId::new_v4())
            .await
            .unwrap()
            .is_empty()
    );
    let record = store
        .delivery(&acme.name, app, deliveries[3].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (record.id, record.webhook_id, record.change_id),
        (deliveries[3].id, hook, None)
    );
}

/// Three deliveries claimed by node `a`; one is released and claimed by node `b` meanwhile. A's
/// batch of outcomes is recorded for the two it still owns and dropped for the third; b's
/// outcome (a retry) is recorded for its one.
async fn completions_are_recorded_only_by_the_lease_owner(backend: Backend) {
    let (store, _loc) = backend.store().await;
    let (acme, app, hook, deliveries, now) = acme_with_pending(&store, 3).await;
    let claimed = store
        .claim_due("a", now, now + 60_000_000, 10, &[], true)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3);
    let lost = deliveries[0].id;
    store
        .release("a", std::slice::from_ref(&lost))
        .await
        .unwrap();
    let taken = store
        .claim_due("b", now, now + 60_000_000, 10, &[], true)
        .await
        .unwrap();
    assert_eq!(taken.iter().map(|c| &c.id).collect::<Vec<_>>(), [&lost]);

    let outcome = |d: &NewDelivery, owner: &str, next: Next, status: i64| DeliveryOutcome {
        delivery_id: d.id,
        webhook_id: hook,
        node: owner.into(),
        attempt: Some(AttemptRecord {
            n: 1,
            at: now + 5,
            duration_us: 700,
            status_code: Some(status),
            error: None,
            response_body: format!("from {owner}"),
        }),
        signature: None,
        next,
        series_started: now + 5,
    };
    let from_a: Vec<DeliveryOutcome> = deliveries
        .iter()
        .map(|d| outcome(d, "a", Next::Delivered, 200))
        .collect();
    store
        .complete(&from_a, now + 10, i64::MAX, i64::MAX)
        .await
        .unwrap();
    let retry_at = now + 3_000_000;
    let from_b = [outcome(&deliveries[0], "b", Next::Retry(retry_at), 503)];
    store
        .complete(&from_b, now + 20, i64::MAX, i64::MAX)
        .await
        .unwrap();

    for (i, d) in deliveries.iter().enumerate() {
        let record = store
            .delivery(&acme.name, app, d.id)
            .await
            .unwrap()
            .unwrap();
        let attempts = store.attempts(d.id).await.unwrap();
        assert_eq!(attempts.len(), 1, "delivery {i}: {attempts:?}");
        assert_eq!(record.attempts, 1, "delivery {i}");
        if i == 0 {
            assert_eq!(record.status, DeliveryStatus::Retrying);
            assert_eq!(record.next_attempt_at, retry_at);
            assert_eq!(attempts[0].response_body, "from b");
            assert_eq!(attempts[0].status_code, Some(503));
        } else {
            assert_eq!(record.status, DeliveryStatus::Delivered);
            assert_eq!(record.updated_at, now + 10);
            assert_eq!(attempts[0].response_body, "from a");
        }
    }
    // Nothing is left claimed: the retry is due again at its time, for any node, unless that
    // node skips the webhook.
    let skipping = [WebhookId::new_v4(), hook];
    let none = store
        .claim_due("c", retry_at, retry_at + 1, 10, &skipping, true)
        .await;
    assert!(none.unwrap().is_empty());
    let due = store
        .claim_due("c", retry_at, retry_at + 1, 10, &[], true)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].series_attempts, 1);
    // c's lease runs out unanswered (c died): d takes the delivery over, and c's late answer
    // is dropped.
    let none = store
        .claim_due("d", retry_at + 1, retry_at + 9, 10, &[], true)
        .await;
    assert!(none.unwrap().is_empty(), "taken while c's lease ran");
    let quick = store
        .claim_due("d", retry_at + 2, retry_at + 9, 10, &[], false)
        .await;
    assert!(
        quick.unwrap().is_empty(),
        "an expired lease taken without expired_too"
    );
    let taken = store
        .claim_due("d", retry_at + 2, retry_at + 9, 10, &[], true)
        .await
        .unwrap();
    assert_eq!(taken.iter().map(|c| &c.id).collect::<Vec<_>>(), [&lost]);
    let late = [outcome(&deliveries[0], "c", Next::Delivered, 200)];
    store
        .complete(&late, retry_at + 3, i64::MAX, i64::MAX)
        .await
        .unwrap();
    let record = store
        .delivery(&acme.name, app, deliveries[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.status, DeliveryStatus::Retrying);
}

/// Every attempt of a delivery reads back in order with all it recorded, whether it is the
/// latest (kept in the delivery's row) or an earlier one (moved to `attempts` when the next was
/// recorded), through both ways outcomes are written on PostgreSQL: batches with a failure, and
/// batches of deliveries only. The console's hourly counts see them all.
async fn every_attempt_reads_back_the_latest_from_the_deliverys_row(backend: Backend) {
    let (store, _loc) = backend.store().await;
    let (acme, app, hook, deliveries, now) = acme_with_pending(&store, 2).await;
    let outcome = |d: &NewDelivery, n: i64, next: Next, code: Option<i64>, error: Option<&str>| {
        DeliveryOutcome {
            delivery_id: d.id,
            webhook_id: hook,
            node: "a".into(),
            attempt: Some(AttemptRecord {
                n,
                at: now + n * 1_000,
                duration_us: 100 + n,
                status_code: code,
                error: error.map(String::from),
                response_body: format!("answer {n}"),
            }),
            signature: None,
            next,
            series_started: now + 1_000,
        }
    };
    let claim = |at: i64| {
        let store = store.clone();
        async move {
            store
                .claim_due("a", at, at + 60_000_000, 10, &[], true)
                .await
                .unwrap()
                .len()
        }
    };
    let complete = |batch: Vec<DeliveryOutcome>| {
        let store = store.clone();
        async move {
            store
                .complete(&batch, now + 50_000, i64::MAX, i64::MAX)
                .await
                .unwrap()
        }
    };
    let (retry_1, retry_2) = (now + 3_000_000, now + 21_000_000);
    assert_eq!(claim(now).await, 2);
    // A failure and a first-attempt success in one batch.
    complete(vec![
        outcome(&deliveries[0], 1, Next::Retry(retry_1), Some(503), None),
        outcome(&deliveries[1], 1, Next::Delivered, Some(200), None),
    ])
    .await;
    assert_eq!(claim(retry_1).await, 1);
    // A second failure, without an answer: attempt 1 moves out of the row.
    complete(vec![outcome(
        &deliveries[0],
        2,
        Next::Retry(retry_2),
        None,
        Some("timed out"),
    )])
    .await;
    assert_eq!(claim(retry_2).await, 1);
    // Delivered at the third attempt, alone in its batch (PostgreSQL's one-statement way).
    complete(vec![outcome(
        &deliveries[0],
        3,
        Next::Delivered,
        Some(200),
        None,
    )])
    .await;

    let attempts = store.attempts(deliveries[0].id).await.unwrap();
    let seen: Vec<_> = attempts
        .iter()
        .map(|a| {
            (
                a.n,
                a.at - now,
                a.duration_us,
                a.status_code,
                a.error.as_deref(),
                a.response_body.as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (1, 1_000, 101, Some(503), None, "answer 1"),
            (2, 2_000, 102, None, Some("timed out"), "answer 2"),
            (3, 3_000, 103, Some(200), None, "answer 3"),
        ]
    );
    let record = store
        .delivery(&acme.name, app, deliveries[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((record.status.as_str(), record.attempts), ("delivered", 3));
    let other = store.attempts(deliveries[1].id).await.unwrap();
    assert_eq!(
        other
            .iter()
            .map(|a| (a.n, a.status_code, a.response_body.as_str()))
            .collect::<Vec<_>>(),
        [(1, Some(200), "answer 1")]
    );
    let hours = store.attempts_per_hour(&acme.name, app, 0).await.unwrap();
    assert_eq!(
        hours
            .iter()
            .fold((0, 0), |(n, f), h| (n + h.attempts, f + h.failed)),
        (4, 2),
        "{hours:?}"
    );
}

/// On PostgreSQL, a node watching the store is woken when another node (another pool) stores
/// deliveries, and not by a publish that stores none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_nodes_are_woken_by_another_nodes_publish() {
    let (store, loc) = Backend::Postgres.store().await;
    let (acme, key) = tenant("acme");
    store.create_tenant(&acme, &key).await.unwrap();
    let watcher = Store::open(&loc.location).await.unwrap();
    let (tx, mut woken) = tokio::sync::mpsc::unbounded_channel();
    let watching = tokio::spawn(async move {
        watcher
            .watch_due(move || {
                let _ = tx.send(());
            })
            .await
    });
    let publish = |deliveries: Vec<NewDelivery>| {
        let store = store.clone();
        let tenant = acme.name.clone();
        async move {
            let accept = Accept {
                changes: &[],
                deliveries: &deliveries,
                quota: 1_000_000,
                idempotency: None,
                record: None,
                lease: None,
            };
            store.accept_changes(&tenant, &accept, 1).await.unwrap();
        }
    };
    let one = || NewDelivery {
        id: uuid::Uuid::new_v4().into(),
        application_id: uuid::Uuid::new_v4().into(),
        webhook_id: uuid::Uuid::new_v4().into(),
        client_id: "c1".into(),
        change_id: None,
        event_type: "crjob:created".into(),
        payload: b"{}".to_vec(),
        created_at: 1,
        entity_key: None,
        held: false,
    };
    // The watcher starts listening at some point: publish until it has heard one.
    let mut heard = false;
    for _ in 0..100 {
        publish(vec![one()]).await;
        if tokio::time::timeout(std::time::Duration::from_millis(100), woken.recv())
            .await
            .is_ok()
        {
            heard = true;
            break;
        }
    }
    assert!(heard, "the watcher never heard a publish");
    while woken.try_recv().is_ok() {}
    publish(vec![]).await;
    let quiet = tokio::time::timeout(std::time::Duration::from_millis(300), woken.recv()).await;
    assert!(quiet.is_err(), "woken by a publish that stored nothing");
    publish(vec![one(), one()]).await;
    let again = tokio::time::timeout(std::time::Duration::from_secs(5), woken.recv()).await;
    assert!(again.is_ok(), "not woken by the second publish");
    watching.abort();
}

/// Twenty publishes at once (on SQLite they share group commits), two of them with the same
/// `Idempotency-Key`: exactly one of those two fails, alone, and everything else is stored.
async fn concurrent_publishes_commit_together_and_fail_alone(backend: Backend) {
    let (store, _loc) = backend.store().await;
    let (acme, key) = tenant("acme");
    store.create_tenant(&acme, &key).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (store, tenant) = (store.clone(), acme.name.clone());
        tasks.spawn(async move {
            let deliveries = [NewDelivery {
                id: uuid::Uuid::new_v4().into(),
                application_id: uuid::Uuid::new_v4().into(),
                webhook_id: uuid::Uuid::new_v4().into(),
                client_id: "c1".into(),
                change_id: None,
                event_type: "crjob:created".into(),
                payload: format!("{{\"n\":{i}}}").into_bytes(),
                created_at: 1,
                entity_key: None,
                held: false,
            }];
            let accept = Accept {
                changes: &[],
                deliveries: &deliveries,
                quota: 1_000_000,
                idempotency: (i < 2).then_some(keyed("c1", "same-key")),
                record: None,
                lease: None,
            };
            store.accept_changes(&tenant, &accept, 1).await
        });
    }
    let (mut stored, mut conflicts) = (0, 0);
    while let Some(result) = tasks.join_next().await {
        match result.unwrap() {
            Ok(statuses) => {
                assert_eq!(statuses, [DeliveryStatus::Pending]);
                stored += 1;
            }
            Err(StoreError::Conflict(what)) => {
                assert!(what.contains("same-key"), "{what}");
                conflicts += 1;
            }
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!((stored, conflicts), (19, 1));
    assert_eq!(store.pending_count().await.unwrap(), 19);
    let answer = store
        .idempotent_answer(&acme.name, "c1", "same-key")
        .await
        .unwrap();
    assert_eq!(answer, Some(("hash".into(), "answer".into())));
    // Keys are their client's own: another client's is another key, and nobody's answer.
    let other = store.idempotent_answer(&acme.name, "c2", "same-key").await;
    assert_eq!(other.unwrap(), None);
    let deliveries = [owned_delivery("c2")];
    let accept = Accept {
        changes: &[],
        deliveries: &deliveries,
        quota: 1_000_000,
        idempotency: Some(keyed("c2", "same-key")),
        record: None,
        lease: None,
    };
    store.accept_changes(&acme.name, &accept, 1).await.unwrap();
    assert_eq!(store.pending_count().await.unwrap(), 20);
}

/// `client`'s `Idempotency-Key` `key`, answered "answer" to a request hashed "hash".
fn keyed<'a>(client: &'a str, key: &'a str) -> Idempotency<'a> {
    Idempotency {
        client_id: client,
        key,
        request_hash: "hash",
        answer: "answer",
    }
}

/// A delivery of a new webhook owned by `owner`, for the quota tests.
fn owned_delivery(owner: &str) -> NewDelivery {
    NewDelivery {
        id: uuid::Uuid::new_v4().into(),
        application_id: uuid::Uuid::new_v4().into(),
        webhook_id: uuid::Uuid::new_v4().into(),
        client_id: owner.into(),
        change_id: None,
        event_type: "crjob:created".into(),
        payload: b"{}".to_vec(),
        created_at: 1,
        entity_key: None,
        held: false,
    }
}

/// Twenty publishes at once, in two months (they share group commits, each counted in one
/// statement; on PostgreSQL two groups commit side by side): each owner's monthly quota comes
/// out as if they were counted one after the other, and the last deliveries past it are the ones
/// refused. Then two at once with the same `Idempotency-Key` (a group written again statement by
/// statement): the one that fails counts nothing.
async fn concurrent_publishes_count_against_each_months_quota_in_order(backend: Backend) {
    use DeliveryStatus::{Pending, QuotaExceeded};
    let (store, _loc) = backend.store().await;
    let (acme, key) = tenant("acme");
    store.create_tenant(&acme, &key).await.unwrap();
    let november = Utc
        .with_ymd_and_hms(2026, 11, 15, 0, 0, 0)
        .unwrap()
        .timestamp_micros();
    let december = Utc
        .with_ymd_and_hms(2026, 12, 15, 0, 0, 0)
        .unwrap()
        .timestamp_micros();
    let publish = |deliveries: Vec<NewDelivery>, now: i64, key: Option<&'static str>| {
        let (store, tenant) = (store.clone(), acme.name.clone());
        async move {
            let accept = Accept {
                changes: &[],
                deliveries: &deliveries,
                quota: 25,
                idempotency: key.map(|k| keyed("c1", k)),
                record: None,
                lease: None,
            };
            store.accept_changes(&tenant, &accept, now).await
        }
    };
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        // November: 15 publishes (30 deliveries for c1, 5 past its quota; 15 for c2).
        // December: 5 (10 for c1).
        let now = if i < 15 { november } else { december };
        let deliveries = vec![
            owned_delivery("c1"),
            owned_delivery("c2"),
            owned_delivery("c1"),
        ];
        tasks.spawn(publish(deliveries, now, None));
    }
    let mut refused = Vec::new();
    while let Some(result) = tasks.join_next().await {
        let statuses = result.unwrap().unwrap();
        assert_eq!(statuses[1], Pending, "c2 is within its quota");
        if statuses.contains(&QuotaExceeded) {
            refused.push(statuses.iter().map(|s| s.as_str()).collect::<Vec<_>>());
        }
    }
    // Counted in order: 24 after the twelfth November publish, then 26 (its last c1 refused),
    // 28 and 30 (both refused).
    refused.sort();
    let (p, q) = (Pending.as_str(), QuotaExceeded.as_str());
    assert_eq!(refused, [[p, p, q], [q, p, q], [q, p, q]]);
    let same_key = [
        tokio::spawn(publish(
            vec![owned_delivery("c1")],
            december,
            Some("same-key"),
        )),
        tokio::spawn(publish(
            vec![owned_delivery("c1")],
            december,
            Some("same-key"),
        )),
    ];
    let mut conflicts = 0;
    for task in same_key {
        match task.await.unwrap() {
            Ok(statuses) => assert_eq!(statuses, [Pending]),
            Err(StoreError::Conflict(what)) => {
                assert!(what.contains("same-key"), "{what}");
                conflicts += 1;
            }
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(conflicts, 1);
    assert_eq!(store.pending_count().await.unwrap(), 45 - 5 + 15 + 1);
    // December's c1 stands at 11 (the failed publish counted nothing): 14 more fit exactly, and
    // the one after is refused.
    let fits: Vec<NewDelivery> = (0..14).map(|_| owned_delivery("c1")).collect();
    assert_eq!(
        publish(fits, december, None).await.unwrap(),
        vec![Pending; 14]
    );
    assert_eq!(
        publish(vec![owned_delivery("c1")], december, None)
            .await
            .unwrap(),
        [QuotaExceeded]
    );
}

/// Two nodes on one store publish forty times at once: owners in opposite orders, and every
/// `Idempotency-Key` used twice, once by each node, so that group commits on both nodes wait
/// for each other's keys and counts. Every publish finishes, each key is stored once, and a
/// publish that failed on its key counted nothing: each owner's quota is exact afterwards.
async fn two_nodes_publishing_at_once_share_keys_and_counts_exactly(backend: Backend) {
    use DeliveryStatus::{Pending, QuotaExceeded};
    let (first, loc) = backend.store().await;
    let second = Store::open(&loc.location).await.unwrap();
    let (acme, key) = tenant("acme");
    first.create_tenant(&acme, &key).await.unwrap();
    let now = Utc
        .with_ymd_and_hms(2026, 11, 15, 0, 0, 0)
        .unwrap()
        .timestamp_micros();
    let publish = |store: &Store, owners: &[&str], key: Option<String>| {
        let (store, tenant) = (store.clone(), acme.name.clone());
        let deliveries: Vec<NewDelivery> = owners.iter().map(|o| owned_delivery(o)).collect();
        async move {
            let accept = Accept {
                changes: &[],
                deliveries: &deliveries,
                quota: 25,
                idempotency: key.as_deref().map(|k| keyed("c1", k)),
                record: None,
                lease: None,
            };
            store.accept_changes(&tenant, &accept, now).await
        }
    };
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40 {
        let store = if i % 2 == 0 { &first } else { &second };
        let owners: &[&str] = if i % 4 < 2 {
            &["c1", "c2"]
        } else {
            &["c2", "c1"]
        };
        // Publishes i and i + 1 (one per node) share a key.
        tasks.spawn(publish(store, owners, Some(format!("key-{}", i / 2))));
    }
    let (mut stored, mut conflicts) = (0, 0);
    let all = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(result) = tasks.join_next().await {
            match result.unwrap() {
                Ok(statuses) => {
                    assert_eq!(statuses, [Pending, Pending]);
                    stored += 1;
                }
                Err(StoreError::Conflict(what)) => {
                    assert!(what.contains("key-"), "{what}");
                    conflicts += 1;
                }
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
    });
    all.await.expect("the publishes finish: no deadlock");
    assert_eq!((stored, conflicts), (20, 20));
    assert_eq!(first.pending_count().await.unwrap(), 40);
    for i in 0..20 {
        let answer = second
            .idempotent_answer(&acme.name, "c1", &format!("key-{i}"))
            .await;
        assert_eq!(answer.unwrap().map(|(_, a)| a).as_deref(), Some("answer"));
    }
    // Each owner stands at 20 of 25: five more fit exactly, on either node, the next does not.
    let fits = ["c1"; 5];
    assert_eq!(
        publish(&second, &fits, None).await.unwrap(),
        vec![Pending; 5]
    );
    assert_eq!(
        publish(&first, &["c1", "c2"], None).await.unwrap(),
        [QuotaExceeded, Pending]
    );
}

/// An application with one webhook of `acme`, stored.
async fn acme_app_and_webhook(store: &Store) -> (Tenant, Application, Webhook) {
    let (acme, key) = tenant("acme");
    store.create_tenant(&acme, &key).await.unwrap();
    let audit = Audit::new("client-1", chrono::Utc::now());
    let app = Application {
        tenant: acme.name.clone(),
        id: uuid::Uuid::new_v4().into(),
        name: "receiver".into(),
        key_bits: 2048,
        sealed_private_key: vec![1, 2, 3],
        public_key: vec![4, 5, 6],
        signature_scheme: Default::default(),
        sealed_standard_secret: None,
        public_jwks: false,
        audit: audit.clone(),
    };
    store.create_application(&app).await.unwrap();
    let hook = Webhook {
        tenant: acme.name.clone(),
        id: uuid::Uuid::new_v4().into(),
        application_id: app.id,
        url: "http://127.0.0.1:9/".into(),
        description: None,
        filters: Vec::new(),
        sealed_custom_headers: Vec::new(),
        sealed_auth: None,
        status: WebhookStatus::Enabled,
        max_in_flight: None,
        max_per_second: None,
        ordered: false,
        audit,
    };
    assert!(store.create_webhook(&hook, 10).await.unwrap());
    (acme, app, hook)
}

/// Every write of the management service is one transaction with its configuration version's
/// bump (so other nodes reload), and deleting a webhook cancels its pending deliveries in it.
async fn management_writes_bump_the_configuration_version_with_the_write(backend: Backend) {
    let (store, _location) = backend.store().await;
    let v0 = store.config_version().await.unwrap();
    let (acme, mut app, mut hook) = acme_app_and_webhook(&store).await;
    assert_eq!(store.config_version().await.unwrap(), v0 + 1, "created");
    app.name = "renamed".into();
    assert!(store.update_application(&app).await.unwrap());
    hook.status = WebhookStatus::Disabled;
    assert!(store.update_webhook(&hook, false).await.unwrap());
    assert_eq!(store.config_version().await.unwrap(), v0 + 3, "two updates");
    let stored = store
        .webhook(&acme.name, app.id, hook.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, WebhookStatus::Disabled);

    // Three pending deliveries of the webhook, one of another: deleting cancels its three.
    let now = 1_000_000;
    let mut deliveries = job_deliveries(3, app.id, hook.id, now);
    let other = job_deliveries(1, app.id, WebhookId::new_v4(), now);
    deliveries.extend(other.iter().cloned());
    store_unleased(&store, &acme, &[], &deliveries, now).await;
    assert!(
        store
            .delete_webhook(&acme.name, app.id, hook.id, now + 1)
            .await
            .unwrap()
    );
    assert_eq!(store.config_version().await.unwrap(), v0 + 4, "deleted");
    assert!(
        store
            .webhook(&acme.name, app.id, hook.id)
            .await
            .unwrap()
            .is_none()
    );
    for d in &deliveries {
        let record = store
            .delivery(&acme.name, app.id, d.id)
            .await
            .unwrap()
            .unwrap();
        let expected = if d.webhook_id == hook.id {
            DeliveryStatus::Cancelled
        } else {
            DeliveryStatus::Pending
        };
        assert_eq!(record.status, expected, "{}", d.webhook_id);
    }

    // Nothing there: false, and the version stays.
    assert!(
        !store
            .delete_webhook(&acme.name, app.id, hook.id, now + 2)
            .await
            .unwrap()
    );
    assert!(!store.update_webhook(&hook, true).await.unwrap());
    assert_eq!(
        store.config_version().await.unwrap(),
        v0 + 4,
        "no-ops bump nothing"
    );

    // Deleting the application cancels what its other webhook had pending.
    assert!(
        store
            .delete_application(&acme.name, app.id, now + 3)
            .await
            .unwrap()
    );
    assert_eq!(store.config_version().await.unwrap(), v0 + 5);
    let record = store
        .delivery(&acme.name, app.id, other[0].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.status, DeliveryStatus::Cancelled);
    assert!(
        store
            .application(&acme.name, app.id)
            .await
            .unwrap()
            .is_none()
    );
}

cxhooks_store::both_backends!(
    management_writes_bump_the_configuration_version_with_the_write,
    vacuuming_frees_what_updates_left_for_the_next_deliveries,
    two_nodes_publishing_at_once_share_keys_and_counts_exactly,
    concurrent_publishes_count_against_each_months_quota_in_order,
    concurrent_publishes_commit_together_and_fail_alone,
    completions_are_recorded_only_by_the_lease_owner,
    every_attempt_reads_back_the_latest_from_the_deliverys_row,
    deliveries_stored_leased_are_claimed_only_after_the_lease,
    live_size_leaves_out_what_updates_left_behind,
    the_request_log_pages_in_id_order_and_takes_any_text,
    a_publish_of_many_statements_is_stored_whole,
    tenants_round_trip,
    clients_are_partitioned_by_tenant,
    deleting_a_tenant_deletes_what_it_owns,
    master_key_fingerprint_is_recorded_then_checked,
    reopening_keeps_data_and_migrations_are_idempotent,
);

/// A new SQLite store is its owner's alone: the data directory (and the parents created for it)
/// 0700, the database file and the `-wal` and `-shm` files SQLite creates beside it 0600, whatever
/// the umask lets through (SQLite would create them 0644). PostgreSQL keeps no files here.
#[cfg(unix)]
#[tokio::test]
async fn a_new_sqlite_store_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("parent").join("data");
    let path = data.join("cxhooks.db");
    let store = Store::open(&StoreLocation::Sqlite { path: path.clone() })
        .await
        .unwrap();
    let (acme, key) = tenant("acme");
    store.create_tenant(&acme, &key).await.unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.path().join("parent")), 0o700);
    assert_eq!(mode(&data), 0o700);
    for file in ["cxhooks.db", "cxhooks.db-wal", "cxhooks.db-shm"] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
    store.close().await;
    // Opening it again keeps what it holds.
    let again = Store::open(&StoreLocation::Sqlite { path }).await.unwrap();
    assert_eq!(again.tenant(&acme.name).await.unwrap(), Some(acme));
}
