//! Prometheus metrics at `/metrics` (Prometheus text 0.0.4, or OpenMetrics when asked:
//! [`exposition`]), `/healthz` and `/readyz`.
//!
//! Counters and the attempt-latency histogram are updated where the work happens; queue depth
//! and the oldest pending delivery's age are read from the store when scraped, so every node
//! sharing a store reports the same, whole queue.

mod exposition;

use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// The `outcome` label of `cxhooks_deliveries`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    /// `delivered`, `retrying`, `failed`, `gone` or `cancelled`.
    pub outcome: &'static str,
}

/// The labels of `cxhooks_tenant_deliveries`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TenantOutcome {
    /// The tenant, or `_other` past `metrics.max_series`.
    pub tenant: String,
    /// As in `cxhooks_deliveries`.
    pub outcome: &'static str,
}

/// The labels of `cxhooks_webhook_deliveries`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookOutcome {
    /// The webhook's tenant (`_other` with the webhook past `metrics.max_series`).
    pub tenant: String,
    /// The webhook's id, or `_other` past `metrics.max_series`.
    pub webhook: String,
    /// As in `cxhooks_deliveries`.
    pub outcome: &'static str,
}

/// The owners (tenants or webhooks) a per-owner family counts under their own label: the first
/// `max` seen; every later one is `_other`.
#[derive(Debug)]
struct Admitted {
    max: usize,
    seen: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl Admitted {
    fn new(max: u32) -> Self {
        Self {
            max: max as usize,
            seen: Default::default(),
        }
    }

    /// `owner`, if it has (or may now have) a series of its own.
    fn admit(&self, owner: &str) -> bool {
        let mut seen = self.seen.lock().expect("not poisoned");
        seen.contains(owner) || (seen.len() < self.max && seen.insert(owner.to_owned()))
    }
}

/// Label of the owners counted together past `metrics.max_series`.
const OTHER: &str = "_other";

/// The `cause` label of `cxhooks_deliveries_deferred`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Cause {
    /// `key` (the application's key could not be read or opened), `headers` (the webhook's
    /// custom headers did not open), `auth` (its outbound authentication did not open) or
    /// `signing`.
    pub cause: &'static str,
}

/// The `table` label of `cxhooks_store_vacuums`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Table {
    /// The store's table.
    pub table: String,
}

/// The `what` label of `cxhooks_purged`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Purged {
    /// `deliveries` (with their attempts) or `changes`.
    pub what: &'static str,
}

/// The `why` label of `cxhooks_claims_released`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Released {
    /// `stale` (the claim waited for a send slot until its lease was nearly over), `no_room`
    /// (claimed past the webhook's room, a race with a publish's hand-off) or `unknown_webhook`
    /// (not in this node's registry yet).
    pub why: &'static str,
}

/// The `scope` label of `cxhooks_config_reloads`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Scope {
    /// `tenants` (only the tenants the store named as changed) or `all`.
    pub scope: &'static str,
}

/// This node's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Changes accepted (publish API and record writes).
    pub changes_accepted: Counter,
    /// Delivery attempts and cancellations, by what happened.
    pub deliveries: Family<Outcome, Counter>,
    /// Deliveries put off by a fault of this node before sending, by cause.
    deferred: Family<Cause, Counter>,
    /// How long attempts took, seconds.
    pub attempt_seconds: Histogram,
    /// PostgreSQL: the store's tables this node vacuumed (`store.vacuum`), by table.
    pub store_vacuums: Family<Table, Counter>,
    /// Rows this node's retention purge deleted, by what they were.
    pub purged: Family<Purged, Counter>,
    /// Claims this node gave back unsent, by why.
    released: Family<Released, Counter>,
    /// Reloads of the webhook registry after the configuration version moved, by scope.
    pub config_reloads: Family<Scope, Counter>,
    /// Outcomes per tenant and per webhook (`[metrics]`), when on.
    per_tenant: Option<(Family<TenantOutcome, Counter>, Admitted)>,
    per_webhook: Option<(Family<WebhookOutcome, Counter>, Admitted)>,
    queue_depth: Gauge,
    oldest_pending_seconds: Gauge<f64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(&crate::config::MetricsConfig::default())
    }
}

impl Metrics {
    /// The node's metrics, with the per-owner families `config` turns on.
    pub fn new(config: &crate::config::MetricsConfig) -> Self {
        let mut registry = Registry::with_prefix("cxhooks");
        let changes_accepted = Counter::default();
        registry.register(
            "changes_accepted",
            "Changes accepted",
            changes_accepted.clone(),
        );
        let deliveries = Family::<Outcome, Counter>::default();
        registry.register(
            "deliveries",
            "Delivery outcomes: attempts by result, and deliveries cancelled",
            deliveries.clone(),
        );
        let deferred = Family::<Cause, Counter>::default();
        registry.register(
            "deliveries_deferred",
            "Deliveries put off by a fault of this node before sending (not sent, retried), by cause",
            deferred.clone(),
        );
        let attempt_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        registry.register(
            "attempt_duration_seconds",
            "Time from sending a delivery to its answer (or failure)",
            attempt_seconds.clone(),
        );
        let store_vacuums = Family::<Table, Counter>::default();
        registry.register(
            "store_vacuums",
            "PostgreSQL: vacuums of the store's tables run by this node, by table",
            store_vacuums.clone(),
        );
        let purged = Family::<Purged, Counter>::default();
        registry.register(
            "purged",
            "Finished deliveries (with their attempts) and changes deleted past their retention by this node",
            purged.clone(),
        );
        let released = Family::<Released, Counter>::default();
        registry.register(
            "claims_released",
            "Claimed deliveries this node gave back unsent (to be claimed again), by why",
            released.clone(),
        );
        let config_reloads = Family::<Scope, Counter>::default();
        registry.register(
            "config_reloads",
            "Reloads of this node's webhooks after the store's configuration changed: of the tenants changed, or all",
            config_reloads.clone(),
        );
        let per_tenant = config.per_tenant.then(|| {
            let family = Family::<TenantOutcome, Counter>::default();
            registry.register(
                "tenant_deliveries",
                "Delivery outcomes by tenant (metrics.per_tenant; past metrics.max_series tenants, as _other)",
                family.clone(),
            );
            (family, Admitted::new(config.max_series))
        });
        let per_webhook = config.per_webhook.then(|| {
            let family = Family::<WebhookOutcome, Counter>::default();
            registry.register(
                "webhook_deliveries",
                "Delivery outcomes by webhook (metrics.per_webhook; past metrics.max_series webhooks, as _other)",
                family.clone(),
            );
            (family, Admitted::new(config.max_series))
        });
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "Deliveries pending or waiting to be retried (whole store)",
            queue_depth.clone(),
        );
        let oldest_pending_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "oldest_pending_age_seconds",
            "Age of the oldest delivery not yet delivered, failed or cancelled (whole store)",
            oldest_pending_seconds.clone(),
        );
        Self {
            registry,
            changes_accepted,
            deliveries,
            deferred,
            attempt_seconds,
            store_vacuums,
            purged,
            released,
            config_reloads,
            per_tenant,
            per_webhook,
            queue_depth,
            oldest_pending_seconds,
        }
    }

    /// Counts one outcome.
    pub fn delivery(&self, outcome: &'static str) {
        self.deliveries.get_or_create(&Outcome { outcome }).inc();
    }

    /// Whether outcomes are also counted per tenant or per webhook ([`Metrics::owned`]).
    pub fn per_owner(&self) -> bool {
        self.per_tenant.is_some() || self.per_webhook.is_some()
    }

    /// Counts one outcome of `webhook` of `tenant` in the per-owner families that are on.
    pub fn owned(&self, tenant: &str, webhook: &str, outcome: &'static str) {
        if let Some((family, admitted)) = &self.per_tenant {
            let tenant = if admitted.admit(tenant) {
                tenant
            } else {
                OTHER
            };
            let labels = TenantOutcome {
                tenant: tenant.to_owned(),
                outcome,
            };
            family.get_or_create(&labels).inc();
        }
        if let Some((family, admitted)) = &self.per_webhook {
            let (tenant, webhook) = if admitted.admit(webhook) {
                (tenant, webhook)
            } else {
                (OTHER, OTHER)
            };
            let labels = WebhookOutcome {
                tenant: tenant.to_owned(),
                webhook: webhook.to_owned(),
                outcome,
            };
            family.get_or_create(&labels).inc();
        }
    }

    /// Counts `n` claims given back unsent.
    pub fn released(&self, why: &'static str, n: usize) {
        let counter = self.released.get_or_create(&Released { why });
        counter.inc_by(n as u64);
    }

    /// Counts one delivery put off by a fault of this node.
    pub fn deferred(&self, cause: &'static str) {
        self.deferred.get_or_create(&Cause { cause }).inc();
    }
}

/// `GET /metrics`: Prometheus text 0.0.4, or OpenMetrics 1.0 when `Accept` ranks it first.
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let m = &state.metrics;
    let now = chrono::Utc::now().timestamp_micros();
    match state.store.queue_stats().await {
        Ok((depth, oldest)) => {
            m.queue_depth.set(depth);
            m.oldest_pending_seconds
                .set(oldest.map_or(0.0, |at| (now - at).max(0) as f64 / 1e6));
        }
        Err(e) => tracing::warn!(error = %e, "reading queue depth for /metrics failed"),
    }
    let mut text = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &m.registry) {
        return crate::error::ApiError::internal(e).into_response();
    }
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    if exposition::wants_openmetrics(accept) {
        ([(header::CONTENT_TYPE, exposition::OPENMETRICS_TEXT)], text).into_response()
    } else {
        let text = exposition::classic(&text);
        ([(header::CONTENT_TYPE, exposition::PROMETHEUS_TEXT)], text).into_response()
    }
}

/// `GET /readyz`: 200 once the store answers, 503 while it does not.
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.config_version().await {
        Ok(_) => "ready".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the store does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, crate::error::RETRY_AFTER_S.to_string())],
                "the store does not answer",
            )
                .into_response()
        }
    }
}
