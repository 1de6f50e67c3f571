#!/usr/bin/env bash
# Alternating runs of the old and the new build: SQLite flat out (ratio to --sign-only),
# PostgreSQL flat out (deliveries/s, and the WAL bytes per delivery read around the run),
# SQLite and PostgreSQL paced at 500 changes/s (p99).
#   docs/bench/alternate.sh OLD_BINARY NEW_BINARY [PAIRS=5] [OUT=alternate.jsonl]
set -u
OLD=$1; NEW=$2; PAIRS=${3:-5}; OUT=${4:-alternate.jsonl}
PG=postgres://postgres@127.0.0.1:5432/test
lsn() { psql -h 127.0.0.1 -U postgres -d test -Atc "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint"; }
run() { # build label args...
  local bin=$1 label=$2; shift 2
  local dir; dir=$(mktemp -d)
  local line before after
  before=$(lsn)
  line=$(cd "$dir" && "$bin" "$@" 2>/dev/null | tail -n1)
  after=$(lsn)
  rm -rf "$dir"
  echo "{\"build\":\"$label\",\"args\":\"$*\",\"wal_bytes\":$((after - before)),\"result\":$line}" >> "$OUT"
  echo "$label $*: $(echo "$line" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print(d.get("ratio_to_sign_only"), d.get("deliveries_per_s"), d.get("latency_ms",{}).get("p99"), d.get("store_bytes_per_delivery"))') wal_bytes $((after - before))"
}
for i in $(seq 1 "$PAIRS"); do
  for b in old new; do bin=$OLD; [ $b = new ] && bin=$NEW; run "$bin" $b bench; done
  for b in old new; do bin=$OLD; [ $b = new ] && bin=$NEW; run "$bin" $b --database-url $PG bench; done
  for b in old new; do bin=$OLD; [ $b = new ] && bin=$NEW; run "$bin" $b bench --webhooks 1 --batch 1 --rate 500 --changes 7500 --warmup 2; done
  for b in old new; do bin=$OLD; [ $b = new ] && bin=$NEW; run "$bin" $b --database-url $PG bench --webhooks 1 --batch 1 --rate 500 --changes 7500 --warmup 2; done
done
