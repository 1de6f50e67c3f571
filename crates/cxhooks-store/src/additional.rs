//! Additional fields: the keys of records' `additionalinfo` that a tenant defined per entity.

use crate::error::conflict;
use crate::{Store, StoreError, TenantName, on_pool};

/// One additional field as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AdditionalField {
    /// Entity (`cremployee`).
    pub entity: String,
    /// Key under `additionalinfo` (`shoesize`).
    pub key: String,
    /// Human label (`Shoe size`).
    pub label: String,
    /// `string`, `number`, `date`, `boolean` or `lookup`.
    #[sqlx(rename = "type")]
    pub field_type: String,
    /// Created, µs.
    pub created_at: i64,
    /// The client that created it.
    pub created_by: String,
}

impl Store {
    /// The tenant's additional fields, of one entity or all, by entity and key.
    pub async fn additional_fields(
        &self,
        tenant: &TenantName,
        entity: Option<&str>,
    ) -> Result<Vec<AdditionalField>, StoreError> {
        on_pool!(self, |pool| sqlx::query_as(
            "SELECT entity, key, label, type, created_at, created_by FROM additional_fields \
             WHERE tenant = $1 AND ($2 = '' OR entity = $2) ORDER BY entity, key"
        )
        .bind(tenant.as_str())
        .bind(entity.unwrap_or(""))
        .fetch_all(pool)
        .await)
        .map_err(StoreError::from)
    }

    /// Stores a new additional field; [`StoreError::Conflict`] if its key is taken.
    pub async fn create_additional_field(
        &self,
        tenant: &TenantName,
        f: &AdditionalField,
    ) -> Result<(), StoreError> {
        on_pool!(self, |pool| sqlx::query(
            "INSERT INTO additional_fields (tenant, entity, key, label, type, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)"
        )
        .bind(tenant.as_str())
        .bind(&f.entity)
        .bind(&f.key)
        .bind(&f.label)
        .bind(&f.field_type)
        .bind(f.created_at)
        .bind(&f.created_by)
        .execute(pool)
        .await
        .map(|_| ()))
        .map_err(conflict(format!(
            "{} already has an additional field '{}'",
            f.entity, f.key
        )))
    }

    /// Deletes an additional field; whether it existed.
    pub async fn delete_additional_field(
        &self,
        tenant: &TenantName,
        entity: &str,
        key: &str,
    ) -> Result<bool, StoreError> {
        let n = on_pool!(self, |pool| sqlx::query(
            "DELETE FROM additional_fields WHERE tenant = $1 AND entity = $2 AND key = $3"
        )
        .bind(tenant.as_str())
        .bind(entity)
        .bind(key)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }
}
