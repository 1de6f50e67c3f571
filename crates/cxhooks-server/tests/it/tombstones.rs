//! `GET /data/v1/{entity}/deleted` (tombstones of deleted records) and `?count=true` on record
//! lists: answers, paging, bad input, the retention horizon, and the purge.

use crate::harness::*;
use cxhooks_store::testing::Backend;
use serde_json::{Value, json};
use std::time::Duration;

async fn app(backend: Backend) -> (TestApp, String) {
    let mut c = crate::delivery::config();
    c.retention.tombstones = Duration::from_secs(3600);
    let app = spawn_app_with(backend, c).await;
    app.tenant("acme").await;
    let (_, token) = app
        .client_token(
            "acme",
            ALL_SCOPES,
            "create=on,read=all,update=all,delete=all",
        )
        .await;
    (app, token)
}

fn at(offset: chrono::Duration) -> String {
    (chrono::Utc::now() + offset).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn deletions_are_listed_since_a_time(backend: Backend) {
    let (app, token) = app(backend).await;
    let since = at(chrono::Duration::seconds(-1));
    for n in 0..4 {
        let r = app
            .json(
                "POST",
                "/data/v1/cremployee",
                &token,
                &json!({"hascar": n % 2}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    for id in ["3", "1", "4"] {
        let r = app
            .call("DELETE", &format!("/data/v1/cremployee/{id}"), &token, None)
            .await;
        assert_eq!(r.status, 204, "{}", r.text);
    }
    // Oldest deletion first, page by page.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = app
            .call(
                "GET",
                &format!("/data/v1/cremployee/deleted?since={since}&limit=2&cursor={cursor}"),
                &token,
                None,
            )
            .await;
        assert_eq!(page.status, 200, "{}", page.text);
        for t in page.body["items"].as_array().unwrap() {
            assert_eq!(
                (t["_kind"].as_str(), t["entity"].as_str()),
                (Some("Tombstone"), Some("cremployee"))
            );
            assert!(t["deletedAt"].as_str().unwrap() >= since.as_str(), "{t}");
            seen.push(t["_id"].as_str().unwrap().to_owned());
        }
        match page.body["nextCursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, ["3", "1", "4"]);
    // Nothing since a later time; another entity has its own.
    let later = app
        .call(
            "GET",
            &format!(
                "/data/v1/cremployee/deleted?since={}",
                at(chrono::Duration::seconds(60))
            ),
            &token,
            None,
        )
        .await;
    assert_eq!(later.body["items"], json!([]), "{}", later.text);
    let other = app
        .call(
            "GET",
            &format!("/data/v1/crvacancy/deleted?since={since}"),
            &token,
            None,
        )
        .await;
    assert_eq!(other.body["items"], json!([]), "{}", other.text);

    // ?count=true: the total over every page, with the filter.
    let counted = app
        .call(
            "GET",
            "/data/v1/cremployee?limit=1&count=true&filter=data.hascar%20eq%201",
            &token,
            None,
        )
        .await;
    assert_eq!(counted.status, 200, "{}", counted.text);
    assert_eq!(counted.body["total"], 1, "{}", counted.text);
    assert_eq!(counted.body["items"].as_array().unwrap().len(), 1);
    let plain = app.call("GET", "/data/v1/cremployee", &token, None).await;
    assert_eq!(plain.body.get("total"), None, "counted only when asked");

    // The purge removes tombstones past their retention, and only those.
    let store = &app.state.store;
    let now = chrono::Utc::now().timestamp_micros();
    assert_eq!(
        store
            .purge_tombstones(now - 3_600_000_000, 100)
            .await
            .unwrap(),
        0
    );
    assert_eq!(store.purge_tombstones(now + 1_000_000, 2).await.unwrap(), 2);
    assert_eq!(store.purge_tombstones(now + 1_000_000, 2).await.unwrap(), 1);
}

async fn bad_requests_say_what_to_send(backend: Backend) {
    let (app, token) = app(backend).await;
    let problem = |a: &Answer| {
        (
            a.status,
            a.body["errors"][0]["path"].as_str().map(str::to_owned),
        )
    };
    let missing = app
        .call("GET", "/data/v1/cremployee/deleted", &token, None)
        .await;
    assert_eq!(
        problem(&missing),
        (400, Some("?since".into())),
        "{}",
        missing.text
    );
    assert!(missing.text.contains("RFC 3339"), "{}", missing.text);
    let garbled = app
        .call(
            "GET",
            "/data/v1/cremployee/deleted?since=yesterday",
            &token,
            None,
        )
        .await;
    assert_eq!(
        problem(&garbled),
        (400, Some("?since".into())),
        "{}",
        garbled.text
    );
    let cursor = app
        .call(
            "GET",
            &format!(
                "/data/v1/cremployee/deleted?since={}&cursor=abc",
                at(chrono::Duration::zero())
            ),
            &token,
            None,
        )
        .await;
    assert_eq!(
        problem(&cursor),
        (400, Some("?cursor".into())),
        "{}",
        cursor.text
    );
    let yes = app
        .call("GET", "/data/v1/cremployee?count=yes", &token, None)
        .await;
    assert_eq!(problem(&yes), (400, Some("?count".into())), "{}", yes.text);
    let unknown = app
        .call(
            "GET",
            &format!(
                "/data/v1/crnothing/deleted?since={}",
                at(chrono::Duration::zero())
            ),
            &token,
            None,
        )
        .await;
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    // Before the retention horizon (1 h here): 410, and what to do.
    let old = app
        .call(
            "GET",
            &format!(
                "/data/v1/cremployee/deleted?since={}",
                at(chrono::Duration::hours(-2))
            ),
            &token,
            None,
        )
        .await;
    assert_eq!(old.status, 410, "{}", old.text);
    assert_eq!(
        old.body["type"]
            .as_str()
            .map(|t| t.ends_with("tombstones-expired")),
        Some(true),
        "{}",
        old.text
    );
    assert!(
        old.text.contains("retention.tombstones") && old.text.contains("fetch every record again"),
        "{}",
        old.text
    );
    // Without the records scope: 403.
    let (_, webhooks_only) = app
        .client_token("acme", "urn:cx/webhooks:data:manage", "create=on,read=all")
        .await;
    let refused = app
        .call(
            "GET",
            &format!(
                "/data/v1/cremployee/deleted?since={}",
                at(chrono::Duration::zero())
            ),
            &webhooks_only,
            None,
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.text);
    let _: Value = refused.body;
}

cxhooks_store::both_backends!(
    deletions_are_listed_since_a_time,
    bad_requests_say_what_to_send
);
