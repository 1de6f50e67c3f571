//! Administration of tenants and confidential clients.

use chrono::Utc;
use cxhooks_signing::{MasterKey, PrivateKey, RsaBits};
use cxhooks_store::{
    Client, ClientCode, InvalidValue, Permissions, RealmKey, ScopeSet, Store, StoreError, Tenant,
    TenantName,
};
use serde::Serialize;

/// Why an administration command failed, said so the operator can fix it.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// No such tenant.
    #[error("tenant '{0}' does not exist (create it with `cxhooks tenant create {0}`)")]
    UnknownTenant(TenantName),
    /// No such client in the tenant.
    #[error(
        "tenant '{tenant}' has no client '{client_id}' (see `cxhooks client list --tenant {tenant}`)"
    )]
    UnknownClient {
        /// The tenant.
        tenant: TenantName,
        /// The client id asked for.
        client_id: String,
    },
    /// No such operator in the tenant.
    #[error(
        "tenant '{tenant}' has no operator '{email}' (see `cxhooks operator list --tenant {tenant}`)"
    )]
    UnknownOperator {
        /// The tenant.
        tenant: TenantName,
        /// The e-mail asked for.
        email: String,
    },
    /// The operator already exists.
    #[error(
        "tenant '{tenant}' already has an operator '{email}': set a new password with \
         `cxhooks operator passwd --tenant {tenant} --email {email}`"
    )]
    OperatorExists {
        /// The tenant.
        tenant: TenantName,
        /// The e-mail.
        email: String,
    },
    /// The tenant already exists.
    #[error("tenant '{0}' already exists")]
    TenantExists(TenantName),
    /// Webhooks scopes asked for while the tenant's webhooks feature is off.
    #[error(
        "the webhooks feature is not activated for tenant '{tenant}', so {scopes} cannot be given; \
         activate it with `cxhooks tenant set {tenant} --webhooks on`"
    )]
    WebhooksNotActivated {
        /// The tenant.
        tenant: TenantName,
        /// The scopes that need the feature.
        scopes: String,
    },
    /// A value given by the operator is invalid.
    #[error("{0}")]
    Invalid(#[from] InvalidValue),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Key generation or unsealing failed.
    #[error("key handling failed: {0}")]
    Key(String),
    /// A client of an external issuer has no secret here.
    #[error(
        "client '{client_id}' gets its tokens from its issuer {issuer}: it has no secret in \
         cxhooks to rotate (rotate it at the issuer)"
    )]
    External {
        /// The client.
        client_id: String,
        /// Its issuer.
        issuer: String,
    },
}

/// What `client create --json` prints, and (less the secret) `GET /acl/v1/me`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientView {
    /// The tenant.
    pub tenant: String,
    /// The generated client id.
    pub client_id: String,
    /// The secret, only right after creation or rotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Display name.
    pub name: String,
    /// `urn:{vendor}/{application}`.
    pub code: String,
    /// Default scopes.
    pub default_scopes: Vec<String>,
    /// The Webhooks permission matrix.
    #[schema(value_type = Object)]
    pub permissions: Permissions,
    /// The external issuer whose tokens it calls with; absent for cxhooks' own clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
}

impl ClientView {
    /// The view of a stored client, with the secret only if given.
    pub fn new(client: &Client, secret: Option<String>) -> Self {
        Self {
            tenant: client.tenant.to_string(),
            client_id: client.client_id.clone(),
            client_secret: secret,
            name: client.name.clone(),
            code: client.code.as_str().to_owned(),
            default_scopes: client.default_scopes.to_strings(),
            permissions: client.permissions,
            issuer: client.issuer.clone(),
        }
    }
}

/// The seal context of a realm key: binds the ciphertext to its tenant and key id.
pub fn realm_key_context(tenant: &TenantName, kid: &str) -> String {
    format!("realm-key:{tenant}:{kid}")
}

/// Creates a tenant with a fresh realm key (RSA-2048, sealed with the master key).
pub async fn create_tenant(
    store: &Store,
    master: &MasterKey,
    name: &TenantName,
    webhooks_enabled: bool,
) -> Result<Tenant, IdentityError> {
    let key = tokio::task::spawn_blocking(|| PrivateKey::generate(RsaBits::B2048))
        .await
        .map_err(|e| IdentityError::Key(e.to_string()))?
        .map_err(|e| IdentityError::Key(e.to_string()))?;
    create_tenant_with_key(store, master, name, webhooks_enabled, &key).await
}

/// Creates a tenant whose first realm key is `key`, sealed with the master key for this
/// tenant (the bench gives many tenants one key this way; a tenant's own is made by
/// [`create_tenant`]).
pub async fn create_tenant_with_key(
    store: &Store,
    master: &MasterKey,
    name: &TenantName,
    webhooks_enabled: bool,
    key: &PrivateKey,
) -> Result<Tenant, IdentityError> {
    let now = Utc::now();
    let kid = uuid::Uuid::new_v4().to_string();
    let realm_key = RealmKey {
        sealed_private_key: master.seal(&realm_key_context(name, &kid), &key.to_pkcs8_der()),
        public_key: key.public_key().spki_der().to_vec(),
        kid,
        tenant: name.clone(),
        created_at: now,
    };
    let tenant = Tenant {
        name: name.clone(),
        webhooks_enabled,
        created_at: now,
    };
    match store.create_tenant(&tenant, &realm_key).await {
        Ok(()) => Ok(tenant),
        Err(StoreError::Conflict(_)) => Err(IdentityError::TenantExists(name.clone())),
        Err(e) => Err(e.into()),
    }
}

/// Loads a tenant or says it does not exist.
pub async fn tenant(store: &Store, name: &TenantName) -> Result<Tenant, IdentityError> {
    store
        .tenant(name)
        .await?
        .ok_or_else(|| IdentityError::UnknownTenant(name.clone()))
}

/// Turns the webhooks feature of a tenant on or off.
pub async fn set_webhooks(
    store: &Store,
    name: &TenantName,
    enabled: bool,
) -> Result<(), IdentityError> {
    if store.set_tenant_webhooks(name, enabled).await? {
        Ok(())
    } else {
        Err(IdentityError::UnknownTenant(name.clone()))
    }
}

/// What a new client is made of.
#[derive(Debug, Clone)]
pub struct NewClient {
    /// Display name.
    pub name: String,
    /// `urn:{vendor}/{application}`.
    pub code: ClientCode,
    /// Default scopes.
    pub scopes: ScopeSet,
    /// The Webhooks permission matrix.
    pub permissions: Permissions,
}

/// Changes to a client; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ClientChanges {
    /// New display name.
    pub name: Option<String>,
    /// New code.
    pub code: Option<ClientCode>,
    /// New default scopes.
    pub scopes: Option<ScopeSet>,
    /// New permission matrix.
    pub permissions: Option<Permissions>,
}

fn check_name(name: &str) -> Result<String, IdentityError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(InvalidValue("a client name has 1 to 200 characters".into()).into());
    }
    Ok(name.to_owned())
}

fn check_scopes(tenant: &Tenant, scopes: &ScopeSet) -> Result<(), IdentityError> {
    if tenant.webhooks_enabled {
        return Ok(());
    }
    let blocked: Vec<_> = scopes
        .iter()
        .filter(|s| s.needs_webhooks_feature())
        .map(|s| s.as_str())
        .collect();
    if blocked.is_empty() {
        Ok(())
    } else {
        Err(IdentityError::WebhooksNotActivated {
            tenant: tenant.name.clone(),
            scopes: blocked.join(", "),
        })
    }
}

/// Creates a confidential client and returns it with its secret, shown this once.
pub async fn create_client(
    store: &Store,
    master: &MasterKey,
    tenant_name: &TenantName,
    new: NewClient,
) -> Result<(Client, String), IdentityError> {
    let tenant = tenant(store, tenant_name).await?;
    check_scopes(&tenant, &new.scopes)?;
    let secret = cxhooks_signing::random_secret();
    let now = Utc::now();
    let client = Client {
        tenant: tenant.name,
        client_id: uuid::Uuid::new_v4().to_string(),
        name: check_name(&new.name)?,
        code: new.code,
        secret_hash: master.hash_secret(&secret),
        default_scopes: new.scopes,
        permissions: new.permissions,
        issuer: None,
        created_at: now,
        updated_at: now,
    };
    store.create_client(&client).await?;
    Ok((client, secret))
}

/// Registers a client of an external OpenID Connect issuer: no secret (it gets its tokens from
/// `issuer`), its id the one its tokens carry (`azp` or `client_id`). Its scopes bound what its
/// tokens grant here; its permission matrix, ownership and revocation work as for any client.
pub async fn create_external_client(
    store: &Store,
    tenant_name: &TenantName,
    new: NewClient,
    issuer: &str,
    client_id: &str,
) -> Result<Client, IdentityError> {
    let tenant = tenant(store, tenant_name).await?;
    check_scopes(&tenant, &new.scopes)?;
    let issuer = check_issuer(issuer)?;
    let client_id = client_id.trim();
    if client_id.is_empty() || client_id.len() > 255 || client_id.chars().any(|c| c.is_control()) {
        return Err(InvalidValue(
            "--client-id is the id the issuer's tokens carry in azp or client_id: 1 to 255 \
             visible characters"
                .into(),
        )
        .into());
    }
    let now = Utc::now();
    let client = Client {
        tenant: tenant.name,
        client_id: client_id.to_owned(),
        name: check_name(&new.name)?,
        code: new.code,
        secret_hash: Vec::new(),
        default_scopes: new.scopes,
        permissions: new.permissions,
        issuer: Some(issuer),
        created_at: now,
        updated_at: now,
    };
    store.create_client(&client).await?;
    Ok(client)
}

/// An issuer URL as its tokens' `iss` carries it: http(s), no query or fragment.
fn check_issuer(issuer: &str) -> Result<String, IdentityError> {
    let ok = url::Url::parse(issuer).is_ok_and(|u| {
        matches!(u.scheme(), "http" | "https") && u.query().is_none() && u.fragment().is_none()
    });
    if ok {
        Ok(issuer.to_owned())
    } else {
        Err(InvalidValue(format!(
            "--issuer '{issuer}' is not an issuer URL: give it exactly as its tokens' iss claim \
             has it, e.g. https://keycloak.example.com/realms/acme"
        ))
        .into())
    }
}

/// Loads a client or says it does not exist.
pub async fn client(
    store: &Store,
    tenant: &TenantName,
    client_id: &str,
) -> Result<Client, IdentityError> {
    store
        .client(tenant, client_id)
        .await?
        .ok_or_else(|| IdentityError::UnknownClient {
            tenant: tenant.clone(),
            client_id: client_id.to_owned(),
        })
}

/// Applies changes to a client.
pub async fn update_client(
    store: &Store,
    tenant_name: &TenantName,
    client_id: &str,
    changes: ClientChanges,
) -> Result<Client, IdentityError> {
    let tenant = tenant(store, tenant_name).await?;
    let mut c = client(store, tenant_name, client_id).await?;
    if let Some(name) = changes.name {
        c.name = check_name(&name)?;
    }
    if let Some(code) = changes.code {
        c.code = code;
    }
    if let Some(scopes) = changes.scopes {
        check_scopes(&tenant, &scopes)?;
        c.default_scopes = scopes;
    }
    if let Some(p) = changes.permissions {
        c.permissions = p;
    }
    c.updated_at = Utc::now();
    store.update_client(&c).await?;
    Ok(c)
}

/// Replaces a client's secret; the old one stops working at once.
pub async fn rotate_client_secret(
    store: &Store,
    master: &MasterKey,
    tenant: &TenantName,
    client_id: &str,
) -> Result<(Client, String), IdentityError> {
    let mut c = client(store, tenant, client_id).await?;
    if let Some(issuer) = c.issuer {
        return Err(IdentityError::External {
            client_id: c.client_id,
            issuer,
        });
    }
    let secret = cxhooks_signing::random_secret();
    c.secret_hash = master.hash_secret(&secret);
    c.updated_at = Utc::now();
    store.update_client(&c).await?;
    Ok((c, secret))
}

/// Deletes a client.
pub async fn delete_client(
    store: &Store,
    tenant: &TenantName,
    client_id: &str,
) -> Result<(), IdentityError> {
    if store.delete_client(tenant, client_id).await? {
        Ok(())
    } else {
        Err(IdentityError::UnknownClient {
            tenant: tenant.clone(),
            client_id: client_id.to_owned(),
        })
    }
}
