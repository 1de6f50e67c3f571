//! Operating the service: `/metrics`, `/healthz`, `/readyz`, request ids, and the management
//! API's per-client rate limit.

use crate::delivery::{candidate_change, config, setup};
use crate::harness::*;
use crate::receiver::TestReceiver;
use cxhooks_store::testing::Backend;

/// The value of an un-labelled (or exactly labelled) sample in OpenMetrics text.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

async fn metrics_count_what_happened(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let s = setup(backend, config(), &receiver.url).await;
    let before = s.app.get("/metrics", None).await.text().await.unwrap();
    assert_eq!(
        sample(&before, "cxhooks_changes_accepted_total"),
        Some(0.0),
        "{before}"
    );
    assert_eq!(sample(&before, "cxhooks_queue_depth"), Some(0.0));

    let published = s
        .publish(&serde_json::json!([
            candidate_change("1"),
            candidate_change("2")
        ]))
        .await;
    assert_eq!(published.status, 202, "{}", published.text);
    receiver.wait_for(2).await;
    for item in s.log("").await {
        s.wait_status(item["_id"].as_str().unwrap(), "delivered")
            .await;
    }
    let r = s.app.get("/metrics", None).await;
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = r.text().await.unwrap();
    assert_eq!(
        sample(&text, "cxhooks_changes_accepted_total"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "cxhooks_deliveries_total{outcome=\"delivered\"}"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "cxhooks_attempt_duration_seconds_count"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(sample(&text, "cxhooks_queue_depth"), Some(0.0), "{text}");
    assert_eq!(
        sample(&text, "cxhooks_oldest_pending_age_seconds"),
        Some(0.0),
        "{text}"
    );
}

async fn health_readiness_and_request_ids(backend: Backend) {
    let app = spawn_app(backend).await;
    let health = app.get("/healthz", None).await;
    assert_eq!(health.status(), 200);
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.text().await.unwrap(), "ready");

    // Every answer carries a request id; one the caller sent is kept.
    let r = app.get("/webhooks/v1/applications", None).await;
    let id = r.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    let r = app
        .http
        .get(format!("{}/healthz", app.url))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-me-42");

    // Not ready while the store does not answer.
    app.store().close().await;
    let r = app.get("/readyz", None).await;
    assert_eq!(r.status(), 503);
}

async fn each_client_is_rate_limited_alone(backend: Backend) {
    let mut cfg = cxhooks_server::Config::default();
    cfg.limits.api_requests_per_client_per_s = 5;
    let app = spawn_app_with(backend, cfg).await;
    app.tenant("acme").await;
    let (_, busy) = app.client_token("acme", ALL_SCOPES, SEED_PERMISSIONS).await;
    let (_, quiet) = app.client_token("acme", ALL_SCOPES, SEED_PERMISSIONS).await;
    let mut refused = None;
    for _ in 0..20 {
        let a = app
            .call("GET", "/webhooks/v1/applications", &busy, None)
            .await;
        if a.status == 429 {
            refused = Some(a);
            break;
        }
        assert_eq!(a.status, 200, "{}", a.text);
    }
    let a = refused.expect("a client past its rate gets 429");
    assert_problem(&a, 429, "", "limits.api_requests_per_client_per_s");
    let retry: u64 = a.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1, "{retry}");
    let other = app
        .call("GET", "/webhooks/v1/applications", &quiet, None)
        .await;
    assert_eq!(other.status, 200, "another client is not slowed down");
    tokio::time::sleep(std::time::Duration::from_secs(retry)).await;
    let again = app
        .call("GET", "/webhooks/v1/applications", &busy, None)
        .await;
    assert_eq!(
        again.status, 200,
        "after Retry-After the client is served again"
    );
}

/// A PostgreSQL node vacuums the deliveries table once delivering has left enough dead row
/// versions in it (1,000 plus 5 % of the live rows), and counts it in `/metrics`; an SQLite
/// node, whose updates leave none, has nothing to vacuum.
async fn nodes_vacuum_what_delivering_churned(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let s = setup(backend, config(), &receiver.url).await;
    for batch in 0..2 {
        let changes: Vec<_> = (0..700)
            .map(|i| candidate_change(&format!("{batch}-{i}")))
            .collect();
        let published = s.publish(&serde_json::Value::from(changes)).await;
        assert_eq!(published.status, 202, "{}", published.text);
    }
    let vacuums = "cxhooks_store_vacuums_total{table=\"deliveries\"}";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        let text = s.app.get("/metrics", None).await.text().await.unwrap();
        let delivered = receiver.received().len();
        if backend == Backend::Sqlite {
            if delivered >= 1_400 {
                assert_eq!(sample(&text, vacuums), None, "{text}");
                break;
            }
        } else if sample(&text, vacuums).is_some_and(|n| n >= 1.0) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{delivered} of 1,400 delivered and no vacuum of the deliveries table: {text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

cxhooks_store::both_backends!(
    nodes_vacuum_what_delivering_churned,
    metrics_count_what_happened,
    health_readiness_and_request_ids,
    each_client_is_rate_limited_alone,
);
