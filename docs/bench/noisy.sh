#!/usr/bin/env bash
# The noisy-neighbour comparison of issue 25: alternating pairs of a run with a faulty tenant and
# a fault-free run (the same tenants, the would-be faulty one answering at once), medians
# compared, printed as a table. Every line goes to OUT as {"pair", "kind", "args", "result"}.
#
#   docs/bench/noisy.sh BIN FAULT [STORE] [PAIRS] [OUT]
#
#   BIN    the release build (target/release/cxhooks)
#   FAULT  hang | 503 | refused | slow
#   STORE  sqlite (default) or a PostgreSQL URL (postgres://postgres@127.0.0.1:5432/test)
#   PAIRS  5 by default;  OUT  noisy.jsonl by default (appended to)
#
# Environment: RATE (500 changes/s in all), CHANGES (15000: 30 s), TENANTS (10), TIMEOUT (the
# service's delivery.timeout in s; the product's 10 when unset), BACKLOG (changes queued for the
# faulty tenant before each fault run, e.g. 1000000), RECOVER (the faulty receiver recovers after
# that many seconds; each pair then also runs a fault-free run flat out, FLAT_CHANGES changes
# (60000), for the free capacity), SETTLE (seconds to wait after queueing the backlog).
#
#   docs/bench/noisy.sh target/release/cxhooks hang
#   BACKLOG=1000000 docs/bench/noisy.sh target/release/cxhooks hang
#   BACKLOG=100000 RECOVER=10 CHANGES=30000 docs/bench/noisy.sh target/release/cxhooks hang
set -u
BIN=$(realpath "$1"); FAULT=$2; STORE=${3:-sqlite}; PAIRS=${4:-5}; OUT=${5:-noisy.jsonl}
RATE=${RATE:-500}; CHANGES=${CHANGES:-15000}; TENANTS=${TENANTS:-10}
db=(); [ "$STORE" != sqlite ] && db=(--database-url "$STORE")
common=(bench --tenants "$TENANTS" --faulty 1 --webhooks 1 --batch 1 --rate "$RATE" --changes "$CHANGES")
[ -n "${TIMEOUT:-}" ] && common+=(--delivery-timeout "$TIMEOUT")
fault=(--fault "$FAULT")
[ -n "${BACKLOG:-}" ] && fault+=(--faulty-backlog "$BACKLOG")
[ -n "${RECOVER:-}" ] && fault+=(--recover-after "$RECOVER")
[ -n "${SETTLE:-}" ] && fault+=(--settle "$SETTLE")

run() { # pair kind args...
  local pair=$1 kind=$2; shift 2
  local dir line
  dir=$(mktemp -d)
  line=$(cd "$dir" && "$BIN" "${db[@]}" "$@" 2>"$dir/stderr" | tail -n1)
  [ -z "$line" ] && { echo "pair $pair $kind failed: $(tail -n3 "$dir/stderr")" >&2; line=null; }
  rm -rf "$dir"
  echo "{\"pair\":$pair,\"kind\":\"$kind\",\"args\":\"$*\",\"result\":$line}" >> "$OUT"
  echo "pair $pair $kind done" >&2
}

mark=0; [ -f "$OUT" ] && mark=$(wc -l < "$OUT")
for i in $(seq 1 "$PAIRS"); do
  run "$i" fault "${common[@]}" "${fault[@]}"
  run "$i" free "${common[@]}" --fault none
  [ -n "${RECOVER:-}" ] && run "$i" flat bench --tenants "$TENANTS" --webhooks 1 --changes "${FLAT_CHANGES:-60000}"
done

# The table, from this invocation's lines.
tail -n +"$((mark + 1))" "$OUT" > "$OUT.these"
python3 - "$OUT.these" <<'PY'
import json, statistics, sys

runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {}
for r in runs:
    if r["result"] is not None:
        by.setdefault(r["kind"], []).append(r["result"])


def med(kind, f):
    xs = [v for v in (f(r) for r in by.get(kind, [])) if v is not None]
    return statistics.median(xs) if xs else None


def healthy(key, p=None):
    return lambda r: r["healthy"][key][p] if p else r["healthy"][key]


def recovery(*path):
    def get(r):
        v = r.get("recovery")
        for k in path:
            v = (v or {}).get(k)
        return v
    return get


rows = [
    ("healthy deliveries/s", healthy("deliveries_per_s")),
    ("healthy p99 from the publish request, ms", healthy("latency_ms", "p99")),
    ("healthy p99 from the 202, ms", healthy("after_ack_latency_ms", "p99")),
    ("publishes answered, changes/s", lambda r: r["changes_per_s"]),
    ("ack p99, ms", lambda r: r["ack_latency_ms"]["p99"]),
    ("faulty attempts", lambda r: r["faulty"]["attempts"]),
    ("faulty pending at start", lambda r: r["faulty"]["pending_at_start"]),
    ("faulty pending at end", lambda r: r["faulty"]["pending"]),
    ("peak RSS, MB", lambda r: r["peak_rss_mb"]),
    ("µs per signature (one core)",
     lambda r: round(r["signing_threads"] * 1e6 / r["sign_only_per_s"], 1)),
]
if "flat" in by:
    rows += [
        ("drain, deliveries/s", recovery("drain_deliveries_per_s")),
        ("drain, s", recovery("drain_s")),
        ("healthy p99 before the recovery, ms", recovery("healthy_before", "latency_ms", "p99")),
        ("healthy p99 during the drain, ms", recovery("healthy_during_drain", "latency_ms", "p99")),
    ]
n_fault, n_free = len(by.get("fault", [])), len(by.get("free", []))
print(f"| median of {n_fault} fault / {n_free} fault-free runs | fault | fault-free |")
print("|---|---|---|")
for name, f in rows:
    print(f"| {name} | {med('fault', f)} | {med('free', f)} |")
hf, hn = med("fault", healthy("deliveries_per_s")), med("free", healthy("deliveries_per_s"))
pf, pn = med("fault", healthy("latency_ms", "p99")), med("free", healthy("latency_ms", "p99"))
if hf and hn:
    print(f"\nhealthy deliveries/s, fault / fault-free: {hf / hn:.3f} (target >= 0.95)")
if pf is not None and pn is not None:
    limit = max(1.5 * pn, pn + 10)
    print(f"healthy p99 {pf} ms, limit {limit:.1f} ms (the fault-free {pn} ms x1.5, or +10 ms)")
if "flat" in by:
    flat = med("flat", lambda r: r["deliveries_per_s"])
    drain = med("fault", recovery("drain_deliveries_per_s"))
    during = med("fault", recovery("healthy_during_drain", "latency_ms", "p99"))
    free = flat - hn if flat and hn else None
    print(f"free capacity {free} deliveries/s (flat out {flat} - healthy {hn}); drain {drain}"
          + (f" = {drain / free:.2f} of it (target >= 0.5)" if drain and free else ""))
    if during is not None and pn:
        print(f"healthy p99 during the drain {during} ms = {during / pn:.2f}x the fault-free run's (target <= 2)")
PY
rm -f "$OUT.these"
