//! Webhooks in memory: the compiled matcher (conditions compiled once, when a webhook is saved
//! or loaded), what a worker needs to send (url, headers, the client that created it), and parsed application
//! keys (RSA, and the Standard Webhooks secret under `cx+standard`).
//!
//! The management API updates it on every write, on this node, and bumps the store's
//! configuration version; every node polls that version (each second) and reloads the tenants
//! the store says changed since ([`Registry::reload_tenants`]; everything when it cannot say),
//! so nodes sharing a PostgreSQL store agree within about a second.

use cxhooks_catalog::Catalog;
use cxhooks_condition::{Filter as CompiledFilter, Matcher};
use cxhooks_signing::{MasterKey, PrivateKey, StandardKey};
use cxhooks_store::{
    ApplicationId, CustomHeader, SignatureScheme, Store, StoreError, TenantName, Webhook,
    WebhookId, WebhookStatus,
};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// What sending to a webhook needs.
#[derive(Debug)]
pub struct HookInfo {
    /// Tenant.
    pub tenant: TenantName,
    /// Webhook id.
    pub id: WebhookId,
    /// Its application.
    pub application_id: ApplicationId,
    /// Delivery url.
    pub url: String,
    /// The url parsed, once rather than on every send (`None` if it does not parse: a send then
    /// fails with the HTTP client's own explanation).
    pub target: Option<reqwest::Url>,
    /// Custom headers (values are credentials: never logged); `None` when their seal did not
    /// open (another master key?): the webhook's deliveries then wait, never sent without them.
    pub headers: Option<Vec<CustomHeader>>,
    /// The client that created it: whose quota its deliveries count against.
    pub client_id: String,
    /// Status.
    pub status: WebhookStatus,
    /// At most this many of its deliveries in flight at once; `None`: the configured
    /// `delivery.max_in_flight_per_webhook`.
    pub max_in_flight: Option<u32>,
    /// At most this many of its deliveries started per second (above 0, may be a fraction);
    /// `None`: no limit. Deliveries past it wait, never fail.
    pub max_per_second: Option<f64>,
    /// Deliveries of one entity go one at a time, in the order their changes were accepted.
    pub ordered: bool,
    /// A pull webhook (no url): its deliveries are held for its feed, never sent.
    pub pull: bool,
    /// How it authenticates to its receiver (secrets: never logged), if it does.
    pub auth: Option<Arc<super::auth::OutboundAuth>>,
    /// Whether its authentication's seal opened: if not, its deliveries wait, never sent
    /// without it.
    pub auth_opened: bool,
}

/// Why an application's key could not be had (not that it does not exist).
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The store did not answer.
    #[error("reading the application failed: {0}")]
    Store(#[from] StoreError),
    /// The sealed key did not open or parse.
    #[error("{0}")]
    Seal(#[from] crate::seal::SealError),
}

#[derive(Default)]
struct Inner {
    matcher: Matcher<TenantName, WebhookId>,
    hooks: HashMap<WebhookId, Arc<HookInfo>>,
}

impl Inner {
    /// Adds or replaces a webhook; only enabled ones are matched.
    fn put(&mut self, info: Arc<HookInfo>, filters: Vec<CompiledFilter>) {
        if info.status == WebhookStatus::Enabled {
            self.matcher.insert(info.tenant.clone(), info.id, filters);
        } else {
            self.matcher.remove(&info.tenant, &info.id);
        }
        self.hooks.insert(info.id, info);
    }
}

/// What of a webhook's seals opened: its custom headers, and its authentication (the outer
/// `None`: did not open).
type Opened = (
    Option<Vec<CustomHeader>>,
    Option<Option<super::auth::OutboundAuth>>,
);

fn info(hook: &Webhook, (headers, auth): Opened) -> Arc<HookInfo> {
    Arc::new(HookInfo {
        tenant: hook.tenant.clone(),
        id: hook.id,
        application_id: hook.application_id,
        url: hook.url.clone(),
        target: reqwest::Url::parse(&hook.url).ok(),
        headers,
        client_id: hook.audit.created_by.clone(),
        status: hook.status,
        max_in_flight: hook.max_in_flight.map(cxhooks_store::MaxInFlight::get),
        max_per_second: hook.max_per_second.map(cxhooks_store::MaxPerSecond::get),
        ordered: hook.ordered,
        pull: hook.is_pull(),
        auth_opened: auth.is_some(),
        auth: auth.flatten().map(Arc::new),
    })
}

/// The in-memory webhook registry.
#[derive(Default)]
pub struct Registry {
    inner: RwLock<Inner>,
    keys: RwLock<HashMap<ApplicationId, (TenantName, Arc<AppKeys>)>>,
}

/// What signing an application's deliveries takes: its RSA key, and its Standard Webhooks
/// secret under `cx+standard`.
#[derive(Debug)]
pub struct AppKeys {
    /// Signs `Cx-Signature`.
    pub rsa: PrivateKey,
    /// Signs `webhook-signature`; `None` under `cx`.
    pub standard: Option<StandardKey>,
    /// `rsa`'s public key: a carried-over signature is checked against it.
    pub public: cxhooks_signing::PublicKey,
    /// `rsa`'s RFC 7638 thumbprint, `Cx-Signature-Key-Id`: made once per key load, so that
    /// an attempt only clones it (shared bytes).
    pub kid: reqwest::header::HeaderValue,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Registry(..)")
    }
}

/// A stored filter compiled, as the matcher takes it: `Err` says why it no longer compiles
/// (it was validated when saved; only a catalog change gets here).
pub fn compile_filter(f: &cxhooks_store::Filter) -> Result<CompiledFilter, String> {
    let catalog = Catalog::builtin();
    let event_type = catalog
        .parse_event_type(&f.event_type)
        .map_err(|e| e.to_string())?;
    let condition = match &f.condition {
        None => None,
        Some(text) => Some(
            cxhooks_condition::compile(text, catalog, event_type.entity())
                .map(|(c, _)| c)
                .map_err(|e| format!("{e:?}"))?,
        ),
    };
    Ok(CompiledFilter {
        event_type,
        condition,
    })
}

fn compile(hook: &Webhook) -> Vec<CompiledFilter> {
    hook.filters
        .iter()
        .filter_map(|f| match compile_filter(f) {
            Ok(compiled) => Some(compiled),
            Err(error) => {
                // Skipping the filter sends nothing rather than everything.
                tracing::warn!(webhook = %hook.id, event_type = %f.event_type, condition = ?f.condition, %error, "filter no longer compiles; skipped");
                None
            }
        })
        .collect()
}

/// The webhook's custom headers and authentication, unsealed; each `None` (logged) when its
/// seal does not open.
fn opened(master: &MasterKey, hook: &Webhook) -> Opened {
    let headers = match crate::seal::open_headers(master, hook) {
        Ok(headers) => Some(headers),
        Err(e) => {
            tracing::error!(webhook = %hook.id, error = %e, "the webhook's custom headers do not open: its deliveries wait");
            None
        }
    };
    let auth = match super::auth::OutboundAuth::open(master, hook) {
        Ok(auth) => Some(auth),
        Err(e) => {
            tracing::error!(webhook = %hook.id, error = %e, "the webhook's authentication does not open: its deliveries wait");
            None
        }
    };
    (headers, auth)
}

impl Registry {
    /// Loads every webhook of the store.
    pub async fn load(store: &Store, master: &MasterKey) -> Result<Self, StoreError> {
        let registry = Registry::default();
        for hook in store.all_webhooks().await? {
            registry.insert(&hook, opened(master, &hook));
        }
        Ok(registry)
    }

    /// Replaces everything with the store's current webhooks (another node changed them), and
    /// forgets cached keys (another node may have rotated one).
    pub async fn reload(&self, store: &Store, master: &MasterKey) -> Result<(), StoreError> {
        let fresh = Registry::load(store, master).await?;
        let inner = std::mem::take(&mut *fresh.inner.write().expect("lock"));
        *self.inner.write().expect("lock") = inner;
        self.keys.write().expect("lock").clear();
        Ok(())
    }

    /// Replaces the webhooks of `tenants` with the store's, and forgets their cached keys;
    /// every other tenant's stay as they are. Conditions are compiled before the lock is
    /// taken, so matching waits only for the swap.
    pub async fn reload_tenants(
        &self,
        store: &Store,
        master: &MasterKey,
        tenants: &[TenantName],
    ) -> Result<(), StoreError> {
        let fresh: Vec<_> = store
            .tenants_webhooks(tenants)
            .await?
            .iter()
            .map(|hook| (info(hook, opened(master, hook)), compile(hook)))
            .collect();
        let mut inner = self.inner.write().expect("lock");
        inner.hooks.retain(|_, h| !tenants.contains(&h.tenant));
        for tenant in tenants {
            inner.matcher.remove_tenant(tenant);
        }
        for (info, filters) in fresh {
            inner.put(info, filters);
        }
        drop(inner);
        self.keys
            .write()
            .expect("lock")
            .retain(|_, (tenant, _)| !tenants.contains(tenant));
        Ok(())
    }

    /// Adds or replaces a webhook. Only enabled webhooks are matched.
    pub fn upsert(
        &self,
        hook: &Webhook,
        headers: Vec<CustomHeader>,
        auth: Option<super::auth::OutboundAuth>,
    ) {
        self.insert(hook, (Some(headers), Some(auth)));
    }

    fn insert(&self, hook: &Webhook, opened: Opened) {
        let filters = compile(hook);
        let info = info(hook, opened);
        self.inner.write().expect("lock").put(info, filters);
    }

    /// Forgets a webhook.
    pub fn remove(&self, tenant: &TenantName, id: WebhookId) {
        let mut inner = self.inner.write().expect("lock");
        inner.matcher.remove(tenant, &id);
        inner.hooks.remove(&id);
    }

    /// Forgets every webhook of an application, and its key.
    pub fn remove_application(&self, tenant: &TenantName, app_id: ApplicationId) {
        let mut inner = self.inner.write().expect("lock");
        let ids: Vec<_> = inner
            .hooks
            .values()
            .filter(|h| h.application_id == app_id)
            .map(|h| h.id)
            .collect();
        for id in ids {
            inner.matcher.remove(tenant, &id);
            inner.hooks.remove(&id);
        }
        drop(inner);
        self.forget_key(app_id);
    }

    /// Marks a webhook `error` (it stops matching).
    pub fn set_error(&self, id: WebhookId) {
        let mut inner = self.inner.write().expect("lock");
        if let Some(old) = inner.hooks.get(&id).cloned() {
            inner.matcher.remove(&old.tenant, &id);
            let info = HookInfo {
                tenant: old.tenant.clone(),
                id,
                application_id: old.application_id,
                url: old.url.clone(),
                target: old.target.clone(),
                headers: old.headers.clone(),
                client_id: old.client_id.clone(),
                status: WebhookStatus::Error,
                max_in_flight: old.max_in_flight,
                max_per_second: old.max_per_second,
                ordered: old.ordered,
                pull: old.pull,
                auth: old.auth.clone(),
                auth_opened: old.auth_opened,
            };
            inner.hooks.insert(id, Arc::new(info));
        }
    }

    /// A webhook by id.
    pub fn hook(&self, id: WebhookId) -> Option<Arc<HookInfo>> {
        self.inner.read().expect("lock").hooks.get(&id).cloned()
    }

    /// The enabled webhooks of `tenant` that `change` selects.
    pub fn matching(
        &self,
        tenant: &TenantName,
        change: &cxhooks_condition::Change<'_>,
    ) -> Vec<Arc<HookInfo>> {
        let inner = self.inner.read().expect("lock");
        inner
            .matcher
            .matching(tenant, change)
            .filter_map(|id| inner.hooks.get(id).cloned())
            .collect()
    }

    /// The keys of an application, loaded (and unsealed) on first use; `None` only when the
    /// store says the application does not exist. Any other failure is an error: it says
    /// nothing about the application.
    pub async fn key(
        &self,
        store: &Store,
        master: &MasterKey,
        tenant: &TenantName,
        app_id: ApplicationId,
    ) -> Result<Option<Arc<AppKeys>>, KeyError> {
        if let Some((_, k)) = self.keys.read().expect("lock").get(&app_id) {
            return Ok(Some(k.clone()));
        }
        let Some(app) = store.application(tenant, app_id).await? else {
            return Ok(None);
        };
        let rsa =
            crate::seal::open_application_key(master, tenant, app_id, &app.sealed_private_key)?;
        let standard = match (&app.signature_scheme, &app.sealed_standard_secret) {
            (SignatureScheme::Cx, _) => None,
            (SignatureScheme::CxStandard, Some(sealed)) => Some(crate::seal::open_standard_secret(
                master, tenant, app_id, sealed,
            )?),
            (SignatureScheme::CxStandard, None) => {
                return Err(KeyError::Seal(crate::seal::SealError::Corrupt {
                    what: "Standard Webhooks secret",
                    id: app_id.to_string(),
                    reason: "the application is under cx+standard without a secret".into(),
                }));
            }
        };
        let public = rsa.public_key();
        let kid = reqwest::header::HeaderValue::from_str(&public.thumbprint())
            .expect("base64url is a valid header value");
        let keys = Arc::new(AppKeys {
            rsa,
            standard,
            public,
            kid,
        });
        self.keys
            .write()
            .expect("lock")
            .insert(app_id, (tenant.clone(), keys.clone()));
        Ok(Some(keys))
    }

    /// Drops a cached key (after rotation or deletion).
    pub fn forget_key(&self, app_id: ApplicationId) {
        self.keys.write().expect("lock").remove(&app_id);
    }
}
