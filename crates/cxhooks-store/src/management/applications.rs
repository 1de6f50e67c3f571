//! Applications: create, read, rename, re-key or change signature scheme, delete.

use super::rows::{ApplicationRow, Doomed, application_columns, bump_config, collect};
use super::{Application, Page, Paged};
use crate::error::conflict;
use crate::model::*;
use crate::{ApplicationId, Store, StoreError, on_pool};

impl Store {
    /// Creates an application.
    pub async fn create_application(&self, app: &Application) -> Result<(), StoreError> {
        let sql = concat!(
            "INSERT INTO applications (",
            application_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        );
        on_pool!(self, |pool| sqlx::query(sql)
            .bind(app.id.to_string())
            .bind(app.tenant.as_str())
            .bind(&app.name)
            .bind(i64::from(app.key_bits))
            .bind(&app.sealed_private_key)
            .bind(&app.public_key)
            .bind(app.signature_scheme.as_str())
            .bind(&app.sealed_standard_secret)
            .bind(app.public_jwks)
            .bind(to_micros(app.audit.created_at))
            .bind(&app.audit.created_by)
            .bind(to_micros(app.audit.updated_at))
            .bind(&app.audit.updated_by)
            .execute(pool)
            .await
            .map(|_| ()))
        .map_err(conflict(format!("application {}", app.id)))
    }

    /// One application of a tenant.
    pub async fn application(
        &self,
        tenant: &TenantName,
        id: ApplicationId,
    ) -> Result<Option<Application>, StoreError> {
        let sql = concat!(
            "SELECT ",
            application_columns!(),
            " FROM applications WHERE tenant = $1 AND id = $2"
        );
        let row: Option<ApplicationRow> = on_pool!(self, |pool| sqlx::query_as(sql)
            .bind(tenant.as_str())
            .bind(id.to_string())
            .fetch_optional(pool)
            .await)?;
        row.map(Application::try_from).transpose()
    }

    /// A page of a tenant's applications, in creation order.
    pub async fn applications(
        &self,
        tenant: &TenantName,
        page: &Page,
    ) -> Result<Paged<Application>, StoreError> {
        let sql = concat!(
            "SELECT ",
            application_columns!(),
            " FROM applications WHERE tenant = $1 AND ($2 = '' OR created_by = $2) \
             AND (created_at > $3 OR (created_at = $3 AND id > $4)) ORDER BY created_at, id LIMIT $5"
        );
        let rows: Vec<ApplicationRow> = on_pool!(self, |pool| sqlx::query_as(sql)
            .bind(tenant.as_str())
            .bind(page.created_by.as_deref().unwrap_or(""))
            .bind(page.after_at())
            .bind(page.after_id())
            .bind(page.fetch())
            .fetch_all(pool)
            .await)?;
        Ok(Paged::from_rows(collect(rows)?, page))
    }

    /// Writes an application's name, key and update audit, and bumps the configuration
    /// version, in one transaction; false if it does not exist.
    pub async fn update_application(&self, app: &Application) -> Result<bool, StoreError> {
        self.update_application_retiring(app, None).await
    }

    /// [`Store::update_application`] that also keeps `retired` (the public key it replaced,
    /// retired at `.1` µs) among the application's retired keys, and forgets those retired
    /// before `.2`, in one transaction.
    pub async fn update_application_retiring(
        &self,
        app: &Application,
        retired: Option<(&[u8], i64, i64)>,
    ) -> Result<bool, StoreError> {
        on_pool!(self, |pool| {
            let mut tx = crate::BeginWrite::begin_write(pool).await?;
            let n = sqlx::query(
                "UPDATE applications SET name = $3, key_bits = $4, sealed_private_key = $5, \
                 public_key = $6, signature_scheme = $7, sealed_standard_secret = $8, \
                 updated_at = $9, updated_by = $10, public_jwks = $11 WHERE tenant = $1 AND id = $2",
            )
            .bind(app.tenant.as_str())
            .bind(app.id.to_string())
            .bind(&app.name)
            .bind(i64::from(app.key_bits))
            .bind(&app.sealed_private_key)
            .bind(&app.public_key)
            .bind(app.signature_scheme.as_str())
            .bind(&app.sealed_standard_secret)
            .bind(to_micros(app.audit.updated_at))
            .bind(&app.audit.updated_by)
            .bind(app.public_jwks)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if let (1, Some((public_key, at, forget_before))) = (n, retired) {
                sqlx::query(
                    "INSERT INTO retired_application_keys (tenant, application_id, public_key, \
                     retired_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                )
                .bind(app.tenant.as_str())
                .bind(app.id.to_string())
                .bind(public_key)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "DELETE FROM retired_application_keys WHERE application_id = $1 \
                     AND retired_at < $2",
                )
                .bind(app.id.to_string())
                .bind(forget_before)
                .execute(&mut *tx)
                .await?;
            }
            if n == 1 {
                bump_config!(tx, app.tenant.as_str());
            }
            tx.commit().await?;
            Ok::<_, StoreError>(n == 1)
        })
    }

    /// The public keys (SPKI DER) `id` retired at or after `since` (µs), newest first.
    pub async fn retired_application_keys(
        &self,
        tenant: &TenantName,
        id: ApplicationId,
        since: i64,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        Ok(on_pool!(self, |pool| sqlx::query_scalar(
            "SELECT public_key FROM retired_application_keys WHERE tenant = $1 \
             AND application_id = $2 AND retired_at >= $3 ORDER BY retired_at DESC"
        )
        .bind(tenant.as_str())
        .bind(id.to_string())
        .bind(since)
        .fetch_all(pool)
        .await)?)
    }

    /// Deletes an application and its webhooks, records their pending deliveries as cancelled
    /// (at `now`) and bumps the configuration version, in one transaction; false if it did not
    /// exist.
    pub async fn delete_application(
        &self,
        tenant: &TenantName,
        id: ApplicationId,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.delete_cancelling(tenant, Doomed::Application(id), now)
            .await
    }
}
