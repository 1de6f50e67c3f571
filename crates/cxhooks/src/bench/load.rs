//! The load: publishers sending the changes in batches, as fast as they are accepted or paced
//! at `--rate`, each publish's acknowledgement time noted. Batch `b` goes to tenant
//! `b % tenants`, so the tenants share the load evenly.

use super::BenchArgs;
use super::acks::Acks;
use super::measure::now_us;
use super::setup::Publisher;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Paced publishes open at once at most.
const MAX_PACED_IN_FLIGHT: usize = 512;

/// Spawns the publishers on the load runtime: `args.changes` changes in batches of
/// `args.batch`, spread over the nodes at `urls` and over the tenants' `publishers`. With
/// `args.rate` one publisher paces them from `started`; otherwise `args.publishers` send as fast
/// as they are accepted.
pub(super) fn spawn_publishers(
    load: &tokio::runtime::Runtime,
    args: &BenchArgs,
    urls: &Arc<Vec<String>>,
    publishers: Vec<Publisher>,
    acks: &Arc<Acks>,
    started: Instant,
) -> Vec<tokio::task::JoinHandle<Result<(), String>>> {
    let publishers = Arc::new(publishers);
    let next = Arc::new(AtomicU64::new(0));
    let batches = args.changes.div_ceil(args.batch);
    let mut tasks = Vec::new();
    let workers = if args.rate.is_some() {
        1
    } else {
        args.publishers.max(1)
    };
    // Its connections are opened on the load runtime, by the tasks that use them.
    let load_http = reqwest::Client::new();
    for _ in 0..workers {
        let (http, urls, publishers, next, acks) = (
            load_http.clone(),
            urls.clone(),
            publishers.clone(),
            next.clone(),
            acks.clone(),
        );
        let (rate, batch, changes) = (args.rate, args.batch, args.changes);
        let entities = args.ordered.then_some(args.entities);
        let webhooks = args.webhooks as u64;
        tasks.push(load.spawn(async move {
            let mut in_flight = tokio::task::JoinSet::new();
            let open = Arc::new(tokio::sync::Semaphore::new(MAX_PACED_IN_FLIGHT));
            loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= batches {
                    break;
                }
                if let Some(rate) = rate {
                    // Paced: batch b is due at b × batch / rate seconds after the start.
                    let due = started + Duration::from_secs_f64((b * batch) as f64 / rate as f64);
                    tokio::time::sleep_until(due.into()).await;
                }
                let n = batch.min(changes - b * batch);
                let publisher = &publishers[(b as usize) % publishers.len()];
                let url = urls[(b as usize) % urls.len()].clone();
                let (acks, token) = (acks.clone(), publisher.token.clone());
                let spread = entities.map(|count| (count, b * batch));
                if spread.is_none() {
                    // Ordered runs' deliveries cannot be told apart by batch: not tracked.
                    acks.sending(b, n * webhooks);
                }
                let send = publish(http.clone(), url, token, b, n, spread);
                let send = async move {
                    let (begun, took) = send.await?;
                    acks.acked(b, begun, begun + took);
                    Ok::<(), String>(())
                };
                if rate.is_some() {
                    // At most MAX_PACED_IN_FLIGHT publishes open at once: past what the
                    // server keeps up with, the publisher falls behind its schedule (the
                    // line's changes_per_s says so) instead of opening sockets until the
                    // process runs out of file descriptors.
                    let Ok(slot) = open.clone().acquire_owned().await else {
                        break;
                    };
                    in_flight.spawn(async move {
                        let result = send.await;
                        drop(slot);
                        result
                    });
                    // Reap finished publishes as we go: a JoinSet keeps every finished
                    // task until it is joined, which over a long paced run (a soak) grew
                    // the bench's memory by some 50 MB a minute.
                    while let Some(done) = in_flight.try_join_next() {
                        done.map_err(|e| e.to_string())??;
                    }
                } else {
                    send.await?;
                }
            }
            while let Some(done) = in_flight.join_next().await {
                done.map_err(|e| e.to_string())??;
            }
            Ok::<(), String>(())
        }));
    }
    tasks
}

/// Publishes batch `b` of `n` changes; each entityId is `{publish time µs}-{b}-{i}`, or with
/// `entities` (`(count, first)`: `--ordered`) `e{k}`, change `first + i` of entity
/// `k = (first + i) % count`, whose latency is then not measured. Returns when the publish was
/// sent and how long it took to be acknowledged (µs).
pub(super) async fn publish(
    http: reqwest::Client,
    url: String,
    token: String,
    b: u64,
    n: u64,
    entities: Option<(u64, u64)>,
) -> Result<(u64, u64), String> {
    let at = now_us();
    let entity = |i: u64| match entities {
        Some((count, first)) => format!("e{}", (first + i) % count.max(1)),
        None => format!("{at}-{b}-{i}"),
    };
    let changes: Vec<Value> = (0..n)
        .map(|i| {
            json!({"type": "cremployee:updated", "entityId": entity(i),
                "data": {"touser": {"lastname": "Jansen", "tosinglestatusnode": 1234}},
                "metadata": {"paths": ["touser.tosinglestatusnode", "modificationdate"]}})
        })
        .collect();
    let r = http
        .post(format!("{url}/webhooks/v1/changes"))
        .bearer_auth(token)
        .json(&changes)
        .send()
        .await
        .map_err(|e| {
            // reqwest's message hides the cause ("error sending request"): add the chain.
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            message
        })?;
    if r.status().as_u16() != 202 {
        let status = r.status();
        return Err(format!(
            "publish answered {status}: {}",
            r.text().await.unwrap_or_default()
        ));
    }
    Ok((at, now_us().saturating_sub(at)))
}
