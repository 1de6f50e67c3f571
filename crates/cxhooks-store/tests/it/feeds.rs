//! Pull webhooks' feeds: held deliveries are never claimed, are numbered in order once they
//! committed, read back after a cursor without a gap, and a cursor whose next entry retention
//! removed reads as gone.

use super::{job_deliveries, tenant};
use cxhooks_store::testing::Backend;
use cxhooks_store::*;

const S: i64 = 1_000_000;

/// `n` held deliveries of `hook`, with time-ordered ids, created at `now`.
fn held(n: usize, app: ApplicationId, hook: WebhookId, now: i64) -> Vec<NewDelivery> {
    let mut ds = job_deliveries(n, app, hook, now);
    for d in &mut ds {
        d.id = DeliveryId::now_v7();
        d.held = true;
    }
    ds
}

async fn accept(
    store: &Store,
    tenant: &TenantName,
    deliveries: &[NewDelivery],
    quota: u64,
    now: i64,
) -> Vec<DeliveryStatus> {
    let accept = Accept {
        changes: &[],
        deliveries,
        quota,
        idempotency: None,
        record: None,
        lease: None,
    };
    store.accept_changes(tenant, &accept, now).await.unwrap()
}

/// The feed after `cursor`, as the API reads it: numbered first.
async fn read_at(
    store: &Store,
    t: &TenantName,
    hook: WebhookId,
    cursor: i64,
    limit: u32,
) -> FeedRead {
    let last = store.number_feed(t, hook).await.unwrap();
    store
        .read_feed(t, hook, (cursor, last), limit)
        .await
        .unwrap()
}

fn entries(read: FeedRead) -> Vec<FeedEntry> {
    match read {
        FeedRead::Entries(e) => e,
        FeedRead::Gone { oldest } => panic!("gone, oldest kept {oldest:?}"),
    }
}

fn seqs(read: FeedRead) -> Vec<i64> {
    entries(read).iter().map(|e| e.seq).collect()
}

async fn a_pull_feed_numbers_held_deliveries_in_order_and_reads_them_back(backend: Backend) {
    let (store, _loc) = backend.store().await;
    let (acme, key) = tenant("acme");
    store.create_tenant(&acme, &key).await.unwrap();
    let (app, hook, other) = (
        ApplicationId::new_v4(),
        WebhookId::new_v4(),
        WebhookId::new_v4(),
    );
    let now = chrono::Utc::now().timestamp_micros();
    let t = &acme.name;

    // Three held, one pushed (another webhook), and one held past the quota (refused).
    let first = held(3, app, hook, now);
    let mut mixed = job_deliveries(1, app, other, now);
    mixed.extend(first.iter().cloned());
    let statuses = accept(&store, t, &mixed, 10_000, now).await;
    assert_eq!(
        statuses,
        [
            DeliveryStatus::Pending,
            DeliveryStatus::Held,
            DeliveryStatus::Held,
            DeliveryStatus::Held
        ]
    );
    let refused = held(1, app, hook, now);
    let quota = accept(&store, t, &refused, 1, now).await;
    assert_eq!(quota, [DeliveryStatus::QuotaExceeded]);

    // Nothing held is ever claimed: the pushed one alone is.
    let claimed = store
        .claim_due("n1", now + S, now + 60 * S, 100, &[], false)
        .await
        .unwrap();
    assert_eq!(
        claimed.iter().map(|c| c.webhook_id).collect::<Vec<_>>(),
        [other]
    );

    assert_eq!(
        store.feed_position(hook).await.unwrap(),
        FeedPosition::default()
    );
    assert_eq!(
        store.number_feed(t, hook).await.unwrap(),
        3,
        "the refused one has no number"
    );
    assert_eq!(
        store.number_feed(t, hook).await.unwrap(),
        3,
        "numbered once"
    );
    let all = entries(read_at(&store, t, hook, 0, 100).await);
    assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(
        all.iter().map(|e| e.id).collect::<Vec<_>>(),
        first.iter().map(|d| d.id).collect::<Vec<_>>(),
        "in acceptance order"
    );
    assert_eq!(all[0].payload, first[0].payload, "the payload as published");
    assert_eq!(seqs(read_at(&store, t, hook, 1, 1).await), [2]);
    assert_eq!(
        seqs(read_at(&store, t, hook, 3, 100).await),
        Vec::<i64>::new()
    );

    // Two more, later: numbered after.
    let later = held(2, app, hook, now + 20 * S);
    accept(&store, t, &later, 10_000, now + 20 * S).await;
    assert_eq!(store.number_feed(t, hook).await.unwrap(), 5);
    let tail = entries(read_at(&store, t, hook, 3, 100).await);
    assert_eq!(
        tail.iter().map(|e| e.id).collect::<Vec<_>>(),
        [later[0].id, later[1].id]
    );

    // The consumer's position goes up only.
    store.feed_read_to(hook, 3, now).await.unwrap();
    store.feed_read_to(hook, 2, now + S).await.unwrap();
    let position = store.feed_position(hook).await.unwrap();
    assert_eq!(
        (position.last, position.read, position.read_at),
        (5, 3, Some(now))
    );

    // Retention takes the first three: a cursor before them is gone, naming the oldest kept.
    let purge = Purge {
        delivered_before: Some(now + 10 * S),
        failed_before: None,
    };
    let mut after = None;
    loop {
        let done = store.purge_batch(&purge, after, 100).await.unwrap();
        match done.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    match read_at(&store, t, hook, 0, 100).await {
        FeedRead::Gone { oldest } => assert_eq!(oldest, Some(4)),
        FeedRead::Entries(e) => panic!("read {} entries past retention", e.len()),
    }
    assert_eq!(seqs(read_at(&store, t, hook, 3, 100).await), [4, 5]);
    // Everything gone: a cursor below the last number reads as gone, the last one as empty.
    let purge = Purge {
        delivered_before: Some(now + 30 * S),
        failed_before: None,
    };
    store.purge_batch(&purge, None, 100).await.unwrap();
    assert!(matches!(
        read_at(&store, t, hook, 4, 100).await,
        FeedRead::Gone { oldest: None }
    ));
    assert!(entries(read_at(&store, t, hook, 5, 100).await).is_empty());

    // Held deliveries nobody numbered yet are not purged: retention numbers them first
    // (`number_all_feeds`), so that their purge is a gap the reader is told of.
    let unread = held(2, app, hook, now);
    accept(&store, t, &unread, 10_000, now).await;
    let far = Purge {
        delivered_before: Some(now + 60 * S),
        failed_before: None,
    };
    store.purge_batch(&far, None, 100).await.unwrap();
    assert_eq!(
        store.feed_position(hook).await.unwrap().last,
        5,
        "not numbered by the purge"
    );
    assert_eq!(
        seqs(read_at(&store, t, hook, 5, 100).await),
        [6, 7],
        "kept, unnumbered"
    );
    let more = held(1, app, hook, now);
    accept(&store, t, &more, 10_000, now).await;
    store.number_all_feeds().await.unwrap();
    assert_eq!(store.feed_position(hook).await.unwrap().last, 8);
    store.purge_batch(&far, None, 100).await.unwrap();
    assert!(matches!(
        read_at(&store, t, hook, 7, 100).await,
        FeedRead::Gone { oldest: None }
    ));
}

/// A held delivery whose transaction is still open has no number yet, even though a later one
/// committed and was numbered: it gets the next number once it commits, so a cursor at the
/// later one never skips it (PostgreSQL: SQLite's one writer cannot interleave them).
async fn a_number_is_handed_out_only_once_every_lower_one_committed(backend: Backend) {
    if backend == Backend::Sqlite {
        return;
    }
    let (store, loc) = backend.store().await;
    let (acme, key) = tenant("acme");
    store.create_tenant(&acme, &key).await.unwrap();
    let (app, hook) = (ApplicationId::new_v4(), WebhookId::new_v4());
    let now = chrono::Utc::now().timestamp_micros();
    let t = &acme.name;

    let StoreLocation::Postgres { url, schema } = &loc.location else {
        unreachable!("a PostgreSQL location")
    };
    use sqlx::Connection;
    let mut slow = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SET search_path TO {}",
        schema.as_deref().unwrap()
    )))
    .execute(&mut slow)
    .await
    .unwrap();
    // The slow publish's delivery: accepted first (its id is older), committed last.
    let early = DeliveryId::now_v7();
    let mut tx = slow.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO deliveries (id, tenant, application_id, webhook_id, change_id, type, payload, \
         signature, status, attempts, series_attempts, series_started, next_attempt_at, \
         lease_until, lease_owner, created_at, updated_at) \
         VALUES ($1, 'acme', $2, $3, NULL, 'crjob:created', $4, NULL, 'held', 0, 0, NULL, $5, NULL, NULL, $5, $5)",
    )
    .bind(early.uuid())
    .bind(app.uuid())
    .bind(hook.uuid())
    .bind(pack::pack(b"{\"n\":\"early\"}"))
    .bind(now)
    .execute(&mut *tx)
    .await
    .unwrap();

    let quick = held(1, app, hook, now);
    accept(&store, t, &quick, 10_000, now).await;
    assert_eq!(store.number_feed(t, hook).await.unwrap(), 1);
    let read = entries(read_at(&store, t, hook, 0, 100).await);
    assert_eq!(read.iter().map(|e| e.id).collect::<Vec<_>>(), [quick[0].id]);

    tx.commit().await.unwrap();
    assert_eq!(store.number_feed(t, hook).await.unwrap(), 2);
    let read = entries(read_at(&store, t, hook, 1, 100).await);
    assert_eq!(read.iter().map(|e| e.id).collect::<Vec<_>>(), [early]);
    assert_eq!(read[0].payload, b"{\"n\":\"early\"}");

    // Rounds of one feed from two stores at once hand out each number once.
    let second = Store::open(&loc.location).await.unwrap();
    accept(&store, t, &held(50, app, hook, now), 10_000, now).await;
    let (a, b) = tokio::join!(store.number_feed(t, hook), second.number_feed(t, hook));
    assert_eq!(a.unwrap().max(b.unwrap()), 52);
    let read = seqs(read_at(&store, t, hook, 0, 100).await);
    assert_eq!(read, (1..=52).collect::<Vec<i64>>());
}

cxhooks_store::both_backends!(
    a_pull_feed_numbers_held_deliveries_in_order_and_reads_them_back,
    a_number_is_handed_out_only_once_every_lower_one_committed
);
