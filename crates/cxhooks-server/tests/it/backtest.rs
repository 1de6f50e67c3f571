//! Backtesting a filter (issue 29, items 0 and 1): every change keeps its data and metadata,
//! and a webhook body, or a stored webhook, is run over the last N of them (or a time range)
//! with the matcher deliveries are made with: the counts it gives for a stored webhook are the
//! deliveries it had. From the API and as the console's form is typed.

use crate::console::signed_in;
use crate::delivery::{Setup, config, setup};
use crate::harness::{Answer, assert_problem};
use crate::receiver::TestReceiver;
use cxhooks_store::testing::Backend;
use serde_json::{Value, json};
use std::time::Duration;

fn change(kind: &str, id: usize, status: u32, paths: &[&str]) -> Value {
    json!({"type": kind, "entityId": id.to_string(),
        "data": {"touser": {"lastname": format!("Jansen {id}"), "tosinglestatusnode": status}},
        "metadata": {"paths": paths}})
}

impl Setup {
    async fn backtest(&self, query: &str, body: &Value) -> Answer {
        let path = format!(
            "/webhooks/v1/applications/{}/webhooks/backtest{query}",
            self.app_id
        );
        self.app.json("POST", &path, &self.manager, body).await
    }
}

/// Publishes 12 candidate updates (status 1234 for every third, the last name changed for
/// every other) and 4 job creations, in that order, 16 changes in all.
async fn publish_changes(s: &Setup) {
    for i in 0..12 {
        let status = if i % 3 == 0 { 1234 } else { 7 };
        let paths: &[&str] = if i % 2 == 0 {
            &["touser.lastname"]
        } else {
            &["touser.tosinglestatusnode"]
        };
        let a = s
            .publish(&change("cremployee:updated", i, status, paths))
            .await;
        assert_eq!(a.status, 202, "{}", a.text);
    }
    for i in 100..104 {
        let a = s.publish(&change("crjob:created", i, 0, &[])).await;
        assert_eq!(a.status, 202, "{}", a.text);
    }
}

async fn a_filter_is_backtested_against_the_stored_changes(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let s = setup(backend, config(), &receiver.url).await;
    let empty = s
        .backtest("", &json!({"filters": [{"eventType": "crjob:created"}]}))
        .await;
    assert_eq!(empty.status, 200, "{}", empty.text);
    assert_eq!(empty.body["examined"], 0);
    assert!(
        empty.body["summary"]
            .as_str()
            .unwrap()
            .starts_with("No stored changes")
    );

    publish_changes(&s).await;
    let body = json!({"url": "https://not.read.example/", "filters": [
        {"eventType": "cremployee:updated", "condition": "data.touser.tosinglestatusnode eq 1234"},
        {"eventType": "cremployee:updated", "condition": "metadata.paths has any of ['touser.lastname']"},
        {"eventType": "crjob:created"}]});
    let a = s.backtest("?sample=3", &body).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let b = &a.body;
    assert_eq!(b["examined"], 16);
    // Status 1234: 0, 3, 6, 9; last name: 0, 2, 4, 6, 8, 10; jobs: 4. Together: 0, 2, 3, 4, 6,
    // 8, 9, 10 and the jobs.
    assert_eq!(b["matched"], 12);
    assert_eq!(b["complete"], true);
    let counts: Vec<u64> = b["filters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["matched"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, [4, 6, 4]);
    assert_eq!(
        b["filters"][0]["condition"],
        "data.touser.tosinglestatusnode eq 1234"
    );
    assert_eq!(
        b["summary"],
        "Would have matched 12 of the last 16 changes."
    );
    // The sample: the newest matches first, with the filters that matched each.
    let sample = b["sample"].as_array().unwrap();
    assert_eq!(sample.len(), 3);
    assert_eq!(sample[0]["type"], "crjob:created");
    assert_eq!(sample[0]["entityId"], "103");
    assert_eq!(sample[0]["filters"], json!([2]));
    assert!(sample[0]["changeId"].as_str().unwrap().len() == 36);
    assert!(b["oldest"].as_str().unwrap() <= b["newest"].as_str().unwrap());

    let all = s.backtest("?sample=100", &body).await;
    let nine = all.body["sample"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["entityId"] == "9")
        .unwrap()
        .clone();
    assert_eq!(nine["filters"], json!([0]));
    assert_eq!(nine["changedFields"], json!(["touser.tosinglestatusnode"]));
    let zero = all.body["sample"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(zero["entityId"], "0");
    assert_eq!(zero["filters"], json!([0, 1]));

    // The last N: the newest 5 are jobs 100..103 and candidate 11 (neither filter 0 nor 1).
    let last = s.backtest("?last=5", &body).await;
    assert_eq!(last.body["examined"], 5);
    assert_eq!(last.body["matched"], 4);
    assert_eq!(
        last.body["summary"],
        "Would have matched 4 of the last 5 changes."
    );

    // The stored webhook (candidate updates of the last name, job creations) is backtested as
    // it is: its count is the deliveries it had, each found by its change in the request log.
    let stored = s
        .app
        .json(
            "POST",
            &format!(
                "/webhooks/v1/applications/{}/webhooks/{}/backtest?sample=100",
                s.app_id, s.hook_id
            ),
            &s.manager,
            &json!({}),
        )
        .await;
    assert_eq!(stored.status, 200, "{}", stored.text);
    assert_eq!(stored.body["matched"], 10);
    let mut delivered = Vec::new();
    for _ in 0..200 {
        delivered = s.log("?limit=100").await;
        if delivered.len() >= 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(delivered.len(), 10, "the webhook's deliveries");
    for c in stored.body["sample"].as_array().unwrap() {
        let found = s
            .log(&format!("?changeId={}", c["changeId"].as_str().unwrap()))
            .await;
        assert_eq!(found.len(), 1, "a delivery of change {c}");
    }

    // A time range: since the first job's change, the four jobs.
    let first_job = stored.body["sample"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|c| c["type"] == "crjob:created")
        .unwrap()["time"]
        .as_str()
        .unwrap()
        .to_owned();
    let since = first_job.replace('+', "%2B");
    let ranged = s
        .backtest(
            &format!("?since={since}"),
            &json!({"filters": [{"eventType": "crjob:created"}]}),
        )
        .await;
    assert_eq!(ranged.status, 200, "{}", ranged.text);
    assert_eq!(ranged.body["matched"], 4);
    assert!(
        ranged.body["summary"]
            .as_str()
            .unwrap()
            .starts_with("Would have matched 4 of the "),
        "{}",
        ranged.body
    );
}

async fn a_backtest_refuses_what_it_cannot_run(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let s = setup(backend, config(), &receiver.url).await;
    let jobs = json!({"filters": [{"eventType": "crjob:created"}]});
    for (query, path, says) in [
        (
            "?last=0",
            "?last",
            "'0' is not a whole number from 1 to 100,000",
        ),
        ("?last=100001", "?last", "from 1 to 100,000"),
        ("?last=many", "?last", "'many' is not a whole number"),
        ("?sample=101", "?sample", "from 0 to 100"),
        ("?since=yesterday", "?since", "not an RFC 3339 time"),
        (
            "?since=2026-12-01T00:00:00Z&until=2026-11-01T00:00:00Z",
            "?until",
            "'until' must be after 'since'",
        ),
    ] {
        assert_problem(&s.backtest(query, &jobs).await, 400, path, says);
    }
    let bad = s
        .backtest(
            "",
            &json!({"filters": [{"eventType": "cremployee:updated", "condition": "data.x eq"}]}),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert_eq!(bad.body["errors"][0]["path"], "/filters/0/condition");
    assert_problem(
        &s.backtest(
            "",
            &json!({"filters": [{"eventType": "cremployee:renamed"}]}),
        )
        .await,
        400,
        "/filters/0/eventType",
        "renamed",
    );
    assert_problem(
        &s.backtest("", &json!({"url": "x"})).await,
        400,
        "/filters",
        "",
    );
    assert_problem(
        &s.backtest("", &json!({"filters": [], "colour": "red"}))
            .await,
        400,
        "/colour",
        "",
    );
    // Scope, tenant and existence.
    let path = format!("/webhooks/v1/applications/{}/webhooks/backtest", s.app_id);
    let publisher_only = s.app.json("POST", &path, &s.publisher, &jobs).await;
    assert_eq!(publisher_only.status, 403);
    s.app.tenant("other").await;
    let (_, stranger) = s
        .app
        .client_token("other", crate::harness::ALL_SCOPES, "create=on,read=all")
        .await;
    assert_eq!(
        s.app.json("POST", &path, &stranger, &jobs).await.status,
        404
    );
    let missing = format!(
        "/webhooks/v1/applications/{}/webhooks/{}/backtest",
        s.app_id,
        uuid::Uuid::new_v4()
    );
    assert_eq!(
        s.app
            .json("POST", &missing, &s.manager, &json!({}))
            .await
            .status,
        404
    );
}

/// The console's webhook form answers, as it is typed, what its filters would have matched.
async fn the_console_form_backtests_as_it_is_typed(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let s = setup(backend, config(), &receiver.url).await;
    publish_changes(&s).await;
    let (mut b, csrf) = signed_in(&s.app, "acme").await;
    let checked = b
        .post(
            "/console/webhooks/validate",
            &[
                ("csrf", &csrf),
                ("app", &s.app_id),
                ("url", "not a url yet"),
                ("event_type", ""),
                ("condition", ""),
                ("event_type", "cremployee:updated"),
                ("condition", "data.touser.tosinglestatusnode eq 1234"),
            ],
        )
        .await;
    assert_eq!(checked.status, 200, "{}", checked.text);
    let checked: Value = serde_json::from_str(&checked.text).unwrap();
    assert_eq!(checked["valid"], false, "the url is not one yet");
    assert_eq!(
        checked["backtest"]["summary"],
        "Would have matched 4 of the last 16 changes."
    );
    assert_eq!(
        checked["backtest"]["filters"],
        json!([{"row": 2, "matched": 4}])
    );
    // A condition that does not compile has no backtest.
    let unfinished = b
        .post(
            "/console/webhooks/validate",
            &[
                ("csrf", &csrf),
                ("event_type", "cremployee:updated"),
                ("condition", "data.touser.tosinglestatusnode eq"),
            ],
        )
        .await;
    let unfinished: Value = serde_json::from_str(&unfinished.text).unwrap();
    assert_eq!(unfinished["backtest"], Value::Null);
    // The edit page has the place for it, filled when the page loads.
    let page = b
        .get(&format!("/console/webhooks/{}/{}", s.app_id, s.hook_id))
        .await;
    assert!(page.text.contains("id=\"backtest\""), "{}", page.text);
    assert!(page.text.contains("data-check-now"), "{}", page.text);
}

cxhooks_store::both_backends!(
    a_filter_is_backtested_against_the_stored_changes,
    a_backtest_refuses_what_it_cannot_run,
    the_console_form_backtests_as_it_is_typed,
);
