//! Outbound safety (issue 24, items 6 and 7): special-purpose addresses, the service itself,
//! the `Cx-Delivery-Hop` marker and reserved custom header names. Every request these tests
//! let cxhooks send goes to loopback; the refusals are checked without sending anything.

use crate::delivery::{Setup, candidate_change, config, setup};
use crate::harness::*;
use crate::receiver::TestReceiver;
use cxhooks_server::Config;
use cxhooks_store::testing::Backend;
use serde_json::{Value, json};
use std::time::Duration;

/// Issue 24's list, then the rest of the registries' documentation, reserved and embedded
/// forms; each with what the answer calls it.
const NOT_GLOBAL: [(&str, &str); 16] = [
    ("http://192.0.2.1/hook", "TEST-NET-1"),
    ("http://198.18.0.1/hook", "benchmarking"),
    ("http://192.0.0.1/hook", "IPv4 service continuity"),
    (
        "http://[::127.0.0.1]/hook",
        "IPv4-compatible address embedding 127.0.0.1",
    ),
    (
        "http://[64:ff9b::7f00:1]/hook",
        "NAT64 address embedding 127.0.0.1",
    ),
    (
        "http://[2002:7f00:1::]/hook",
        "6to4 address embedding 127.0.0.1",
    ),
    ("http://198.51.100.1/hook", "TEST-NET-2"),
    ("http://203.0.113.1/hook", "TEST-NET-3"),
    ("http://240.0.0.1/hook", "reserved"),
    (
        "http://[::ffff:10.0.0.1]/hook",
        "IPv4-mapped address embedding 10.0.0.1",
    ),
    ("http://[64:ff9b::a9fe:a9fe]/hook", "cloud metadata"),
    ("http://[64:ff9b:1::1]/hook", "local-use NAT64"),
    ("http://[2001:db8::1]/hook", "documentation"),
    ("http://[3fff::1]/hook", "documentation"),
    ("http://[fc00::1]/hook", "unique-local"),
    ("http://100.64.0.1/hook", "carrier-grade NAT"),
];

fn hook(url: &str) -> Value {
    json!({"url": url, "filters": [{"eventType": "crjob:created"}]})
}

fn hooks_path(s: &Setup) -> String {
    format!("/webhooks/v1/applications/{}/webhooks", s.app_id)
}

async fn special_purpose_targets_are_refused_on_every_write(backend: Backend) {
    // The default configuration: private targets refused. Nothing is published, so the
    // webhook set up at a documentation name is never sent to.
    let s = setup(backend, Config::default(), "https://hooks.example.com/in").await;
    let one = format!("{}/{}", hooks_path(&s), s.hook_id);
    for (url, says) in NOT_GLOBAL {
        let created = s
            .app
            .json("POST", &hooks_path(&s), &s.manager, &hook(url))
            .await;
        assert_problem(&created, 400, "/url", says);
        assert_problem(&created, 400, "/url", "not globally reachable");
        let patched = s
            .app
            .json("PATCH", &one, &s.manager, &json!({"url": url}))
            .await;
        assert_problem(&patched, 400, "/url", says);
        let put = s.app.json("PUT", &one, &s.manager, &hook(url)).await;
        assert_problem(&put, 400, "/url", says);
    }
    // What they embed decides: a NAT64 or 6to4 form of a public address is accepted.
    for url in [
        "http://[64:ff9b::808:808]/hook",
        "http://[2002:808:808::1]/hook",
    ] {
        let created = s
            .app
            .json("POST", &hooks_path(&s), &s.manager, &hook(url))
            .await;
        assert_eq!(created.status, 201, "{url}: {}", created.text);
    }
}

/// Polls the log until the first delivery has an attempt; returns that delivery.
async fn first_attempted(s: &Setup) -> Value {
    for _ in 0..400 {
        if let Some(item) = s.log("").await.into_iter().next()
            && item["attemptCount"].as_u64().unwrap_or(0) >= 1
        {
            return s.event(item["_id"].as_str().unwrap()).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no delivery was attempted: {:?}", s.log("").await);
}

/// Points the stored webhook at `url` without the API's checks, as a webhook saved under
/// another configuration (or before this check existed) would be.
async fn repoint(s: &Setup, url: &str) {
    let state = &s.app.state;
    let tenant = cxhooks_store::TenantName::parse("acme").unwrap();
    let app_id = uuid::Uuid::parse_str(&s.app_id).unwrap();
    let hook_id = uuid::Uuid::parse_str(&s.hook_id).unwrap();
    let mut hook = state
        .store
        .webhook(&tenant, app_id.into(), hook_id.into())
        .await
        .unwrap()
        .unwrap();
    hook.url = url.to_owned();
    assert!(state.store.update_webhook(&hook, false).await.unwrap());
    let headers = cxhooks_server::seal::open_headers(&state.master, &hook).unwrap();
    state.delivery.registry.upsert(&hook, headers, None);
}

async fn names_are_checked_again_on_the_resolved_address(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let mut cfg = config();
    cfg.delivery.allow_private_targets = false;
    let s = setup(backend, cfg, "https://hooks.example.com/in").await;
    // `localhost` resolves (from the hosts file) to loopback only: the resolver refuses it
    // before connecting, so the receiver behind it hears nothing.
    let port = receiver
        .url
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    repoint(&s, &format!("http://localhost:{port}/hook")).await;
    assert_eq!(s.publish(&candidate_change("1")).await.status, 202);
    let e = first_attempted(&s).await;
    let error = e["attempts"][0]["error"].as_str().unwrap_or("");
    assert!(
        error.contains("localhost resolves to") && error.contains("not globally reachable"),
        "{e}"
    );
    assert_eq!(e["attempts"][0]["statusCode"], Value::Null);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(receiver.received().is_empty());
}

async fn the_service_itself_is_refused_unless_allowed(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    // Loopback receivers are allowed (config() sets allow_private_targets), so `setup` made
    // one on another port: only the service's own port is refused.
    let mut cfg = config();
    cfg.server.public_url = Some("https://hooks.example.test/base".into());
    let s = setup(backend, cfg, &receiver.url).await;
    let port = s.app.url.rsplit(':').next().unwrap().to_owned();
    let one = format!("{}/{}", hooks_path(&s), s.hook_id);
    for (url, says) in [
        (
            format!("http://127.0.0.1:{port}/data/v1/crjob"),
            "own listener",
        ),
        (
            format!("http://localhost:{port}/webhooks/v1/changes"),
            "own listener",
        ),
        (
            format!("http://0.0.0.0:{port}/data/v1/crjob"),
            "own listener",
        ),
        (
            format!("http://[::ffff:127.0.0.1]:{port}/x"),
            "own listener",
        ),
        (
            "https://hooks.example.test/data/v1/crjob".into(),
            "server.public_url",
        ),
        (
            "https://HOOKS.example.test.:443/x".into(),
            "server.public_url",
        ),
    ] {
        let created = s
            .app
            .json("POST", &hooks_path(&s), &s.manager, &hook(&url))
            .await;
        assert_problem(&created, 400, "/url", says);
        assert_problem(&created, 400, "/url", "delivery.allow_self_targets");
        let patched = s
            .app
            .json("PATCH", &one, &s.manager, &json!({"url": url}))
            .await;
        assert_problem(&patched, 400, "/url", says);
    }
    // Another port of the same host, and another host behind the same port, are not the service.
    for url in [
        "http://127.0.0.1:9/hook".to_owned(),
        "http://hooks.example.test:8443/hook".to_owned(),
    ] {
        let created = s
            .app
            .json("POST", &hooks_path(&s), &s.manager, &hook(&url))
            .await;
        assert_eq!(created.status, 201, "{url}: {}", created.text);
    }

    let mut allowing = config();
    allowing.delivery.allow_self_targets = true;
    let s = setup(backend, allowing, &receiver.url).await;
    let own = format!("{}/data/v1/crjob", s.app.url);
    let created = s
        .app
        .json("POST", &hooks_path(&s), &s.manager, &hook(&own))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
}

async fn deliveries_carry_the_hop_marker_and_it_is_refused(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let s = setup(backend, config(), &receiver.url).await;
    assert_eq!(s.publish(&candidate_change("1")).await.status, 202);
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0].header("cx-delivery-hop"), "1");

    let with_hop = |method: reqwest::Method, path: &str, token: &str| {
        s.app
            .http
            .request(method, format!("{}{path}", s.app.url))
            .bearer_auth(token)
            .header("Cx-Delivery-Hop", "1")
            .header("content-type", "application/json")
    };
    for (method, path, token) in [
        (reqwest::Method::POST, "/webhooks/v1/changes", &s.publisher),
        (reqwest::Method::POST, "/data/v1/crjob", &s.manager),
        (reqwest::Method::PUT, "/data/v1/crjob/1", &s.manager),
        (reqwest::Method::PATCH, "/data/v1/crjob/1", &s.manager),
        (reqwest::Method::DELETE, "/data/v1/crjob/1", &s.manager),
    ] {
        let r = with_hop(method.clone(), path, token)
            .body(candidate_change("2").to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 508, "{method} {path}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["type"], "urn:cxhooks:problem:delivery-loop", "{body}");
        assert!(body["detail"].as_str().unwrap().contains("Cx-Delivery-Hop"));
    }
    // Nothing was published or written.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 1);
    let records = s.app.call("GET", "/data/v1/crjob", &s.manager, None).await;
    assert_eq!(records.body["items"], json!([]), "{}", records.text);
}

/// Issue 24's scenario, with the operator allowing it: a webhook at the record API with an
/// `Authorization` header. The delivery comes back in, is refused with 508, and one record
/// stays one record.
async fn a_webhook_at_the_service_itself_stops_at_the_first_hop(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let mut cfg = config();
    cfg.delivery.allow_self_targets = true;
    let s = setup(backend, cfg, &receiver.url).await;
    let looping = json!({"url": format!("{}/data/v1/crjob", s.app.url),
        "filters": [{"eventType": "crjob:created"}],
        "customHeaders": [{"name": "Authorization", "value": format!("Bearer {}", s.manager)}]});
    let created = s
        .app
        .json("POST", &hooks_path(&s), &s.manager, &looping)
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let looping_id = created.body["_id"].as_str().unwrap().to_owned();

    let record = s
        .app
        .json(
            "POST",
            "/data/v1/crjob",
            &s.manager,
            &json!({"name": "one"}),
        )
        .await;
    assert_eq!(record.status, 201, "{}", record.text);
    receiver.wait_for(1).await;
    let mut answered = None;
    for _ in 0..400 {
        let items = s.log("").await;
        if let Some(item) = items
            .iter()
            .find(|i| i["webhookId"] == looping_id && i["attemptCount"].as_u64() >= Some(1))
        {
            answered = Some(s.event(item["_id"].as_str().unwrap()).await);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let e = answered.expect("the looping webhook was never attempted");
    assert_eq!(e["attempts"][0]["statusCode"], 508, "{e}");
    assert!(
        e["attempts"][0]["responseBody"]
            .as_str()
            .unwrap()
            .contains("delivery-loop"),
        "{e}"
    );
    // Retries (config() retries within 1.2 s) are refused the same way.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let records = s.app.call("GET", "/data/v1/crjob", &s.manager, None).await;
    assert_eq!(
        records.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        records.text
    );
    assert_eq!(receiver.received().len(), 1);
}

async fn cx_and_webhook_header_names_are_reserved(backend: Backend) {
    let s = setup(backend, Config::default(), "https://hooks.example.com/in").await;
    let names = [
        "Cx-Foo",
        "webhook-id",
        "CX-DELIVERY-HOP",
        "Webhook-Signature",
        "X-Fine",
    ];
    let headers: Vec<Value> = names
        .iter()
        .map(|n| json!({"name": n, "value": "v"}))
        .collect();
    let body = json!({"url": "https://hooks.example.com/in",
        "filters": [{"eventType": "crjob:created"}], "customHeaders": headers});
    let one = format!("{}/{}", hooks_path(&s), s.hook_id);
    for a in [
        s.app.json("POST", &hooks_path(&s), &s.manager, &body).await,
        s.app
            .json(
                "PATCH",
                &one,
                &s.manager,
                &json!({"customHeaders": body["customHeaders"]}),
            )
            .await,
    ] {
        for i in 0..4 {
            assert_problem(&a, 400, &format!("/customHeaders/{i}/name"), "reserved");
        }
        assert_eq!(a.body["errors"].as_array().unwrap().len(), 4, "{}", a.text);
    }
}

cxhooks_store::both_backends!(
    special_purpose_targets_are_refused_on_every_write,
    names_are_checked_again_on_the_resolved_address,
    the_service_itself_is_refused_unless_allowed,
    deliveries_carry_the_hop_marker_and_it_is_refused,
    a_webhook_at_the_service_itself_stops_at_the_first_hop,
    cx_and_webhook_header_names_are_reserved,
);
