//! What the upgrade tests of both backends store with an older schema, and check once the store
//! has opened (and migrated) it: one change, two deliveries (one delivered after a 503 and a 200,
//! one pending), with text ids and a plain JSON payload, as older versions wrote them.

use crate::{Store, TenantName};

/// The migrations of `all` up to `version`: a store as that version left it.
pub(crate) fn up_to(mut all: sqlx::migrate::Migrator, version: i64) -> sqlx::migrate::Migrator {
    all.migrations = all
        .migrations
        .iter()
        .filter(|m| m.version <= version)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    all
}

/// The rows [`store_old_rows!`] wrote.
pub(crate) struct OldRows {
    pub(crate) app: uuid::Uuid,
    pub(crate) hook: uuid::Uuid,
    pub(crate) change: uuid::Uuid,
    pub(crate) ids: [uuid::Uuid; 2],
    pub(crate) payload: String,
}

impl OldRows {
    pub(crate) fn new() -> Self {
        let ids = [uuid::Uuid::now_v7(), uuid::Uuid::now_v7()];
        OldRows {
            app: uuid::Uuid::new_v4(),
            hook: uuid::Uuid::new_v4(),
            change: uuid::Uuid::now_v7(),
            payload: format!(r#"{{"id":"{}","type":"cremployee:updated"}}"#, ids[0]),
            ids,
        }
    }

    /// Every change, delivery and attempt reads back as it was written.
    pub(crate) async fn check(&self, store: &Store) {
        let tenant = TenantName::parse("acme").unwrap();
        let first = store
            .delivery(&tenant, self.app.into(), self.ids[0].into())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            first.payload,
            self.payload.as_bytes(),
            "plain payloads read as they were"
        );
        assert_eq!(first.status, crate::DeliveryStatus::Delivered);
        assert_eq!(first.webhook_id, self.hook.into());
        assert_eq!(first.change_id, Some(self.change.into()));
        let attempts = store.attempts(self.ids[0].into()).await.unwrap();
        assert_eq!(
            attempts
                .iter()
                .map(|a| (a.n, a.status_code))
                .collect::<Vec<_>>(),
            [(1, Some(503)), (2, Some(200))]
        );
        let second = store
            .delivery(&tenant, self.app.into(), self.ids[1].into())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(second.status, crate::DeliveryStatus::Pending);
        assert_eq!(
            store.queue_stats().await.unwrap().0,
            1,
            "the pending one is still due"
        );
        let changes: i64 = crate::on_pool!(store, |pool| sqlx::query_scalar(
            "SELECT COUNT(*) FROM changes"
        )
        .fetch_one(pool)
        .await)
        .unwrap();
        assert_eq!(changes, 1);
    }
}

/// Writes [`OldRows`] (`$rows`) into `$pool`, migrated to an older version, for tenant `acme`
/// (created with `webhooks_enabled` = `$enabled`, spelled as the backend spells true).
macro_rules! store_old_rows {
    ($pool:expr, $rows:expr, $enabled:literal) => {{
        let (pool, rows) = ($pool, $rows);
        sqlx::query(concat!(
            "INSERT INTO tenants (name, webhooks_enabled, created_at) VALUES ('acme', ",
            $enabled,
            ", 1)"
        ))
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO changes (id, tenant, type, entity_id, accepted_at) \
             VALUES ($1, 'acme', 'cremployee:updated', '7', 1)",
        )
        .bind(rows.change.to_string())
        .execute(pool)
        .await
        .unwrap();
        for (id, status) in rows.ids.iter().zip(["delivered", "pending"]) {
            sqlx::query(
                "INSERT INTO deliveries (id, tenant, application_id, webhook_id, change_id, type, \
                 payload, status, attempts, series_attempts, next_attempt_at, created_at, updated_at) \
                 VALUES ($1, 'acme', $2, $3, $4, 'cremployee:updated', $5, $6, 2, 2, 5, 3, 4)",
            )
            .bind(id.to_string())
            .bind(rows.app.to_string())
            .bind(rows.hook.to_string())
            .bind(rows.change.to_string())
            .bind(rows.payload.as_bytes())
            .bind(status)
            .execute(pool)
            .await
            .unwrap();
        }
        for n in [1_i64, 2] {
            sqlx::query(
                "INSERT INTO attempts (delivery_id, n, at, duration_us, status_code, error, response_body) \
                 VALUES ($1, $2, 3, 10, $3, NULL, 'ok')",
            )
            .bind(rows.ids[0].to_string())
            .bind(n)
            .bind(if n == 1 { 503_i64 } else { 200 })
            .execute(pool)
            .await
            .unwrap();
        }
    }};
}
pub(crate) use store_old_rows;

/// The store the previous release leaves (every migration up to its last), with work pending,
/// opens with the current one: every pending delivery is claimed and delivered. When a release
/// adds a migration, the previous release's last one moves up here.
#[cfg(test)]
mod previous_release {
    use crate::testing::Backend;
    use crate::{
        AttemptRecord, DeliveryOutcome, DeliveryStatus, NewChange, NewDelivery, Next, Pool, Store,
        TenantName,
    };

    /// The releases upgraded from, as (SQLite, PostgreSQL) migration versions: issue 25's
    /// fair claims, its per-webhook limits, its delivery log, and its record of configuration
    /// changes (the release before Standard Webhooks' columns).
    const RELEASES: [(i64, i64); 8] = [
        (11, 12),
        (13, 14),
        (14, 15),
        (15, 16),
        (17, 18),
        (20, 21),
        (23, 24),
        (25, 26),
    ];

    async fn upgrading_from_the_previous_release_delivers_everything_pending(backend: Backend) {
        for release in RELEASES {
            upgrading_from(backend, release).await;
        }
    }

    async fn upgrading_from(backend: Backend, release: (i64, i64)) {
        let loc = backend.location();
        let store = Store::connect(&loc.location).await.unwrap();
        let (all, last) = match backend {
            Backend::Sqlite => (sqlx::migrate!("./migrations/sqlite"), release.0),
            Backend::Postgres => (sqlx::migrate!("./migrations/postgres"), release.1),
        };
        let before = super::up_to(all, last);
        let (app, hook) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        match &store.writer {
            Pool::Sqlite(pool) => before.run(pool).await,
            Pool::Postgres(pool) => before.run(pool).await,
        }
        .unwrap();
        crate::on_pool!(store, |pool| {
            sqlx::query(
                "INSERT INTO tenants (name, webhooks_enabled, created_at) VALUES ('acme', TRUE, 1)",
            )
            .execute(pool)
            .await
            .unwrap();
            // An Idempotency-Key as the previous release kept it: its client's, with the hash.
            sqlx::query("INSERT INTO idempotency (tenant, client_id, key, request_hash, answer, created_at) \
                         VALUES ('acme', 'c1', 'k', 'h', '{}', 1)")
                .execute(pool)
                .await
                .unwrap();
            // A webhook as the previous release stored it: no limits, no order.
            sqlx::query(
                "INSERT INTO applications (id, tenant, name, key_bits, sealed_private_key, \
                 public_key, created_at, created_by, updated_at, updated_by) \
                 VALUES ($1, 'acme', 'a', 2048, $2, $2, 1, 'c1', 1, 'c1')",
            )
            .bind(app.to_string())
            .bind(vec![1_u8])
            .execute(pool)
            .await
            .unwrap();
            sqlx::query(
                "INSERT INTO webhooks (id, tenant, application_id, url, filters, \
                 sealed_custom_headers, status, created_at, created_by, updated_at, updated_by) \
                 VALUES ($1, 'acme', $2, 'https://e.example/', '[]', $3, 'enabled', 1, 'c1', 1, 'c1')",
            )
            .bind(hook.to_string())
            .bind(app.to_string())
            .bind(vec![1_u8])
            .execute(pool)
            .await
            .unwrap();
        });
        let tenant = TenantName::parse("acme").unwrap();
        let change = NewChange {
            id: uuid::Uuid::now_v7().into(),
            event_type: "crjob:created".into(),
            entity_id: "7".into(),
            accepted_at: 1,
            body: Vec::new(),
        };
        let deliveries: Vec<NewDelivery> = (0..3)
            .map(|n| NewDelivery {
                id: uuid::Uuid::now_v7().into(),
                application_id: uuid::Uuid::new_v4().into(),
                webhook_id: uuid::Uuid::new_v4().into(),
                client_id: "c1".into(),
                change_id: Some(change.id),
                event_type: "crjob:created".into(),
                payload: format!("{{\"n\":{n}}}").into_bytes(),
                created_at: 1,
                entity_key: None,
                held: false,
            })
            .collect();
        // Written as the previous release wrote them: its columns, statement by statement.
        crate::on_pool!(store, |pool| {
            sqlx::query("INSERT INTO changes (id, tenant, type, entity_id, accepted_at) VALUES ($1, 'acme', $2, $3, 1)")
                .bind(crate::id::Id::from(change.id.uuid()))
                .bind(&change.event_type)
                .bind(&change.entity_id)
                .execute(pool)
                .await
                .unwrap();
            for d in &deliveries {
                sqlx::query(
                    "INSERT INTO deliveries (id, tenant, application_id, webhook_id, change_id, type, payload, \
                     signature, status, attempts, series_attempts, series_started, next_attempt_at, \
                     lease_until, lease_owner, created_at, updated_at) \
                     VALUES ($1, 'acme', $2, $3, $4, $5, $6, NULL, 'pending', 0, 0, NULL, 1, NULL, NULL, 1, 1)",
                )
                .bind(crate::id::Id::from(d.id))
                .bind(crate::id::Id::from(d.application_id))
                .bind(crate::id::Id::from(d.webhook_id))
                .bind(crate::id::Id::from(change.id))
                .bind(&d.event_type)
                .bind(crate::pack::pack(&d.payload))
                .execute(pool)
                .await
                .unwrap();
            }
        });
        store.migrate().await.unwrap();
        let old_hook = store
            .webhook(&tenant, app.into(), hook.into())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (
                old_hook.max_in_flight,
                old_hook.max_per_second,
                old_hook.ordered
            ),
            (None, None, false),
            "an older webhook has the defaults: the configured concurrency, no rate, no order"
        );
        assert_eq!(
            old_hook.description, None,
            "an older webhook has no description"
        );
        let old_app = store
            .application(&tenant, app.into())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (old_app.signature_scheme, old_app.sealed_standard_secret),
            (crate::SignatureScheme::Cx, None),
            "an older application signs as it did: Cx-Signature only"
        );
        assert_eq!(store.pending_count().await.unwrap(), 3);
        let claimed = store
            .claim_due("n", 2, 1_000, 10, &[], false)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 3, "every pending delivery is claimed");
        let outcomes: Vec<DeliveryOutcome> = claimed
            .iter()
            .map(|c| DeliveryOutcome {
                delivery_id: c.id,
                webhook_id: c.webhook_id,
                node: "n".into(),
                attempt: Some(AttemptRecord {
                    n: 1,
                    at: 3,
                    duration_us: 10,
                    status_code: Some(200),
                    error: None,
                    response_body: String::new(),
                }),
                signature: None,
                next: Next::Delivered,
                series_started: 3,
            })
            .collect();
        store
            .complete(&outcomes, 4, i64::MAX, i64::MAX)
            .await
            .unwrap();
        for d in &deliveries {
            let stored = store
                .delivery(&tenant, d.application_id, d.id)
                .await
                .unwrap();
            assert_eq!(stored.unwrap().status, DeliveryStatus::Delivered);
        }
        if backend == Backend::Postgres {
            // Delivered after the upgrade: moved to the log, the queue left empty.
            let queued = crate::testing::count(&store, "SELECT COUNT(*) FROM deliveries").await;
            assert_eq!(queued, 0);
        }

        // The stored key still replays its answer to its client, and only to it.
        let found = store.idempotent_answer(&tenant, "c1", "k").await.unwrap();
        assert_eq!(found, Some(("h".into(), "{}".into())));
        let found = store.idempotent_answer(&tenant, "c2", "k").await.unwrap();
        assert_eq!(found, None);
        store.close().await;
    }

    crate::both_backends!(upgrading_from_the_previous_release_delivers_everything_pending);
}
