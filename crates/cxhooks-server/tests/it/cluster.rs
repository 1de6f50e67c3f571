//! Nodes sharing one store agree on webhooks within a bounded time.

use crate::delivery::{PUBLISH, candidate_change, config};
use crate::harness::*;
use crate::receiver::TestReceiver;
use cxhooks_store::testing::Backend;
use serde_json::json;
use std::time::{Duration, Instant};

async fn nodes_sharing_a_store_see_each_others_webhooks(backend: Backend) {
    let receiver = TestReceiver::ok().await;
    let mut cfg = config();
    // Every node of a cluster serves one public URL: tokens name it as their issuer.
    cfg.server.public_url = Some("http://cxhooks.test".into());
    let a = spawn_app_with(backend, cfg.clone()).await;
    let b = spawn_node(a.state.store.clone(), a.state.master.clone(), cfg).await;
    a.tenant("acme").await;
    let (_, manager) = a
        .client_token(
            "acme",
            ALL_SCOPES,
            "create=on,read=all,update=all,delete=all",
        )
        .await;
    let (_, publisher) = a.client_token("acme", PUBLISH, "").await;

    // A webhook created on node A …
    let app_id = a.application(&manager, "cluster").await;
    let hook = json!({"url": receiver.url, "filters": [{"eventType": "cremployee:updated"}]});
    let created = a
        .json(
            "POST",
            &format!("/webhooks/v1/applications/{app_id}/webhooks"),
            &manager,
            &hook,
        )
        .await;
    assert_eq!(created.status, 201);
    let hook_path = format!(
        "/webhooks/v1/applications/{app_id}/webhooks/{}",
        created.body["_id"].as_str().unwrap()
    );

    // … receives the changes published on node B within the poll bound.
    let deadline = Instant::now() + Duration::from_secs(10);
    while receiver.received().is_empty() {
        assert!(
            Instant::now() < deadline,
            "node B never matched the webhook created on node A"
        );
        assert_eq!(
            b.json(
                "POST",
                "/webhooks/v1/changes",
                &publisher,
                &candidate_change("1")
            )
            .await
            .status,
            202
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Disabled on A: B stops matching it after the bound.
    assert_eq!(
        a.call("POST", &format!("{hook_path}/disable"), &manager, None)
            .await
            .status,
        200
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let before = receiver.received().len();
    assert_eq!(
        b.json(
            "POST",
            "/webhooks/v1/changes",
            &publisher,
            &candidate_change("2")
        )
        .await
        .status,
        202
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        receiver.received().len(),
        before,
        "node B still delivers to a webhook disabled on node A"
    );
}

cxhooks_store::both_backends!(nodes_sharing_a_store_see_each_others_webhooks);
