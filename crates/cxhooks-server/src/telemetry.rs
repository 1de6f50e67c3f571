//! OpenTelemetry traces, off unless `[telemetry] otlp_endpoint` is set: one span per publish
//! and one per delivery attempt, with tenant, webhook and outcome, exported over OTLP/HTTP
//! (protobuf) by the SDK's batch processor, which runs on a thread of its own. Off, the hot path
//! pays one `Option` check; on, each span is built from values the caller already has.
//!
//! Spans are built here rather than through `tracing`: the node's provider is part of its
//! state, so several nodes (and tests) in one process export apart.

use crate::config::TelemetryConfig;
use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer as _, TracerProvider as _};
use opentelemetry::{KeyValue, StringValue};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A node's tracer and the provider that exports its spans.
#[derive(Debug)]
pub struct Telemetry {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
}

/// One delivery attempt, as its span records it.
#[derive(Debug)]
pub struct AttemptSpan<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// The application.
    pub application: String,
    /// The webhook.
    pub webhook: String,
    /// The delivery (the notification's `id`).
    pub delivery: String,
    /// 1-based over the delivery's life.
    pub attempt: i64,
    /// When it started, µs since the epoch (the node's clock).
    pub at_us: i64,
    /// How long it took, µs.
    pub duration_us: i64,
    /// The receiver's status, if it answered.
    pub status_code: Option<u16>,
    /// Why it failed, if it did.
    pub error: Option<&'a str>,
    /// `delivered`, `retrying`, `failed` or `gone`.
    pub outcome: &'static str,
}

fn time_of(us: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(u64::try_from(us).unwrap_or(0))
}

fn text(key: &'static str, value: impl Into<StringValue>) -> KeyValue {
    KeyValue::new(key, opentelemetry::Value::String(value.into()))
}

impl Telemetry {
    /// The node's telemetry as configured; `None` when `otlp_endpoint` is not set.
    pub fn from_config(config: &TelemetryConfig) -> Result<Option<Self>, String> {
        let Some(endpoint) = &config.otlp_endpoint else {
            return Ok(None);
        };
        let traces = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(traces)
            .build()
            .map_err(|e| format!("telemetry.otlp_endpoint: {e}"))?;
        let resource = Resource::builder()
            .with_service_name(config.service_name.clone())
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("cxhooks");
        Ok(Some(Self { provider, tracer }))
    }

    /// A publish (of the publish API or a record write) from `started` to now: how many
    /// changes it carried and deliveries it made, and `outcome` (`accepted`, `replayed` or
    /// `error`).
    pub fn publish(
        &self,
        tenant: &str,
        started: SystemTime,
        changes: usize,
        deliveries: usize,
        outcome: &str,
    ) {
        let mut span = self
            .tracer
            .span_builder("publish")
            .with_kind(SpanKind::Server)
            .with_start_time(started)
            .with_attributes([
                text("cx.tenant", tenant.to_owned()),
                KeyValue::new("cx.changes", i64::try_from(changes).unwrap_or(i64::MAX)),
                KeyValue::new(
                    "cx.deliveries",
                    i64::try_from(deliveries).unwrap_or(i64::MAX),
                ),
                text("cx.outcome", outcome.to_owned()),
            ])
            .start(&self.tracer);
        if outcome == "error" {
            span.set_status(Status::error("the changes were not stored"));
        }
        span.end();
    }

    /// One delivery attempt, timed by the node's clock.
    pub fn attempt(&self, a: &AttemptSpan<'_>) {
        let mut attributes = vec![
            text("cx.tenant", a.tenant.to_owned()),
            text("cx.application", a.application.clone()),
            text("cx.webhook", a.webhook.clone()),
            text("cx.delivery", a.delivery.clone()),
            KeyValue::new("cx.attempt", a.attempt),
            text("cx.outcome", a.outcome),
        ];
        if let Some(code) = a.status_code {
            attributes.push(KeyValue::new("http.response.status_code", i64::from(code)));
        }
        let mut span = self
            .tracer
            .span_builder("delivery.attempt")
            .with_kind(SpanKind::Client)
            .with_start_time(time_of(a.at_us))
            .with_attributes(attributes)
            .start(&self.tracer);
        if a.outcome != "delivered" {
            let why = a
                .error
                .map(str::to_owned)
                .or(a.status_code.map(|c| format!("answered {c}")))
                .unwrap_or_default();
            span.set_status(Status::error(why));
        }
        span.end_with_timestamp(time_of(a.at_us + a.duration_us));
    }

    /// Exports every finished span now (tests; shutdown).
    pub fn flush(&self) -> Result<(), String> {
        self.provider.force_flush().map_err(|e| e.to_string())
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
    }
}
