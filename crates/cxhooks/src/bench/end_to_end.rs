//! One end-to-end run: nodes, receiver and tenants set up, the changes published, the
//! deliveries waited for and measured, the nodes stopped, the result line made.

use super::BenchArgs;
use super::acks::Acks;
use super::drain::{Drain, Side};
use super::load::spawn_publishers;
use super::measure::{CpuTimes, Seen, delivered_by, now_us, outcomes_of, peak_rss_mb, wait_for};
use super::noisy::{self, Noisy, queue_backlog, wait_for_drain};
use super::receiver::{Faulty, start_faulty_receiver, start_receiver};
use super::report::{self, Measured};
use super::setup::{set_up_tenants, start_nodes};
use cxhooks_signing::MasterKey;
use cxhooks_store::{PgActivity, Store, StoreLocation};
use serde_json::Value;
use std::collections::BTreeMap;
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
        let acks = Arc::new(Acks::default());
        let drain = args.recover_after.map(|_| Arc::new(Drain::default()));
        let side = |side| drain.clone().map(|d| (d, side));
        let seen = Arc::new(Seen::new(acks.clone(), side(Side::Healthy)));
        let hook_url = start_receiver(&load, &seen, args.receiver_down)?;
        let faulty = args.fault.map(|fault| {
            let seen = Arc::new(Seen::new(acks.clone(), side(Side::Faulty)));
            Arc::new(Faulty::new(fault, seen))
        });
        let faulty_url = match &faulty {
            Some(faulty) => Some(start_faulty_receiver(&load, faulty)?),
            None => None,
        };

        eprintln!(
            "bench: {} tenant(s) × {} webhook(s), RSA-{}, {} store; setting up …",
            args.tenants,
            args.webhooks,
            args.rsa_bits,
            store.backend()
        );
        let http = reqwest::Client::new();
        let faulty_url = faulty_url.as_deref();
        let publishers =
            set_up_tenants(store, &master, &http, &url, &hook_url, faulty_url, args).await?;
        if args.nodes > 1 {
            // The other nodes learn of the new webhooks at their next configuration poll (1 s).
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
        let urls = Arc::new(urls);
        let backlog_in = if args.faulty_backlog > 0 {
            eprintln!(
                "bench: queueing a backlog of {} changes for the faulty tenant(s) …",
                args.faulty_backlog
            );
            let tokens = publishers[..args.faulty].iter().map(|p| p.token.clone());
            let queued = queue_backlog(&load, args, &urls, tokens.collect()).await?;
            Some(queued)
        } else {
            None
        };
        if args.preload_log > 0 {
            let started = Instant::now();
            store
                .preload_log(args.preload_log, now_us() as i64, |n| {
                    eprintln!("bench: {n} finished deliveries in the log …");
                })
                .await
                .map_err(|e| e.to_string())?;
            eprintln!("bench: log preloaded in {:.0?}", started.elapsed());
        }
        if args.settle > 0 {
            eprintln!("bench: letting the store settle for {} s …", args.settle);
            tokio::time::sleep(Duration::from_secs(args.settle)).await;
        }
        let pending_at_start = match &faulty {
            Some(_) => store.pending_count().await.map_err(|e| e.to_string())?,
            None => 0,
        };
        let outcomes_before = outcomes(&http, &urls).await?;
        let (attempts_before, delivered_before) = faulty.as_ref().map_or((0, 0), |f| {
            (
                f.attempts.load(Ordering::Relaxed),
                f.seen.count.load(Ordering::Relaxed),
            )
        });
        let size_before = store.size_bytes().await.map_err(|e| e.to_string())?;
        let pg_before = store.pg_activity().await.map_err(|e| e.to_string())?;
        let (healthy_changes, faulty_changes) = noisy::changes_split(args);
        let expected = healthy_changes * args.webhooks as u64;

        eprintln!("bench: publishing {} changes …", args.changes);
        let started = Instant::now();
        acks.measure_from_us
            .store(now_us() + args.warmup * 1_000_000, Ordering::Relaxed);
        let cpu_before = CpuTimes::now();
        let series = super::series::spawn(args, store, location, &seen, &url)?;
        let tasks = spawn_publishers(&load, args, &urls, publishers, &acks, started);
        // Publishing and the healthy deliveries, timed apart from the recovery, which may come
        // after the last of them.
        let load_done = async {
            for t in tasks {
                t.await.map_err(|e| e.to_string())??;
            }
            let published_in = started.elapsed();
            if args.receiver_down {
                eprintln!(
                    "bench: published in {published_in:.1?}; the receiver is down, letting the dispatcher work for {} s …",
                    args.down_seconds
                );
                tokio::time::sleep(Duration::from_secs(args.down_seconds)).await;
            } else {
                eprintln!(
                    "bench: published in {published_in:.1?}; waiting for {expected} deliveries …"
                );
                wait_for(&seen, expected).await?;
            }
            Ok::<_, String>((published_in, started.elapsed()))
        };
        let recovery = async {
            let (Some(after), Some(faulty), Some(drain)) = (args.recover_after, &faulty, &drain)
            else {
                return Ok(None);
            };
            tokio::time::sleep_until((started + Duration::from_secs(after)).into()).await;
            eprintln!("bench: the faulty receiver(s) recover");
            faulty.recover();
            drain.recover(now_us());
            Ok::<_, String>(Some(store.pending_count().await.map_err(|e| e.to_string())?))
        };
        let ((published_in, healthy_in), pending_at_recovery) =
            tokio::try_join!(load_done, recovery)?;
        let delivery_timeout = Duration::from_secs(args.delivery_timeout.unwrap_or(10));
        if let (Some(faulty), Some(drain)) = (&faulty, &drain) {
            eprintln!("bench: waiting for the faulty tenants' backlog to drain …");
            let all = (faulty_changes + args.faulty_backlog) * args.webhooks as u64;
            wait_for_drain(faulty, drain, all, delivery_timeout).await;
        }
        let delivered_in = started.elapsed();
        if let Some(series) = series {
            series.abort();
        }
        let cpu = CpuTimes::now().since(&cpu_before);
        // Let completions reach the store before the nodes stop and it is measured: at least
        // 500 ms, and until the nodes have recorded every delivery the receivers answered (on
        // a busy machine 500 ms left some unrecorded, counted as pending), but at most 10 s: an
        // answer that came after the service gave up is never recorded.
        let answered = seen.count.load(Ordering::Relaxed)
            + faulty
                .as_ref()
                .map_or(0, |f| f.seen.count.load(Ordering::Relaxed));
        let give_up = Instant::now() + Duration::from_secs(10);
        tokio::time::sleep(Duration::from_millis(500)).await;
        while outcomes(&http, &urls).await?.get("delivered").copied().unwrap_or(0) < answered
            && Instant::now() < give_up
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let peak_rss = peak_rss_mb();
        if pg_before.is_some() {
            // The backends report their statistics at most a second late.
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        let pg = match (pg_before, store.pg_activity().await.map_err(|e| e.to_string())?) {
            (Some(before), Some(after)) => Some(PgActivity {
                wal_bytes: after.wal_bytes - before.wal_bytes,
                commits: after.commits - before.commits,
                rows_written: after.rows_written - before.rows_written,
            }),
            _ => None,
        };
        let mut node_shares = Vec::new();
        for url in urls.iter() {
            node_shares.push(delivered_by(&http, url).await?);
        }
        let mut during = outcomes(&http, &urls).await?;
        for (outcome, n) in &mut during {
            *n = n.saturating_sub(outcomes_before.get(outcome).copied().unwrap_or(0));
        }
        let noisy = faulty.map(|faulty| Noisy {
            faulty,
            drain,
            delivery_timeout,
            backlog_in,
            pending_at_start,
            pending_at_recovery,
            attempts_before,
            delivered_before,
            healthy_in,
            outcomes: during,
        });
        Ok::<_, String>(Measured {
            seen,
            acks,
            noisy,
            cpu,
            published_in,
            delivered_in,
            size_before,
            pg,
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

/// The nodes' attempts by outcome, summed.
async fn outcomes(
    http: &reqwest::Client,
    urls: &[String],
) -> Result<BTreeMap<String, u64>, String> {
    let mut all = BTreeMap::new();
    for url in urls {
        for (outcome, n) in outcomes_of(http, url).await? {
            *all.entry(outcome).or_insert(0) += n;
        }
    }
    Ok(all)
}
