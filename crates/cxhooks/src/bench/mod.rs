//! `cxhooks bench`: the whole pipeline measured on this machine (SPEC §10).
//!
//! Starts the service in this process on a fresh store (a temporary SQLite file, or a new
//! schema of the PostgreSQL given with `--database-url`, dropped afterwards), receivers on
//! loopback that answer 200 at once, and tenants with an application and webhooks. It then
//! publishes changes (as fast as they are accepted, or at `--rate`) and prints one JSON line.
//! `--sign-only` measures the signing bound alone with the server's signing threads.
//!
//! `--faulty N --fault …` is the noisy-neighbour bench (issue 25): the first N tenants'
//! receivers fail, the line reports the healthy and the faulty tenants apart (`noisy`), with an
//! optional backlog queued for the faulty ones first and a recovery part-way (`drain`).
//!
//! # Layout
//! `setup` starts the nodes and tenants, `receiver` the receivers, `load` the publishers,
//! `acks` notes when each publish was answered, `measure` and `drain` what the receivers saw,
//! `end_to_end` runs it all and `report` and `noisy` make the line.

mod acks;
mod drain;
mod end_to_end;
mod load;
mod measure;
mod noisy;
mod receiver;
mod report;
mod series;
mod setup;
mod signing;

use clap::Args;
use cxhooks_signing::RsaBits;
use cxhooks_store::{Store, StoreLocation};
use measure::round;
use serde_json::json;
use std::process::ExitCode;

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
    /// The webhooks deliver in entity order (`ordered: true`), and the changes update
    /// --entities records round-robin instead of each a record of its own; their latency is
    /// not measured (the entityId no longer carries the publish time), their throughput is.
    #[arg(long)]
    ordered: bool,
    /// Records the changes update with --ordered.
    #[arg(long, default_value_t = 100)]
    entities: u64,
    /// The first N tenants (bench0 …) get a faulty receiver (--fault); the line reports them
    /// and the healthy tenants apart. The figures use `--tenants 10 --faulty 1
    /// --webhooks 1 --batch 1 --rate 500`.
    #[arg(long, value_name = "N", default_value_t = 0)]
    faulty: usize,
    /// How the faulty tenants' receivers fail: `hang` (never answer; the delivery timeout ends
    /// each attempt), `503` (at once), `refused` (connections refused), `slow` (200 after 2 s),
    /// or `none` (200 at once: the fault-free run to compare with).
    #[arg(long, value_enum)]
    fault: Option<receiver::Fault>,
    /// The service's `delivery.timeout`, in seconds (default the product's, 10 s).
    #[arg(long, value_name = "SECONDS")]
    delivery_timeout: Option<u64>,
    /// Before the measured run, queue N changes for the faulty tenants (published in batches
    /// of 500 while their receivers fail), so they hold that backlog of pending deliveries
    /// (× --webhooks).
    #[arg(long, value_name = "N", default_value_t = 0)]
    faulty_backlog: u64,
    /// After queueing --faulty-backlog or writing --preload-log, wait SECONDS before the
    /// measured run, so that the store has written the load out (checkpoints) by then.
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    settle: u64,
    /// The faulty receivers answer 200 at once after SECONDS of the measured run; the line
    /// then reports how fast the faulty tenants' backlog drained and the healthy tenants'
    /// latency before the recovery and during the drain.
    #[arg(long, value_name = "SECONDS")]
    recover_after: Option<u64>,
    /// The service's retention of delivered and failed deliveries and of changes
    /// (`[retention]`), in seconds, so that a soak runs the purge (default the product's).
    #[arg(long, value_name = "SECONDS")]
    retention: Option<u64>,
    /// Write one JSON line every --series-every seconds of the measured run to FILE: the
    /// interval's deliveries and latency, RSS, store size, pending deliveries, purged rows.
    #[arg(long, value_name = "FILE")]
    series: Option<std::path::PathBuf>,
    /// PostgreSQL: before the run, write N delivered deliveries (of 10,000 made-up tenants with
    /// 10 webhooks each) straight into the log of finished deliveries, as a large store's
    /// history, to see whether claims and completions slow down with it.
    #[arg(long, value_name = "N", default_value_t = 0)]
    preload_log: u64,
    /// Set up tenants with two RSA keys made once for them all (a realm key and an application
    /// key, each sealed per tenant as its own would be) rather than two new keys each: a
    /// simulation of many tenants (10,000 make 20,000 keys otherwise, about half an hour on
    /// two cores). Signing costs the same per delivery; only the keys' values are shared.
    #[arg(long)]
    shared_keys: bool,
    /// Seconds between two --series lines.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    series_every: u64,
}

pub async fn run(database_url: Option<String>, args: BenchArgs) -> Result<ExitCode, String> {
    let bits = RsaBits::from_bits(args.rsa_bits).map_err(|e| e.to_string())?;
    if args.sign_only {
        return signing::sign_only(bits, args.seconds);
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
    if args.preload_log > 0 && database_url.is_none() {
        return Err("--preload-log is for a PostgreSQL store: add --database-url".into());
    }
    if args.keep_sqlite.is_some() && database_url.is_some() {
        return Err("--keep-sqlite is for the SQLite store: leave out --database-url".into());
    }
    noisy::check_args(&args)?;
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
    let (before, _, _) = signing::signing_bound(bits, 3)?;
    let store = Store::open(&location).await.map_err(|e| e.to_string())?;
    let result = end_to_end::run(&store, &location, &args).await;
    eprintln!("bench: measuring the signing bound again for 3 s …");
    let (after, _, _) = signing::signing_bound(bits, 3)?;
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
    outln!("{line}");
    Ok(ExitCode::SUCCESS)
}
