//! The retry schedule, to the second, without sleeping: the node runs with a stepped dispatcher
//! (`Dispatcher::Stepped`) and its clock is moved forward. "Nothing was due" is the step's
//! answer, not the absence of a request after a sleep, which a slow pipeline would also give.

use crate::delivery::{candidate_change, setup_on};
use crate::harness::*;
use crate::receiver::{Reply, TestReceiver};
use cxhooks_server::delivery::worker::{Stepped, step};
use cxhooks_server::{AppState, Config, Dispatcher};
use cxhooks_store::testing::{Backend, Sealed, replace_sealed};
use std::time::Duration;

/// The seed's schedule (3 s, 18 s, 108 s, …): the default configuration's.
fn config() -> Config {
    let mut c = Config::default();
    c.delivery.allow_private_targets = true;
    c.delivery.timeout = Duration::from_secs(2);
    c
}

async fn step_after(state: &AppState, by: Duration) -> Stepped {
    state.clock.advance(by);
    step(state).await.expect("a step")
}

const NOTHING: Stepped = Stepped {
    claimed: 0,
    attempted: 0,
};
const ONE: Stepped = Stepped {
    claimed: 1,
    attempted: 1,
};

async fn retries_come_at_their_slots_and_stop_after_success(backend: Backend) {
    let receiver = TestReceiver::start(|n| {
        if n < 2 {
            Reply::Status(500)
        } else {
            Reply::Status(204)
        }
    })
    .await;
    let app = spawn_app_dispatched(backend, config(), Dispatcher::Stepped).await;
    let s = setup_on(app, &receiver.url).await;
    let state = s.app.state.clone();
    // The first attempt is the publish's own hand-off; its failure schedules the 3 s slot.
    assert_eq!(s.publish(&candidate_change("7")).await.status, 202);
    let id = receiver.wait_for(1).await[0].json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.wait_status(&id, "retrying").await;

    // Slots are offsets from the first attempt; a second of margin covers the test's own time.
    assert_eq!(
        step_after(&state, Duration::from_secs(2)).await,
        NOTHING,
        "2 s: not due"
    );
    assert_eq!(
        step_after(&state, Duration::from_secs(1)).await,
        ONE,
        "3 s: the first retry"
    );
    assert_eq!(receiver.received().len(), 2);
    assert_eq!(
        step_after(&state, Duration::from_secs(14)).await,
        NOTHING,
        "17 s: not due"
    );
    assert_eq!(
        step_after(&state, Duration::from_secs(1)).await,
        ONE,
        "18 s: the second retry"
    );
    let e = s.wait_status(&id, "delivered").await;
    let codes: Vec<_> = e["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["statusCode"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [500, 500, 204]);

    // Past every slot of the schedule, a delivered notification is not sent again.
    let past_all = Duration::from_secs(3 * 86_400);
    assert_eq!(
        step_after(&state, past_all).await,
        NOTHING,
        "nothing after success"
    );
    assert_eq!(receiver.received().len(), 3);
}

async fn a_failing_receiver_gets_one_attempt_per_slot_then_failed(backend: Backend) {
    let receiver = TestReceiver::start(|_| Reply::Status(503)).await;
    let mut cfg = config();
    cfg.delivery.retry_schedule = vec![Duration::from_secs(3), Duration::from_secs(18)];
    let app = spawn_app_dispatched(backend, cfg, Dispatcher::Stepped).await;
    let s = setup_on(app, &receiver.url).await;
    let state = s.app.state.clone();
    s.publish(&candidate_change("9")).await;
    let id = receiver.wait_for(1).await[0].json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.wait_status(&id, "retrying").await;
    // Far past both slots at once: one attempt (the due one), not one per missed slot.
    assert_eq!(step_after(&state, Duration::from_secs(60)).await, ONE);
    assert_eq!(
        step_after(&state, Duration::ZERO).await,
        ONE,
        "the last slot"
    );
    let e = s.wait_status(&id, "failed").await;
    assert_eq!(e["attemptCount"], 3);
    let past_all = Duration::from_secs(3 * 86_400);
    assert_eq!(
        step_after(&state, past_all).await,
        NOTHING,
        "no attempt after the last slot"
    );
    assert_eq!(receiver.received().len(), 3);
}

/// A seal that does not open stands for any fault of the node (the store unreachable, a key
/// unreadable): the delivery waits and is retried, never cancelled and never sent without its
/// signature or custom headers.
async fn unreadable_keys_and_headers_defer_deliveries_never_cancel(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let app = spawn_app_dispatched(backend, config(), Dispatcher::Stepped).await;
    let s = setup_on(app, &receiver.url).await;
    let state = s.app.state.clone();
    let reload = || state.delivery.registry.reload(&state.store, &state.master);
    for (column, entity, cause) in [
        (Sealed::ApplicationKey, &s.app_id, "key"),
        (Sealed::WebhookHeaders, &s.hook_id, "headers"),
    ] {
        let id = entity.parse().unwrap();
        let good = replace_sealed(&state.store, column, id, b"not a seal".to_vec()).await;
        reload().await.unwrap();
        let before = receiver.received().len();
        assert_eq!(s.publish(&candidate_change(cause)).await.status, 202);
        let waiting = wait_deferred(&s).await;
        assert_eq!(receiver.received().len(), before, "{cause}: nothing sent");
        assert_eq!(waiting["attemptCount"], 0, "{cause}: no attempt counted");
        let metrics = s.app.get("/metrics", None).await.text().await.unwrap();
        assert!(
            metrics.contains(&format!(
                "cxhooks_deliveries_deferred_total{{cause=\"{cause}\"}} 1"
            )),
            "{cause}: counted\n{metrics}"
        );

        // Readable again: sent at the next look, signed and with its credential header.
        replace_sealed(&state.store, column, id, good).await;
        reload().await.unwrap();
        assert_eq!(
            step_after(&state, Duration::from_secs(6)).await,
            ONE,
            "{cause}"
        );
        let got = receiver.wait_for(before + 1).await;
        assert_eq!(got[before].header("Custom-Signature"), "FE: Basic Y3g1");
        let id = waiting["_id"].as_str().unwrap();
        s.wait_status(id, "delivered").await;
    }
}

/// The one delivery of the log that waits (`retrying`, nothing sent yet); panics after 10 s.
async fn wait_deferred(s: &crate::delivery::Setup) -> serde_json::Value {
    for _ in 0..200 {
        let items = s.log("?status=retrying").await;
        if let Some(item) = items.into_iter().next() {
            return item;
        }
        let cancelled = s.log("?status=cancelled").await;
        assert!(cancelled.is_empty(), "cancelled: {cancelled:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no delivery waits: {:?}", s.log("").await);
}

cxhooks_store::both_backends!(
    retries_come_at_their_slots_and_stop_after_success,
    a_failing_receiver_gets_one_attempt_per_slot_then_failed,
    unreadable_keys_and_headers_defer_deliveries_never_cancel,
);
