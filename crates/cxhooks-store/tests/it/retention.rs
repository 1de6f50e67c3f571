//! Retention: finished deliveries past their retention are purged in batches with their
//! attempts; live ones never are, whatever their age; changes go by their own time.

use super::claims::finish;
use super::{job_deliveries, store_unleased, tenant};
use cxhooks_store::testing::Backend;
use cxhooks_store::*;

/// Delivered and failed deliveries finished before the retention's cut-off are deleted, batch
/// by batch, attempts included; one finished after it, one still pending and (with no
/// retention for failures) failed ones stay. Changes are purged by their own cut-off.
async fn a_purge_deletes_finished_deliveries_past_retention_and_nothing_live(backend: Backend) {
    let (store, _loc) = backend.store().await;
    let (acme, key) = tenant("acme");
    store.create_tenant(&acme, &key).await.unwrap();
    let app = ApplicationId::new_v4();
    let now = chrono::Utc::now().timestamp_micros();
    let s = 1_000_000;
    // Time-ordered ids, as publishes make them: the purge walks them in creation order.
    let make = |hook: WebhookId, n: usize| {
        let mut ds = job_deliveries(n, app, hook, now);
        for d in &mut ds {
            d.id = DeliveryId::now_v7();
        }
        ds
    };
    let (ok_hook, failing_hook, late_hook, live_hook) = (
        WebhookId::now_v7(),
        WebhookId::now_v7(),
        WebhookId::now_v7(),
        WebhookId::now_v7(),
    );
    let delivered = make(ok_hook, 5);
    let failed = make(failing_hook, 3);
    let late = make(late_hook, 2);
    let live = make(live_hook, 2);
    let change = NewChange {
        id: ChangeId::now_v7(),
        event_type: "crjob:created".into(),
        entity_id: "1".into(),
        accepted_at: now,
    };
    for ds in [&delivered, &failed, &late, &live] {
        store_unleased(&store, &acme, &[], ds, now).await;
    }
    store_unleased(&store, &acme, std::slice::from_ref(&change), &[], now).await;
    let only = |hook: WebhookId| move |w: WebhookId| if w == hook { 100 } else { 0 };
    let claim = |hook| {
        let store = store.clone();
        async move {
            store
                .claim_fair("a", now, now + 60 * s, 100, None, &only(hook))
                .await
                .unwrap()
                .deliveries
        }
    };
    finish(&store, "a", &claim(ok_hook).await, now + s, Next::Delivered).await;
    finish(
        &store,
        "a",
        &claim(failing_hook).await,
        now + s,
        Next::Failed,
    )
    .await;
    finish(
        &store,
        "a",
        &claim(late_hook).await,
        now + 30 * s,
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
    let pass = |purge: Purge| {
        let store = store.clone();
        async move {
            let (mut after, mut deleted, mut batches) = (None, 0, 0);
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
    };
    // Failures kept: only the 5 delivered before the cut-off go, in batches of 2.
    let (deleted, batches) = pass(Purge {
        delivered_before: Some(now + 10 * s),
        failed_before: None,
    })
    .await;
    assert_eq!(deleted, 5);
    assert!(
        batches >= 6,
        "{batches} batches of at most 2 over 12 deliveries"
    );
    assert_eq!(kept(&delivered).await, 0);
    assert!(store.attempts(delivered[0].id).await.unwrap().is_empty());
    assert_eq!(kept(&failed).await, 3);
    assert_eq!(kept(&late).await, 2, "finished after the cut-off");
    assert_eq!(kept(&live).await, 2, "pending: never purged");
    // Failures too now; a cut-off past every finish leaves only what is live.
    let (deleted, _) = pass(Purge {
        delivered_before: Some(now + 60 * s),
        failed_before: Some(now + 60 * s),
    })
    .await;
    assert_eq!(deleted, 5);
    assert_eq!(kept(&failed).await + kept(&late).await, 0);
    assert_eq!(kept(&live).await, 2);
    assert_eq!(store.pending_count().await.unwrap(), 2);
    // Changes by their own cut-off.
    assert_eq!(store.purge_changes(now - 60 * s, 10).await.unwrap(), 0);
    assert_eq!(store.purge_changes(now + 60 * s, 10).await.unwrap(), 1);
}

cxhooks_store::both_backends!(a_purge_deletes_finished_deliveries_past_retention_and_nothing_live);
