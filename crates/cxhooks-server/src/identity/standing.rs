//! A token's standing, checked on every bearer request after its signature: its client still
//! exists, and its tenant still exists with or without the webhooks feature. A token outlives
//! neither its client nor the feature it was issued under.
//!
//! Cached per (tenant, client) and dropped whenever the store's configuration version moves
//! (every identity write bumps it; `maintenance` polls it each second), so that a revocation
//! reaches every node within about two seconds.

use cxhooks_store::{ScopeSet, Store, StoreError, TenantName};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// What the store says of a token's client now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// The client (or its whole tenant) was deleted.
    Gone,
    /// The client exists; its tenant has the webhooks feature on or off.
    Active {
        /// The tenant's webhooks feature.
        webhooks_enabled: bool,
        /// The external issuer the client is registered for; `None`: one of cxhooks' own.
        issuer: Option<String>,
        /// The client's scopes (what an external issuer's token may grant here).
        scopes: ScopeSet,
    },
}

/// The cache of [`Standing`]s.
#[derive(Debug, Default)]
pub struct Standings {
    /// Shared, so that a request's lookup copies a pointer, not the client's scopes and issuer.
    cache: RwLock<HashMap<(TenantName, String), Arc<Standing>>>,
    /// Moves with every [`Standings::forget_all`]: a lookup that began before it is not cached.
    generation: AtomicU64,
}

impl Standings {
    /// The standing of `client` of `tenant`, from the cache or the store.
    pub async fn of(
        &self,
        store: &Store,
        tenant: &TenantName,
        client: &str,
    ) -> Result<Arc<Standing>, StoreError> {
        let key = (tenant.clone(), client.to_owned());
        if let Some(s) = self.cache.read().expect("lock").get(&key) {
            return Ok(s.clone());
        }
        let generation = self.generation.load(Ordering::Acquire);
        let standing = Arc::new(match store.tenant(tenant).await? {
            None => Standing::Gone,
            Some(t) => match store.client(tenant, client).await? {
                None => Standing::Gone,
                Some(c) => Standing::Active {
                    webhooks_enabled: t.webhooks_enabled,
                    issuer: c.issuer,
                    scopes: c.default_scopes,
                },
            },
        });
        let mut cache = self.cache.write().expect("lock");
        if self.generation.load(Ordering::Acquire) == generation {
            cache.insert(key, standing.clone());
        }
        Ok(standing)
    }

    /// Drops every cached standing (the configuration version moved).
    pub fn forget_all(&self) {
        let mut cache = self.cache.write().expect("lock");
        self.generation.fetch_add(1, Ordering::AcqRel);
        cache.clear();
    }
}
