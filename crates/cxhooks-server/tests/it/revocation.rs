//! A token outlives neither its client nor its tenant's webhooks feature: every bearer route
//! refuses it once the store says so, on every node, within about two seconds (measured here and
//! printed; the bound is the configuration-version poll, not asserted).

use crate::delivery::PUBLISH;
use crate::harness::*;
use cxhooks_server::identity::admin;
use cxhooks_store::TenantName;
use cxhooks_store::testing::Backend;
use serde_json::json;
use std::time::{Duration, Instant};

const RECORDS: &str = "urn:cx/cx5Wrapper:data:manage";

/// Calls `request` until it answers `status` (or panics after 10 s); how long that took.
async fn until_status<F, Fut>(what: &str, status: u16, mut request: F) -> (Answer, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Answer>,
{
    let started = Instant::now();
    loop {
        let a = request().await;
        if a.status == status {
            return (a, started.elapsed());
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{what}: still {} after 10 s: {}",
            a.status,
            a.text
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_deleted_clients_token_stops_working_everywhere(backend: Backend) {
    let _turn = crate::harness::FLAT_OUT.lock().await;
    let app = spawn_app(backend).await;
    app.tenant("acme").await;
    let scopes = format!("{PUBLISH} {RECORDS}");
    let (client, token) = app.client_token("acme", &scopes, "").await;
    let change = json!({"type": "crjob:created", "entityId": "1", "data": {}});
    let publish = || app.json("POST", "/webhooks/v1/changes", &token, &change);
    let userinfo = "/auth/realms/acme/protocol/openid-connect/userinfo";
    let job = json!({"name": "x"});
    let record = || app.json("POST", "/data/v1/crjob", &token, &job);
    assert_eq!(publish().await.status, 202);
    assert_eq!(app.call("GET", userinfo, &token, None).await.status, 200);
    let a = record().await;
    assert_eq!(a.status, 201, "{}", a.text);

    let tenant = TenantName::parse("acme").unwrap();
    admin::delete_client(app.store(), &tenant, &client.id)
        .await
        .unwrap();
    let (a, took) = until_status("publish", 401, publish).await;
    eprintln!("a deleted client's token was refused after {took:?}");
    assert!(a.text.contains("no longer exists"), "{}", a.text);
    let challenge = a.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("invalid_token"), "{challenge}");
    let a = app.call("GET", userinfo, &token, None).await;
    assert_eq!(a.status, 401, "userinfo: {}", a.text);
    let a = record().await;
    assert_eq!(a.status, 401, "records: {}", a.text);
}

async fn turning_the_feature_off_revokes_its_scopes(backend: Backend) {
    let _turn = crate::harness::FLAT_OUT.lock().await;
    let app = spawn_app(backend).await;
    app.tenant("acme").await;
    let scopes = format!("{ALL_SCOPES} {PUBLISH} {RECORDS}");
    let perms = "create=on,read=all,update=all,delete=all";
    let (_, token) = app.client_token("acme", &scopes, perms).await;
    let named = json!({"name": "after"});
    let create = || app.json("POST", "/webhooks/v1/applications", &token, &named);
    let change = json!({"type": "crjob:created", "entityId": "1", "data": {}});
    assert_eq!(create().await.status, 201);

    let tenant = TenantName::parse("acme").unwrap();
    admin::set_webhooks(app.store(), &tenant, false)
        .await
        .unwrap();
    let (a, took) = until_status("create", 403, create).await;
    eprintln!("turning the webhooks feature off took effect after {took:?}");
    assert_problem(
        &a,
        403,
        "",
        "webhooks feature of tenant 'acme' is turned off",
    );
    let a = app
        .json("POST", "/webhooks/v1/changes", &token, &change)
        .await;
    assert_problem(&a, 403, "", "turned off");
    // The record store is not a webhooks feature: it keeps working.
    let a = app
        .json("POST", "/data/v1/crjob", &token, &json!({"name": "x"}))
        .await;
    assert_eq!(a.status, 201, "{}", a.text);

    admin::set_webhooks(app.store(), &tenant, true)
        .await
        .unwrap();
    until_status("create again", 201, create).await;
}

/// The other node of a cluster learns of the revocation from the store alone.
async fn revocation_reaches_every_node(backend: Backend) {
    let _turn = crate::harness::FLAT_OUT.lock().await;
    let mut cfg = crate::delivery::config();
    cfg.server.public_url = Some("http://cxhooks.test".into());
    let a = spawn_app_with(backend, cfg.clone()).await;
    let b = spawn_node(a.state.store.clone(), a.state.master.clone(), cfg).await;
    a.tenant("acme").await;
    let (client, token) = a.client_token("acme", PUBLISH, "").await;
    let change = json!({"type": "crjob:created", "entityId": "1", "data": {}});
    for node in [&a, &b] {
        let answer = node
            .json("POST", "/webhooks/v1/changes", &token, &change)
            .await;
        assert_eq!(answer.status, 202, "{}", answer.text);
    }
    let tenant = TenantName::parse("acme").unwrap();
    admin::delete_client(a.store(), &tenant, &client.id)
        .await
        .unwrap();
    let (_, took) = until_status("node b", 401, || {
        b.json("POST", "/webhooks/v1/changes", &token, &change)
    })
    .await;
    eprintln!("the other node refused the deleted client's token after {took:?}");
}

cxhooks_store::both_backends!(
    a_deleted_clients_token_stops_working_everywhere,
    turning_the_feature_off_revokes_its_scopes,
    revocation_reaches_every_node,
);
