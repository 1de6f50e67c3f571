//! The request log and bulk recovery as an operator uses them after a receiver's outage:
//! deliveries found by change and entity id, each webhook's health, and every failed delivery
//! since a time delivered again (API and console), rate-limited, oldest first, in progress.

use crate::console::signed_in;
use crate::delivery::{Setup, candidate_change, config, setup, verify_with_seed_snippets};
use crate::harness::{Answer, assert_problem};
use crate::receiver::{Reply, TestReceiver};
use cxhooks_store::testing::Backend;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A receiver that answers 503 until opened, then 200.
async fn gated() -> (TestReceiver, Arc<AtomicBool>) {
    let open = Arc::new(AtomicBool::new(false));
    let gate = open.clone();
    let receiver = TestReceiver::start(move |_| {
        if gate.load(Ordering::SeqCst) {
            Reply::Status(200)
        } else {
            Reply::Status(503)
        }
    })
    .await;
    (receiver, open)
}

/// Publishes a change to each of `entities` and waits until every delivery of them is failed;
/// answers their delivery ids in publish order.
async fn failing(s: &Setup, entities: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for e in entities {
        assert_eq!(s.publish(&candidate_change(e)).await.status, 202);
        let mine = s.log(&format!("?entityId={e}")).await;
        ids.push(mine[0]["_id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        s.wait_status(id, "failed").await;
    }
    ids
}

fn recover_path(s: &Setup) -> String {
    format!(
        "/webhooks/v1/applications/{}/webhooks/{}/recover",
        s.app_id, s.hook_id
    )
}

async fn recover(s: &Setup, body: &Value) -> Answer {
    s.app.json("POST", &recover_path(s), &s.manager, body).await
}

/// Polls a recovery until it is no longer running (or panics after 20 s).
async fn finished(s: &Setup, location: &str) -> Value {
    for _ in 0..400 {
        let r = s.app.call("GET", location, &s.manager, None).await;
        assert_eq!(r.status, 200, "{}", r.text);
        if r.body["status"] != "running" {
            return r.body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the recovery at {location} never finished");
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

async fn failed_deliveries_since_a_time_are_delivered_again_and_verify(backend: Backend) {
    let (receiver, open) = gated().await;
    let mut c = config();
    c.delivery.recover_per_s = 20;
    let s = setup(backend, c, &receiver.url).await;

    let before = failing(&s, &["100"]).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let since = now();
    let ids = failing(&s, &["1", "2", "3", "4", "5"]).await;
    open.store(true, Ordering::SeqCst);
    let seen_before = receiver.received().len();

    let started = recover(&s, &json!({ "since": since })).await;
    assert_eq!(started.status, 202, "{}", started.text);
    assert_eq!(started.body["_kind"], "Recovery");
    assert_eq!(started.body["total"], 5);
    assert_eq!(started.body["webhookId"], s.hook_id.as_str());
    let location = started.headers["location"].to_str().unwrap().to_owned();
    assert!(location.ends_with(started.body["_id"].as_str().unwrap()));
    let done = finished(&s, &location).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(
        (done["processed"].clone(), done["redelivered"].clone()),
        (json!(5), json!(5))
    );
    assert!(done["finishedAt"].is_string());

    // Each delivered again, with its own id, signed so that the seed verifiers accept it; the
    // one before `since` stays failed.
    for id in &ids {
        s.wait_status(id, "delivered").await;
    }
    assert_eq!(s.event(&before[0]).await["status"], "failed");
    let again = receiver
        .wait_for(seen_before + 5)
        .await
        .split_off(seen_before);
    let mut got: Vec<String> = again
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap().to_owned())
        .collect();
    got.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(got, want);
    verify_with_seed_snippets(&s, &again[0].body, again[0].header("cx-signature"));

    // Nothing is failed any more: a second recovery is done at once. Both are listed.
    let second = recover(&s, &json!({ "since": since })).await;
    assert_eq!(second.status, 202, "{}", second.text);
    assert_eq!(
        (second.body["status"].clone(), second.body["total"].clone()),
        (json!("done"), json!(0))
    );
    let list = s.read(&format!("webhooks/{}/recoveries", s.hook_id)).await;
    let listed: Vec<&Value> = list["items"].as_array().unwrap().iter().collect();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["_id"], second.body["_id"]);
}

async fn a_recovery_refuses_bad_ranges_strangers_and_a_second_one_at_once(backend: Backend) {
    let (receiver, _closed) = gated().await;
    let mut c = config();
    c.delivery.recover_per_s = 1;
    let s = setup(backend, c, &receiver.url).await;

    assert_problem(
        &recover(&s, &json!({})).await,
        400,
        "/since",
        "'since' is required",
    );
    assert_problem(
        &recover(&s, &json!({"since": "yesterday"})).await,
        400,
        "/since",
        "not an RFC 3339 time",
    );
    assert_problem(
        &recover(
            &s,
            &json!({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}),
        )
        .await,
        400,
        "/until",
        "must be after 'since'",
    );
    assert_problem(
        &recover(&s, &json!({"since": "2999-01-01T00:00:00Z"})).await,
        400,
        "/since",
        "in the future",
    );
    assert_problem(
        &recover(&s, &json!({"since": now(), "from": 1})).await,
        400,
        "/from",
        "unknown field",
    );
    let unknown = s
        .app
        .json(
            "POST",
            &format!(
                "/webhooks/v1/applications/{}/webhooks/{}/recover",
                s.app_id,
                uuid::Uuid::new_v4()
            ),
            &s.manager,
            &json!({"since": now()}),
        )
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    let publisher = s
        .app
        .json(
            "POST",
            &recover_path(&s),
            &s.publisher,
            &json!({"since": now()}),
        )
        .await;
    assert_eq!(publisher.status, 403, "{}", publisher.text);
    s.app.tenant("other").await;
    let (_, stranger) = s
        .app
        .client_token(
            "other",
            crate::harness::ALL_SCOPES,
            "create=on,read=all,update=all",
        )
        .await;
    let strange = s
        .app
        .json(
            "POST",
            &recover_path(&s),
            &stranger,
            &json!({"since": now()}),
        )
        .await;
    assert_eq!(strange.status, 404, "{}", strange.text);

    // One recovery per webhook at a time: at one a second, three take a while.
    let since = now();
    failing(&s, &["1", "2", "3"]).await;
    let first = recover(&s, &json!({ "since": since })).await;
    assert_eq!(
        (first.status, first.body["status"].clone()),
        (202, json!("running")),
        "{}",
        first.text
    );
    let second = recover(&s, &json!({ "since": since })).await;
    assert_problem(&second, 409, "", "still running");
    assert_eq!(second.body["type"], "urn:cxhooks:problem:recovery-running");

    // A disabled webhook is not recovered.
    let hook = format!(
        "/webhooks/v1/applications/{}/webhooks/{}/disable",
        s.app_id, s.hook_id
    );
    let disabled = s.app.call("POST", &hook, &s.manager, None).await;
    assert_eq!(disabled.status, 200, "{}", disabled.text);
    assert_problem(
        &recover(&s, &json!({ "since": since })).await,
        409,
        "",
        "enable it first",
    );
}

async fn the_request_log_finds_deliveries_by_change_and_entity(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let s = setup(backend, config(), &receiver.url).await;
    for e in ["42", "7", "42"] {
        assert_eq!(s.publish(&candidate_change(e)).await.status, 202);
    }
    receiver.wait_for(3).await;
    let all = s.log("").await;
    assert_eq!(all.len(), 3);
    let of_42 = s.log("?entityId=42").await;
    assert_eq!(of_42.len(), 2);
    assert!(of_42.iter().all(|d| d["entityId"] == "42"), "{of_42:?}");
    let seven = s.log("?entityId=7").await;
    assert_eq!(seven.len(), 1);
    let change = seven[0]["changeId"].as_str().unwrap();
    let by_change = s.log(&format!("?changeId={change}")).await;
    assert_eq!(by_change.len(), 1);
    assert_eq!(by_change[0]["_id"], seven[0]["_id"]);
    assert!(s.log("?entityId=8").await.is_empty());
    assert_problem(
        &s.log_answer("?changeId=nope").await,
        400,
        "?changeId",
        "is not a change id",
    );
    assert_problem(
        &s.log_answer("?entityId=").await,
        400,
        "?entityId",
        "1 to 200 characters",
    );
}

async fn the_console_searches_the_log_shows_health_and_recovers(backend: Backend) {
    let (receiver, open) = gated().await;
    let mut c = config();
    c.delivery.recover_per_s = 50;
    let s = setup(backend, c, &receiver.url).await;
    let since = chrono::Utc::now() - chrono::Duration::seconds(1);
    let ids = failing(&s, &["31", "32"]).await;
    let (mut b, csrf) = signed_in(&s.app, "acme").await;

    // The log: full ids with a copy button, the webhook's url, the entity; search by each id.
    let log = b.get(&format!("/console/requests?app={}", s.app_id)).await;
    assert_eq!(log.status, 200);
    for id in &ids {
        assert!(log.text.contains(&format!("id=\"d-{id}\"")), "{}", log.text);
        assert!(log.text.contains(&format!("data-copy=\"d-{id}\"")));
    }
    assert!(
        log.text
            .contains(&format!("<span class=\"url\">{}</span>", receiver.url))
    );
    assert!(log.text.contains("<code class=\"entity\">31</code>"));
    let found = b
        .get(&format!("/console/requests?app={}&q={}", s.app_id, ids[0]))
        .await;
    assert_eq!(found.status, 303);
    assert_eq!(
        found.location(),
        format!("/console/requests/{}/{}", s.app_id, ids[0])
    );
    let by_entity = b
        .get(&format!("/console/requests?app={}&q=32", s.app_id))
        .await;
    assert!(by_entity.text.contains(&ids[1]) && !by_entity.text.contains(&format!("d-{}", ids[0])));
    let change = s.event(&ids[0]).await["changeId"]
        .as_str()
        .unwrap()
        .to_owned();
    let by_change = b
        .get(&format!("/console/requests?app={}&q={change}", s.app_id))
        .await;
    assert!(by_change.text.contains(&ids[0]) && !by_change.text.contains(&format!("d-{}", ids[1])));
    let refreshing = b
        .get(&format!("/console/requests?app={}&refresh=on", s.app_id))
        .await;
    assert!(
        refreshing.text.contains("data-refresh=\"10\" checked"),
        "{}",
        refreshing.text
    );

    // Health: every attempt so far failed (503).
    let hooks = b.get(&format!("/console/webhooks?app={}", s.app_id)).await;
    assert!(
        hooks
            .text
            .contains("hour: <span class=\"bad\">0 %</span> of "),
        "{}",
        hooks.text
    );
    assert!(
        hooks.text.contains("last: <span class=\"bad\">503</span>"),
        "{}",
        hooks.text
    );

    // Recover from the console: the form, then the recovery's page.
    let form = b
        .get(&format!(
            "/console/webhooks/{}/{}/recover",
            s.app_id, s.hook_id
        ))
        .await;
    assert_eq!(form.status, 200);
    assert!(form.text.contains("None yet."));
    open.store(true, Ordering::SeqCst);
    let bad = b
        .post(
            &format!("/console/webhooks/{}/{}/recover", s.app_id, s.hook_id),
            &[("csrf", &csrf), ("since", "soon")],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.text.contains("is not an RFC 3339 time"), "{}", bad.text);
    let started = b
        .post(
            &format!("/console/webhooks/{}/{}/recover", s.app_id, s.hook_id),
            &[
                ("csrf", &csrf),
                ("since", &since.format("%Y-%m-%dT%H:%M:%S").to_string()),
            ],
        )
        .await;
    assert_eq!(started.status, 303, "{}", started.text);
    let page = started.location().to_owned();
    assert!(page.contains("/recoveries/") && page.ends_with("?done=recovery-started"));
    for id in &ids {
        s.wait_status(id, "delivered").await;
    }
    let shown = b.get(&page).await;
    assert!(shown.text.contains("Recovery started"), "{}", shown.text);
    assert!(
        shown.text.contains("2 of 2 handled: 2 delivered again"),
        "{}",
        shown.text
    );
    let hooks = b.get(&format!("/console/webhooks?app={}", s.app_id)).await;
    assert!(
        hooks.text.contains("last: <span>200</span>"),
        "{}",
        hooks.text
    );
}

cxhooks_store::both_backends!(
    failed_deliveries_since_a_time_are_delivered_again_and_verify,
    a_recovery_refuses_bad_ranges_strangers_and_a_second_one_at_once,
    the_request_log_finds_deliveries_by_change_and_entity,
    the_console_searches_the_log_shows_health_and_recovers,
);
