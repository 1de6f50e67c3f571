//! The noisy-neighbour bench (`--faulty N --fault …`, issue 25): its flags' checks, the backlog
//! queued for the faulty tenants before the measured run, the wait for the drain after a
//! recovery, and the line's `healthy`, `faulty`, `backlog` and `recovery` objects.

use super::BenchArgs;
use super::drain::Drain;
use super::load::publish;
use super::measure::{Seen, round};
use super::receiver::{Fault, Faulty, SLOW};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Changes per publish of the backlog.
const BACKLOG_BATCH: u64 = 500;

/// Batch numbers of the backlog start here, far above the measured run's, so that no
/// delivery of the backlog is taken for one of the run's batches (`Acks`).
const BACKLOG_FIRST_BATCH: u64 = 1 << 40;

/// The service's `delivery.lease`: an attempt must end before its claim does.
const LEASE_S: u64 = 60;

/// Refuses flag combinations that cannot mean anything.
pub(super) fn check_args(args: &BenchArgs) -> Result<(), String> {
    let noisy = args.faulty > 0;
    if noisy && args.faulty >= args.tenants {
        return Err(format!(
            "--faulty {} needs more tenants than that: at least one must stay healthy (--tenants {})",
            args.faulty, args.tenants
        ));
    }
    match (noisy, args.fault) {
        (false, Some(_)) => return Err("--fault needs --faulty N: which tenants fail".into()),
        (true, None) => {
            return Err(
                "--faulty needs --fault hang|503|refused|slow, or none for the fault-free run"
                    .into(),
            );
        }
        _ => {}
    }
    if !noisy && (args.faulty_backlog > 0 || args.recover_after.is_some()) {
        return Err("--faulty-backlog and --recover-after need --faulty N and --fault".into());
    }
    if args.settle > 0 && args.faulty_backlog == 0 && args.preload_log == 0 {
        return Err(
            "--settle waits after a bulk load: add --faulty-backlog N or --preload-log N".into(),
        );
    }
    if args.recover_after.is_some() && args.fault == Some(Fault::None) {
        return Err("--recover-after needs a fault to recover from: not --fault none".into());
    }
    if noisy && args.receiver_down {
        return Err(
            "--faulty is not for --receiver-down: the healthy tenants need their receiver".into(),
        );
    }
    if let Some(t) = args.delivery_timeout
        && !(1..LEASE_S).contains(&t)
    {
        return Err(format!(
            "--delivery-timeout must be 1 to {} seconds: below delivery.lease ({LEASE_S} s)",
            LEASE_S - 1
        ));
    }
    // A slow answer that comes after the service has given up would be counted as delivered.
    if args.fault == Some(Fault::Slow)
        && args
            .delivery_timeout
            .is_some_and(|t| Duration::from_secs(t) <= SLOW)
    {
        return Err(format!(
            "--fault slow answers after {} s: give a --delivery-timeout above that",
            SLOW.as_secs()
        ));
    }
    Ok(())
}

/// How many of the run's changes go to the healthy tenants and to the faulty ones: batch `b`
/// goes to tenant `b % tenants`, and the first `faulty` tenants are the faulty ones.
pub(super) fn changes_split(args: &BenchArgs) -> (u64, u64) {
    let batches = args.changes.div_ceil(args.batch);
    (0..batches).fold((0, 0), |(healthy, faulty), b| {
        let n = args.batch.min(args.changes - b * args.batch);
        if ((b % args.tenants as u64) as usize) < args.faulty {
            (healthy, faulty + n)
        } else {
            (healthy + n, faulty)
        }
    })
}

/// Publishes `args.faulty_backlog` changes to the faulty tenants (`tokens`) in batches of
/// [`BACKLOG_BATCH`], `args.publishers` at a time, through the same API as the run. Returns
/// how long it took.
pub(super) async fn queue_backlog(
    load: &tokio::runtime::Runtime,
    args: &BenchArgs,
    urls: &Arc<Vec<String>>,
    tokens: Vec<String>,
) -> Result<Duration, String> {
    let started = Instant::now();
    let (tokens, next) = (Arc::new(tokens), Arc::new(AtomicU64::new(0)));
    let (total, batches) = (
        args.faulty_backlog,
        args.faulty_backlog.div_ceil(BACKLOG_BATCH),
    );
    let http = reqwest::Client::new();
    let tasks: Vec<_> = (0..args.publishers.max(1))
        .map(|_| {
            let (http, urls, tokens, next) =
                (http.clone(), urls.clone(), tokens.clone(), next.clone());
            load.spawn(async move {
                loop {
                    let b = next.fetch_add(1, Ordering::Relaxed);
                    if b >= batches {
                        return Ok::<(), String>(());
                    }
                    let n = BACKLOG_BATCH.min(total - b * BACKLOG_BATCH);
                    let token = tokens[(b as usize) % tokens.len()].clone();
                    let url = urls[(b as usize) % urls.len()].clone();
                    publish(http.clone(), url, token, BACKLOG_FIRST_BATCH + b, n, None).await?;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    Ok(started.elapsed())
}

/// With `--recover-after`: waits until the faulty tenants have been delivered everything
/// (`expected` deliveries in all), or until none has arrived for the delivery timeout and 5 s
/// more (what is left waits for its retry schedule; the line's `faulty.pending` counts it).
pub(super) async fn wait_for_drain(
    faulty: &Faulty,
    drain: &Drain,
    expected: u64,
    delivery_timeout: Duration,
) {
    // Attempts hanging when the receiver recovered hold their webhook's slots until they time
    // out, so the drain may only start one timeout after the recovery.
    let quiet = delivery_timeout + Duration::from_secs(5);
    let mut last = (drain.drained(), Instant::now());
    while faulty.seen.count.load(Ordering::Relaxed) < expected && last.1.elapsed() < quiet {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let drained = drain.drained();
        if drained != last.0 || !drain.recovered() {
            last = (drained, Instant::now());
        }
    }
}

/// What the noisy part of a run measured, beside what every run does.
pub(super) struct Noisy {
    pub(super) faulty: Arc<Faulty>,
    pub(super) drain: Option<Arc<Drain>>,
    pub(super) delivery_timeout: Duration,
    /// How long the backlog took to queue, when there was one.
    pub(super) backlog_in: Option<Duration>,
    pub(super) pending_at_start: i64,
    pub(super) pending_at_recovery: Option<i64>,
    /// The faulty receivers' attempts and deliveries before the measured run (the backlog's).
    pub(super) attempts_before: u64,
    pub(super) delivered_before: u64,
    /// When the healthy tenants' last delivery arrived, from the start.
    pub(super) healthy_in: Duration,
    /// The nodes' attempts by outcome during the measured run.
    pub(super) outcomes: BTreeMap<String, u64>,
}

impl Noisy {
    /// Deliveries the faulty receivers answered 2xx during the measured run.
    pub(super) fn faulty_delivered(&self) -> u64 {
        self.faulty.seen.count.load(Ordering::Relaxed) - self.delivered_before
    }

    /// The line's keys for the noisy run, `healthy` being the healthy tenants' receiver; the
    /// faulty tenants' `pending` is the store's once the nodes have stopped (`pending`), when
    /// the healthy tenants have had every delivery.
    pub(super) fn keys(
        &self,
        args: &BenchArgs,
        healthy: &Seen,
        pending: i64,
    ) -> Map<String, Value> {
        let (healthy_changes, faulty_changes) = changes_split(args);
        let delivered = healthy.count.load(Ordering::Relaxed);
        let faulty = &self.faulty.seen;
        let backlog = self.backlog_in.map(|took| {
            json!({
                "changes": args.faulty_backlog, "batch": BACKLOG_BATCH,
                "queued_s": round(took.as_secs_f64()),
                "changes_per_s": round(args.faulty_backlog as f64 / took.as_secs_f64()),
            })
        });
        let recovery = self
            .drain
            .as_ref()
            .map(|d| d.report(args.recover_after.unwrap_or(0), self.pending_at_recovery));
        let keys = json!({
            "fault": args.fault.map(Fault::name),
            "delivery_timeout_s": self.delivery_timeout.as_secs_f64(),
            "healthy": {
                "tenants": args.tenants - args.faulty,
                "changes": healthy_changes,
                "deliveries": delivered,
                "deliveries_per_s": round(delivered as f64 / self.healthy_in.as_secs_f64()),
                "latency_ms": healthy.latencies_us.percentiles(),
                "after_ack_latency_ms": healthy.after_ack_us.percentiles(),
            },
            "faulty": {
                "tenants": args.faulty,
                "changes": faulty_changes,
                "attempts": self.faulty.attempts.load(Ordering::Relaxed) - self.attempts_before,
                "deliveries": self.faulty_delivered(),
                "latency_ms": faulty.latencies_us.percentiles(),
                "pending_at_start": self.pending_at_start,
                "pending": pending,
            },
            "attempt_outcomes": self.outcomes,
            "backlog": backlog,
            "recovery": recovery,
        });
        match keys {
            Value::Object(keys) => keys,
            _ => unreachable!("a JSON object"),
        }
    }
}
