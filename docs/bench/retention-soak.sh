#!/usr/bin/env bash
# Retention soak (issue 25): `cxhooks bench` paced at RATE single-change publishes/s for MINUTES
# with every retention set to RETENTION seconds, so that the purge runs through the second part
# of the run. Writes one line a minute (deliveries, latency, RSS, store size, pending, purged)
# to docs/bench/retention-soak-STORE.jsonl and the bench's line to …-STORE-line.json.
#   docs/bench/retention-soak.sh [target/release/cxhooks] [sqlite|postgres://…] [minutes=60] \
#       [retention=600] [rate=500]
set -euo pipefail
bin="${1:-target/release/cxhooks}"
store="${2:-sqlite}"
minutes="${3:-60}"
retention="${4:-600}"
rate="${5:-500}"
db=()
name=sqlite
if [ "$store" != sqlite ]; then db=(--database-url "$store"); name=postgres; fi
out="docs/bench/retention-soak-$name"
"$bin" bench "${db[@]}" --webhooks 1 --batch 1 --rate "$rate" \
  --changes $(( rate * 60 * minutes )) --retention "$retention" \
  --series "$out.jsonl" --series-every 60 > "$out-line.json"
cat "$out.jsonl" "$out-line.json"
