//! The store suite, run against both backends.

use chrono::{TimeZone, Utc};
use cxhooks_store::testing::Backend;
use cxhooks_store::*;

fn tenant(name: &str) -> (Tenant, RealmKey) {
    let name = TenantName::parse(name).unwrap();
    let at = Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap();
    let key = RealmKey {
        kid: uuid::Uuid::new_v4().to_string(),
        tenant: name.clone(),
        sealed_private_key: vec![1, 2, 3],
        public_key: vec![4, 5, 6],
        created_at: at,
    };
    (
        Tenant {
            name,
            webhooks_enabled: true,
            created_at: at,
        },
        key,
    )
}

fn client(tenant: &TenantName, id: &str) -> Client {
    let at = Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap();
    Client {
        tenant: tenant.clone(),
        client_id: id.into(),
        name: "HireData".into(),
        code: ClientCode::parse("urn:hiredata/hiredata").unwrap(),
        secret_hash: vec![9; 32],
        default_scopes: ScopeSet::parse("urn:cx/webhooks:data:manage urn:cx/cx5Acl:data:manage")
            .unwrap(),
        permissions: Permissions::parse("create=on,read=all,update=owner,delete=owner").unwrap(),
        created_at: at,
        updated_at: at,
    }
}

async fn tenants_round_trip(backend: Backend) {
    let (store, _loc) = backend.store().await;
    let (acme, key) = tenant("acme");
    store.create_tenant(&acme, &key).await.unwrap();
    assert_eq!(store.tenant(&acme.name).await.unwrap(), Some(acme.clone()));
    assert_eq!(
        store.realm_keys(&acme.name).await.unwrap(),
        vec![key.clone()]
    );
    assert_eq!(
        store.realm_key_by_kid(&key.kid).await.unwrap(),
        Some(key.clone())
    );

    let (dup, dup_key) = tenant("acme");
    match store.create_tenant(&dup, &dup_key).await {
        Err(StoreError::Conflict(what)) => assert_eq!(what, "tenant 'acme'"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    // The failed create left no orphan key behind.
    assert_eq!(store.realm_key_by_kid(&dup_key.kid).await.unwrap(), None);

    let (beta, beta_key) = tenant("beta");
    store.create_tenant(&beta, &beta_key).await.unwrap();
    let names: Vec<_> = store
        .tenants()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(names, ["acme", "beta"]);

    assert!(store.set_tenant_webhooks(&acme.name, false).await.unwrap());
    assert!(
        !store
            .tenant(&acme.name)
            .await
            .unwrap()
            .unwrap()
            .webhooks_enabled
    );
    let nope = TenantName::parse("nope").unwrap();
    assert!(!store.set_tenant_webhooks(&nope, false).await.unwrap());
    assert_eq!(store.tenant(&nope).await.unwrap(), None);
}

async fn clients_are_partitioned_by_tenant(backend: Backend) {
    let (store, _loc) = backend.store().await;
    let (acme, key) = tenant("acme");
    let (beta, beta_key) = tenant("beta");
    store.create_tenant(&acme, &key).await.unwrap();
    store.create_tenant(&beta, &beta_key).await.unwrap();

    let c = client(&acme.name, "c1");
    store.create_client(&c).await.unwrap();
    assert_eq!(
        store.client(&acme.name, "c1").await.unwrap(),
        Some(c.clone())
    );
    // The same id under another tenant is not visible.
    assert_eq!(store.client(&beta.name, "c1").await.unwrap(), None);
    assert!(store.clients(&beta.name).await.unwrap().is_empty());
    assert!(matches!(
        store.create_client(&c).await,
        Err(StoreError::Conflict(_))
    ));

    let mut changed = c.clone();
    changed.permissions = Permissions::parse("read=owner").unwrap();
    changed.secret_hash = vec![7; 32];
    assert!(store.update_client(&changed).await.unwrap());
    assert_eq!(store.client(&acme.name, "c1").await.unwrap(), Some(changed));
    assert!(
        !store
            .update_client(&client(&beta.name, "c1"))
            .await
            .unwrap()
    );

    assert!(!store.delete_client(&beta.name, "c1").await.unwrap());
    assert!(store.delete_client(&acme.name, "c1").await.unwrap());
    assert_eq!(store.client(&acme.name, "c1").await.unwrap(), None);
}

async fn deleting_a_tenant_deletes_what_it_owns(backend: Backend) {
    let (store, _loc) = backend.store().await;
    let (acme, key) = tenant("acme");
    store.create_tenant(&acme, &key).await.unwrap();
    store
        .create_client(&client(&acme.name, "c1"))
        .await
        .unwrap();
    assert!(store.delete_tenant(&acme.name).await.unwrap());
    assert_eq!(store.client(&acme.name, "c1").await.unwrap(), None);
    assert_eq!(store.realm_key_by_kid(&key.kid).await.unwrap(), None);
    assert!(!store.delete_tenant(&acme.name).await.unwrap());
}

async fn master_key_fingerprint_is_recorded_then_checked(backend: Backend) {
    let (store, _loc) = backend.store().await;
    assert_eq!(
        store.check_master_key(&[1; 32]).await.unwrap(),
        MasterKeyCheck::Matches
    );
    assert_eq!(
        store.check_master_key(&[1; 32]).await.unwrap(),
        MasterKeyCheck::Matches
    );
    assert_eq!(
        store.check_master_key(&[2; 32]).await.unwrap(),
        MasterKeyCheck::Mismatch
    );
}

async fn reopening_keeps_data_and_migrations_are_idempotent(backend: Backend) {
    let loc = backend.location();
    let store = Store::open(&loc.location).await.unwrap();
    let (acme, key) = tenant("acme");
    store.create_tenant(&acme, &key).await.unwrap();
    store.close().await;
    let again = Store::open(&loc.location).await.unwrap();
    again.migrate().await.unwrap();
    assert_eq!(again.tenant(&acme.name).await.unwrap(), Some(acme));
}

cxhooks_store::both_backends!(
    tenants_round_trip,
    clients_are_partitioned_by_tenant,
    deleting_a_tenant_deletes_what_it_owns,
    master_key_fingerprint_is_recorded_then_checked,
    reopening_keeps_data_and_migrations_are_idempotent,
);
