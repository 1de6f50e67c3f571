//! `--series FILE`: one JSON line every `--series-every` seconds during the measured run, for a
//! soak's plot: deliveries and their latency in that interval, the process's RSS, the store's
//! size on disk, pending deliveries and what the purge removed so far (`--retention`).

use super::BenchArgs;
use super::measure::{Latencies, Seen, round, status_mb};
use cxhooks_store::{Store, StoreLocation};
use serde_json::json;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Writes the series until the returned task is aborted.
pub(super) fn spawn(
    args: &BenchArgs,
    store: &Store,
    location: &StoreLocation,
    seen: &Arc<Seen>,
    node_url: &str,
) -> Result<Option<tokio::task::JoinHandle<()>>, String> {
    let Some(path) = args.series.clone() else {
        return Ok(None);
    };
    let mut file =
        std::fs::File::create(&path).map_err(|e| format!("--series {}: {e}", path.display()))?;
    let every = Duration::from_secs(args.series_every.max(1));
    let (store, location, seen) = (store.clone(), location.clone(), seen.clone());
    let metrics = format!("{node_url}/metrics");
    Ok(Some(tokio::spawn(async move {
        let http = reqwest::Client::new();
        let started = Instant::now();
        let mut delivered_before = 0;
        let mut tick = tokio::time::interval_at((started + every).into(), every);
        loop {
            tick.tick().await;
            let interval = seen.interval_us.take();
            let delivered = seen.count.load(Ordering::Relaxed);
            let line = json!({
                "t_s": started.elapsed().as_secs(),
                "delivered": delivered - delivered_before,
                "latency_ms": interval.percentiles(),
                "rss_mb": status_mb("VmRSS:"),
                "store_mb": store_mb(&store, &location).await,
                "pending": store.pending_count().await.ok(),
                "purged": purged(&http, &metrics).await,
            });
            delivered_before = delivered;
            if writeln!(file, "{line}")
                .and_then(|()| file.flush())
                .is_err()
            {
                return;
            }
        }
    })))
}

/// The store's size on disk, MB: an SQLite file with its write-ahead log, read from the file
/// system (a checkpoint to measure it would stall the writer mid-run); PostgreSQL's tables.
async fn store_mb(store: &Store, location: &StoreLocation) -> Option<f64> {
    let bytes = match location {
        StoreLocation::Sqlite { path } => ["", "-wal"]
            .iter()
            .filter_map(|end| {
                let mut file = path.clone().into_os_string();
                file.push(end);
                std::fs::metadata(file).ok().map(|m| m.len())
            })
            .sum::<u64>() as f64,
        _ => store.size_bytes().await.ok()? as f64,
    };
    Some(round(bytes / 1_048_576.0))
}

/// What the node's purge removed so far, by `what`, from its `/metrics`.
async fn purged(http: &reqwest::Client, metrics: &str) -> serde_json::Value {
    let Ok(text) = http.get(metrics).send().await else {
        return json!(null);
    };
    let text = text.text().await.unwrap_or_default();
    let counts: serde_json::Map<_, _> = text
        .lines()
        .filter_map(|l| l.strip_prefix("cxhooks_purged_total{what=\""))
        .filter_map(|l| {
            let (what, n) = l.split_once("\"} ")?;
            Some((what.to_owned(), json!(n.parse::<f64>().ok()? as u64)))
        })
        .collect();
    json!(counts)
}

impl Latencies {
    /// What was recorded since the last take, leaving it empty.
    pub(super) fn take(&self) -> Self {
        let fresh = Self::default();
        std::mem::swap(
            &mut *self.0.lock().expect("not poisoned"),
            &mut *fresh.0.lock().expect("not poisoned"),
        );
        fresh
    }
}
