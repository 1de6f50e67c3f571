//! Applications and webhooks.

use crate::error::conflict;
use crate::id::Id;
use crate::model::*;
use crate::{ApplicationId, WebhookId};
use crate::{Store, StoreError, on_pool};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Who created and last changed an object, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audit {
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Client id of the creator: what `owner` permissions compare with.
    pub created_by: String,
    /// Last change time.
    pub updated_at: DateTime<Utc>,
    /// Client id of the last changer.
    pub updated_by: String,
}

impl Audit {
    /// A new object's audit fields.
    pub fn new(by: &str, at: DateTime<Utc>) -> Self {
        Self {
            created_at: at,
            created_by: by.to_owned(),
            updated_at: at,
            updated_by: by.to_owned(),
        }
    }

    /// Marks a change.
    pub fn touch(&mut self, by: &str, at: DateTime<Utc>) {
        self.updated_at = at;
        self.updated_by = by.to_owned();
    }
}

/// An application: a named collection of webhooks sharing one RSA key pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    /// The tenant.
    pub tenant: TenantName,
    /// Its id.
    pub id: ApplicationId,
    /// Human name.
    pub name: String,
    /// Modulus size of its key.
    pub key_bits: u32,
    /// PKCS#8 private key sealed with the master key.
    pub sealed_private_key: Vec<u8>,
    /// SubjectPublicKeyInfo DER: the `secret` consumers verify with.
    pub public_key: Vec<u8>,
    /// Audit fields.
    pub audit: Audit,
}

/// One filter of a webhook, as given (the condition is compiled by the caller).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    /// `{entity}:{action}`.
    pub event_type: String,
    /// Condition text, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}

/// A custom header sent with every delivery of a webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomHeader {
    /// Header name.
    pub name: String,
    /// Header value (may be a credential: stored sealed, never logged).
    pub value: String,
}

/// A webhook's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookStatus {
    /// Receives deliveries.
    Enabled,
    /// Switched off by a client.
    Disabled,
    /// Switched off by cxhooks after failing for too long, or after `410 Gone`.
    Error,
}

impl WebhookStatus {
    /// The lower-case word.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookStatus::Enabled => "enabled",
            WebhookStatus::Disabled => "disabled",
            WebhookStatus::Error => "error",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "enabled" => Ok(Self::Enabled),
            "disabled" => Ok(Self::Disabled),
            "error" => Ok(Self::Error),
            other => Err(StoreError::Corrupt(format!(
                "unknown webhook status '{other}'"
            ))),
        }
    }
}

/// A webhook. Custom headers are kept sealed by the caller (`sealed_custom_headers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// The tenant.
    pub tenant: TenantName,
    /// Its id.
    pub id: WebhookId,
    /// The application it belongs to.
    pub application_id: ApplicationId,
    /// Where deliveries go.
    pub url: String,
    /// Its filters.
    pub filters: Vec<Filter>,
    /// The custom headers as JSON, sealed with the master key.
    pub sealed_custom_headers: Vec<u8>,
    /// Its status.
    pub status: WebhookStatus,
    /// Audit fields.
    pub audit: Audit,
}

/// A page request: at most `limit` objects after `after` (in creation order).
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// Page size.
    pub limit: u32,
    /// Position of the last object of the previous page: (created_at µs, id).
    pub after: Option<(i64, String)>,
    /// Only objects created by this client (`read: owner`).
    pub created_by: Option<String>,
}

impl Page {
    // The limit plus one: the extra row tells whether another page follows.
    fn fetch(&self) -> i64 {
        i64::from(self.limit) + 1
    }
    fn after_at(&self) -> i64 {
        self.after.as_ref().map_or(i64::MIN, |a| a.0)
    }
    fn after_id(&self) -> &str {
        self.after.as_ref().map_or("", |a| a.1.as_str())
    }
}

/// One page of objects and whether more follow.
#[derive(Debug, Clone)]
pub struct Paged<T> {
    /// The objects.
    pub items: Vec<T>,
    /// True if another page follows the last item.
    pub more: bool,
}

impl<T> Paged<T> {
    fn from_rows(mut items: Vec<T>, page: &Page) -> Self {
        let more = items.len() > page.limit as usize;
        items.truncate(page.limit as usize);
        Self { items, more }
    }
}

#[derive(sqlx::FromRow)]
struct ApplicationRow {
    id: String,
    tenant: String,
    name: String,
    key_bits: i64,
    sealed_private_key: Vec<u8>,
    public_key: Vec<u8>,
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
            audit: audit(r.created_at, r.created_by, r.updated_at, r.updated_by),
        })
    }
}

#[derive(sqlx::FromRow)]
struct WebhookRow {
    id: String,
    tenant: String,
    application_id: String,
    url: String,
    filters: String,
    sealed_custom_headers: Vec<u8>,
    status: String,
    created_at: i64,
    created_by: String,
    updated_at: i64,
    updated_by: String,
}

impl TryFrom<WebhookRow> for Webhook {
    type Error = StoreError;
    fn try_from(r: WebhookRow) -> Result<Self, StoreError> {
        Ok(Webhook {
            tenant: TenantName::parse(&r.tenant)?,
            id: parse_id(&r.id)?,
            application_id: parse_id(&r.application_id)?,
            url: r.url,
            filters: serde_json::from_str(&r.filters)
                .map_err(|e| StoreError::Corrupt(format!("filters: {e}")))?,
            sealed_custom_headers: r.sealed_custom_headers,
            status: WebhookStatus::parse(&r.status)?,
            audit: audit(r.created_at, r.created_by, r.updated_at, r.updated_by),
        })
    }
}

macro_rules! application_columns {
    () => {
        "id, tenant, name, key_bits, sealed_private_key, public_key, created_at, created_by, updated_at, updated_by"
    };
}
macro_rules! webhook_columns {
    () => {
        "id, tenant, application_id, url, filters, sealed_custom_headers, status, created_at, created_by, \
         updated_at, updated_by"
    };
}

fn collect<R, T: TryFrom<R, Error = StoreError>>(rows: Vec<R>) -> Result<Vec<T>, StoreError> {
    rows.into_iter().map(T::try_from).collect()
}

/// Every node reloads its webhook registry when this version moves.
const BUMP_CONFIG: &str = "UPDATE config_version SET version = version + 1 WHERE id = 1";

impl Store {
    /// Creates an application.
    pub async fn create_application(&self, app: &Application) -> Result<(), StoreError> {
        let sql = concat!(
            "INSERT INTO applications (",
            application_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        );
        on_pool!(self, |pool| sqlx::query(sql)
            .bind(app.id.to_string())
            .bind(app.tenant.as_str())
            .bind(&app.name)
            .bind(i64::from(app.key_bits))
            .bind(&app.sealed_private_key)
            .bind(&app.public_key)
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

    /// Creates a webhook, unless its creator already owns `max_per_client` webhooks in the
    /// tenant (then `Ok(false)`). Count, insert and the configuration version's bump share one
    /// transaction.
    pub async fn create_webhook(
        &self,
        hook: &Webhook,
        max_per_client: u32,
    ) -> Result<bool, StoreError> {
        let filters = serde_json::to_string(&hook.filters).expect("filters serialise");
        let sql = concat!(
            "INSERT INTO webhooks (",
            webhook_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        );
        on_pool!(self, |pool| {
            let mut tx = crate::BeginWrite::begin_write(pool).await?;
            let owned: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM webhooks WHERE tenant = $1 AND created_by = $2",
            )
            .bind(hook.tenant.as_str())
            .bind(&hook.audit.created_by)
            .fetch_one(&mut *tx)
            .await?;
            if owned >= i64::from(max_per_client) {
                return Ok(false);
            }
            sqlx::query(sql)
                .bind(hook.id.to_string())
                .bind(hook.tenant.as_str())
                .bind(hook.application_id.to_string())
                .bind(&hook.url)
                .bind(&filters)
                .bind(&hook.sealed_custom_headers)
                .bind(hook.status.as_str())
                .bind(to_micros(hook.audit.created_at))
                .bind(&hook.audit.created_by)
                .bind(to_micros(hook.audit.updated_at))
                .bind(&hook.audit.updated_by)
                .execute(&mut *tx)
                .await
                .map_err(conflict(format!("webhook {}", hook.id)))?;
            sqlx::query(BUMP_CONFIG).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// One webhook of an application of a tenant.
    pub async fn webhook(
        &self,
        tenant: &TenantName,
        application_id: ApplicationId,
        id: WebhookId,
    ) -> Result<Option<Webhook>, StoreError> {
        let sql = concat!(
            "SELECT ",
            webhook_columns!(),
            " FROM webhooks WHERE tenant = $1 AND application_id = $2 AND id = $3"
        );
        let row: Option<WebhookRow> = on_pool!(self, |pool| sqlx::query_as(sql)
            .bind(tenant.as_str())
            .bind(application_id.to_string())
            .bind(id.to_string())
            .fetch_optional(pool)
            .await)?;
        row.map(Webhook::try_from).transpose()
    }

    /// A page of an application's webhooks, in creation order.
    pub async fn webhooks(
        &self,
        tenant: &TenantName,
        application_id: ApplicationId,
        page: &Page,
    ) -> Result<Paged<Webhook>, StoreError> {
        let sql = concat!(
            "SELECT ",
            webhook_columns!(),
            " FROM webhooks WHERE tenant = $1 AND application_id = $2 AND ($3 = '' OR created_by = $3) \
             AND (created_at > $4 OR (created_at = $4 AND id > $5)) ORDER BY created_at, id LIMIT $6"
        );
        let rows: Vec<WebhookRow> = on_pool!(self, |pool| sqlx::query_as(sql)
            .bind(tenant.as_str())
            .bind(application_id.to_string())
            .bind(page.created_by.as_deref().unwrap_or(""))
            .bind(page.after_at())
            .bind(page.after_id())
            .bind(page.fetch())
            .fetch_all(pool)
            .await)?;
        Ok(Paged::from_rows(collect(rows)?, page))
    }

    /// Every webhook of every tenant (to build the matcher at start-up).
    pub async fn all_webhooks(&self) -> Result<Vec<Webhook>, StoreError> {
        let sql = concat!(
            "SELECT ",
            webhook_columns!(),
            " FROM webhooks ORDER BY tenant, created_at, id"
        );
        let rows: Vec<WebhookRow> =
            on_pool!(self, |pool| sqlx::query_as(sql).fetch_all(pool).await)?;
        collect(rows)
    }

    /// The current configuration version (moved by every write of applications and webhooks, in the write's transaction).
    pub async fn config_version(&self) -> Result<i64, StoreError> {
        on_pool!(self, |pool| sqlx::query_scalar(
            "SELECT version FROM config_version WHERE id = 1"
        )
        .fetch_one(pool)
        .await)
        .map_err(StoreError::from)
    }
    /// Writes an application's name, key and update audit, and bumps the configuration
    /// version, in one transaction; false if it does not exist.
    pub async fn update_application(&self, app: &Application) -> Result<bool, StoreError> {
        on_pool!(self, |pool| {
            let mut tx = crate::BeginWrite::begin_write(pool).await?;
            let n = sqlx::query(
                "UPDATE applications SET name = $3, key_bits = $4, sealed_private_key = $5, \
                 public_key = $6, updated_at = $7, updated_by = $8 WHERE tenant = $1 AND id = $2",
            )
            .bind(app.tenant.as_str())
            .bind(app.id.to_string())
            .bind(&app.name)
            .bind(i64::from(app.key_bits))
            .bind(&app.sealed_private_key)
            .bind(&app.public_key)
            .bind(to_micros(app.audit.updated_at))
            .bind(&app.audit.updated_by)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 1 {
                sqlx::query(BUMP_CONFIG).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(n == 1)
        })
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
        on_pool!(self, |pool| {
            let mut tx = crate::BeginWrite::begin_write(pool).await?;
            sqlx::query(
                "UPDATE deliveries SET status = 'cancelled', updated_at = $3 WHERE tenant = $1 \
                 AND application_id = $2 AND status IN ('pending', 'retrying')",
            )
            .bind(tenant.as_str())
            .bind(Id::from(id))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let n = sqlx::query("DELETE FROM applications WHERE tenant = $1 AND id = $2")
                .bind(tenant.as_str())
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 1 {
                sqlx::query(BUMP_CONFIG).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(n == 1)
        })
    }

    /// Writes a webhook's url, filters, headers, status and update audit, clears its failure
    /// streak if `fresh_start` (enabled again), and bumps the configuration version, in one
    /// transaction; false if it does not exist.
    pub async fn update_webhook(
        &self,
        hook: &Webhook,
        fresh_start: bool,
    ) -> Result<bool, StoreError> {
        let filters = serde_json::to_string(&hook.filters).expect("filters serialise");
        on_pool!(self, |pool| {
            let mut tx = crate::BeginWrite::begin_write(pool).await?;
            let n = sqlx::query(
                "UPDATE webhooks SET url = $4, filters = $5, sealed_custom_headers = $6, \
                 status = $7, updated_at = $8, updated_by = $9, \
                 failing_since = CASE WHEN $10 THEN NULL ELSE failing_since END, \
                 failed_deliveries = CASE WHEN $10 THEN 0 ELSE failed_deliveries END \
                 WHERE tenant = $1 AND application_id = $2 AND id = $3",
            )
            .bind(hook.tenant.as_str())
            .bind(hook.application_id.to_string())
            .bind(hook.id.to_string())
            .bind(&hook.url)
            .bind(&filters)
            .bind(&hook.sealed_custom_headers)
            .bind(hook.status.as_str())
            .bind(to_micros(hook.audit.updated_at))
            .bind(&hook.audit.updated_by)
            .bind(fresh_start)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 1 {
                sqlx::query(BUMP_CONFIG).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(n == 1)
        })
    }

    /// Deletes a webhook, records its pending deliveries as cancelled (at `now`) and bumps the
    /// configuration version, in one transaction; false if it did not exist.
    pub async fn delete_webhook(
        &self,
        tenant: &TenantName,
        application_id: ApplicationId,
        id: WebhookId,
        now: i64,
    ) -> Result<bool, StoreError> {
        on_pool!(self, |pool| {
            let mut tx = crate::BeginWrite::begin_write(pool).await?;
            sqlx::query(
                "UPDATE deliveries SET status = 'cancelled', updated_at = $3 WHERE tenant = $1 \
                 AND webhook_id = $2 AND status IN ('pending', 'retrying')",
            )
            .bind(tenant.as_str())
            .bind(Id::from(id))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let n = sqlx::query(
                "DELETE FROM webhooks WHERE tenant = $1 AND application_id = $2 AND id = $3",
            )
            .bind(tenant.as_str())
            .bind(application_id.to_string())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 1 {
                sqlx::query(BUMP_CONFIG).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>(n == 1)
        })
    }
}
