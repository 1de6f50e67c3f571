//! Retention (issue 25, item 4): delivered notifications leave the request log once past
//! `retention.delivered`, counted in `/metrics`; failed ones stay while `retention.failed` is 0.

use crate::delivery::{config, setup};
use crate::receiver::{Reply, TestReceiver};
use cxhooks_store::testing::Backend;
use serde_json::json;
use std::time::Duration;

async fn delivered_notifications_are_purged_after_their_retention(backend: Backend) {
    let ok = TestReceiver::ok().await;
    let failing = TestReceiver::start(|_| Reply::Status(503)).await;
    let mut c = config();
    c.retention.delivered = Duration::from_secs(1);
    c.retention.failed = Duration::ZERO;
    c.retention.changes = Duration::from_secs(1);
    let s = setup(backend, c, &ok.url).await;
    let failing_hook = s
        .app
        .json(
            "POST",
            &format!("/webhooks/v1/applications/{}/webhooks", s.app_id),
            &s.manager,
            &json!({"url": failing.url, "filters": [{"eventType": "crjob:created"}]}),
        )
        .await;
    assert_eq!(failing_hook.status, 201, "{}", failing_hook.text);
    let changes: Vec<_> = (0..3)
        .map(|i| json!({"type": "crjob:created", "entityId": format!("{i}"), "data": {}}))
        .collect();
    let published = s.publish(&json!(changes)).await;
    assert_eq!(published.status, 202, "{}", published.text);
    ok.wait_for(3).await;
    // Three delivered, three failing (503 at each of the short schedule's 4 attempts).
    let mut seen = Vec::new();
    for _ in 0..200 {
        seen = s.log("?limit=100").await;
        if seen.len() == 3 && seen.iter().all(|e| e["status"] == "failed") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen.len(), 3, "only the failed are left: {seen:?}");
    assert!(seen.iter().all(|e| e["status"] == "failed"), "{seen:?}");
    // The purge counts what it removed once its statement has committed: a moment after the
    // rows are gone from the log (seen on a loaded CI machine), so wait for the count too.
    let mut metrics = String::new();
    let mut purged = None;
    for _ in 0..100 {
        metrics = s.app.get("/metrics", None).await.text().await.unwrap();
        purged = metrics
            .lines()
            .find(|l| l.starts_with("cxhooks_purged_total{what=\"deliveries\"}"))
            .map(str::to_owned);
        if purged.as_deref().is_some_and(|l| l.ends_with(" 3")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let purged = purged.unwrap_or_else(|| panic!("no purge counted: {metrics}"));
    assert!(purged.ends_with(" 3"), "{purged}");
}

cxhooks_store::both_backends!(delivered_notifications_are_purged_after_their_retention);
