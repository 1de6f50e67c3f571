//! Who may do what: the caller's client and its Webhooks permission matrix (seed 001), applied
//! to applications and webhooks alike. Tenant isolation is not checked here: every store lookup
//! names the caller's tenant, so another tenant's object is simply not found (404).

use crate::error::ApiError;
use crate::identity::auth::Principal;
use crate::state::AppState;
use cxhooks_store::{Access, Client, ClientCode, OnOff, Page, Permissions};

/// The verbs of the permission matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// `read`
    Read,
    /// `update` (also test, redeliver, enable, disable, rotate-secret)
    Update,
    /// `delete`
    Delete,
}

impl Verb {
    fn name(self) -> &'static str {
        match self {
            Verb::Read => "read",
            Verb::Update => "update",
            Verb::Delete => "delete",
        }
    }
}

/// A request's caller: the verified token and the client's current permissions.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The verified token.
    pub principal: Principal,
    /// The client as stored now (permissions may have changed since the token was issued).
    pub client: Client,
}

/// The per-client rate limit of the management API and of the token endpoint
/// (`limits.api_requests_per_client_per_s`): a token bucket per client that refills at that rate
/// and holds one second's worth. A client has two buckets, one for its API requests and one for
/// its token requests, so fetching a token does not eat into its API budget.
///
/// Buckets are keyed by a hash of (budget, tenant, client id) under a per-process random key:
/// the token endpoint counts requests for client ids nobody has verified yet, and a hash keeps
/// each entry the same small size whatever id is sent. Buckets that have refilled (a client
/// quiet for a second) are swept out every [`SWEEP_EVERY`], which bounds memory by the number of
/// client ids seen in that time.
pub struct ApiLimiter {
    per_s: u32,
    buckets: Option<governor::DefaultKeyedRateLimiter<u64>>,
    keys: std::hash::RandomState,
    next_sweep: std::sync::Mutex<std::time::Instant>,
}

/// How often full buckets are dropped from [`ApiLimiter`].
pub const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

impl std::fmt::Debug for ApiLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiLimiter")
            .field("per_s", &self.per_s)
            .finish()
    }
}

/// A request over its client's rate: retry after this many seconds (at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

impl ApiLimiter {
    /// A limiter of `per_s` requests per client per second; 0 turns it off.
    pub fn new(per_s: u32) -> Self {
        let buckets = std::num::NonZeroU32::new(per_s)
            .map(|n| governor::RateLimiter::keyed(governor::Quota::per_second(n)));
        Self {
            per_s,
            buckets,
            keys: std::hash::RandomState::new(),
            next_sweep: std::sync::Mutex::new(std::time::Instant::now() + SWEEP_EVERY),
        }
    }

    /// The configured rate.
    pub fn per_s(&self) -> u32 {
        self.per_s
    }

    /// Takes one request from the client's API bucket, or answers 429 with `Retry-After`.
    pub fn check(&self, principal: &Principal) -> Result<(), ApiError> {
        let key = (
            "api",
            principal.tenant.as_str(),
            principal.client_id.as_str(),
        );
        self.take(key).map_err(|RetryAfter(secs)| {
            ApiError::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many requests",
                format!(
                    "this client sent more than {} management API requests in a second \
                     (limits.api_requests_per_client_per_s); retry after {secs} s",
                    self.per_s
                ),
            )
            .with_header(axum::http::header::RETRY_AFTER, &secs.to_string())
        })
    }

    /// Takes one token request of `client_id` (as sent, verified or not) from its bucket.
    pub fn check_token_request(
        &self,
        tenant: &cxhooks_store::TenantName,
        client_id: &str,
    ) -> Result<(), RetryAfter> {
        self.take(("token", tenant.as_str(), client_id))
    }

    fn take(&self, key: (&str, &str, &str)) -> Result<(), RetryAfter> {
        use governor::clock::{Clock as _, DefaultClock};
        use std::hash::BuildHasher as _;
        let Some(buckets) = &self.buckets else {
            return Ok(());
        };
        self.sweep(buckets);
        buckets
            .check_key(&self.keys.hash_one(key))
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                // Whole seconds, rounded up: Retry-After has no fractions.
                RetryAfter((wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1))
            })
    }

    /// Drops the buckets that have refilled, at most every [`SWEEP_EVERY`]; a request that finds
    /// another one sweeping goes on without waiting.
    fn sweep(&self, buckets: &governor::DefaultKeyedRateLimiter<u64>) {
        let now = std::time::Instant::now();
        if let Ok(mut next) = self.next_sweep.try_lock()
            && now >= *next
        {
            *next = now + SWEEP_EVERY;
            buckets.retain_recent();
            buckets.shrink_to_fit();
        }
    }
}

/// What a console operator acts as: a client with every permission, recorded in audit fields
/// as `operator:{email}`.
fn operator_client(principal: &Principal, email: &str) -> Client {
    let now = principal.expires_at;
    Client {
        tenant: principal.tenant.clone(),
        client_id: format!("operator:{email}"),
        name: email.to_owned(),
        code: ClientCode::parse("urn:cxhooks/console").expect("a valid code"),
        secret_hash: Vec::new(),
        issuer: None,
        default_scopes: principal.scopes.clone(),
        permissions: Permissions {
            create: OnOff::On,
            read: Access::All,
            update: Access::All,
            delete: Access::All,
        },
        created_at: now,
        updated_at: now,
    }
}

impl Caller {
    /// Loads the caller's client; a token whose client was deleted is no longer valid.
    pub async fn load(state: &AppState, principal: Principal) -> Result<Self, ApiError> {
        if let Some(email) = &principal.operator {
            let client = operator_client(&principal, email);
            return Ok(Self { principal, client });
        }
        state.limiter.check(&principal)?;
        let client = state
            .store
            .client(&principal.tenant, &principal.client_id)
            .await?
            .ok_or_else(|| ApiError::unauthorized(Some("its client no longer exists")))?;
        Ok(Self { principal, client })
    }

    /// The client id, as recorded in `_createdBy` / `_updatedBy`.
    pub fn id(&self) -> &str {
        &self.client.client_id
    }

    fn access(&self, verb: Verb) -> Access {
        let p = &self.client.permissions;
        match verb {
            Verb::Read => p.read,
            Verb::Update => p.update,
            Verb::Delete => p.delete,
        }
    }

    /// `create: on` is needed to create applications and webhooks.
    pub fn may_create(&self, what: &str) -> Result<(), ApiError> {
        if self.client.permissions.create == OnOff::On {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "creating {what} needs the Webhooks permission create: on, and this client has create: off"
            ))
            .with("permission", "create".into()))
        }
    }

    /// Whether the caller may `verb` an object created by `created_by`.
    pub fn may(&self, verb: Verb, what: &str, created_by: &str) -> Result<(), ApiError> {
        let forbid =
            |why: String| Err(ApiError::forbidden(why).with("permission", verb.name().into()));
        match self.access(verb) {
            Access::All => Ok(()),
            Access::Owner if created_by == self.id() => Ok(()),
            Access::Owner => forbid(format!(
                "this client's Webhooks permission {} is owner, and this {what} was created by another client",
                verb.name()
            )),
            Access::None => forbid(format!(
                "this client's Webhooks permission {} is none",
                verb.name()
            )),
        }
    }

    /// Narrows a list page to what the caller may read: all, its own, or nothing (403).
    pub fn readable(&self, mut page: Page) -> Result<Page, ApiError> {
        match self.client.permissions.read {
            Access::All => Ok(page),
            Access::Owner => {
                page.created_by = Some(self.id().to_owned());
                Ok(page)
            }
            Access::None => Err(ApiError::forbidden(
                "this client's Webhooks permission read is none",
            )
            .with("permission", "read".into())),
        }
    }
}
