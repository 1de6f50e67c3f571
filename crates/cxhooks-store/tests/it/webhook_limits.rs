//! A webhook's limits and order (issue 25) are stored, read back by every read of webhooks, and
//! written with the configuration version's bump, so that every node reloads them.

use cxhooks_store::testing::Backend;
use cxhooks_store::*;

/// What this test is about: the webhook and its limits (audit times lose their nanoseconds).
fn limits(h: &Webhook) -> (WebhookId, Option<MaxInFlight>, Option<MaxPerSecond>, bool) {
    (h.id, h.max_in_flight, h.max_per_second, h.ordered)
}

async fn webhook_limits_round_trip_through_every_read(backend: Backend) {
    let (store, _location) = backend.store().await;
    let (acme, app, mut hook) = super::acme_app_and_webhook(&store).await;
    let read = async |store: &Store, hook: &Webhook| {
        let found = store.webhook(&acme.name, app.id, hook.id).await.unwrap();
        limits(&found.expect("stored"))
    };
    assert_eq!(
        read(&store, &hook).await,
        (hook.id, None, None, false),
        "the defaults"
    );

    // Created with each field: a second webhook of the same application.
    let limited = Webhook {
        id: WebhookId::new_v4(),
        max_in_flight: Some(MaxInFlight::new(1000).unwrap()),
        max_per_second: Some(MaxPerSecond::new(0.5).unwrap()),
        ordered: true,
        description: Some("Candidates to the HireData replica".into()),
        ..hook.clone()
    };
    assert!(store.create_webhook(&limited, 10).await.unwrap());
    let stored = store
        .webhook(&limited.tenant, limited.application_id, limited.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.description, limited.description,
        "the description is read back as written"
    );
    assert_eq!(read(&store, &limited).await, limits(&limited));
    let page = Page {
        limit: 10,
        ..Page::default()
    };
    let listed = store.webhooks(&acme.name, app.id, &page).await.unwrap();
    let listed: Vec<_> = listed.items.iter().map(limits).collect();
    assert!(listed.contains(&limits(&limited)), "the list reads them");
    let all: Vec<_> = store
        .all_webhooks()
        .await
        .unwrap()
        .iter()
        .map(limits)
        .collect();
    assert!(
        all.contains(&limits(&limited)),
        "the registry's load reads them"
    );

    // Updated: set on the first, with the configuration version moved by the write.
    let v0 = store.config_version().await.unwrap();
    hook.max_in_flight = Some(MaxInFlight::new(1).unwrap());
    hook.max_per_second = Some(MaxPerSecond::new(100_000.0).unwrap());
    hook.ordered = true;
    hook.description = Some("cxhooks-sync:r1:cremployee".into());
    assert!(store.update_webhook(&hook, false).await.unwrap());
    assert_eq!(store.config_version().await.unwrap(), v0 + 1);
    assert_eq!(read(&store, &hook).await, limits(&hook));
    let stored = store
        .webhook(&hook.tenant, hook.application_id, hook.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.description, hook.description, "an update sets it");

    // Reset to the defaults.
    hook.max_in_flight = None;
    hook.max_per_second = None;
    hook.ordered = false;
    assert!(store.update_webhook(&hook, true).await.unwrap());
    assert_eq!(store.config_version().await.unwrap(), v0 + 2);
    assert_eq!(read(&store, &hook).await, limits(&hook));
    assert_eq!(
        read(&store, &limited).await,
        limits(&limited),
        "the other webhook keeps its own"
    );
}

cxhooks_store::both_backends!(webhook_limits_round_trip_through_every_read);
