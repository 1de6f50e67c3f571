//! Nodes sharing one store agree on webhooks within a bounded time.

use crate::delivery::{PUBLISH, candidate_change, config};
use crate::harness::*;
use crate::receiver::TestReceiver;
use cxhooks_store::WebhookId;
use cxhooks_store::testing::Backend;
use serde_json::json;
use std::time::{Duration, Instant};

/// Two nodes on one store, a receiver, and tokens of tenant `acme`: a manager's and a
/// publisher's.
struct TwoNodes {
    receiver: TestReceiver,
    a: TestApp,
    b: TestApp,
    manager: String,
    publisher: String,
}

async fn two_nodes(backend: Backend) -> TwoNodes {
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
    TwoNodes {
        receiver,
        a,
        b,
        manager,
        publisher,
    }
}

async fn nodes_sharing_a_store_see_each_others_webhooks(backend: Backend) {
    let TwoNodes {
        receiver,
        a,
        b,
        manager,
        publisher,
    } = two_nodes(backend).await;

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

/// A webhook created on node B is used at once by B's publishes, while node A, which claims from
/// the same queue, has not polled the new configuration yet. A must not cancel what it claims
/// for a webhook it does not know: it asks the store first. (Before, A cancelled them, and
/// accepted changes were never delivered.)
async fn a_node_behind_on_configuration_cancels_nothing(backend: Backend) {
    let TwoNodes {
        receiver,
        a: _a,
        b,
        manager,
        publisher,
    } = two_nodes(backend).await;
    let app_id = b.application(&manager, "cluster").await;
    let hook = json!({"url": receiver.url, "filters": [{"eventType": "cremployee:updated"}]});
    let path = format!("/webhooks/v1/applications/{app_id}/webhooks");
    assert_eq!(b.json("POST", &path, &manager, &hook).await.status, 201);
    // Published on B at once: A learns of the webhook only at its next poll, up to a second on.
    let mut publishes = tokio::task::JoinSet::new();
    for i in 0..100 {
        let (http, url, publisher) = (b.http.clone(), b.url.clone(), publisher.clone());
        publishes.spawn(async move {
            http.post(format!("{url}/webhooks/v1/changes"))
                .bearer_auth(publisher)
                .json(&candidate_change(&i.to_string()))
                .send()
                .await
                .unwrap()
                .status()
        });
    }
    while let Some(status) = publishes.join_next().await {
        assert_eq!(status.unwrap(), 202);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while receiver.received().len() < 100 {
        assert!(
            Instant::now() < deadline,
            "{} of 100 changes delivered: the rest were dropped by a node behind on configuration",
            receiver.received().len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (up to 10 s) for node `b`'s registry to hold the webhook `id`, or not to.
async fn until_known(b: &TestApp, id: WebhookId, known: bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.state.delivery.registry.hook(id).is_some() != known {
        assert!(
            Instant::now() < deadline,
            "node B: webhook {id} known is not {known} after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A node reloads only the tenants the store names as changed: a webhook created for `beta`
/// on node A reaches node B while B's entry for `acme`'s webhook stays the very one it had
/// (a full reload would have made it anew), and deleting `beta` takes its webhooks off B and
/// leaves `acme` delivering.
async fn a_node_reloads_only_the_tenants_that_changed(backend: Backend) {
    let TwoNodes {
        receiver,
        a,
        b,
        manager,
        publisher,
    } = two_nodes(backend).await;
    let tenants_reloads = |node: &TestApp| {
        let scope = cxhooks_server::metrics::Scope { scope: "tenants" };
        node.state
            .metrics
            .config_reloads
            .get_or_create(&scope)
            .get()
    };
    let app_id = a.application(&manager, "cluster").await;
    let hook = json!({"url": receiver.url, "filters": [{"eventType": "cremployee:updated"}]});
    let path = format!("/webhooks/v1/applications/{app_id}/webhooks");
    let created = a.json("POST", &path, &manager, &hook).await;
    assert_eq!(created.status, 201, "{}", created.text);
    let acme_hook = WebhookId::parse(created.body["_id"].as_str().unwrap()).unwrap();
    until_known(&b, acme_hook, true).await;
    let acme_entry = b.state.delivery.registry.hook(acme_hook).unwrap();
    let reloads = tenants_reloads(&b);

    a.tenant("beta").await;
    let perms = "create=on,read=all,update=all,delete=all";
    let (_, beta_manager) = a.client_token("beta", ALL_SCOPES, perms).await;
    let beta_app = a.application(&beta_manager, "beta").await;
    let beta_hook = WebhookId::parse(&a.webhook(&beta_manager, &beta_app).await).unwrap();
    until_known(&b, beta_hook, true).await;
    assert!(tenants_reloads(&b) > reloads, "B reloaded by tenant");
    let same = b.state.delivery.registry.hook(acme_hook).unwrap();
    assert!(
        std::sync::Arc::ptr_eq(&acme_entry, &same),
        "acme's webhook was reloaded for a change of beta's"
    );

    let beta = cxhooks_store::TenantName::parse("beta").unwrap();
    assert!(a.store().delete_tenant(&beta).await.unwrap());
    until_known(&b, beta_hook, false).await;
    let same = b.state.delivery.registry.hook(acme_hook).unwrap();
    assert!(
        std::sync::Arc::ptr_eq(&acme_entry, &same),
        "acme reloaded for beta's deletion"
    );
    let published = b
        .json(
            "POST",
            "/webhooks/v1/changes",
            &publisher,
            &candidate_change("1"),
        )
        .await;
    assert_eq!(published.status, 202, "{}", published.text);
    let deadline = Instant::now() + Duration::from_secs(10);
    while receiver.received().is_empty() {
        assert!(Instant::now() < deadline, "acme's change was not delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

cxhooks_store::both_backends!(
    a_node_reloads_only_the_tenants_that_changed,
    nodes_sharing_a_store_see_each_others_webhooks,
    a_node_behind_on_configuration_cancels_nothing,
);
