//! The record store: JSON records per tenant and entity, with sequential ids. Writes go
//! through [`Store::accept_changes`] with a [`RecordWrite`], so a record and the change it
//! publishes commit together.

use crate::{Store, StoreError, TenantName, on_pool};

/// A stored record.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredRecord {
    /// Sequential id within (tenant, entity).
    pub id: i64,
    /// The record as JSON text.
    pub data: String,
    /// Incremented by every write: a write names the version it read.
    pub version: i64,
}

/// A write to the record store, applied in the transaction that stores its change.
#[derive(Debug, Clone)]
pub enum RecordWrite {
    /// A new record with an id from [`Store::next_record_id`].
    Insert {
        /// Entity.
        entity: String,
        /// Id.
        id: i64,
        /// JSON text.
        data: String,
        /// Its file, for an attachment.
        content: Option<Vec<u8>>,
    },
    /// Replaces a record if it is still at `version`.
    Update {
        /// Entity.
        entity: String,
        /// Id.
        id: i64,
        /// JSON text.
        data: String,
        /// The version it was read at.
        version: i64,
        /// A new file, for an attachment (`None` keeps the one it has).
        content: Option<Vec<u8>>,
    },
    /// Deletes a record if it is still at `version`.
    Delete {
        /// Entity.
        entity: String,
        /// Id.
        id: i64,
        /// The version it was read at.
        version: i64,
        /// Also erase its traces: its changes' data, its deliveries' payloads and answers,
        /// its idempotency answers (`erase.rs`).
        erase: bool,
    },
}

impl RecordWrite {
    /// The entity written.
    pub fn entity(&self) -> &str {
        match self {
            Self::Insert { entity, .. }
            | Self::Update { entity, .. }
            | Self::Delete { entity, .. } => entity,
        }
    }

    /// The record's id.
    pub fn id(&self) -> i64 {
        match self {
            Self::Insert { id, .. } | Self::Update { id, .. } | Self::Delete { id, .. } => *id,
        }
    }
}

/// The error a write gets when its record changed (or vanished) since it was read: read again
/// and retry.
pub const STALE_RECORD: &str = "the record, which changed concurrently,";

impl Store {
    /// Allocates the next id of an entity (ids of failed writes are not reused).
    pub async fn next_record_id(
        &self,
        tenant: &TenantName,
        entity: &str,
    ) -> Result<i64, StoreError> {
        let id: i64 = on_pool!(self, |pool| {
            sqlx::query_scalar(
            "INSERT INTO record_ids (tenant, entity, last_id) VALUES ($1, $2, 1) \
             ON CONFLICT (tenant, entity) DO UPDATE SET last_id = record_ids.last_id + 1 RETURNING last_id"
        )
        .bind(tenant.as_str())
        .bind(entity)
        .fetch_one(pool)
        .await
        })?;
        Ok(id)
    }

    /// One record.
    pub async fn record(
        &self,
        tenant: &TenantName,
        entity: &str,
        id: i64,
    ) -> Result<Option<StoredRecord>, StoreError> {
        on_pool!(self, |pool| sqlx::query_as(
            "SELECT id, data, version FROM records WHERE tenant = $1 AND entity = $2 AND id = $3"
        )
        .bind(tenant.as_str())
        .bind(entity)
        .bind(id)
        .fetch_optional(pool)
        .await)
        .map_err(StoreError::from)
    }

    /// Up to `limit` records with an id above `after`, in id order.
    pub async fn records_after(
        &self,
        tenant: &TenantName,
        entity: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<StoredRecord>, StoreError> {
        on_pool!(self, |pool| sqlx::query_as(
            "SELECT id, data, version FROM records WHERE tenant = $1 AND entity = $2 AND id > $3 ORDER BY id LIMIT $4"
        )
        .bind(tenant.as_str())
        .bind(entity)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)
        .map_err(StoreError::from)
    }
}

impl Store {
    /// An attachment's file, if it has one.
    pub async fn record_content(
        &self,
        tenant: &TenantName,
        entity: &str,
        id: i64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        on_pool!(self, |pool| sqlx::query_scalar(
            "SELECT content FROM record_contents WHERE tenant = $1 AND entity = $2 AND id = $3"
        )
        .bind(tenant.as_str())
        .bind(entity)
        .bind(id)
        .fetch_optional(pool)
        .await)
        .map_err(StoreError::from)
    }
}

/// A deleted record's tombstone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct Tombstone {
    /// The record's id.
    pub id: i64,
    /// When it was deleted, µs since the epoch.
    pub deleted_at: i64,
}

impl Store {
    /// Up to `limit` tombstones of an entity deleted at or after `since` (µs), in (time, id)
    /// order, after the position `after` of the previous page.
    pub async fn tombstones_since(
        &self,
        tenant: &TenantName,
        entity: &str,
        since: i64,
        after: Option<Tombstone>,
        limit: u32,
    ) -> Result<Vec<Tombstone>, StoreError> {
        let (after_at, after_id) = after.map_or((i64::MIN, i64::MIN), |t| (t.deleted_at, t.id));
        on_pool!(self, |pool| sqlx::query_as(
            "SELECT id, deleted_at FROM record_tombstones \
             WHERE tenant = $1 AND entity = $2 AND deleted_at >= $3 \
             AND (deleted_at > $4 OR (deleted_at = $4 AND id > $5)) \
             ORDER BY deleted_at, id LIMIT $6"
        )
        .bind(tenant.as_str())
        .bind(entity)
        .bind(since)
        .bind(after_at)
        .bind(after_id)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await)
        .map_err(StoreError::from)
    }

    /// Deletes up to `batch` tombstones of records deleted before `before` (µs); answers how
    /// many.
    pub async fn purge_tombstones(&self, before: i64, batch: u32) -> Result<u64, StoreError> {
        Ok(crate::on_writer!(self, |pool| {
            sqlx::query(
                "DELETE FROM record_tombstones WHERE (tenant, entity, id) IN \
                 (SELECT tenant, entity, id FROM record_tombstones WHERE deleted_at < $1 LIMIT $2)",
            )
            .bind(before)
            .bind(i64::from(batch))
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })?)
    }
}

/// Stores an attachment's file, replacing the one it had, inside a record write's transaction.
macro_rules! put_content {
    ($tx:expr, $tenant:expr, $entity:expr, $id:expr, $content:expr) => {
        if let Some(bytes) = $content {
            sqlx::query(
                "INSERT INTO record_contents (tenant, entity, id, content) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (tenant, entity, id) DO UPDATE SET content = excluded.content",
            )
            .bind($tenant.as_str())
            .bind($entity)
            .bind(*$id)
            .bind(bytes.as_slice())
            .execute(&mut *$tx)
            .await?;
        }
    };
}
pub(crate) use put_content;

/// Applies a record write inside a transaction; a stale version is a [`StoreError::Conflict`].
macro_rules! apply_record_write {
    ($is_postgres:expr, $tx:expr, $tenant:expr, $write:expr, $now:expr) => {{
        use $crate::records::RecordWrite;
        let affected = match $write {
            RecordWrite::Insert { entity, id, data, content } => {
                let n = sqlx::query(
                    "INSERT INTO records (tenant, entity, id, data, version, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, 1, $5, $5)",
                )
                .bind($tenant.as_str())
                .bind(entity)
                .bind(*id)
                .bind(data)
                .bind($now)
                .execute(&mut *$tx)
                .await?
                .rows_affected();
                $crate::records::put_content!($tx, $tenant, entity, id, content);
                n
            }
            RecordWrite::Update { entity, id, data, version, content } => {
                let n = sqlx::query(
                    "UPDATE records SET data = $4, version = version + 1, updated_at = $6 \
                     WHERE tenant = $1 AND entity = $2 AND id = $3 AND version = $5",
                )
                .bind($tenant.as_str())
                .bind(entity)
                .bind(*id)
                .bind(data)
                .bind(*version)
                .bind($now)
                .execute(&mut *$tx)
                .await?
                .rows_affected();
                $crate::records::put_content!($tx, $tenant, entity, id, content);
                n
            }
            RecordWrite::Delete { entity, id, version, erase } => {
                let n = sqlx::query(
                    "DELETE FROM records WHERE tenant = $1 AND entity = $2 AND id = $3 AND version = $4",
                )
                .bind($tenant.as_str())
                .bind(entity)
                .bind(*id)
                .bind(*version)
                .execute(&mut *$tx)
                .await?
                .rows_affected();
                sqlx::query("DELETE FROM record_contents WHERE tenant = $1 AND entity = $2 AND id = $3")
                    .bind($tenant.as_str())
                    .bind(entity)
                    .bind(*id)
                    .execute(&mut *$tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO record_tombstones (tenant, entity, id, deleted_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (tenant, entity, id) \
                     DO UPDATE SET deleted_at = excluded.deleted_at",
                )
                .bind($tenant.as_str())
                .bind(entity)
                .bind(*id)
                .bind($now)
                .execute(&mut *$tx)
                .await?;
                if *erase && n == 1 {
                    $crate::erase::erase_traces!($is_postgres, $tx, $tenant, entity, id);
                }
                n
            }
        };
        if affected != 1 {
            return Err(StoreError::Conflict($crate::records::STALE_RECORD.into()));
        }
    }};
}
pub(crate) use apply_record_write;
