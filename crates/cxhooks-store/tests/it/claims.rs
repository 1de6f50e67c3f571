//! Fair claims: webhooks with due work share a claim round-robin, a webhook the node has no room
//! for is skipped whatever its backlog, and an ordered webhook's deliveries of one entity go one
//! at a time in change order.

use super::{job_deliveries, store_unleased, tenant};
use cxhooks_store::testing::Backend;
use cxhooks_store::*;

const LEASE: i64 = 60_000_000;

/// Marks `claimed` delivered (first attempt, 200) as node `node`.
async fn deliver(store: &Store, node: &str, claimed: &[ClaimedDelivery], at: i64) {
    finish(store, node, claimed, at, Next::Delivered).await;
}

/// Records `claimed`'s first attempt as node `node`, with `next` after it.
pub(super) async fn finish(
    store: &Store,
    node: &str,
    claimed: &[ClaimedDelivery],
    at: i64,
    next: Next,
) {
    let outcomes: Vec<DeliveryOutcome> = claimed
        .iter()
        .map(|c| DeliveryOutcome {
            delivery_id: c.id,
            webhook_id: c.webhook_id,
            node: node.into(),
            attempt: Some(AttemptRecord {
                n: 1,
                at,
                duration_us: 10,
                status_code: Some(200),
                error: None,
                response_body: String::new(),
            }),
            signature: None,
            next,
            series_started: at,
        })
        .collect();
    store
        .complete(&outcomes, at, i64::MAX, i64::MAX)
        .await
        .unwrap();
}

fn count_of(claimed: &[ClaimedDelivery], hook: WebhookId) -> usize {
    claimed.iter().filter(|c| c.webhook_id == hook).count()
}

/// A webhook with a long backlog and no room is left alone, and the others are served: the
/// claim takes every due delivery of the small webhook and none of the full ones'. With room
/// for all, a claim of 30 is shared evenly between the two with work left, and the next claim
/// starts after the webhook the last one ended with.
async fn claims_share_out_webhooks_round_robin_and_skip_full_ones(backend: Backend) {
    let (store, _loc) = backend.store().await;
    let (acme, key) = tenant("acme");
    store.create_tenant(&acme, &key).await.unwrap();
    let app = ApplicationId::new_v4();
    let now = 1_000_000;
    let (big, other, small) = (
        WebhookId::now_v7(),
        WebhookId::now_v7(),
        WebhookId::now_v7(),
    );
    for (hook, n) in [(big, 2_000), (other, 100), (small, 3)] {
        let deliveries = job_deliveries(n, app, hook, now);
        for chunk in deliveries.chunks(500) {
            store_unleased(&store, &acme, &[], chunk, now).await;
        }
    }
    let only_small = |w: WebhookId| if w == small { 100 } else { 0 };
    let claimed = store
        .claim_fair("a", now, now + LEASE, 256, None, &only_small)
        .await
        .unwrap();
    assert_eq!(count_of(&claimed.deliveries, small), 3);
    assert_eq!(claimed.deliveries.len(), 3, "nothing of the full webhooks");
    // The full webhooks' work waits for their room, not for another claim.
    assert!(!claimed.more);
    let mut blocked = claimed.blocked.clone();
    blocked.sort();
    assert_eq!(blocked, [big, other]);

    let any = |_: WebhookId| 1_000;
    let claimed = store
        .claim_fair("a", now, now + LEASE, 30, None, &any)
        .await
        .unwrap();
    let got = [big, other, small].map(|h| count_of(&claimed.deliveries, h));
    assert_eq!(got, [15, 15, 0], "shared round-robin: {got:?}");
    assert_eq!(claimed.after, Some(other));
    // The next claim starts after `other`, round the end to `big`.
    let next = store
        .claim_fair("a", now, now + LEASE, 1, claimed.after, &any)
        .await
        .unwrap();
    assert_eq!(count_of(&next.deliveries, big), 1, "{:?}", next.after);
    // Not due yet: nothing is taken, however much waits.
    let early = store
        .claim_fair("a", now - 1, now + LEASE, 10, None, &any)
        .await
        .unwrap();
    assert!(early.deliveries.is_empty());
    // `claim_due` skips what it is told to skip.
    let due = store
        .claim_due("a", now, now + LEASE, 5_000, &[big], false)
        .await
        .unwrap();
    assert_eq!(count_of(&due, big), 0);
    assert_eq!(count_of(&due, other), 100 - 15);
}

/// An ordered webhook's deliveries of one entity are claimed one at a time, in change order,
/// each only once the one before has finished; other entities, and other webhooks, are not held.
async fn an_ordered_webhook_claims_one_delivery_per_entity_in_change_order(backend: Backend) {
    let (store, _loc) = backend.store().await;
    let (acme, key) = tenant("acme");
    store.create_tenant(&acme, &key).await.unwrap();
    let (app, hook) = (ApplicationId::new_v4(), WebhookId::now_v7());
    let now = 1_000_000;
    // Entity e1 changes three times, e2 twice; each change is stored in its own publish.
    let mut order = Vec::new();
    for entity in ["e1", "e2", "e1", "e1", "e2"] {
        let change = NewChange {
            id: ChangeId::now_v7(),
            event_type: "crjob:updated".into(),
            entity_id: entity.into(),
            accepted_at: now,
            body: Vec::new(),
        };
        let mut d = job_deliveries(1, app, hook, now).remove(0);
        d.change_id = Some(change.id);
        d.entity_key = Some(format!("crjob/{entity}"));
        order.push((entity, d.id));
        store_unleased(&store, &acme, &[change], &[d], now).await;
    }
    let of = |entity: &str| -> Vec<DeliveryId> {
        order
            .iter()
            .filter(|(e, _)| *e == entity)
            .map(|(_, id)| *id)
            .collect()
    };
    let (e1, e2) = (of("e1"), of("e2"));
    let any = |_: WebhookId| 1_000;
    let claim = || store.claim_fair("a", now, now + LEASE, 100, None, &any);
    let first = claim().await.unwrap().deliveries;
    let mut ids: Vec<DeliveryId> = first.iter().map(|c| c.id).collect();
    ids.sort();
    let mut heads = vec![e1[0], e2[0]];
    heads.sort();
    assert_eq!(ids, heads, "the first of each entity only");
    // While they are out, nothing more of either entity.
    assert!(claim().await.unwrap().deliveries.is_empty());
    deliver(&store, "a", &first, now).await;
    let second: Vec<DeliveryId> = claim()
        .await
        .unwrap()
        .deliveries
        .iter()
        .map(|c| c.id)
        .collect();
    let mut expected = vec![e1[1], e2[1]];
    expected.sort();
    let mut second_sorted = second.clone();
    second_sorted.sort();
    assert_eq!(second_sorted, expected);
}

cxhooks_store::both_backends!(
    claims_share_out_webhooks_round_robin_and_skip_full_ones,
    an_ordered_webhook_claims_one_delivery_per_entity_in_change_order,
);
