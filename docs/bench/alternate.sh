#!/usr/bin/env bash
# Alternating runs of the old and the new build: SQLite flat out (ratio to --sign-only),
# PostgreSQL flat out (deliveries/s), SQLite paced at 500 changes/s (p99).
set -u
OLD=$1; NEW=$2; PAIRS=${3:-5}; OUT=${4:-alternate.jsonl}
PG=postgres://postgres@127.0.0.1:5432/test
run() { # build label args...
  local bin=$1 label=$2; shift 2
  local dir; dir=$(mktemp -d)
  local line
  line=$(cd "$dir" && "$bin" "$@" 2>/dev/null | tail -n1)
  rm -rf "$dir"
  echo "{\"build\":\"$label\",\"args\":\"$*\",\"result\":$line}" >> "$OUT"
  echo "$label $*: $(echo "$line" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print(d.get("ratio_to_sign_only"), d.get("deliveries_per_s"), d.get("latency_ms",{}).get("p99"), d.get("store_bytes_per_delivery"))')"
}
for i in $(seq 1 "$PAIRS"); do
  for b in old new; do bin=$OLD; [ $b = new ] && bin=$NEW; run "$bin" $b bench; done
  for b in old new; do bin=$OLD; [ $b = new ] && bin=$NEW; run "$bin" $b --database-url $PG bench; done
  for b in old new; do bin=$OLD; [ $b = new ] && bin=$NEW; run "$bin" $b bench --webhooks 1 --batch 1 --rate 500 --changes 7500 --warmup 2; done
done
