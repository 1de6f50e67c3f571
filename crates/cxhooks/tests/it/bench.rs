//! `cxhooks bench`: the end-to-end line, its warm-up, the signing bound, the noisy-neighbour
//! run with the healthy and faulty tenants reported apart, and a soak's series.

use crate::env::Env;
use cxhooks_store::testing::Backend;
use serde_json::Value;
use std::process::Command;

/// `bench` end to end on a small load: every delivery arrives, and the line has SPEC §10's keys.
async fn bench_prints_the_documented_line(backend: Backend) {
    let env = Env::new(backend).await;
    let out = env.ok(&[
        "bench",
        "--changes",
        "300",
        "--batch",
        "50",
        "--webhooks",
        "2",
    ]);
    let line: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(line["store"], backend_name(backend));
    assert_eq!(line["deliveries"], 600, "{line}");
    for key in [
        "changes_per_s",
        "deliveries_per_s",
        "signatures_per_s",
        "peak_rss_mb",
        "store_bytes_per_delivery",
        "store_live_bytes_per_delivery",
    ] {
        assert!(
            line[key].as_f64().is_some_and(|v| v > 0.0),
            "{key} in {line}"
        );
    }
    // What stays once dead space is reclaimed is at most what the store grew by.
    assert!(
        line["store_live_bytes_per_delivery"].as_f64() <= line["store_bytes_per_delivery"].as_f64(),
        "{line}"
    );
    let (p50, p99, max) = (
        &line["latency_ms"]["p50"],
        &line["latency_ms"]["p99"],
        &line["latency_ms"]["max"],
    );
    assert!(
        p50.as_f64().unwrap() <= p99.as_f64().unwrap()
            && p99.as_f64().unwrap() <= max.as_f64().unwrap(),
        "{line}"
    );
}

/// `bench --warmup`: changes published during the warm-up are delivered and counted, but left
/// out of the latencies. Here the whole paced run falls inside it, so no latency is reported;
/// without it (above) every delivery has one.
async fn bench_leaves_the_warmup_out_of_the_latencies(backend: Backend) {
    let env = Env::new(backend).await;
    let out = env.ok(&[
        "bench",
        "--changes",
        "100",
        "--batch",
        "10",
        "--webhooks",
        "1",
        "--rate",
        "500",
        "--warmup",
        "60",
    ]);
    let line: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(line["deliveries"], 100, "{line}");
    assert_eq!(line["warmup_s"], 60, "{line}");
    for key in ["latency_ms", "ack_latency_ms"] {
        for p in ["p50", "p99", "max"] {
            assert!(line[key][p].is_null(), "{key}.{p} in {line}");
        }
    }
}

fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

#[test]
fn bench_sign_only_measures_signing() {
    let out = Command::new(env!("CARGO_BIN_EXE_cxhooks"))
        .args(["bench", "--sign-only", "--seconds", "1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["mode"], "sign-only");
    assert!(line["signatures_per_s"].as_f64().unwrap() > 0.0, "{line}");
    assert!(line["signing_threads"].as_u64().unwrap() >= 1);
    assert!(line["changes_per_s"].is_null());
}

/// p50 ≤ p99 ≤ max of a `latency_ms`-like object, all present.
fn ordered(latency: &Value) -> bool {
    let [p50, p99, max] = ["p50", "p99", "max"].map(|p| latency[p].as_f64());
    matches!((p50, p99, max), (Some(a), Some(b), Some(c)) if a <= b && b <= c)
}

/// `bench --faulty 1 --fault 503`: the healthy tenants get every delivery, the faulty one's
/// stay queued, and the line says so for each side.
async fn bench_reports_healthy_and_faulty_tenants_apart(backend: Backend) {
    let env = Env::new(backend).await;
    let out = env.ok(&[
        "bench",
        "--tenants",
        "3",
        "--faulty",
        "1",
        "--fault",
        "503",
        "--changes",
        "60",
        "--rate",
        "100",
        "--batch",
        "1",
        "--webhooks",
        "2",
    ]);
    let line: Value = serde_json::from_str(out.trim()).unwrap();
    let (healthy, faulty) = (&line["healthy"], &line["faulty"]);
    assert_eq!(line["fault"], "503", "{line}");
    // Round-robin over 3 tenants: 40 changes for bench1 and bench2, 20 for bench0.
    assert_eq!(healthy["tenants"], 2, "{line}");
    assert_eq!(healthy["changes"], 40, "{line}");
    assert_eq!(healthy["deliveries"], 40 * 2, "{line}");
    assert!(
        healthy["deliveries_per_s"].as_f64().unwrap() > 0.0,
        "{line}"
    );
    assert!(ordered(&healthy["latency_ms"]), "{line}");
    assert!(ordered(&healthy["after_ack_latency_ms"]), "{line}");
    // After the 202 is a part of from the publish request.
    assert!(
        healthy["after_ack_latency_ms"]["max"].as_f64() <= healthy["latency_ms"]["max"].as_f64(),
        "{line}"
    );
    assert_eq!(faulty["tenants"], 1, "{line}");
    assert_eq!(faulty["changes"], 20, "{line}");
    assert_eq!(faulty["deliveries"], 0, "{line}");
    assert!(faulty["attempts"].as_u64().unwrap() >= 1, "{line}");
    assert_eq!(faulty["pending_at_start"], 0, "{line}");
    // A 503 is retried hours later at the end of the schedule: all 40 are still queued.
    assert_eq!(faulty["pending"], 20 * 2, "{line}");
    assert_eq!(line["deliveries"], 80, "{line}");
    assert!(line["changes_per_s"].as_f64().unwrap() > 0.0, "{line}");
    assert!(ordered(&line["ack_latency_ms"]), "{line}");
    assert!(line["peak_rss_mb"].as_f64().unwrap() > 0.0, "{line}");
    assert!(
        line["backlog"].is_null() && line["recovery"].is_null(),
        "{line}"
    );
}

/// `--faulty-backlog` and `--recover-after`: a hanging receiver's backlog is queued first,
/// drains once it recovers, and the healthy tenants' latency is reported before and during.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_queues_a_backlog_and_drains_it_after_a_recovery() {
    let env = Env::new(Backend::Sqlite).await;
    let out = env.ok(&[
        "bench",
        "--tenants",
        "2",
        "--faulty",
        "1",
        "--fault",
        "hang",
        "--delivery-timeout",
        "1",
        "--faulty-backlog",
        "300",
        "--recover-after",
        "1",
        "--changes",
        "200",
        "--rate",
        "100",
        "--batch",
        "1",
        "--webhooks",
        "1",
    ]);
    let line: Value = serde_json::from_str(out.trim()).unwrap();
    let (faulty, backlog, recovery) = (&line["faulty"], &line["backlog"], &line["recovery"]);
    assert_eq!(line["healthy"]["deliveries"], 100, "{line}");
    assert_eq!(backlog["changes"], 300, "{line}");
    assert!(backlog["queued_s"].as_f64().is_some(), "{line}");
    // Nothing but the hanging attempts left the queue before the run.
    assert!(
        faulty["pending_at_start"].as_i64().unwrap() >= 300 - 16,
        "{line}"
    );
    // Everything reaches bench0 once it answers: the backlog and its share of the run.
    assert_eq!(faulty["deliveries"], 300 + 100, "{line}");
    assert_eq!(faulty["pending"], 0, "{line}");
    assert_eq!(recovery["after_s"], 1, "{line}");
    assert!(
        recovery["drain_deliveries_per_s"].as_f64().unwrap() > 0.0,
        "{line}"
    );
    assert!(recovery["drained"].as_u64().unwrap() >= 300, "{line}");
    assert!(ordered(&recovery["healthy_before"]["latency_ms"]), "{line}");
}

/// Noisy-neighbour flags that cannot go together are refused before anything starts.
#[test]
fn bench_refuses_noisy_flags_that_do_not_fit() {
    for (args, says) in [
        (
            &["--tenants", "2", "--faulty", "2", "--fault", "hang"][..],
            "at least one must stay healthy",
        ),
        (&["--fault", "503"][..], "--fault needs --faulty N"),
        (
            &["--tenants", "2", "--faulty", "1"][..],
            "--faulty needs --fault",
        ),
        (
            &["--faulty-backlog", "10"][..],
            "need --faulty N and --fault",
        ),
        (
            &[
                "--tenants",
                "2",
                "--faulty",
                "1",
                "--fault",
                "none",
                "--recover-after",
                "5",
            ][..],
            "a fault to recover from",
        ),
        (&["--delivery-timeout", "60"][..], "below delivery.lease"),
        (&["--preload-log", "10"][..], "is for a PostgreSQL store"),
        (
            &["--settle", "5"][..],
            "add --faulty-backlog N or --preload-log N",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_cxhooks"))
            .arg("bench")
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains(says),
            "{args:?}: expected '{says}' in {stderr}"
        );
    }
}

/// `--retention`, `--series` and (PostgreSQL) `--preload-log`: a paced run with the purge on
/// writes a line per interval with the soak's figures, and the database's work per delivery.
async fn bench_writes_a_series_for_a_soak(backend: Backend) {
    let env = Env::new(backend).await;
    let series = env.dir.path().join("series.jsonl");
    let mut args = vec![
        "bench",
        "--changes",
        "1500",
        "--batch",
        "1",
        "--webhooks",
        "1",
        "--rate",
        "500",
        "--retention",
        "1",
        "--series",
        series.to_str().unwrap(),
        "--series-every",
        "1",
    ];
    if backend == Backend::Postgres {
        args.extend(["--preload-log", "20000"]);
    }
    let out = env.ok(&args);
    let line: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(line["deliveries"], 1500, "{line}");
    let points: Vec<Value> = std::fs::read_to_string(&series)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(points.len() >= 2, "a line a second over 3 s: {points:?}");
    let delivered: u64 = points
        .iter()
        .map(|p| p["delivered"].as_u64().unwrap())
        .sum();
    assert!(delivered <= 1500, "{points:?}");
    for p in &points {
        for key in ["rss_mb", "store_mb"] {
            assert!(p[key].as_f64().is_some_and(|v| v > 0.0), "{key} in {p}");
        }
        assert!(p["pending"].as_i64().is_some(), "{p}");
        assert!(p["purged"].is_object(), "{p}");
    }
    let pg = &line["postgres_per_delivery"];
    match backend {
        Backend::Postgres => {
            for key in ["wal_bytes", "commits", "rows_written"] {
                assert!(pg[key].as_f64().is_some_and(|v| v > 0.0), "{key} in {line}");
            }
        }
        Backend::Sqlite => assert!(pg.is_null(), "{line}"),
    }
}

cxhooks_store::both_backends!(
    bench_writes_a_series_for_a_soak,
    bench_prints_the_documented_line,
    bench_leaves_the_warmup_out_of_the_latencies,
    bench_reports_healthy_and_faulty_tenants_apart
);
