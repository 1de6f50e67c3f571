//! Every move of the configuration version records the tenant it was for, in the move's
//! transaction, so that nodes reload only those tenants; a reader behind what is kept is told
//! to reload everything.

use cxhooks_store::testing::Backend;
use cxhooks_store::*;

fn names(tenants: Option<Vec<TenantName>>) -> Option<Vec<String>> {
    tenants.map(|t| t.iter().map(ToString::to_string).collect())
}

async fn configuration_moves_name_their_tenant(backend: Backend) {
    let (store, _location) = backend.store().await;
    let v0 = store.config_version().await.unwrap();
    let (acme, mut app, hook) = super::acme_app_and_webhook(&store).await;
    let (beta, key) = super::tenant("beta");
    store.create_tenant(&beta, &key).await.unwrap();
    let beta_hook = Webhook {
        tenant: beta.name.clone(),
        id: WebhookId::new_v4(),
        ..hook.clone()
    };
    assert!(store.create_webhook(&beta_hook, 10).await.unwrap());
    app.name = "renamed".into();
    assert!(store.update_application(&app).await.unwrap());
    let v3 = store.config_version().await.unwrap();
    assert_eq!(v3, v0 + 3);
    let changes = |since, upto| {
        let store = store.clone();
        async move { names(store.config_changes(since, upto).await.unwrap()) }
    };
    // Each tenant once, in the order of its first move.
    assert_eq!(changes(v0, v3).await.unwrap(), ["acme", "beta"]);
    assert_eq!(changes(v0 + 1, v3).await.unwrap(), ["beta", "acme"]);
    assert_eq!(changes(v0 + 2, v3).await.unwrap(), ["acme"]);
    assert_eq!(changes(v3, v3).await.unwrap(), Vec::<String>::new());
    // Only up to the version read: a move after it is the next poll's.
    assert_eq!(changes(v0, v0 + 1).await.unwrap(), ["acme"]);

    // The identity writes name theirs too.
    assert!(store.set_tenant_webhooks(&beta.name, false).await.unwrap());
    store
        .create_client(&super::client(&acme.name, "c9"))
        .await
        .unwrap();
    assert!(store.delete_client(&acme.name, "c9").await.unwrap());
    assert!(store.delete_tenant(&beta.name).await.unwrap());
    let v6 = store.config_version().await.unwrap();
    assert_eq!(v6, v3 + 3, "a client created moves nothing");
    assert_eq!(changes(v3, v6).await.unwrap(), ["beta", "acme"]);
    assert_eq!(changes(v6 - 1, v6).await.unwrap(), ["beta"], "the deletion");

    // A tenant's webhooks, for its reload: the deleted tenant has none left.
    let both = [acme.name.clone(), beta.name.clone()];
    let found = store.tenants_webhooks(&both).await.unwrap();
    assert_eq!(found.iter().map(|h| h.id).collect::<Vec<_>>(), [hook.id]);

    // Behind what is kept: no answer, so the reader reloads everything.
    let pruned = store.prune_config_changes(2).await.unwrap();
    assert_eq!(i64::try_from(pruned).unwrap(), v6 - v0 - 2);
    assert_eq!(changes(v0, v6).await, None, "pruned");
    assert_eq!(changes(v6 - 3, v6).await, None, "one pruned");
    assert_eq!(changes(v6 - 2, v6).await.unwrap(), ["acme", "beta"]);
}

/// A store upgraded from before the record: the moves made then are not on it.
async fn moves_from_before_the_record_ask_for_everything(backend: Backend) {
    let (store, _location) = backend.store().await;
    let (_acme, _app, hook) = super::acme_app_and_webhook(&store).await;
    let v = store.config_version().await.unwrap();
    store.prune_config_changes(0).await.unwrap();
    assert!(store.update_webhook(&hook, false).await.unwrap());
    assert_eq!(store.config_changes(v - 1, v + 1).await.unwrap(), None);
    assert_eq!(
        names(store.config_changes(v, v + 1).await.unwrap()).unwrap(),
        ["acme"]
    );
}

cxhooks_store::both_backends!(
    configuration_moves_name_their_tenant,
    moves_from_before_the_record_ask_for_everything,
);
