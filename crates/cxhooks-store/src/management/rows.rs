//! How applications and webhooks are stored: their rows, columns and conversions.

use super::{
    Application, Audit, MaxInFlight, MaxPerSecond, SignatureScheme, Webhook, WebhookStatus,
};
use crate::id::Id;
use crate::model::*;
use crate::{ApplicationId, Store, StoreError, WebhookId, on_pool};

#[derive(sqlx::FromRow)]
pub(super) struct ApplicationRow {
    id: String,
    tenant: String,
    name: String,
    key_bits: i64,
    sealed_private_key: Vec<u8>,
    public_key: Vec<u8>,
    signature_scheme: String,
    sealed_standard_secret: Option<Vec<u8>>,
    public_jwks: bool,
    created_at: i64,
    created_by: String,
    updated_at: i64,
    updated_by: String,
}

fn parse_id<T: From<uuid::Uuid>>(id: &str) -> Result<T, StoreError> {
    uuid::Uuid::parse_str(id)
        .map(T::from)
        .map_err(|e| StoreError::Corrupt(format!("bad id '{id}': {e}")))
}

fn audit(created_at: i64, created_by: String, updated_at: i64, updated_by: String) -> Audit {
    Audit {
        created_at: from_micros(created_at),
        created_by,
        updated_at: from_micros(updated_at),
        updated_by,
    }
}

impl TryFrom<ApplicationRow> for Application {
    type Error = StoreError;
    fn try_from(r: ApplicationRow) -> Result<Self, StoreError> {
        Ok(Application {
            tenant: TenantName::parse(&r.tenant)?,
            id: parse_id(&r.id)?,
            name: r.name,
            key_bits: u32::try_from(r.key_bits)
                .map_err(|_| StoreError::Corrupt("key_bits".into()))?,
            sealed_private_key: r.sealed_private_key,
            public_key: r.public_key,
            signature_scheme: SignatureScheme::parse(&r.signature_scheme).ok_or_else(|| {
                StoreError::Corrupt(format!("unknown signature scheme '{}'", r.signature_scheme))
            })?,
            sealed_standard_secret: r.sealed_standard_secret,
            public_jwks: r.public_jwks,
            audit: audit(r.created_at, r.created_by, r.updated_at, r.updated_by),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct WebhookRow {
    id: String,
    tenant: String,
    application_id: String,
    url: String,
    description: Option<String>,
    filters: String,
    sealed_custom_headers: Vec<u8>,
    sealed_auth: Option<Vec<u8>>,
    status: String,
    max_in_flight: Option<i32>,
    max_per_second: Option<f64>,
    ordered: bool,
    created_at: i64,
    created_by: String,
    updated_at: i64,
    updated_by: String,
}

/// A webhook's limits as columns (`max_in_flight`, `max_per_second`, `ordered`).
pub(super) fn limit_columns(hook: &Webhook) -> (Option<i32>, Option<f64>, bool) {
    (
        hook.max_in_flight
            .map(|m| i32::try_from(m.get()).expect("at most MaxInFlight::MAX")),
        hook.max_per_second.map(MaxPerSecond::get),
        hook.ordered,
    )
}

impl TryFrom<WebhookRow> for Webhook {
    type Error = StoreError;
    fn try_from(r: WebhookRow) -> Result<Self, StoreError> {
        Ok(Webhook {
            tenant: TenantName::parse(&r.tenant)?,
            id: parse_id(&r.id)?,
            application_id: parse_id(&r.application_id)?,
            url: r.url,
            description: r.description,
            filters: serde_json::from_str(&r.filters)
                .map_err(|e| StoreError::Corrupt(format!("filters: {e}")))?,
            sealed_custom_headers: r.sealed_custom_headers,
            sealed_auth: r.sealed_auth,
            status: WebhookStatus::parse(&r.status)?,
            max_in_flight: r
                .max_in_flight
                .map(|n| {
                    u32::try_from(n)
                        .map_err(|_| StoreError::Corrupt(format!("max_in_flight {n}")))
                        .and_then(|n| Ok(MaxInFlight::new(n)?))
                })
                .transpose()?,
            max_per_second: r.max_per_second.map(MaxPerSecond::new).transpose()?,
            ordered: r.ordered,
            audit: audit(r.created_at, r.created_by, r.updated_at, r.updated_by),
        })
    }
}

macro_rules! application_columns {
    () => {
        "id, tenant, name, key_bits, sealed_private_key, public_key, signature_scheme, \
         sealed_standard_secret, public_jwks, created_at, created_by, updated_at, updated_by"
    };
}
macro_rules! webhook_columns {
    () => {
        "id, tenant, application_id, url, filters, sealed_custom_headers, status, max_in_flight, \
         max_per_second, ordered, created_at, created_by, updated_at, updated_by, description, \
         sealed_auth"
    };
}

pub(super) fn collect<R, T: TryFrom<R, Error = StoreError>>(
    rows: Vec<R>,
) -> Result<Vec<T>, StoreError> {
    rows.into_iter().map(T::try_from).collect()
}

/// Every node reloads its webhook registry when this version moves.
pub(crate) const BUMP_CONFIG: &str = "UPDATE config_version SET version = version + 1 WHERE id = 1";
/// Which tenant the move was for: nodes reload only the tenants named since the version they
/// saw ([`Store::config_changes`](crate::Store::config_changes)). Binds the tenant.
pub(crate) const LOG_CONFIG: &str = "INSERT INTO config_changes (version, tenant) SELECT version, $1 FROM config_version WHERE id = 1";

/// Moves the configuration version for the tenant `$tenant` (a `&str`), in the transaction `$tx`.
macro_rules! bump_config {
    ($tx:expr, $tenant:expr) => {{
        sqlx::query($crate::management::BUMP_CONFIG)
            .execute(&mut *$tx)
            .await?;
        sqlx::query($crate::management::LOG_CONFIG)
            .bind($tenant)
            .execute(&mut *$tx)
            .await?;
    }};
}
pub(super) use application_columns;
pub(crate) use bump_config;
pub(super) use webhook_columns;

/// What a delete removes, with the deliveries still to be sent for it.
pub(super) enum Doomed {
    /// An application, its webhooks with it.
    Application(ApplicationId),
    /// One webhook of an application.
    Webhook(ApplicationId, WebhookId),
}

impl Store {
    /// Cancels the pending deliveries of `doomed` (at `now`), deletes it and bumps the
    /// configuration version, in one transaction; false if it did not exist.
    pub(super) async fn delete_cancelling(
        &self,
        tenant: &TenantName,
        doomed: Doomed,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (cancel, delete, app, hook) = match doomed {
            Doomed::Application(app) => (
                "UPDATE deliveries SET status = 'cancelled', updated_at = $3 WHERE tenant = $1 \
                 AND application_id = $2 AND status IN ('pending', 'retrying', 'held') RETURNING id",
                "DELETE FROM applications WHERE tenant = $1 AND id = $2",
                app,
                None,
            ),
            Doomed::Webhook(app, hook) => (
                "UPDATE deliveries SET status = 'cancelled', updated_at = $3 WHERE tenant = $1 \
                 AND webhook_id = $2 AND status IN ('pending', 'retrying', 'held') RETURNING id",
                "DELETE FROM webhooks WHERE tenant = $1 AND application_id = $2 AND id = $3",
                app,
                Some(hook),
            ),
        };
        let cancelled: uuid::Uuid = hook.map_or(app.uuid(), WebhookId::uuid);
        on_pool!(self, |pool| {
            let mut tx = crate::BeginWrite::begin_write(pool).await?;
            let cancelled: Vec<crate::id::IdText> = sqlx::query_scalar(cancel)
                .bind(tenant.as_str())
                .bind(Id::from(cancelled))
                .bind(now)
                .fetch_all(&mut *tx)
                .await?;
            crate::delivery::log_parts::move_finished!(
                self,
                tx,
                cancelled
                    .into_iter()
                    .filter_map(|id| crate::DeliveryId::try_from(id).ok()),
                now
            );
            let mut deleting = sqlx::query(delete)
                .bind(tenant.as_str())
                .bind(app.to_string());
            if let Some(hook) = hook {
                deleting = deleting.bind(hook.to_string());
                // A pull webhook's feed position goes with it.
                sqlx::query("DELETE FROM feeds WHERE webhook_id = $1")
                    .bind(Id::from(hook.uuid()))
                    .execute(&mut *tx)
                    .await?;
            }
            let n = deleting.execute(&mut *tx).await?.rows_affected();
            if n == 1 {
                bump_config!(tx, tenant.as_str());
            }
            tx.commit().await?;
            Ok::<_, StoreError>(n == 1)
        })
    }
}
