//! What every request handler shares.

use crate::config::{Config, ConfigError, load_master_key};
use crate::identity::tokens::RealmKeys;
use cxhooks_signing::MasterKey;
use cxhooks_store::{MasterKeyCheck, Store, StoreError, StoreLocation};
use std::sync::Arc;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The master key is not the one the store was created with.
    #[error(
        "the master key does not match the one this store was created with: give every node and the CLI the \
         same key (keys.master_key_file or CXHOOKS_KEYS__MASTER_KEY)"
    )]
    MasterKeyMismatch,
    /// A command that works on an existing store found none where it was pointed.
    #[error(
        "no store at {}: create one with `cxhooks tenant create NAME` or `cxhooks serve`, or name the \
         existing one with --data-dir DIR (or --database-url)", .0.display()
    )]
    NoStore(std::path::PathBuf),
    /// The OpenTelemetry exporter could not be built.
    #[error("{0}")]
    Telemetry(String),
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Opens the configured store, migrates it, and loads and checks the master key: what both
/// `serve` and the administration commands need.
pub async fn open_store(config: &Config) -> Result<(Store, Arc<MasterKey>), StartError> {
    let master = load_master_key(config)?;
    let options = cxhooks_store::StoreOptions {
        acquire_timeout: config.store.acquire_timeout,
    };
    let store = Store::open_with(&config.store_location(), options).await?;
    if store.check_master_key(&master.fingerprint()).await? == MasterKeyCheck::Mismatch {
        return Err(StartError::MasterKeyMismatch);
    }
    Ok((store, Arc::new(master)))
}

/// Like [`open_store`], for a store that must exist already: a command that reads or changes
/// what is in a store refuses to create an empty one (and a master key) in a mistyped
/// `--data-dir`. A PostgreSQL database that does not exist fails to connect by itself.
pub async fn open_existing_store(config: &Config) -> Result<(Store, Arc<MasterKey>), StartError> {
    if let StoreLocation::Sqlite { path } = config.store_location()
        && !path.exists()
    {
        return Err(StartError::NoStore(
            std::path::absolute(&path).unwrap_or(path),
        ));
    }
    open_store(config).await
}

/// Shared state of the HTTP service.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The store.
    pub store: Store,
    /// The master key.
    pub master: Arc<MasterKey>,
    /// Effective configuration.
    pub config: Arc<Config>,
    /// Base URL of this service (no trailing slash).
    pub public_url: String,
    /// Where this service answers: webhooks must not point there.
    pub own_addresses: crate::net::OwnAddresses,
    /// Realm keys in memory.
    pub keys: Arc<RealmKeys>,
    /// Bearer tokens' standing (client exists, tenant feature on), cached.
    pub standings: Arc<crate::identity::standing::Standings>,
    /// Webhook registry, HTTP sender, dispatcher wake-up.
    pub delivery: Arc<crate::delivery::Delivery>,
    /// The management API's and the token endpoint's per-client rate limit.
    pub limiter: Arc<crate::service::access::ApiLimiter>,
    /// Console sign-in failures per account and per address.
    pub sign_ins: Arc<crate::identity::throttle::SignInThrottle>,
    /// This node's Prometheus metrics.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The keys of external OpenID Connect issuers (`[auth.issuers]`), fetched and cached.
    pub external: Arc<crate::identity::external::ExternalIssuers>,
    /// OpenTelemetry spans of publishes and attempts; `None` unless `[telemetry]` is set.
    pub telemetry: Option<Arc<crate::telemetry::Telemetry>>,
    /// The time the delivery pipeline runs by.
    pub clock: crate::clock::Clock,
    /// Whether the dispatcher runs by itself or is stepped by the caller.
    pub dispatcher: Dispatcher,
}

/// How the dispatcher runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dispatcher {
    /// A loop claims due deliveries as they come (every node).
    #[default]
    Loop,
    /// Only [`crate::delivery::worker::step`] claims: a test moves the clock and steps, and
    /// "nothing was due" is an answer, not a sleep that a slow pipeline would also pass.
    Stepped,
}

impl AppState {
    /// Builds the state, loading every webhook into the registry; `public_url` is the
    /// configured one or `http://{bound address}`.
    pub async fn new(
        store: Store,
        master: Arc<MasterKey>,
        config: Config,
        bound: std::net::SocketAddr,
    ) -> Result<Self, StartError> {
        use crate::delivery::{Delivery, registry::Registry, sender::Sender};
        let registry = Registry::load(&store, &master).await?;
        let public_url = config
            .server
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
            .trim_end_matches('/')
            .to_owned();
        let own_addresses = crate::net::OwnAddresses::new(bound, &public_url);
        let sender = Sender::new(&config.delivery, own_addresses.clone())?;
        let delivery = Arc::new(Delivery::new(registry, sender));
        let limiter = Arc::new(crate::service::access::ApiLimiter::new(
            config.limits.api_requests_per_client_per_s,
        ));
        let sign_ins = Arc::new(crate::identity::throttle::SignInThrottle::new(
            &config.limits,
        ));
        let metrics = Arc::new(crate::metrics::Metrics::new(&config.metrics));
        let telemetry = crate::telemetry::Telemetry::from_config(&config.telemetry)
            .map_err(StartError::Telemetry)?
            .map(Arc::new);
        Ok(Self {
            store,
            master,
            config: Arc::new(config),
            public_url,
            own_addresses,
            keys: Arc::new(RealmKeys::default()),
            standings: Arc::default(),
            delivery,
            metrics,
            limiter,
            sign_ins,
            telemetry,
            external: Arc::default(),
            clock: crate::clock::Clock::system(),
            dispatcher: Dispatcher::Loop,
        })
    }
}
