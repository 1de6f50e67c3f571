//! `cxhooks bench`: the whole pipeline measured on this machine (SPEC §10).
//!
//! Starts the service in this process on a fresh store (a temporary SQLite file, or a new
//! schema of the PostgreSQL given with `--database-url`, dropped afterwards), receivers on
//! loopback that answer 200 at once, and tenants with an application and webhooks. It then
//! publishes changes (as fast as they are accepted, or at `--rate`) and prints one JSON line.
//! `--sign-only` measures the signing bound alone with the server's signing threads.

use axum::body::Bytes;
use clap::Args;
use cxhooks_server::delivery::payload::{Notification, NotificationData};
use cxhooks_server::identity::admin::{self, NewClient};
use cxhooks_server::{AppState, Config};
use cxhooks_signing::{MasterKey, PrivateKey, RsaBits};
use cxhooks_store::{ClientCode, Permissions, ScopeSet, Store, StoreLocation, TenantName};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Measure only the signing bound: sign a typical notification on the server's signing
    /// threads for --seconds.
    #[arg(long)]
    sign_only: bool,
    /// Seconds to sign for with --sign-only.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Changes to publish.
    #[arg(long, default_value_t = 20_000)]
    changes: u64,
    /// Publish at this many changes per second (default: as fast as they are accepted).
    #[arg(long)]
    rate: Option<u64>,
    /// Changes per publish request.
    #[arg(long, default_value_t = 50)]
    batch: u64,
    /// Leave the changes published in the first SECONDS out of `latency_ms` and
    /// `ack_latency_ms` (they are published, delivered and counted otherwise): the latency of a
    /// node that has been running, not of its first second, when its connections, statements
    /// and (on PostgreSQL) the bench's new tables are cold
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    warmup: u64,
    /// Concurrent publishers when no --rate is given.
    #[arg(long, default_value_t = 4)]
    publishers: usize,
    /// Tenants, each with one application.
    #[arg(long, default_value_t = 1)]
    tenants: usize,
    /// Webhooks per tenant, all matching every change (deliveries = changes × webhooks).
    #[arg(long, default_value_t = 4)]
    webhooks: usize,
    /// RSA key size of the applications (2048, 3072 or 4096).
    #[arg(long, default_value_t = 2048)]
    rsa_bits: u32,
    /// Nodes sharing the store (PostgreSQL only): each has its own pool, dispatcher and HTTP
    /// listener, and publishes are spread over them as a load balancer would.
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// Aim the webhooks at a closed port: nothing is delivered, every change stays pending (and
    /// retrying). Measures memory with a large queue; the line then reports `pending`.
    #[arg(long)]
    receiver_down: bool,
    /// With --receiver-down: how long to let the dispatcher work on the queue after the last
    /// publish before measuring.
    #[arg(long, default_value_t = 20)]
    down_seconds: u64,
    /// PostgreSQL: the nodes do not vacuum the store's tables (as with `store.vacuum = false`),
    /// which leaves the delivered notifications' old row versions to autovacuum: to see what the
    /// store grows by without.
    #[arg(long)]
    no_vacuum: bool,
    /// Use this new SQLite file as the store and keep it afterwards (to see where the bytes go,
    /// e.g. with `sqlite3 FILE "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"`); the
    /// default is a temporary file, deleted after the run. Not with --database-url.
    #[arg(long, value_name = "FILE")]
    keep_sqlite: Option<std::path::PathBuf>,
}

/// What the receivers saw: deliveries and their ingest-to-delivery latencies (µs); and what the
/// publishers saw: how long each publish took to be acknowledged (µs).
#[derive(Default)]
struct Seen {
    count: AtomicU64,
    /// Changes published before this time (µs) are left out of the latencies (`--warmup`).
    measure_from_us: AtomicU64,
    latencies_us: Latencies,
    acks_us: Latencies,
}

/// Latencies (µs) counted in a histogram of fixed size: 1 µs to an hour at 3 significant
/// digits, under 200 KB. Kept one by one, the samples of a 30-minute soak at 500 changes/s
/// (two per change, 8 bytes each) grew the process by 0.45 MB a minute, which hid whether the
/// service's own memory stayed flat.
struct Latencies(Mutex<Histogram<u64>>);

impl Default for Latencies {
    fn default() -> Self {
        Self(Mutex::new(
            Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds"),
        ))
    }
}

impl Latencies {
    fn record(&self, us: u64) {
        self.0.lock().expect("not poisoned").saturating_record(us);
    }

    /// p50, p99 and max, in ms (nulls when there are none).
    fn percentiles(&self) -> Value {
        let counted = self.0.lock().expect("not poisoned");
        let ms = |us: u64| (!counted.is_empty()).then(|| round(us as f64 / 1000.0));
        json!({
            "p50": ms(counted.value_at_quantile(0.50)),
            "p99": ms(counted.value_at_quantile(0.99)),
            "max": ms(counted.max()),
        })
    }
}

fn now_us() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp_micros()).unwrap_or(0)
}

/// When the change a notification is about was published (µs), from its `entityId`
/// (`{µs}-{publisher}-{n}`). Found by a scan rather than by parsing the JSON: the receivers run
/// in the bench's process and share its two cores with the service, so what they spend is taken
/// from what is measured.
fn sent_at_us(body: &[u8]) -> Option<u64> {
    const KEY: &[u8] = br#""entityId":""#;
    let start = body.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let digits = body[start..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    std::str::from_utf8(&body[start..start + digits])
        .ok()?
        .parse()
        .ok()
}

/// Where the machine's time went, from `/proc` (Linux): for telling a pipeline that waits
/// (idle cores) from one that works (CPU per delivery), which a ratio of rates cannot.
struct CpuTimes {
    /// All CPUs' jiffies: (total, idle + iowait, steal).
    machine: Option<(u64, u64, u64)>,
    /// This process's user + system time, in clock ticks.
    process: Option<u64>,
    /// The same, of its signing threads (`cxhooks-sign-*`).
    signing: Option<u64>,
}

/// User + system clock ticks of a `/proc/…/stat` line: fields 14 and 15, counted after the `)`
/// that ends the command name.
fn stat_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

impl CpuTimes {
    fn now() -> Self {
        let machine = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
            let fields: Vec<u64> = s
                .lines()
                .next()?
                .split_whitespace()
                .skip(1)
                .filter_map(|f| f.parse().ok())
                .collect();
            let idle = fields.get(3)? + fields.get(4)?;
            // Guest time is counted in user time already.
            let total = fields.iter().take(8).sum();
            Some((total, idle, *fields.get(7)?))
        });
        let process = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| stat_ticks(&s));
        let signing = std::fs::read_dir("/proc/self/task").ok().map(|tasks| {
            tasks
                .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("stat")).ok())
                .filter(|s| s.contains("(cxhooks-sign-"))
                .filter_map(|s| stat_ticks(&s))
                .sum()
        });
        Self {
            machine,
            process,
            signing,
        }
    }

    /// (the machine's idle share, its steal share — time the hypervisor gave to other guests —,
    /// this process's CPU seconds, its signing threads' CPU seconds) since `before`.
    fn since(&self, before: &Self) -> Option<(f64, f64, f64, f64)> {
        let ((total, idle, steal), (total0, idle0, steal0)) = (self.machine?, before.machine?);
        let total = (total - total0).max(1) as f64;
        let ticks_per_s = 100.0; // USER_HZ, 100 on every Linux that runs this
        let process_s = (self.process? - before.process?) as f64 / ticks_per_s;
        let signing_s = (self.signing? - before.signing?) as f64 / ticks_per_s;
        Some((
            (idle - idle0) as f64 / total,
            (steal - steal0) as f64 / total,
            process_s,
            signing_s,
        ))
    }
}

/// Peak resident set size of this process, MB (Linux `VmHWM`).
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some((kb / 1024.0 * 10.0).round() / 10.0)
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

pub async fn run(database_url: Option<String>, args: BenchArgs) -> Result<ExitCode, String> {
    let bits = RsaBits::from_bits(args.rsa_bits).map_err(|e| e.to_string())?;
    if args.sign_only {
        return sign_only(bits, args.seconds);
    }
    if args.changes == 0
        || args.batch == 0
        || args.webhooks == 0
        || args.tenants == 0
        || args.nodes == 0
    {
        return Err(
            "--changes, --batch, --webhooks, --tenants and --nodes must be at least 1".into(),
        );
    }
    if args.nodes > 1 && database_url.is_none() {
        return Err("--nodes above 1 needs a PostgreSQL store: add --database-url".into());
    }
    if args.no_vacuum && database_url.is_none() {
        return Err("--no-vacuum is for a PostgreSQL store: add --database-url".into());
    }
    if args.keep_sqlite.is_some() && database_url.is_some() {
        return Err("--keep-sqlite is for the SQLite store: leave out --database-url".into());
    }
    if let Some(file) = args.keep_sqlite.as_ref().filter(|f| f.exists()) {
        return Err(format!(
            "--keep-sqlite {}: the file exists; give a new one",
            file.display()
        ));
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (location, schema) = match &database_url {
        Some(url) => {
            let schema = format!("cxbench_{}", uuid::Uuid::new_v4().simple());
            let location = StoreLocation::Postgres {
                url: url.clone(),
                schema: Some(schema.clone()),
            };
            (location, Some(schema))
        }
        None => (
            StoreLocation::Sqlite {
                path: args
                    .keep_sqlite
                    .clone()
                    .unwrap_or_else(|| dir.path().join("bench.db")),
            },
            None,
        ),
    };
    // The signing bound, measured in the same run just before and just after, so the ratio
    // compares like with like on a machine whose speed drifts (a shared VM's can, by tens of per
    // cent within minutes).
    eprintln!("bench: measuring the signing bound for 3 s …");
    let (before, _, _) = signing_bound(bits, 3)?;
    let store = Store::open(&location).await.map_err(|e| e.to_string())?;
    let result = measure(&store, &location, &args).await;
    eprintln!("bench: measuring the signing bound again for 3 s …");
    let (after, _, _) = signing_bound(bits, 3)?;
    let bound = round((before + after) / 2.0);
    if let Some(schema) = schema {
        store
            .drop_schema(&schema)
            .await
            .map_err(|e| e.to_string())?;
    }
    store.close().await;
    let mut line = result?;
    line["store"] = json!(store.backend());
    line["sign_only_per_s"] = json!(bound);
    line["sign_only_before_after"] = json!([before, after]);
    let ratio = line["deliveries_per_s"].as_f64().unwrap_or(0.0) / bound.max(1.0);
    line["ratio_to_sign_only"] = json!((ratio * 1000.0).round() / 1000.0);
    println!("{line}");
    Ok(ExitCode::SUCCESS)
}

fn sign_only(bits: RsaBits, seconds: u64) -> Result<ExitCode, String> {
    let (per_s, payload_bytes, threads) = signing_bound(bits, seconds)?;
    println!(
        "{}",
        json!({
            "mode": "sign-only", "store": null, "rsa_bits": bits.bits(), "signing_threads": threads,
            "payload_bytes": payload_bytes, "changes_per_s": null, "deliveries_per_s": per_s,
            "latency_ms": Latencies::default().percentiles(),
            "ack_latency_ms": Latencies::default().percentiles(), "signatures_per_s": per_s,
            "peak_rss_mb": peak_rss_mb(), "store_bytes_per_delivery": null,
        })
    );
    Ok(ExitCode::SUCCESS)
}

/// Signatures per second of a typical notification on the server's signing threads for
/// `seconds`, with the payload's size and the number of threads.
fn signing_bound(bits: RsaBits, seconds: u64) -> Result<(f64, usize, usize), String> {
    let key = Arc::new(PrivateKey::generate(bits).map_err(|e| e.to_string())?);
    let changed = ["touser.lastname".to_owned(), "modificationdate".to_owned()];
    let payload = Notification {
        id: uuid::Uuid::new_v4().into(),
        time: "2026-11-28T10:00:00Z",
        event_type: "cremployee:updated",
        application_id: uuid::Uuid::new_v4().into(),
        webhook_id: uuid::Uuid::new_v4().into(),
        tenant: "bench",
        data: NotificationData {
            entity_id: "12345",
            changed_fields: &changed,
        },
    }
    .to_bytes();
    let threads = cxhooks_server::delivery::signing_threads();
    let deadline = Instant::now() + Duration::from_secs(seconds.max(1));
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (key, payload) = (key.clone(), payload.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    key.sign_base64(&payload).expect("signing works");
                    n += 1;
                }
                n
            })
        })
        .collect();
    let signed: u64 = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    let per_s = round(signed as f64 / started.elapsed().as_secs_f64());
    Ok((per_s, payload.len(), threads))
}

/// One tenant's publishing token.
/// Paced publishes open at once at most.
const MAX_PACED_IN_FLIGHT: usize = 512;

struct Publisher {
    token: String,
}

async fn measure(
    store: &Store,
    location: &StoreLocation,
    args: &BenchArgs,
) -> Result<Value, String> {
    let master =
        Arc::new(MasterKey::from_bytes(&MasterKey::generate_bytes()).map_err(|e| e.to_string())?);
    let mut config = Config::default();
    config.delivery.allow_private_targets = true; // the receivers are on loopback
    config.keys.rsa_bits = args.rsa_bits;
    config.limits.monthly_notifications_per_client = u64::MAX;
    config.limits.max_webhooks_per_client = u32::MAX;
    config.store.vacuum = !args.no_vacuum;
    // One token per publisher for the whole run, however long (a soak runs 30 minutes).
    config.auth.token_ttl = Duration::from_secs(24 * 3600);
    // Each node: its own store pool, state (dispatcher, registry, node id) and listener. They
    // share one public URL, as nodes behind a load balancer do, so tokens are valid on all.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut listeners = Vec::new();
    let mut urls = Vec::new();
    for _ in 0..args.nodes {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        urls.push(format!(
            "http://{}",
            listener.local_addr().map_err(|e| e.to_string())?
        ));
        listeners.push(listener);
    }
    config.server.public_url = Some(urls[0].clone());
    let mut servers = Vec::new();
    for (n, listener) in listeners.into_iter().enumerate() {
        let node_store = if n == 0 {
            store.clone()
        } else {
            Store::open(location).await.map_err(|e| e.to_string())?
        };
        let bound = listener.local_addr().map_err(|e| e.to_string())?;
        let state = AppState::new(node_store, master.clone(), config.clone(), bound)
            .await
            .map_err(|e| e.to_string())?;
        let mut stopped = stopped.clone();
        servers.push(tokio::spawn(cxhooks_server::run(
            state,
            listener,
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            },
        )));
    }
    let url = urls[0].clone();
    // The load side (the receiver and the publishers) runs on a runtime of its own, as another
    // process would: the nodes' runtime then carries only what a server carries. Its one thread
    // is counted in the process's CPU all the same.
    let load = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-load")
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    // Whatever happens, the nodes are stopped before the caller drops the store.
    let measured = async {
        // The receiver: answers 200 at once and notes when each change, published at the time in
        // its entityId, arrived.
        let seen = Arc::new(Seen::default());
        let counting = seen.clone();
        let receiver = axum::Router::new().fallback(move |body: Bytes| {
            let seen = counting.clone();
            async move {
                let now = now_us();
                let sent_at = sent_at_us(&body);
                if let Some(at) = sent_at
                    && at >= seen.measure_from_us.load(Ordering::Relaxed)
                {
                    seen.latencies_us.record(now.saturating_sub(at));
                }
                seen.count.fetch_add(1, Ordering::Relaxed);
                ""
            }
        });
        let receiver_listener =
            std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        receiver_listener
            .set_nonblocking(true)
            .map_err(|e| e.to_string())?;
        let mut hook_url = format!(
            "http://{}/hook",
            receiver_listener.local_addr().map_err(|e| e.to_string())?
        );
        if args.receiver_down {
            // A port that was just free and is closed again: every attempt is refused.
            drop(receiver_listener);
            hook_url = format!("{}/down", hook_url.trim_end_matches("/hook"));
        } else {
            load.spawn(async move {
                let listener = tokio::net::TcpListener::from_std(receiver_listener)?;
                axum::serve(listener, receiver).await
            });
        }

        eprintln!(
            "bench: {} tenant(s) × {} webhook(s), RSA-{}, {} store; setting up …",
            args.tenants,
            args.webhooks,
            args.rsa_bits,
            store.backend()
        );
        let http = reqwest::Client::new();
        let mut publishers = Vec::new();
        for t in 0..args.tenants {
            publishers.push(
                set_up_tenant(store, &master, &http, &url, &hook_url, t, args.webhooks).await?,
            );
        }
        if args.nodes > 1 {
            // The other nodes learn of the new webhooks at their next configuration poll (1 s).
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
        let size_before = store.size_bytes().await.map_err(|e| e.to_string())?;
        let expected = args.changes * args.webhooks as u64;

        eprintln!("bench: publishing {} changes …", args.changes);
        let started = Instant::now();
        seen.measure_from_us
            .store(now_us() + args.warmup * 1_000_000, Ordering::Relaxed);
        let cpu_before = CpuTimes::now();
        let publishers = Arc::new(publishers);
        let next = Arc::new(AtomicU64::new(0));
        let batches = args.changes.div_ceil(args.batch);
        let mut tasks = Vec::new();
        let workers = if args.rate.is_some() {
            1
        } else {
            args.publishers.max(1)
        };
        let urls = Arc::new(urls);
        // Its connections are opened on the load runtime, by the tasks that use them.
        let load_http = reqwest::Client::new();
        for _ in 0..workers {
            let (http, urls, publishers, next, seen) = (
                load_http.clone(),
                urls.clone(),
                publishers.clone(),
                next.clone(),
                seen.clone(),
            );
            let (rate, batch, changes) = (args.rate, args.batch, args.changes);
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
                        let due =
                            started + Duration::from_secs_f64((b * batch) as f64 / rate as f64);
                        tokio::time::sleep_until(due.into()).await;
                    }
                    let n = batch.min(changes - b * batch);
                    let publisher = &publishers[(b as usize) % publishers.len()];
                    let url = urls[(b as usize) % urls.len()].clone();
                    let (acked, token) = (seen.clone(), publisher.token.clone());
                    let send = publish(http.clone(), url, token, b, n);
                    let begun = now_us();
                    let send = async move {
                        let took = send.await?;
                        if begun >= acked.measure_from_us.load(Ordering::Relaxed) {
                            acked.acks_us.record(took);
                        }
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
        for t in tasks {
            t.await.map_err(|e| e.to_string())??;
        }
        let published_in = started.elapsed();
        if args.receiver_down {
            eprintln!(
                "bench: published in {published_in:.1?}; the receiver is down, letting the dispatcher work for {} s …",
                args.down_seconds
            );
        } else {
            eprintln!("bench: published in {published_in:.1?}; waiting for {expected} deliveries …");
        }

        if args.receiver_down {
            tokio::time::sleep(Duration::from_secs(args.down_seconds)).await;
        } else {
            wait_for(&seen, expected).await?;
        }
        let delivered_in = started.elapsed();
        let cpu = CpuTimes::now().since(&cpu_before);
        // Let completions reach the store before the nodes stop and it is measured.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let peak_rss = peak_rss_mb();
        let mut node_shares = Vec::new();
        for url in urls.iter() {
            node_shares.push(delivered_by(&http, url).await?);
        }
        Ok::<_, String>(Measured {
            seen,
            cpu,
            published_in,
            delivered_in,
            size_before,
            peak_rss,
            node_shares,
        })
    }
    .await;
    // Not dropped here, inside the nodes' runtime, where waiting for its thread is not allowed.
    load.shutdown_background();
    let _ = stop.send(true);
    for server in servers {
        let _ = server.await;
    }
    let m = measured?;
    // Measured once the nodes have stopped: with the receiver down their dispatchers write
    // without pause, and a checkpoint or `VACUUM` could wait past SQLite's busy timeout.
    let size_after = store.size_bytes().await.map_err(|e| e.to_string())?;
    let pending = store.pending_count().await.map_err(|e| e.to_string())?;
    let size_live = store.live_size_bytes().await.map_err(|e| e.to_string())?;

    let latency = m.seen.latencies_us.percentiles();
    let ack_latency = m.seen.acks_us.percentiles();
    let delivered = m.seen.count.load(Ordering::Relaxed);
    // Per delivered notification; with the receiver down, per pending one.
    let stored = if args.receiver_down {
        u64::try_from(pending).unwrap_or(0)
    } else {
        delivered
    };
    let deliveries_per_s = round(delivered as f64 / m.delivered_in.as_secs_f64());
    Ok(json!({
        "mode": "end-to-end", "store": null, "rsa_bits": args.rsa_bits,
        "signing_threads": cxhooks_server::delivery::signing_threads(),
        "changes": args.changes, "deliveries": delivered, "rate": args.rate,
        "changes_per_s": round(args.changes as f64 / m.published_in.as_secs_f64()),
        "deliveries_per_s": deliveries_per_s,
        "latency_ms": latency,
        "ack_latency_ms": ack_latency,
        "warmup_s": args.warmup,
        "vacuum": matches!(location, StoreLocation::Postgres { .. }) && !args.no_vacuum,
        "signatures_per_s": deliveries_per_s,
        "peak_rss_mb": m.peak_rss,
        "store_bytes_per_delivery": round((size_after - m.size_before) as f64 / stored.max(1) as f64),
        "store_live_bytes_per_delivery": round((size_live - m.size_before) as f64 / stored.max(1) as f64),
        "nodes": args.nodes, "node_deliveries": m.node_shares, "pending": pending,
        "cpu": m.cpu.map(|(idle, steal, process_s, signing_s)| json!({
            "machine_idle_share": round(idle * 1000.0) / 1000.0,
            "machine_steal_share": round(steal * 1000.0) / 1000.0,
            "process_cpu_us_per_delivery": round(process_s * 1e6 / delivered.max(1) as f64),
            "signing_cpu_us_per_delivery": round(signing_s * 1e6 / delivered.max(1) as f64),
        })),
    }))
}

/// What one end-to-end run measured, for its result line.
struct Measured {
    seen: Arc<Seen>,
    cpu: Option<(f64, f64, f64, f64)>,
    published_in: Duration,
    delivered_in: Duration,
    size_before: i64,
    peak_rss: Option<f64>,
    node_shares: Vec<u64>,
}

/// Waits until the receivers have seen `expected` deliveries; fails if none arrive for 30 s.
async fn wait_for(seen: &Seen, expected: u64) -> Result<(), String> {
    let mut last = (0, Instant::now());
    loop {
        let n = seen.count.load(Ordering::Relaxed);
        if n >= expected {
            return Ok(());
        }
        if n != last.0 {
            last = (n, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(30) {
            return Err(format!("deliveries stopped at {n} of {expected} for 30 s"));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// What a node's `/metrics` counts as delivered.
async fn delivered_by(http: &reqwest::Client, url: &str) -> Result<u64, String> {
    let text = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| format!("reading {url}/metrics: {e}"))?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix("cxhooks_deliveries_total{outcome=\"delivered\"} "))
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| v as u64))
}

async fn set_up_tenant(
    store: &Store,
    master: &MasterKey,
    http: &reqwest::Client,
    url: &str,
    hook_url: &str,
    t: usize,
    webhooks: usize,
) -> Result<Publisher, String> {
    let e = |e: admin::IdentityError| e.to_string();
    let tenant = TenantName::parse(&format!("bench{t}")).map_err(|e| e.to_string())?;
    admin::create_tenant(store, master, &tenant, true)
        .await
        .map_err(e)?;
    let new = NewClient {
        name: "bench".into(),
        code: ClientCode::parse("urn:cxhooks/bench").map_err(|e| e.to_string())?,
        scopes: ScopeSet::parse("urn:cx/webhooks:data:manage urn:cx/webhooks:events:publish")
            .map_err(|e| e.to_string())?,
        permissions: Permissions::parse("create=on,read=all,update=all,delete=all")
            .map_err(|e| e.to_string())?,
    };
    let (client, secret) = admin::create_client(store, master, &tenant, new)
        .await
        .map_err(e)?;
    let token = crate::token::client_token(
        http,
        url,
        tenant.as_str(),
        (&client.client_id, &secret),
        None,
    )
    .await?;
    let post = |path: String, body: Value| {
        let (http, token) = (http.clone(), token.clone());
        async move {
            let r = http
                .post(format!("{url}{path}"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !r.status().is_success() {
                return Err(format!("set-up {path} answered {}", r.status()));
            }
            r.json::<Value>().await.map_err(|e| e.to_string())
        }
    };
    let app = post("/webhooks/v1/applications".into(), json!({"name": "bench"})).await?;
    let app = app["_id"].as_str().unwrap_or_default().to_owned();
    for _ in 0..webhooks {
        post(
            format!("/webhooks/v1/applications/{app}/webhooks"),
            json!({"url": hook_url, "filters": [{"eventType": "cremployee:updated",
                "condition": "data.touser.tosinglestatusnode eq '1234'"}]}),
        )
        .await?;
    }
    Ok(Publisher { token })
}

/// Publishes batch `b` of `n` changes; each entityId starts with its publish time (µs). Returns
/// how long the publish took to be acknowledged (µs).
async fn publish(
    http: reqwest::Client,
    url: String,
    token: String,
    b: u64,
    n: u64,
) -> Result<u64, String> {
    let at = now_us();
    let changes: Vec<Value> = (0..n)
        .map(|i| {
            json!({"type": "cremployee:updated", "entityId": format!("{at}-{b}-{i}"),
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
    Ok(now_us().saturating_sub(at))
}

#[cfg(test)]
mod tests {
    use super::sent_at_us;

    #[test]
    fn the_publish_time_is_read_from_the_entity_id() {
        let body = br#"{"id":"x","type":"cremployee:updated","data":{"entityId":"1795906679243203-0-7","changedFields":[]}}"#;
        assert_eq!(sent_at_us(body), Some(1_795_906_679_243_203));
        assert_eq!(sent_at_us(br#"{"data":{"entityId":""}}"#), None);
        assert_eq!(sent_at_us(b"not json"), None);
    }
}
