//! Tenants, realm keys and clients.

use crate::error::conflict;
use crate::model::*;
use crate::{Store, StoreError, on_pool};

#[derive(sqlx::FromRow)]
struct TenantRow {
    name: String,
    webhooks_enabled: bool,
    created_at: i64,
}

impl TryFrom<TenantRow> for Tenant {
    type Error = StoreError;
    fn try_from(r: TenantRow) -> Result<Self, StoreError> {
        Ok(Tenant {
            name: TenantName::parse(&r.name)?,
            webhooks_enabled: r.webhooks_enabled,
            created_at: from_micros(r.created_at),
        })
    }
}

#[derive(sqlx::FromRow)]
struct RealmKeyRow {
    kid: String,
    tenant: String,
    sealed_private_key: Vec<u8>,
    public_key: Vec<u8>,
    created_at: i64,
}

impl TryFrom<RealmKeyRow> for RealmKey {
    type Error = StoreError;
    fn try_from(r: RealmKeyRow) -> Result<Self, StoreError> {
        Ok(RealmKey {
            kid: r.kid,
            tenant: TenantName::parse(&r.tenant)?,
            sealed_private_key: r.sealed_private_key,
            public_key: r.public_key,
            created_at: from_micros(r.created_at),
        })
    }
}

#[derive(sqlx::FromRow)]
struct ClientRow {
    tenant: String,
    client_id: String,
    name: String,
    code: String,
    secret_hash: Vec<u8>,
    default_scopes: String,
    permissions: String,
    issuer: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;
    fn try_from(r: ClientRow) -> Result<Self, StoreError> {
        Ok(Client {
            tenant: TenantName::parse(&r.tenant)?,
            client_id: r.client_id,
            name: r.name,
            code: ClientCode::parse(&r.code)?,
            secret_hash: r.secret_hash,
            default_scopes: ScopeSet::parse(&r.default_scopes)?,
            permissions: Permissions::parse(&r.permissions)?,
            issuer: r.issuer,
            created_at: from_micros(r.created_at),
            updated_at: from_micros(r.updated_at),
        })
    }
}

// Column lists as macros so that `concat!` builds each statement as a `&'static str`: sqlx only
// takes static SQL, which keeps values out of statement text.
macro_rules! tenant_columns {
    () => {
        "name, webhooks_enabled, created_at"
    };
}
macro_rules! key_columns {
    () => {
        "kid, tenant, sealed_private_key, public_key, created_at"
    };
}
macro_rules! client_columns {
    () => {
        "tenant, client_id, name, code, secret_hash, default_scopes, permissions, issuer, created_at, \
         updated_at"
    };
}

fn collect<R, T: TryFrom<R, Error = StoreError>>(rows: Vec<R>) -> Result<Vec<T>, StoreError> {
    rows.into_iter().map(T::try_from).collect()
}

/// Runs the bound query `$q` in a transaction that also bumps the configuration version when it
/// changed a row: what nodes derive from identities (a token's standing: its client exists, its
/// tenant has the feature) is dropped by every node within a poll of the version. The rows
/// changed.
macro_rules! bumping {
    ($store:expr, $tenant:expr, $q:expr) => {
        on_pool!($store, |pool| {
            let mut tx = crate::BeginWrite::begin_write(pool).await?;
            let changed = $q.execute(&mut *tx).await?.rows_affected();
            if changed > 0 {
                crate::management::bump_config!(tx, $tenant);
            }
            tx.commit().await?;
            Ok::<u64, StoreError>(changed)
        })
    };
}

impl Store {
    /// Creates a tenant together with its first realm key, atomically.
    pub async fn create_tenant(&self, tenant: &Tenant, key: &RealmKey) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            let mut tx = crate::BeginWrite::begin_write(pool).await?;
            sqlx::query(
                "INSERT INTO tenants (name, webhooks_enabled, created_at) VALUES ($1, $2, $3)",
            )
            .bind(tenant.name.as_str())
            .bind(tenant.webhooks_enabled)
            .bind(to_micros(tenant.created_at))
            .execute(&mut *tx)
            .await
            .map_err(conflict(format!("tenant '{}'", tenant.name)))?;
            sqlx::query(concat!(
                "INSERT INTO realm_keys (",
                key_columns!(),
                ") VALUES ($1, $2, $3, $4, $5)"
            ))
            .bind(&key.kid)
            .bind(key.tenant.as_str())
            .bind(&key.sealed_private_key)
            .bind(&key.public_key)
            .bind(to_micros(key.created_at))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// One tenant.
    pub async fn tenant(&self, name: &TenantName) -> Result<Option<Tenant>, StoreError> {
        let sql = concat!(
            "SELECT ",
            tenant_columns!(),
            " FROM tenants WHERE name = $1"
        );
        let row: Option<TenantRow> = on_pool!(self, |pool| sqlx::query_as(sql)
            .bind(name.as_str())
            .fetch_optional(pool)
            .await)?;
        row.map(Tenant::try_from).transpose()
    }

    /// Every tenant, by name.
    pub async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let sql = concat!("SELECT ", tenant_columns!(), " FROM tenants ORDER BY name");
        let rows: Vec<TenantRow> =
            on_pool!(self, |pool| sqlx::query_as(sql).fetch_all(pool).await)?;
        collect(rows)
    }

    /// Turns the webhooks feature on or off; false if the tenant does not exist.
    pub async fn set_tenant_webhooks(
        &self,
        name: &TenantName,
        enabled: bool,
    ) -> Result<bool, StoreError> {
        let done = bumping!(
            self,
            name.as_str(),
            sqlx::query("UPDATE tenants SET webhooks_enabled = $2 WHERE name = $1")
                .bind(name.as_str())
                .bind(enabled)
        )?;
        Ok(done == 1)
    }

    /// Deletes a tenant and everything it owns; false if it did not exist. Its deliveries and
    /// their earlier attempts are deleted here, wherever they are kept: on PostgreSQL neither
    /// the log nor `attempts` has a key that would cascade. The tenant's row is locked first,
    /// so every publish of the tenant has committed (its changes hold a key-share lock on the
    /// row) and none can commit after (it waits for the row, then finds it gone).
    pub async fn delete_tenant(&self, name: &TenantName) -> Result<bool, StoreError> {
        let lock = match self.kind() {
            crate::Backend::Postgres => "SELECT 1 FROM tenants WHERE name = $1 FOR UPDATE",
            // A SQLite write transaction holds the whole database.
            crate::Backend::Sqlite => "SELECT 1 FROM tenants WHERE name = $1",
        };
        let mut deletes = vec![
            "DELETE FROM attempts WHERE delivery_id IN \
             (SELECT id FROM all_deliveries WHERE tenant = $1)",
            "DELETE FROM deliveries WHERE tenant = $1",
        ];
        if self.kind() == crate::Backend::Postgres {
            deletes.push("DELETE FROM delivery_log WHERE tenant = $1");
        }
        // Keyed by tenant name without a foreign key: a tenant made again with the name must
        // not find them (its attachment ids start at 1 again).
        deletes.push("DELETE FROM record_contents WHERE tenant = $1");
        deletes.push("DELETE FROM recoveries WHERE tenant = $1");
        deletes.push("DELETE FROM feeds WHERE tenant = $1");
        deletes.push("DELETE FROM tenants WHERE name = $1");
        on_pool!(self, |pool| {
            let mut tx = crate::BeginWrite::begin_write(pool).await?;
            let found = sqlx::query(lock)
                .bind(name.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            if found.is_none() {
                return Ok(false);
            }
            for sql in &deletes {
                sqlx::query(*sql)
                    .bind(name.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            crate::management::bump_config!(tx, name.as_str());
            tx.commit().await?;
            Ok(true)
        })
    }

    /// The realm keys of a tenant, newest first.
    pub async fn realm_keys(&self, tenant: &TenantName) -> Result<Vec<RealmKey>, StoreError> {
        let sql = concat!(
            "SELECT ",
            key_columns!(),
            " FROM realm_keys WHERE tenant = $1 ORDER BY created_at DESC"
        );
        let rows: Vec<RealmKeyRow> = on_pool!(self, |pool| sqlx::query_as(sql)
            .bind(tenant.as_str())
            .fetch_all(pool)
            .await)?;
        collect(rows)
    }

    /// The realm key with this `kid`, whichever tenant it belongs to: a token names its key
    /// before anything about it can be trusted, and the key then says which tenant it speaks
    /// for.
    pub async fn realm_key_by_kid(&self, kid: &str) -> Result<Option<RealmKey>, StoreError> {
        let sql = concat!("SELECT ", key_columns!(), " FROM realm_keys WHERE kid = $1");
        let row: Option<RealmKeyRow> = on_pool!(self, |pool| sqlx::query_as(sql)
            .bind(kid)
            .fetch_optional(pool)
            .await)?;
        row.map(RealmKey::try_from).transpose()
    }

    /// Creates a client.
    pub async fn create_client(&self, client: &Client) -> Result<(), StoreError> {
        let sql = concat!(
            "INSERT INTO clients (",
            client_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        );
        on_pool!(self, |pool| sqlx::query(sql)
            .bind(client.tenant.as_str())
            .bind(&client.client_id)
            .bind(&client.name)
            .bind(client.code.as_str())
            .bind(&client.secret_hash)
            .bind(client.default_scopes.to_string())
            .bind(client.permissions.to_string())
            .bind(&client.issuer)
            .bind(to_micros(client.created_at))
            .bind(to_micros(client.updated_at))
            .execute(pool)
            .await
            .map(|_| ()))
        .map_err(conflict(format!("client '{}'", client.client_id)))?;
        Ok(())
    }

    /// One client of a tenant.
    pub async fn client(
        &self,
        tenant: &TenantName,
        client_id: &str,
    ) -> Result<Option<Client>, StoreError> {
        let sql = concat!(
            "SELECT ",
            client_columns!(),
            " FROM clients WHERE tenant = $1 AND client_id = $2"
        );
        let row: Option<ClientRow> = on_pool!(self, |pool| sqlx::query_as(sql)
            .bind(tenant.as_str())
            .bind(client_id)
            .fetch_optional(pool)
            .await)?;
        row.map(Client::try_from).transpose()
    }

    /// The clients of a tenant, oldest first.
    pub async fn clients(&self, tenant: &TenantName) -> Result<Vec<Client>, StoreError> {
        let sql = concat!(
            "SELECT ",
            client_columns!(),
            " FROM clients WHERE tenant = $1 ORDER BY created_at, client_id"
        );
        let rows: Vec<ClientRow> = on_pool!(self, |pool| sqlx::query_as(sql)
            .bind(tenant.as_str())
            .fetch_all(pool)
            .await)?;
        collect(rows)
    }

    /// Writes a client's name, code, scopes, permissions, secret hash and `updated_at`; false if
    /// it does not exist.
    pub async fn update_client(&self, client: &Client) -> Result<bool, StoreError> {
        let done = bumping!(
            self,
            client.tenant.as_str(),
            sqlx::query(
                "UPDATE clients SET name = $3, code = $4, secret_hash = $5, default_scopes = $6, \
                 permissions = $7, updated_at = $8 WHERE tenant = $1 AND client_id = $2"
            )
            .bind(client.tenant.as_str())
            .bind(&client.client_id)
            .bind(&client.name)
            .bind(client.code.as_str())
            .bind(&client.secret_hash)
            .bind(client.default_scopes.to_string())
            .bind(client.permissions.to_string())
            .bind(to_micros(client.updated_at))
        )?;
        Ok(done == 1)
    }

    /// Deletes a client; false if it did not exist.
    pub async fn delete_client(
        &self,
        tenant: &TenantName,
        client_id: &str,
    ) -> Result<bool, StoreError> {
        let done = bumping!(
            self,
            tenant.as_str(),
            sqlx::query("DELETE FROM clients WHERE tenant = $1 AND client_id = $2")
                .bind(tenant.as_str())
                .bind(client_id)
        )?;
        Ok(done == 1)
    }
}
