//! Per-webhook limits and per-entity order (issue 25, items 2 and 3), end to end: a webhook's
//! `maxInFlight` bounds the requests open to its receiver, `maxPerSecond` spaces its deliveries
//! out without failing any, and an `ordered` webhook's deliveries of one entity arrive, first
//! successes, in change order whatever fails on the way.

use crate::delivery::{Setup, config, setup};
use crate::receiver::{Received, Reply, TestReceiver};
use cxhooks_store::testing::Backend;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Adds a webhook for `crjob:updated` at `url` with `extra` fields; returns its id.
async fn add_hook(s: &Setup, url: &str, extra: Value) -> String {
    let mut body = json!({"url": url, "filters": [{"eventType": "crjob:updated"}]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let created = s
        .app
        .json(
            "POST",
            &format!("/webhooks/v1/applications/{}/webhooks", s.app_id),
            &s.manager,
            &body,
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    created.body["_id"].as_str().unwrap().to_owned()
}

/// `n` updates of entity `entity`, one per second of `time` from 2024-01-01 (so the receiver
/// can tell them apart): the n-th's `time` ends in second n.
fn updates(entities: usize, rounds: usize) -> Vec<Vec<Value>> {
    (0..rounds)
        .map(|round| {
            (0..entities)
                .map(|e| {
                    let time = chrono::DateTime::from_timestamp(1_704_067_200 + round as i64, 0)
                        .unwrap()
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                    json!({"type": "crjob:updated", "entityId": format!("e{e}"), "time": time,
                        "data": {}, "metadata": {"paths": ["modificationdate"]}})
                })
                .collect()
        })
        .collect()
}

/// The round an update was published in, from its notification's `time`.
fn round_of(notification: &Value) -> i64 {
    let time = notification["time"].as_str().unwrap();
    chrono::DateTime::parse_from_rfc3339(time)
        .unwrap()
        .timestamp()
        - 1_704_067_200
}

async fn a_webhooks_max_in_flight_bounds_the_requests_open_to_it(backend: Backend) {
    let slow = TestReceiver::start(|_| Reply::Sleep(Duration::from_millis(150))).await;
    let s = setup(backend, config(), &slow.url).await;
    add_hook(&s, &slow.url, json!({"maxInFlight": 2})).await;
    let published = s.publish(&json!(updates(12, 1)[0])).await;
    assert_eq!(published.status, 202, "{}", published.text);
    slow.wait_for(12).await;
    assert_eq!(
        slow.most_open(),
        2,
        "at most maxInFlight requests open at once"
    );
}

async fn a_webhooks_max_per_second_spaces_deliveries_and_fails_none(backend: Backend) {
    let ok = TestReceiver::ok().await;
    let s = setup(backend, config(), &ok.url).await;
    add_hook(&s, &ok.url, json!({"maxPerSecond": 5})).await;
    let started = std::time::Instant::now();
    let published = s.publish(&json!(updates(15, 1)[0])).await;
    assert_eq!(published.status, 202, "{}", published.text);
    ok.wait_for(15).await;
    // A second's worth (5) at once, then 5 a second: the last 10 take at least 2 s.
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1_800),
        "15 at 5/s in {took:?}"
    );
    // Received is not yet recorded: the last outcomes may still be on their way to the store.
    let mut log = Vec::new();
    for _ in 0..100 {
        log = s.log("?limit=100").await;
        if log.iter().all(|e| e["status"] == "delivered") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(log.len(), 15);
    assert!(log.iter().all(|e| e["status"] == "delivered"), "{log:?}");
}

/// The test: 10,000 updates of 100 entities to an ordered webhook whose receiver fails
/// each delivery id 0 to 3 times (seeded), under a short schedule (50 ms steps, 6 retries):
/// per entity, the first successful receipts are in change order, and none is missing.
async fn an_ordered_webhook_delivers_each_entity_in_change_order_through_failures(
    backend: Backend,
) {
    let _turn = crate::harness::FLAT_OUT.lock().await;
    const ENTITIES: usize = 100;
    const ROUNDS: usize = 100;
    let seed: u64 = std::env::var("CXHOOKS_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            now.map_or(0, |d| d.subsec_nanos().into())
        });
    eprintln!("seed {seed} (CXHOOKS_TEST_SEED)");
    let failures = Arc::new(Mutex::new(HashMap::<String, u32>::new()));
    let firsts = Arc::new(Mutex::new(Vec::<(String, i64)>::new()));
    let (fails, got) = (failures.clone(), firsts.clone());
    let receiver = TestReceiver::start_with(move |_, r: &Received| {
        let n = r.json();
        let id = n["id"].as_str().unwrap().to_owned();
        // 0 to 3 failures per delivery id, from the seed and the id.
        let budget = (seahash(&id, seed) % 4) as u32;
        let mut fails = fails.lock().unwrap();
        let failed = fails.entry(id).or_insert(0);
        if *failed < budget {
            *failed += 1;
            return Reply::Status(503);
        }
        let entity = n["data"]["entityId"].as_str().unwrap().to_owned();
        got.lock().unwrap().push((entity, round_of(&n)));
        Reply::Status(200)
    })
    .await;
    let mut c = config();
    c.delivery.retry_schedule = (1..=6).map(|i| Duration::from_millis(50 * i)).collect();
    c.limits.monthly_notifications_per_client = u64::MAX;
    let s = setup(backend, c, "http://127.0.0.1:9/unused").await;
    add_hook(
        &s,
        &receiver.url,
        json!({"ordered": true, "maxInFlight": 100}),
    )
    .await;
    let started = std::time::Instant::now();
    for round in updates(ENTITIES, ROUNDS) {
        let published = s.publish(&json!(round)).await;
        assert_eq!(published.status, 202, "{}", published.text);
    }
    // Waits while deliveries keep coming: on a loaded 2-core machine the whole run has taken
    // over two minutes on PostgreSQL, so only a stall (nothing new for 60 s) ends it early.
    // PostgreSQL runs have stalled for 30 s (issue 25's note): the order is still checked.
    let mut last = (0, std::time::Instant::now());
    loop {
        let n = firsts.lock().unwrap().len();
        if n >= ENTITIES * ROUNDS || last.1.elapsed() > Duration::from_secs(60) {
            break;
        }
        if n != last.0 {
            last = (n, std::time::Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("{} delivered in {:?}", ENTITIES * ROUNDS, started.elapsed());
    let firsts = firsts.lock().unwrap().clone();
    let mut per_entity: HashMap<String, Vec<i64>> = HashMap::new();
    for (entity, round) in firsts {
        per_entity.entry(entity).or_default().push(round);
    }
    assert_eq!(per_entity.len(), ENTITIES, "seed {seed}");
    for (entity, rounds) in per_entity {
        let expected: Vec<i64> = (0..ROUNDS as i64).collect();
        assert_eq!(
            rounds, expected,
            "{entity}: first successes out of order (seed {seed})"
        );
    }
    let retried = failures
        .lock()
        .unwrap()
        .values()
        .filter(|n| **n > 0)
        .count();
    assert!(
        retried > 1_000,
        "the receiver failed {retried} deliveries: too few to prove it"
    );
}

/// A seeded hash of `text`, the same on every run with the same seed.
fn seahash(text: &str, seed: u64) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    seed.hash(&mut h);
    text.hash(&mut h);
    h.finish()
}

cxhooks_store::both_backends!(
    a_webhooks_max_in_flight_bounds_the_requests_open_to_it,
    a_webhooks_max_per_second_spaces_deliveries_and_fails_none,
    an_ordered_webhook_delivers_each_entity_in_change_order_through_failures,
);
