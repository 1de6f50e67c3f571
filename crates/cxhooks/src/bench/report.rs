//! The result line of an end-to-end run: rates, latencies, memory, store bytes and CPU per
//! delivery, as one JSON object.

use super::BenchArgs;
use super::acks::Acks;
use super::measure::{Seen, round};
use super::noisy::Noisy;
use cxhooks_store::StoreLocation;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// What one end-to-end run measured, for its result line.
pub(super) struct Measured {
    /// What the (healthy tenants') receiver saw.
    pub(super) seen: Arc<Seen>,
    pub(super) acks: Arc<Acks>,
    /// With `--faulty`: the faulty tenants, and the rest of the noisy run.
    pub(super) noisy: Option<Noisy>,
    pub(super) cpu: Option<(f64, f64, f64, f64)>,
    pub(super) published_in: Duration,
    pub(super) delivered_in: Duration,
    pub(super) size_before: i64,
    /// PostgreSQL's activity during the run: WAL bytes, commits, row versions written.
    pub(super) pg: Option<cxhooks_store::PgActivity>,
    pub(super) peak_rss: Option<f64>,
    pub(super) node_shares: Vec<u64>,
}

/// The line for a run of `args` on `location` that measured `m`, with the store's size, live
/// size and pending deliveries once the nodes had stopped.
pub(super) fn line(
    args: &BenchArgs,
    location: &StoreLocation,
    m: &Measured,
    size_after: i64,
    pending: i64,
    size_live: i64,
) -> Value {
    // Every receiver's deliveries, the faulty tenants' included.
    let (mut delivered, mut latency, mut after_ack) = (
        m.seen.count.load(Ordering::Relaxed),
        m.seen.latencies_us.percentiles(),
        m.seen.after_ack_us.percentiles(),
    );
    if let Some(noisy) = &m.noisy {
        let faulty = &noisy.faulty.seen;
        delivered += noisy.faulty_delivered();
        latency = m
            .seen
            .latencies_us
            .merged(&faulty.latencies_us)
            .percentiles();
        after_ack = m
            .seen
            .after_ack_us
            .merged(&faulty.after_ack_us)
            .percentiles();
    }
    let ack_latency = m.acks.acks_us.percentiles();
    // Per delivered notification; with the receiver down, per pending one.
    let stored = if args.receiver_down {
        u64::try_from(pending).unwrap_or(0)
    } else {
        delivered
    };
    let deliveries_per_s = round(delivered as f64 / m.delivered_in.as_secs_f64());
    let mut line = json!({
        "mode": "end-to-end", "store": null, "rsa_bits": args.rsa_bits,
        "signing_threads": cxhooks_server::delivery::signing_threads(),
        "changes": args.changes, "deliveries": delivered, "rate": args.rate,
        "changes_per_s": round(args.changes as f64 / m.published_in.as_secs_f64()),
        "deliveries_per_s": deliveries_per_s,
        "latency_ms": latency,
        "ack_latency_ms": ack_latency,
        "after_ack_latency_ms": after_ack,
        "warmup_s": args.warmup,
        "vacuum": matches!(location, StoreLocation::Postgres { .. }) && !args.no_vacuum,
        "signatures_per_s": deliveries_per_s,
        "peak_rss_mb": m.peak_rss,
        "store_bytes_per_delivery": round((size_after - m.size_before) as f64 / stored.max(1) as f64),
        "store_live_bytes_per_delivery": round((size_live - m.size_before) as f64 / stored.max(1) as f64),
        "postgres_per_delivery": m.pg.map(|pg| {
            let per = |n: i64| (n as f64 * 100.0 / stored.max(1) as f64).round() / 100.0;
            json!({
                "wal_bytes": per(pg.wal_bytes),
                "commits": per(pg.commits),
                "rows_written": per(pg.rows_written),
            })
        }),
        "nodes": args.nodes, "node_deliveries": m.node_shares, "pending": pending,
        "cpu": m.cpu.map(|(idle, steal, process_s, signing_s)| json!({
            "machine_idle_share": round(idle * 1000.0) / 1000.0,
            "machine_steal_share": round(steal * 1000.0) / 1000.0,
            "process_cpu_us_per_delivery": round(process_s * 1e6 / delivered.max(1) as f64),
            "signing_cpu_us_per_delivery": round(signing_s * 1e6 / delivered.max(1) as f64),
        })),
    });
    if let (Some(noisy), Value::Object(line)) = (&m.noisy, &mut line) {
        line.extend(noisy.keys(args, &m.seen, pending));
    }
    line
}
