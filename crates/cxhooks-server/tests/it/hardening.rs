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
    // Prometheus' classic text format by default: each counter family named after its
    // samples, so that a classic parser keeps the type; no `# EOF`.
    let r = s.app.get("/metrics", None).await;
    assert_eq!(
        r.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = r.text().await.unwrap();
    assert!(
        text.contains("# TYPE cxhooks_changes_accepted_total counter\n"),
        "{text}"
    );
    assert!(!text.contains("# EOF"), "{text}");
    // OpenMetrics when asked first, as Prometheus asks.
    let om = s
        .app
        .http
        .get(format!("{}/metrics", s.app.url))
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        om.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let om = om.text().await.unwrap();
    assert!(
        om.contains("# TYPE cxhooks_changes_accepted counter\n"),
        "{om}"
    );
    assert!(om.ends_with("# EOF\n"), "{om}");
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

/// With `[metrics] per_tenant` and `per_webhook`, outcomes are counted per owner too; past
/// `max_series` owners the rest are counted together as `_other`.
async fn outcomes_are_counted_per_tenant_and_webhook_when_asked(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let mut cfg = config();
    cfg.metrics.per_tenant = true;
    cfg.metrics.per_webhook = true;
    cfg.metrics.max_series = 1;
    let s = setup(backend, cfg, &receiver.url).await;
    // A second webhook with the same filter: each change is delivered twice.
    let second = s
        .app
        .json(
            "POST",
            &format!("/webhooks/v1/applications/{}/webhooks", s.app_id),
            &s.manager,
            &serde_json::json!({"url": receiver.url, "filters": [{"eventType": "cremployee:updated",
                "condition": "metadata.paths has any of ['touser.lastname']"}]}),
        )
        .await;
    assert_eq!(second.status, 201, "{}", second.text);
    let second_id = second.body["_id"].as_str().unwrap().to_owned();
    let published = s.publish(&serde_json::json!([candidate_change("1")])).await;
    assert_eq!(published.status, 202, "{}", published.text);
    receiver.wait_for(2).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let text = loop {
        let text = s.app.get("/metrics", None).await.text().await.unwrap();
        let tenant = "cxhooks_tenant_deliveries_total{tenant=\"acme\",outcome=\"delivered\"}";
        if sample(&text, tenant) == Some(2.0) {
            break text;
        }
        assert!(std::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let first = text
        .lines()
        .find(|l| l.starts_with("cxhooks_webhook_deliveries_total{tenant=\"acme\""))
        .unwrap_or_else(|| panic!("a series for the first webhook: {text}"));
    assert!(
        first.contains(&s.hook_id) || first.contains(&second_id),
        "{first}"
    );
    assert!(first.ends_with(" 1"), "{first}");
    let other = "cxhooks_webhook_deliveries_total{tenant=\"_other\",webhook=\"_other\",outcome=\"delivered\"}";
    assert_eq!(sample(&text, other), Some(1.0), "{text}");
    assert!(
        text.contains("# TYPE cxhooks_webhook_deliveries_total counter"),
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
    outcomes_are_counted_per_tenant_and_webhook_when_asked,
    health_readiness_and_request_ids,
    each_client_is_rate_limited_alone,
);
