//! One end-to-end run: nodes, receiver and tenants set up, the changes published, the
//! deliveries waited for and measured, the nodes stopped, the result line made.

use super::BenchArgs;
use super::load::spawn_publishers;
use super::measure::{CpuTimes, Seen, delivered_by, now_us, peak_rss_mb, wait_for};
use super::report::{self, Measured};
use super::setup::{set_up_tenant, start_nodes, start_receiver};
use cxhooks_signing::MasterKey;
use cxhooks_store::{Store, StoreLocation};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

pub(super) async fn run(
    store: &Store,
    location: &StoreLocation,
    args: &BenchArgs,
) -> Result<Value, String> {
    let master =
        Arc::new(MasterKey::from_bytes(&MasterKey::generate_bytes()).map_err(|e| e.to_string())?);
    let (stop, urls, servers) = start_nodes(store, location, &master, args).await?;
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
        let seen = Arc::new(Seen::default());
        let hook_url = start_receiver(&load, &seen, args.receiver_down)?;

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
        let urls = Arc::new(urls);
        let tasks = spawn_publishers(&load, args, &urls, publishers, &seen, started);
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

    Ok(report::line(
        args, location, &m, size_after, pending, size_live,
    ))
}
